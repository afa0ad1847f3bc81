// libFuzzer target: the coordinator's typed records read from JSON (coordinator/agent_record.h,
// bolt_record.h, recovery_record.h): stored documents, and a heartbeat's bolts[] item (its
// process, checkpoint and deaths come from the network). The first byte picks the reader; the
// rest is the JSON text. A document a reader accepts must survive its own JSON form unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "coordinator/agent_record.h"
#include "coordinator/bolt_record.h"
#include "coordinator/recovery_record.h"

using namespace tailsafe;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return 0;
  switch (data[0] % 4) {
    case 0: {
      Result<AgentRecord> a = AgentRecord::FromJson(doc);
      if (a && !(*AgentRecord::FromJson(a->ToJson()) == *a)) __builtin_trap();
      break;
    }
    case 1: {
      Result<BoltRecord> b = BoltRecord::FromJson(doc);
      if (b && !(*BoltRecord::FromJson(b->ToJson()) == *b)) __builtin_trap();
      break;
    }
    case 2: {
      Result<RecoveryRecord> r = RecoveryRecord::FromJson(1, doc);
      if (r && RecoveryRecord::FromJson(1, r->ToJson())->ToJson() != r->ToJson()) __builtin_trap();
      break;
    }
    default: {  // a heartbeat's bolts[] item, on a bolt with a hook
      if (!doc.is_object()) return 0;
      BoltRecord before;
      before.origin = "h1";
      before.bolt = "b1";
      before.hook = "count";
      BoltRecord b = before;
      if (!BoltRecord::ReadReport(doc, &b).ok()) return 0;
      if (doc.contains("deaths")) {
        std::vector<std::pair<uint64_t, uint64_t>> ack;
        std::vector<BoltDeath> added;
        if (b.AddDeaths(doc["deaths"], before, 1, &ack, &added).ok() && added.size() > ack.size()) __builtin_trap();
      }
      if (!(*BoltRecord::FromJson(b.ToJson()) == b)) __builtin_trap();
      break;
    }
  }
  return 0;
}
