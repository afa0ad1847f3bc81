// RecoveryDesk: planning dead bolts' tails, election, fencing epochs, results.
// See coordinator/recovery_desk.h for the rules and coordinator/recovery_plan.h for the policy.
#include "coordinator/recovery_desk.h"

#include <algorithm>

#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"
#include "coordinator/pull_relay.h"

namespace tailsafe {

using nlohmann::json;

namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

RecoveryDesk::RecoveryDesk(TermState* state, size_t recoveries_kept, uint64_t shrink_grace_ms, Wiring wiring)
    : state_(state), recoveries_kept_(recoveries_kept), shrink_grace_ms_(shrink_grace_ms), wiring_(std::move(wiring)) {}

void RecoveryDesk::Lead(uint64_t term) {
  term_ = term;
  PruneRecoveries();
}

void RecoveryDesk::EvaluateRecoveries() {
  if (wiring_.stopped()) return;
  for (auto& [id, r] : state_->recoveries) {
    if (r.state == RecoveryState::kWaiting) {
      if (!Assign(r, "waiting for a candidate")) return;
    }
  }
  std::vector<BoltKey> keys;  // EvaluateBolt commits, and a commit may depose this instance
  for (const auto& [key, b] : state_->bolts) keys.push_back(key);
  for (const BoltKey& key : keys) {
    EvaluateBolt(key.first, key.second);
    if (!deciding()) return;
  }
}

void RecoveryDesk::EvaluateBolt(const std::string& origin, const std::string& bolt) {
  auto oit = state_->agents.find(origin);
  if (oit == state_->agents.end()) return;
  const Agent& o = oit->second;
  auto bit = state_->bolts.find({origin, bolt});
  if (bit == state_->bolts.end()) return;
  const BoltRecord& doc = bit->second;
  const std::string hook = doc.hook;
  if (hook.empty()) return;  // a bolt without a hook is replicated, never recovered

  std::map<uint64_t, uint64_t> ends;
  std::string cause;
  const History* history = nullptr;
  if (auto h = state_->history.find({origin, bolt}); h != state_->history.end()) history = &h->second;
  if (history != nullptr && !history->unreadable.empty()) return;  // TermState::Load said why
  ShrinkUnfinished(origin, bolt);  // a dead host's ranges wait for no more than survivors hold
  if (!deciding()) return;
  std::vector<RangeRecord> records = state_->RangesOf({origin, bolt});
  if (o.alive()) {
    std::optional<std::map<uint64_t, uint64_t>> live = state_->LiveEnds({origin, bolt}, hook);
    if (!live) return;  // wait for a heartbeat of this connection naming the bolt
    ends = std::move(*live);
    cause = "process died";
  } else {
    ends = state_->Replicated({origin, bolt}, hook);  // what the candidates hold
    cause = "host died";
  }
  if (history != nullptr && history->floor > 0) std::erase_if(ends, [&](const auto& e) { return e.first <= history->floor; });
  if (!FollowUpGivenUp(origin, bolt, hook, ends, &records)) return;
  // Deaths reported after the fact come first: their checkpoints may be older than the one the
  // bolt's successor wrote since.
  std::optional<TailCheckpoint> newest = state_->NewestCheckpoint(doc);
  if (!doc.deaths_pending.empty()) {
    PlanReportedDeaths(doc, ends, records, newest, o.alive());
    return;
  }
  if (o.alive() && !doc.process_dead()) return;
  StartRanges(origin, bolt, hook, PlanTail(newest, ends, records), cause);
}

bool RecoveryDesk::StartRanges(const std::string& origin, const std::string& bolt, const std::string& hook,
                               const std::vector<PlannedRange>& ranges, const std::string& cause) {
  for (const PlannedRange& p : ranges) {
    Recovery r;
    r.id = state_->next_recovery++;
    r.origin = origin;
    r.bolt = bolt;
    r.hook = hook;
    r.gen = p.gen;
    r.from = p.from;
    r.to = p.to;
    r.state = RecoveryState::kWaiting;
    r.cause = cause;
    r.created_unix_ms = UnixNowMs();
    LOG_NOTICE("recovery %llu: %s/%s generation %llu [%llu, %llu): %s", U(r.id), origin.c_str(), bolt.c_str(),
               U(r.gen), U(r.from), U(r.to), cause.c_str());
    Recovery& stored = state_->recoveries[r.id] = std::move(r);
    NoteFound(stored, stored.from, stored.to);
    if (!Assign(stored, cause)) return false;
  }
  return true;
}

// Deaths on record in the bolt's document (BoltRecord::AddDeaths), oldest first: each plans its
// tail from its own checkpoint, once no range of the bolt is unfinished (PlanTail would plan
// nothing, and the death must not be forgotten for that). A death whose host is dead waits,
// its checkpoint moved on, until planning reached the bolt's newest checkpoint
// (DeathAfterPlanning); a planned death moves to deaths_done.
void RecoveryDesk::PlanReportedDeaths(BoltRecord b, const std::map<uint64_t, uint64_t>& ends,
                                      std::vector<RangeRecord> records, const std::optional<TailCheckpoint>& newest,
                                      bool origin_alive) {
  bool changed = false;
  while (!b.deaths_pending.empty()) {
    bool blocked = std::any_of(records.begin(), records.end(),
                               [](const RangeRecord& r) { return r.state != RangeRecord::State::kRecovered; });
    if (blocked) break;
    BoltDeath& death = b.deaths_pending.front();
    std::vector<PlannedRange> ranges = PlanTail(death.checkpoint, ends, records);
    for (const PlannedRange& p : ranges) records.push_back({p.gen, p.from, p.to, 0, RangeRecord::State::kUnfinished});
    bool ok = StartRanges(b.origin, b.bolt, b.hook, ranges, "process died");
    if (auto next = DeathAfterPlanning(death.checkpoint, newest, ends, origin_alive)) {
      if (next != death.checkpoint) {
        LOG_NOTICE("bolt %s/%s: process %llu's tail is planned up to generation %llu offset %llu; the rest "
                   "waits for survivors to hold it (or its host to return)",
                   b.origin.c_str(), b.bolt.c_str(), U(death.pid), U(next->gen), U(next->offset));
        death.checkpoint = next;
        changed = true;
      }
      break;
    }
    b.MarkOldestPlanned();
    changed = true;
    if (!ok) break;
  }
  if (!changed) return;
  std::vector<NamespaceStore::Write> writes;
  state_->PutBolt(&writes, std::move(b));
  (void)CommitOrFail(writes);
}

Status RecoveryDesk::Assign(Recovery& r, const std::string& why, const std::string& keep) {
  bool not_holders = false;
  auto candidates = state_->Candidates({r.origin, r.bolt, r.gen}, r.hook, wiring_.placed(), &not_holders);
  bool kept = std::any_of(candidates.begin(), candidates.end(), [&](const ElectionCandidate& c) { return c.id == keep; });
  std::optional<std::string> elected = kept ? std::optional<std::string>(keep) : Elect(candidates, r.origin);
  // An agent that held the range and no longer does stops waiting for its bytes.
  std::string previous = r.held() ? r.agent : "";
  uint64_t previous_epoch = r.epoch;
  auto revoke = [&] {
    if (!previous.empty() && previous != r.agent) SendRevoke(previous, r, previous_epoch, why);
  };
  if (!elected) {
    std::string error = "no live agent " + (not_holders ? "that holds " + r.origin + "/" + r.bolt + " " : "") +
                        "defines hook '" + r.hook + "'";
    bool changed = r.state != RecoveryState::kWaiting || r.error != error;
    r.state = RecoveryState::kWaiting;
    r.agent.clear();
    r.error = error;
    if (changed) LOG_WARN("recovery %llu: %s; waiting", U(r.id), error.c_str());
    Status s = changed ? PutRecovery(r) : Status::Ok();
    if (s) revoke();
    return s;
  }
  r.epoch = state_->next_epoch++;
  ++stats_.assignments;
  r.agent = *elected;
  r.state = RecoveryState::kAssigned;
  r.assigned_unix_ms = UnixNowMs();
  r.error.clear();
  r.AddAssignment({r.epoch, r.agent, r.assigned_unix_ms});
  // The epoch is durable before anyone hears of it: a restart never hands out the same one twice.
  if (Status s = PutRecovery(r); !s) return s;
  LOG_NOTICE("recovery %llu: assigned to %s under epoch %llu (%s)", U(r.id), r.agent.c_str(), U(r.epoch), why.c_str());
  revoke();
  SendAssignment(r);
  return Status::Ok();
}

void RecoveryDesk::SendAssignment(const Recovery& r) {
  auto it = state_->agents.find(r.agent);
  if (it == state_->agents.end() || !it->second.conn) return;
  json msg = {{"type", "assign"}, {"term", term_},   {"recovery", r.id},    {"epoch", r.epoch}, {"origin", r.origin},
              {"bolt", r.bolt},   {"hook", r.hook},  {"generation", r.gen}, {"from", r.from},   {"to", r.to}};
  if (!r.pull_from.empty()) {  // pull_relay.h carries the bytes
    msg["pull_from"] = r.pull_from;
    msg["pull_to"] = r.pull_to;
  }
  Deliver(it->second.conn.get(), ControlFrame(msg));
}

void RecoveryDesk::ResendAssignments(const Agent& a) {
  json held = json::array();
  for (const auto& [id, r] : state_->recoveries) {
    if (!r.held() || r.agent != a.id) continue;
    SendAssignment(r);
    held.push_back({{"recovery", r.id}, {"epoch", r.epoch}});
  }
  // Everything this agent is held to: what it waits for beyond that was taken away meanwhile.
  if (a.conn && a.revokes) Deliver(a.conn.get(), ControlFrame({{"type", "held"}, {"term", term_}, {"recoveries", held}}));
}

void RecoveryDesk::ReassignFrom(const std::string& dead_agent) {
  for (auto& [id, r] : state_->recoveries) {
    if (!r.held() || r.agent != dead_agent) continue;
    if (!Assign(r, "agent " + dead_agent + " is dead")) return;
  }
}

Status RecoveryDesk::OnRecoveryReport(FramedConn* conn, const Agent& a, const json& msg) {
  uint64_t id = 0, epoch = 0, attempt = 0;
  std::string state;
  for (Status s : {ReadUint(msg, "recovery", &id), ReadUint(msg, "epoch", &epoch), ReadString(msg, "state", &state),
                   ReadUint(msg, "attempt", &attempt)}) {
    if (!s) return s;
  }
  std::optional<RecoveryState> reported = ParseRecoveryState(state);
  if (reported != RecoveryState::kRunning && reported != RecoveryState::kRecovered && reported != RecoveryState::kFailed) {
    return Status::Error("recovery: state must be running, recovered or failed, not '" + state.substr(0, 32) + "'");
  }
  std::string error = msg.value("error", "");
  auto reply = [&](bool accepted, const std::string& reason) {
    Deliver(conn, ControlFrame({{"type", "recorded"}, {"recovery", id}, {"epoch", epoch}, {"accepted", accepted},
                                {"term", term_}, {"reason", reason}}));
  };
  auto it = state_->recoveries.find(id);
  if (it == state_->recoveries.end()) {
    LOG_WARN("agent %s reported recovery %llu, which does not exist", a.id.c_str(), U(id));
    if (state != "running") reply(false, "no recovery " + std::to_string(id));
    return Status::Ok();
  }
  Recovery& r = it->second;
  if (r.finished()) {
    ++stats_.stale_reports;
    LOG_WARN("recovery %llu: refused %s from %s under epoch %llu: already recorded as %s under epoch %llu", U(id),
             state.c_str(), a.id.c_str(), U(epoch), RecoveryStateName(r.state), U(r.epoch));
    if (state != "running") reply(false, std::string("already recorded as ") + RecoveryStateName(r.state) + " under epoch " + std::to_string(r.epoch));
    return Status::Ok();
  }
  if (r.agent != a.id || r.epoch != epoch) {
    ++stats_.stale_reports;
    LOG_WARN("recovery %llu: refused %s from %s under stale epoch %llu (assigned to %s under epoch %llu)", U(id),
             state.c_str(), a.id.c_str(), U(epoch), r.agent.empty() ? "nobody" : r.agent.c_str(), U(r.epoch));
    if (state != "running") {
      reply(false, "stale epoch " + std::to_string(epoch) + ": assigned to " + r.agent + " under epoch " +
                       std::to_string(r.epoch));
    }
    return Status::Ok();
  }
  r.attempts = attempt;
  r.error = error;
  if (reported == RecoveryState::kRunning) {
    r.state = RecoveryState::kRunning;
    return PutRecovery(r);
  }
  if (reported == RecoveryState::kRecovered) {
    if (Status s = TakeDelivered(r, msg); !s) return s;
  }
  if (reported != RecoveryState::kRunning) stats_.bytes_given_up += TakePullResult(r, msg);
  r.state = *reported;
  r.finished_unix_ms = UnixNowMs();
  if (Status s = PutRecovery(r); !s) return s;
  if (reported == RecoveryState::kRecovered) {
    LOG_NOTICE("recovery %llu: recovered by %s under epoch %llu: %s/%s generation %llu [%llu, %llu) in %llu attempt(s)",
               U(id), a.id.c_str(), U(epoch), r.origin.c_str(), r.bolt.c_str(), U(r.gen), U(r.from),
               U(r.delivered_to), U(r.attempts));
  } else {
    LOG_ERROR("recovery %llu: failed on %s after %llu attempt(s): %s", U(id), a.id.c_str(), U(r.attempts),
              r.error.c_str());
  }
  reply(true, "");
  if (reported == RecoveryState::kRecovered) PruneRecoveries();
  EvaluateRecoveries();  // a follow-up range may be due
  return Status::Ok();
}

Status RecoveryDesk::TakeDelivered(Recovery& r, const json& msg) {
  uint64_t delivered = 0;
  if (Status s = ReadUint(msg, "delivered_to", &delivered); !s) return s;
  // A shrunk range's assignee may deliver up to the end first asked: it held more than it had
  // reported when the range was shrunk (recovery_shrink.cc).
  uint64_t limit = std::max(r.to, r.asked_to);
  if (delivered < r.from || delivered > limit) {
    return Status::Error("recovery: delivered_to " + std::to_string(delivered) + " outside [" +
                         std::to_string(r.from) + ", " + std::to_string(limit) + "]");
  }
  if (delivered > r.to) {
    NoteFound(r, r.to, delivered);
    r.to = delivered;
  }
  r.delivered_to = delivered;
  return Status::Ok();
}

Status RecoveryDesk::PutRecovery(const Recovery& r) {
  return CommitOrFail({TermState::RecoveryWrite(r)});
}

Status RecoveryDesk::Retry(Recovery& r) {
  std::string last_error = r.error;
  r.state = RecoveryState::kWaiting;
  r.finished_unix_ms = 0;
  r.attempts = 0;
  return Assign(r, "retried by an operator after: " + last_error);
}

}  // namespace tailsafe
