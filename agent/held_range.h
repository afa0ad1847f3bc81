// FindHeld: what this agent holds of one generation of a bolt, for a recovery it runs: its own
// file while the generation is open and not lost (the bolt is its own), or its replica (another
// agent's bolt). A replica is opened only once it durably covers `need`, so a recovery waiting
// for bytes does not open the file on every poke.
#pragma once

#include <cstdint>
#include <string>

#include "agent/bolt_sources.h"
#include "agent/recovery_runner.h"
#include "agent/replica_store.h"

namespace tailsafe {

HeldRange FindHeld(const std::string& self_id, const BoltSources& sources, const ReplicaStore& replicas,
                   const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t need);

}  // namespace tailsafe
