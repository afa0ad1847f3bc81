// The coordinator protocol: agents and tailsafectl talk to tailsafe-coordinator over TCP in
// CONTROL frames (common/wire.h: checksummed, length-limited), each holding one JSON object
// whose "type" names the message:
//
//   agent -> coordinator   register   {cluster, agent, address, hooks: [name], bolts: [{name, hook}]}
//   coordinator -> agent   welcome    {heartbeat_ms}            or  reject {reason}, then close
//   agent -> coordinator   heartbeat  {bolts: [{name, process: {...}, checkpoint: {...}}]}
//   coordinator -> agent   membership {agents: [{id, address, alive, placed}]}   (on every change)
//   coordinator -> agent   assign {..., pull_from, pull_to}: pull [from, pull_to) before running
//   agent -> coordinator   pull {recovery, epoch, offset, length}  (the assignee; relayed as)
//   coordinator -> agent   ship {recovery, epoch, origin, bolt, generation, offset, length}
//   agent -> coordinator   shipped {recovery, epoch, offset, data (hex) | error}  (relayed as)
//   coordinator -> agent   pulled {recovery, epoch, offset, data | error}
//   coordinator -> agent   retain {term, bolts: [{origin, bolt, from}]}  (the retention plan,
//                          whole, to agents that registered with retains: true)
//   tailsafectl -> coord.  ls {path} | get {path}
//   coordinator -> ctl     children {path, names} | document {path, value} | error {message}
//
// A message that is not a JSON object, lacks a field or has one of the wrong type is a protocol
// error naming the message and the field; the connection is closed (a peer that speaks nonsense
// is not reasoned with).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tailsafe {

// Parses a CONTROL payload: a JSON object with a string "type".
Result<nlohmann::json> ParseControl(std::string_view text);
// Serialises `doc` (never throws on bad UTF-8: replaced) into a CONTROL frame.
std::string ControlFrame(const nlohmann::json& doc);

// Field readers: an error names the message type and the field.
Status ReadString(const nlohmann::json& msg, const char* field, std::string* out);
Status ReadUint(const nlohmann::json& msg, const char* field, uint64_t* out);
Status ReadArray(const nlohmann::json& msg, const char* field, const nlohmann::json** out);

// A "retain" message's bolts[]: (origin, bolt) -> the generation below which that bolt's
// replicas may be deleted (coordinator/retention_plan.h). An error names the item and field.
using RetainPlan = std::map<std::pair<std::string, std::string>, uint64_t>;
Result<RetainPlan> ParseRetain(const nlohmann::json& msg);

// Bytes inside a CONTROL message (a pulled range's chunk): lower-case hex, two digits a byte.
std::string HexEncode(std::string_view bytes);
Result<std::string> HexDecode(std::string_view hex);

}  // namespace tailsafe
