// MergeHeartbeat: what one agent's heartbeat changes in the coordinator's records, as a pure
// function of the records and the message, so that the rule is unit-tested
// (tests/coordinator/test_heartbeat_merge.cc) apart from connections and the store.
//
// The agent's record: alive again if it had been declared dead (silent past the timeout, then
// heard on the same connection), and its storage error as reported (set, changed or cleared,
// with the time it began). Each bolt the heartbeat names: its process and checkpoint replace the
// stored ones (the agent reports them whole each time), its hook is the one the agent registered
// for it, and each death it reports that is neither pending nor done becomes pending. A bolt
// whose stored document cannot be read is left as it is. Nothing changes unless the whole
// message reads: a bad bolt item refuses it all, with an error naming the item and field.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "coordinator/agent_record.h"
#include "coordinator/bolt_record.h"

namespace tailsafe {

struct HeartbeatMerge {
  AgentRecord agent;              // the agent's next record
  bool revived = false;           // it had been declared dead
  std::vector<BoltRecord> bolts;  // the next record of every bolt the heartbeat named
  // [{bolt, deaths: [{pid, start_ns}]}]: the deaths now on record, told back to the agent once
  // the records are committed (deaths_recorded).
  nlohmann::json deaths_recorded = nlohmann::json::array();
};

// `agent`: the agent's id and current record; `bolt_hooks`: its bolts' hooks as it registered
// them; `bolts`: every stored bolt record; `held`: bolts whose stored documents cannot be read.
Result<HeartbeatMerge> MergeHeartbeat(const std::string& agent_id, const AgentRecord& agent,
                                      const std::map<std::string, std::string>& bolt_hooks,
                                      const std::map<std::pair<std::string, std::string>, BoltRecord>& bolts,
                                      const std::map<std::pair<std::string, std::string>, std::string>& held,
                                      const nlohmann::json& msg, uint64_t now_unix_ms);

}  // namespace tailsafe
