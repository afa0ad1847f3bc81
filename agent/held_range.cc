#include "agent/held_range.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace tailsafe {

HeldRange FindHeld(const std::string& self_id, const BoltSources& sources, const ReplicaStore& replicas,
                   const std::string& origin, const std::string& bolt, uint64_t gen, uint64_t need) {
  HeldRange out;
  if (origin == self_id) {
    for (const auto& src : sources.all()) {
      if (src->name() != bolt) continue;
      for (const auto& g : src->generations()) {
        if (g->gen != gen || !g->fd() || g->state() == GenState::kLost) continue;
        out.fd = g->fd();
        out.durable = g->known_size();
      }
    }
    return out;
  }
  auto it = replicas.replicas().find({origin, bolt, gen});
  if (it == replicas.replicas().end()) return out;
  out.durable = it->second->durable;
  if (out.durable < need) return out;  // not yet: do not open it on every poke
  int fd = ::open(it->second->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    LOG_WARN("cannot open replica %s: %s", it->second->path.c_str(), strerror(errno));
    return out;
  }
  out.fd = std::make_shared<Fd>(fd);
  return out;
}

}  // namespace tailsafe
