// Leadership: whether this coordinator instance decides for the cluster now.
//
// One instance at a time leads; each leadership is a term, a number larger than every earlier
// term's. The coordinator loads its state from the store when it starts leading (on_lead) and
// drops it when it stops (on_follow), telling agents and tailsafectl where the leader is instead
// (leader_address; leader_page for the status page). A single coordinator on SQLite always
// leads, in term 1 (SoleLeadership); on ZooKeeper, instances elect one (coordinator/zk_election.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace tailsafe {

class Leadership {
 public:
  virtual ~Leadership() = default;
  virtual Status Start() = 0;
  virtual void Stop() = 0;
  // This instance leads from now on, in `term`; its store holds the cluster's state.
  std::function<void(uint64_t term)> on_lead;
  // This instance no longer leads (or never did): `why`, for the log.
  std::function<void(const std::string& why)> on_follow;
  // The leading instance's coordinator address, if known ("" otherwise).
  virtual std::string leader_address() const = 0;
  // The leading instance's status page ("http://HOST:PORT/"), if it has one and it is known.
  virtual std::string leader_page() const { return ""; }
  // Every instance standing for the leadership now, in the order they would lead (the leader,
  // if known, first), with its status page: where a page whose instance dies goes next.
  struct Instance {
    std::string address;
    std::string page;  // "" without one
  };
  virtual std::vector<Instance> instances() const { return {}; }
  // This instance cannot go on leading (its store failed a commit): give the leadership up and
  // compete again later. False if it cannot be given up: the coordinator must stop instead.
  virtual bool StepDown(const std::string& why) = 0;
};

class SoleLeadership : public Leadership {
 public:
  explicit SoleLeadership(std::string address) : address_(std::move(address)) {}
  Status Start() override {
    if (on_lead) on_lead(1);
    return Status::Ok();
  }
  void Stop() override {}
  std::string leader_address() const override { return address_; }
  bool StepDown(const std::string&) override { return false; }

 private:
  std::string address_;
};

}  // namespace tailsafe
