// RecoveryDesk::ShrinkUnfinished, the bound on what a recovery waits for: an unfinished range of a
// bolt whose host is dead, ending past what the survivors durably hold, is shrunk to that,
// recorded with the end first asked and why, and reassigned under a new epoch, in one commit
// (coordinator/recovery_plan.h, ShrinkRange, has the rule). The bytes past the new end are given
// up, counted and logged at error level; if a later report or result shows the origin or a
// survivor that runs the hook holds some of them after all, they are recovered by a follow-up
// range (FollowUpGivenUp, whatever the bolt does now) or by the result, and counted as found.

#include <algorithm>

#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"
#include "coordinator/recovery_desk.h"

namespace tailsafe {

namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

void RecoveryDesk::ShrinkUnfinished(const std::string& origin, const std::string& bolt) {
  auto oit = state_->agents.find(origin);
  if (oit == state_->agents.end() || oit->second.alive()) return;
  uint64_t died = oit->second.record.dead_since_unix_ms, now = UnixNowMs();
  bool all_reported = true;
  bool all_ship = true;
  for (const auto& [id, a] : state_->agents) {
    all_reported &= !a.alive() || (a.conn && a.reported);
    all_ship &= !a.alive() || a.ships;
  }
  std::vector<uint64_t> ids;  // Assign commits, and a failed commit ends the term: no iterators held
  for (const auto& [id, r] : state_->recoveries) {
    if (r.origin == origin && r.bolt == bolt && !r.finished()) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    auto it = state_->recoveries.find(id);
    if (it == state_->recoveries.end()) return;
    Recovery& r = it->second;
    ShrinkFacts facts;
    facts.origin_dead_ms = died != 0 && now > died ? now - died : 0;
    facts.grace_ms = shrink_grace_ms_;
    facts.all_reported = all_reported;
    facts.running = r.state == RecoveryState::kRunning;
    facts.assignee = r.held() ? r.agent : "";
    for (const auto& [aid, a] : state_->agents) {
      if (aid == origin || !a.alive()) continue;
      bool connected = a.conn && a.reported;
      // A pull needs both ends to speak it: the holder, and whichever candidate is assigned.
      facts.survivors.push_back({aid, state_->Coverage(aid, {origin, bolt, r.gen}), connected && a.Runs(r.hook),
                                 connected && a.ships && all_ship});
    }
    std::optional<RangeShrink> s = ShrinkRange(r.from, r.to, facts);
    if (!s) continue;
    std::string why = origin + " is dead and its survivors hold up to " + std::to_string(s->to) + " (the most: " +
                      s->holder + ")";
    if (s->beyond_holder.size()) {
      why += "; " + s->beyond_holder + " holds up to " + std::to_string(s->beyond) + " but does not run hook '" +
             r.hook + "'" + (s->pull ? ": the assignee pulls them from it" : "");
    }
    // Bytes to be pulled are given up only if the pull fails (TakePulled).
    uint64_t kept = s->pull ? s->beyond : s->to;
    if (kept < r.to) {
      LOG_ERROR("recovery %llu: %llu bytes of %s/%s generation %llu [%llu, %llu) are given up, lost unless a survivor "
                "shows them later: %s",
                U(r.id), U(r.to - kept), origin.c_str(), bolt.c_str(), U(r.gen), U(kept), U(r.to), why.c_str());
    } else {
      LOG_WARN("recovery %llu: %s/%s generation %llu [%llu, %llu): %s", U(r.id), origin.c_str(), bolt.c_str(),
               U(r.gen), U(s->to), U(r.to), why.c_str());
    }
    stats_.bytes_given_up += r.to - kept;
    if (r.asked_to == 0) r.asked_to = r.to;
    r.to = s->to;
    r.shrunk = why;
    r.pull_from = s->pull ? s->beyond_holder : "";
    r.pull_to = s->pull ? s->beyond : 0;
    // A candidate holds `s->to`, so Assign elects and commits; the assignee stays if it holds it.
    if (!Assign(r, "range shrunk to [" + std::to_string(r.from) + ", " + std::to_string(r.to) + ")",
                s->reassign ? "" : r.agent)) {
      return;
    }
  }
}

bool RecoveryDesk::FollowUpGivenUp(const std::string& origin, const std::string& bolt, const std::string& hook,
                                   const std::map<uint64_t, uint64_t>& ends, std::vector<RangeRecord>* records) {
  // What is held again: the origin's file (in `ends` while it lives) or the replica of a live
  // agent that runs the hook. Not one without it: its bytes were offered by a pull already, and
  // a follow-up that could only be shrunk and pulled again would be planned again, forever.
  std::map<uint64_t, uint64_t> held = state_->Replicated({origin, bolt}, hook);
  for (const auto& [gen, end] : ends) held[gen] = std::max(held[gen], end);
  std::vector<PlannedRange> owed = PlanGivenUp(held, *records);
  if (owed.empty()) return true;
  if (!StartRanges(origin, bolt, hook, owed, "bytes a shrink gave up are held again") || !deciding()) return false;
  *records = state_->RangesOf({origin, bolt});
  return true;
}

void RecoveryDesk::NoteFound(const Recovery& r, uint64_t from, uint64_t to) {
  uint64_t found = 0;
  for (const auto& [id, g] : state_->recoveries) {
    if (g.origin != r.origin || g.bolt != r.bolt || g.gen != r.gen || g.asked_to <= g.to) continue;
    uint64_t lo = std::max(from, g.to), hi = std::min(to, g.asked_to);
    if (hi <= lo) continue;
    found += hi - lo;
    LOG_NOTICE("recovery %llu: %llu bytes recovery %llu gave up in [%llu, %llu) are held after all", U(r.id),
               U(hi - lo), U(g.id), U(lo), U(hi));
  }
  stats_.bytes_found += found;
}

void RecoveryDesk::SendRevoke(const std::string& agent, const Recovery& r, uint64_t epoch, const std::string& why) {
  auto it = state_->agents.find(agent);
  if (it == state_->agents.end() || !it->second.conn || !it->second.revokes) return;
  Deliver(it->second.conn.get(), ControlFrame({{"type", "revoke"},
                                               {"term", term_},
                                               {"recovery", r.id},
                                               {"epoch", epoch},
                                               {"reason", why}}));
}

}  // namespace tailsafe
