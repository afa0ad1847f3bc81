// StreamPlacement: which peers hold this agent's bolts' streams (common/placement.h), over the
// members the coordinator last placed (its membership's "placed" agents) or, before it spoke
// and without one, the peers this agent knows. With `[cluster] replicas` absent every peer
// holds every stream, members or not. The holders of each bolt are kept until the members
// change, so asking costs a lookup, not a hash per member.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tailsafe {

class StreamPlacement {
 public:
  StreamPlacement(std::string self, uint32_t replicas);

  // The members streams are placed over (this agent among them or not); returns whether they
  // changed. Order and repeats do not matter.
  bool SetMembers(std::vector<std::string> members);
  const std::vector<std::string>& members() const { return members_; }
  uint32_t replicas() const { return replicas_; }
  bool every_peer() const { return replicas_ == 0; }

  // The peers that hold `bolt`'s stream, highest weight first (empty with every_peer()).
  const std::vector<std::string>& Holders(const std::string& bolt);
  // Whether `peer` holds `bolt`'s stream: always with every_peer().
  bool Holds(const std::string& peer, const std::string& bolt);
  // Bumped at each change of the members, so a caller can tell a placement it saw is stale.
  uint64_t version() const { return version_; }

 private:
  std::string self_;
  uint32_t replicas_;
  std::vector<std::string> members_;  // sorted, unique
  std::map<std::string, std::vector<std::string>> holders_;  // bolt -> its holders, cached
  uint64_t version_ = 0;
};

}  // namespace tailsafe
