// BoltSources: the sources of every bolt this agent runs (agent/bolt_source.h), and the life of
// the set as bolts come and go.
//
// A bolt starts from its state.db rows (the generations recorded at start-up), so numbers never
// repeat. A bolt removed (a reload, or a [[bolt_pattern]] file gone for good) is retired: every
// generation is sealed at the size its file has now, and the source stays in the set, still
// shipped, until every peer has acknowledged everything; then it moves to the drained list
// (kept, because commit callbacks and peer cursors may still name it) and is no longer shipped
// or shown. A bolt added back after it drained continues its numbering; one added back while it
// still drains is refused by the caller (Contains). A bolt whose file moved rotates to the new
// path (Reconfigure).
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/bolt_source.h"
#include "agent/committer.h"
#include "agent/state_store.h"
#include "common/config.h"
#include "common/inotify_watcher.h"

namespace tailsafe {

class BoltSources {
 public:
  using List = std::vector<std::unique_ptr<BoltSource>>;

  // `loop`, `watcher` and `agent` outlive the set; `hooks` wire each source to the peers and the
  // committer; `initial_gens`: state.db's generation rows at start.
  BoltSources(uv_loop_t* loop, InotifyWatcher* watcher, const AgentConfig* agent, BoltSource::Hooks hooks,
              std::vector<OriginGenRow> initial_gens);

  // A source for each of `bolts`, each started from its rows.
  Status Start(const std::vector<BoltConfig>& bolts);
  // Makes `bolts` the running set: sources of bolts no longer in it retire, the others take
  // their (maybe moved) configuration, and the bolts named in `added` start.
  void Apply(const std::vector<BoltConfig>& bolts, const std::vector<std::string>& added);
  // Moves retired sources whose last bytes every peer has to the drained list.
  void SweepDrained();
  // Whether a source of this name is in the set: running, or removed and still shipping its
  // last bytes (a bolt of that name may not start again until it drained).
  bool Contains(const std::string& name) const;
  void ReleaseAcked();
  // The running or draining source of `name`, or null: one lookup, for work a single bolt's
  // acknowledgement calls for (an agent may run thousands of bolts).
  BoltSource* Find(const std::string& name) const;
  void Collect(Committer::Batch* batch);
  void Stop();
  void Clear();

  // Every running or draining source, in order. The address is stable for the set's lifetime.
  const List& all() const { return sources_; }

 private:
  BoltSource* Add(const BoltConfig& bolt);  // not started
  // The rows `name` starts from: state.db's, or only its numbering once it drained here.
  std::vector<OriginGenRow> RowsOf(const std::string& name) const;

  uv_loop_t* loop_;
  InotifyWatcher* watcher_;
  const AgentConfig* agent_;
  BoltSource::Hooks hooks_;
  std::vector<OriginGenRow> initial_gens_;
  List sources_;
  List drained_;
  std::unordered_map<std::string, BoltSource*> by_name_;  // the sources_, by name
  std::map<std::string, uint64_t> drained_next_gen_;  // the next generation number of each drained bolt
  uint32_t next_stream_ = 1;  // stream ids are process-wide: peers share cached frames by them
  std::shared_ptr<EncodeSlots> encode_slots_ = std::make_shared<EncodeSlots>(kAgentEncodeJobs);
};

}  // namespace tailsafe
