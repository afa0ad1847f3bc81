// ZkElection: leadership among coordinator instances on a ZooKeeper ensemble.
//
// The recipe. Each instance holds one ZooKeeper session and, in it, one ephemeral sequential
// candidate znode ROOT/election/n-NNNNNNNNNN whose data names the instance's address. The
// instance whose candidate has the lowest sequence number leads. Who leads is decided from a
// fresh child list, never from a watch event alone: an event only says "look again". A
// candidate that does not lead watches the one just before it (so a leader's death wakes one
// instance, not all) and reads, with a watch, the lowest one's address for redirects.
// An instance with a status page also names the page in its candidate, and keeps the list of
// every candidate's address and page (a watch on the election's children), so that its page
// can tell a browser where to go when this instance stops answering.
//
// Claiming the leadership is one multi: a check that this instance's candidate still exists,
// and the term counter ROOT/term set to the next term at the version just read. The store
// (coordinator/zk_store.h) then loads the namespace after a sync, and only then on_lead runs.
// Every commit the leader makes includes the same check, so a deposed leader's writes fail in
// ZooKeeper itself.
//
// Losing the connection stops the leadership at once (on_follow). Reconnected within the
// session, the instance evaluates again (and, leading, claims a new term); still disconnected
// after the session timeout, or with the session expired, it closes the session (its candidate
// goes) and starts a new one, as a candidate again.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/uv_handle.h"
#include "coordinator/leadership.h"
#include "coordinator/zk_client.h"

namespace tailsafe {

class ZkElection : public Leadership {
 public:
  struct Options {
    std::vector<HostPort> members;
    uint32_t session_ms = 6000;
    std::string root;     // zookeeper_root
    std::string address;  // this instance's coordinator address, for redirects
    std::string page;     // this instance's status page URL; "" without one
  };
  ZkElection(uv_loop_t* loop, Options options);
  ~ZkElection() override;

  Status Start() override;
  void Stop() override;
  std::string leader_address() const override { return leader_address_; }
  std::string leader_page() const override { return leader_page_; }
  std::vector<Instance> instances() const override { return instances_; }
  bool StepDown(const std::string& why) override;

  // For the store: the session, and this instance's candidate (the check of every commit).
  ZkClient* client() const { return client_.get(); }
  const std::string& candidate() const { return candidate_; }
  bool leading() const { return leading_; }
  const std::string& root() const { return options_.root; }
  // Runs after a claim, before on_lead: loads the store; an error gives the claim up.
  std::function<void(std::function<void(const Status&)> done)> prepare;
  // The session was replaced or the leadership lost: the store forgets what it holds.
  std::function<void()> on_reset;

  // Lower sequence first; names without a sequence number last. For tests.
  static std::vector<std::string> Ordered(std::vector<std::string> candidates);

 private:
  void NewSession();
  void OnState(ZkClient::State s);
  void EnsurePaths();
  void Candidate();
  void Evaluate();
  void Survey();
  void Claim();
  void Lose(const std::string& why);
  void Restart(const std::string& why);

  uv_loop_t* loop_;
  Options options_;
  std::unique_ptr<ZkClient> client_;
  std::vector<std::unique_ptr<ZkClient>> retired_;  // closed sessions, destroyed outside their callbacks
  UvPtr<uv_timer_t> timer_;  // the disconnection deadline, and the pause before a new session
  std::string candidate_;      // full path of this session's candidate; "" before it exists
  std::string leader_address_;
  std::string leader_page_;
  std::vector<Instance> instances_;  // in election order, as last surveyed
  bool leading_ = false;
  bool stopped_ = false;
  bool setting_up_ = false;  // paths and candidate being made in this session
  bool claiming_ = false;    // a claim of the next term is under way
  uint64_t round_ = 0;       // the current evaluation; replies of older ones are dropped
  uint64_t survey_round_ = 0;  // the current survey of the candidates; the same for it
  uint64_t restart_ms_ = 100;
};

}  // namespace tailsafe
