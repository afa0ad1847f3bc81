// AgentRecord: one /agents/ID, typed. What the coordinator knows of an agent and keeps across
// a failover; what changes every heartbeat (when it was last heard, whether it is connected)
// stays in memory and is added only to what a read shows. JSON is only how a store holds it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tailsafe {

struct AgentRecord {
  std::string address;              // where its peers reach it
  std::vector<std::string> hooks;   // the hook names it can run, as it registered them
  std::vector<std::string> bolts;   // its bolts
  bool alive = false;
  uint64_t since_unix_ms = 0;       // alive since
  uint64_t dead_since_unix_ms = 0;  // dead: since when (0 while alive)
  std::string storage_error;        // what it last said it cannot write (empty: nothing)
  uint64_t storage_error_since_unix_ms = 0;
  uint32_t replicas = 0;            // its [cluster] replicas: holders per stream (0: every peer)

  // Whether the agent still has its place as a holder of streams at `now_unix_ms`: alive, or
  // dead for less than `grace_ms` (an agent restarting keeps its streams; one gone for longer
  // has them placed elsewhere, common/placement.h).
  bool Placed(uint64_t now_unix_ms, uint64_t grace_ms) const {
    return alive || now_unix_ms < dead_since_unix_ms + grace_ms;
  }

  bool operator==(const AgentRecord&) const = default;
  nlohmann::json ToJson() const;
  // The error names the field that is missing or wrong.
  static Result<AgentRecord> FromJson(const nlohmann::json& doc);
};

}  // namespace tailsafe
