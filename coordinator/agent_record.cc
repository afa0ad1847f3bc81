#include "coordinator/agent_record.h"

#include "common/placement.h"
#include "coordinator/record_fields.h"

namespace tailsafe {

using nlohmann::json;
using namespace record_fields;

json AgentRecord::ToJson() const {
  json d = {{"address", address}, {"hooks", hooks}, {"bolts", bolts}, {"alive", alive}, {"since_unix_ms", since_unix_ms}};
  if (!alive) d["dead_since_unix_ms"] = dead_since_unix_ms;
  if (replicas != 0) d["replicas"] = replicas;
  if (!storage_error.empty()) {
    d["storage_error"] = storage_error;
    d["storage_error_since_unix_ms"] = storage_error_since_unix_ms;
  }
  return d;
}

Result<AgentRecord> AgentRecord::FromJson(const json& d) {
  if (!d.is_object()) return Status::Error("not a JSON object");
  AgentRecord a;
  for (Status s : {String(d, "address", &a.address), StringList(d, "hooks", &a.hooks), StringList(d, "bolts", &a.bolts),
                   Bool(d, "alive", &a.alive), OptionalUint(d, "since_unix_ms", &a.since_unix_ms),
                   OptionalUint(d, "dead_since_unix_ms", &a.dead_since_unix_ms),
                   OptionalString(d, "storage_error", &a.storage_error),
                   OptionalUint(d, "storage_error_since_unix_ms", &a.storage_error_since_unix_ms)}) {
    if (!s) return s;
  }
  uint64_t replicas = 0;
  if (Status s = OptionalUint(d, "replicas", &replicas); !s) return s;
  if (replicas > kMaxReplicas) return Status::Error("field 'replicas' must be at most " + std::to_string(kMaxReplicas));
  a.replicas = static_cast<uint32_t>(replicas);
  if (a.alive) a.dead_since_unix_ms = 0;  // what ToJson writes: one form for each record
  if (a.storage_error.empty()) a.storage_error_since_unix_ms = 0;
  return a;
}

}  // namespace tailsafe
