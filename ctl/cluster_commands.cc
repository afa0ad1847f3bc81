#include "ctl/cluster_commands.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/coord_client.h"
#include "common/format.h"
#include "ctl/health_check.h"

namespace tailsafe {

using nlohmann::json;

namespace {

// Checks one page of documents: {documents: {...}, more, next}.
Status ReadPage(const json& reply, json* docs, bool* more, std::string* next) {
  std::string type = Get<std::string>(reply, "type", "");
  if (type == "error") return Status::Error(Get<std::string>(reply, "message", "?"));
  if (type != "documents" || !reply.contains("documents") || !reply["documents"].is_object()) {
    return Status::Error("unexpected reply '" + type + "' from the coordinator");
  }
  for (auto it = reply["documents"].begin(); it != reply["documents"].end(); ++it) (*docs)[it.key()] = it.value();
  *more = Get<bool>(reply, "more", false);
  *next = Get<std::string>(reply, "next", "");
  if (*more && next->empty()) return Status::Error("the coordinator said more documents follow, but not after which");
  return Status::Ok();
}

// Every document at or below `path`: {path: document}, page by page.
Result<json> Dump(const CoordinatorEndpoint& coordinator, const std::string& path, int timeout_ms,
                  std::string* answered = nullptr) {
  json docs = json::object();
  std::string after;
  for (;;) {
    json request = {{"type", "dump"}, {"path", path}};
    if (!after.empty()) request["after"] = after;
    Result<json> reply = CoordinatorRequest(coordinator, request, timeout_ms, answered);
    if (!reply) return reply.status();
    bool more = false;
    if (Status s = ReadPage(*reply, &docs, &more, &after); !s) return s;
    if (!more) return docs;
  }
}

std::string IsoNow() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return buf;
}

}  // namespace

int RunCheck(const CoordinatorEndpoint& coordinator, const CheckThresholds& t, int timeout_ms) {
  Result<json> docs = Dump(coordinator, "/", timeout_ms);
  if (!docs) {
    printf("TAILSAFE UNKNOWN - %s\n", docs.status().message().c_str());
    return 3;
  }
  CheckResult r = CheckDocuments(*docs, t);
  printf("%s\n", r.line.c_str());
  return r.code;
}

int RunClusterStatus(const CoordinatorEndpoint& coordinator, bool as_json, int timeout_ms) {
  std::string answered;
  Result<json> docs = Dump(coordinator, "/", timeout_ms, &answered);
  if (!docs) {
    fprintf(stderr, "tailsafectl: %s\n", docs.status().message().c_str());
    return 1;
  }
  if (as_json) {
    printf("%s\n", docs->dump(2).c_str());
    return 0;
  }
  printf("cluster, from the coordinator at %s\n\n", answered.c_str());
  printf("%-16s %-6s %-22s %s\n", "AGENT", "STATE", "ADDRESS", "LAST HEARD");
  for (const auto& [id, d] : DocumentsUnder(*docs, "/agents/")) {
    bool alive = Get<bool>(*d, "alive", false);
    std::string heard = alive ? std::to_string(Get<uint64_t>(*d, "last_heard_ms_ago", 0)) + " ms ago" : "-";
    printf("%-16s %-6s %-22s %s\n", id.c_str(), alive ? "alive" : "DEAD", Get<std::string>(*d, "address", "?").c_str(),
           heard.c_str());
  }
  printf("\n%-24s %-8s %8s %-20s %12s %8s\n", "BOLT", "PROCESS", "PID", "CHECKPOINT", "LAG", "LAG S");
  for (const auto& [name, d] : DocumentsUnder(*docs, "/bolts/")) {
    json proc = d->value("process", json::object());
    json ck = d->value("checkpoint", json::object());
    std::string state = Get<bool>(*d, "host_alive", true) ? Get<std::string>(proc, "state", "-") : "host-dead";
    std::string pid = proc.contains("pid") ? std::to_string(Get<int>(proc, "pid", 0)) : "-";
    std::string checkpoint = "-";
    if (ck.contains("offset")) {
      checkpoint = std::to_string(Get<uint64_t>(ck, "offset", 0));
      if (ck.contains("gen")) checkpoint += " (gen " + std::to_string(Get<uint64_t>(ck, "gen", 0)) + ")";
    }
    printf("%-24s %-8s %8s %-20s %12s %8.3f\n", name.c_str(), state.c_str(), pid.c_str(), checkpoint.c_str(),
           HumanBytes(Get<uint64_t>(*d, "lag_bytes", 0)).c_str(), Get<double>(*d, "lag_seconds", 0));
  }
  auto recs = DocumentsUnder(*docs, "/recoveries/");
  std::sort(recs.begin(), recs.end(), [](const auto& a, const auto& b) {
    return std::stoull(a.first) < std::stoull(b.first);
  });
  printf("\n%-8s %-24s %4s %-24s %-10s %-12s %6s %4s\n", "RECOVERY", "BOLT", "GEN", "RANGE", "STATE", "AGENT", "EPOCH",
         "TRY");
  for (const auto& [id, d] : recs) {
    std::string range = "[" + std::to_string(Get<uint64_t>(*d, "from", 0)) + ", " +
                        std::to_string(Get<uint64_t>(*d, "to", 0)) + ")";
    printf("%-8s %-24s %4llu %-24s %-10s %-12s %6llu %4llu\n", id.c_str(),
           (Get<std::string>(*d, "origin", "?") + "/" + Get<std::string>(*d, "bolt", "?")).c_str(),
           Get<unsigned long long>(*d, "generation", 0), range.c_str(), Get<std::string>(*d, "state", "?").c_str(),
           Get<std::string>(*d, "agent", "-").c_str(), Get<unsigned long long>(*d, "epoch", 0),
           Get<unsigned long long>(*d, "attempts", 0));
    std::string error = Get<std::string>(*d, "error", "");
    if (!error.empty()) printf("%-8s %s\n", "", error.c_str());
    std::string shrunk = Get<std::string>(*d, "shrunk", "");
    if (!shrunk.empty()) {
      printf("%-8s shrunk from %llu: %s\n", "", Get<unsigned long long>(*d, "asked_to", 0), shrunk.c_str());
    }
    std::string pull_from = Get<std::string>(*d, "pull_from", "");
    if (!pull_from.empty()) {
      std::string pulled = Get<std::string>(*d, "pulled", "");
      printf("%-8s pull up to %llu from %s: %s\n", "", Get<unsigned long long>(*d, "pull_to", 0), pull_from.c_str(),
             pulled.empty() ? "not yet reported" : pulled.c_str());
    }
  }
  return 0;
}

namespace {

// How long watch keeps looking for a leader once its connection is lost: longer than an
// election takes (a session timeout, then a claim).
constexpr std::chrono::seconds kFindLeaderFor{60};

// A document as watch compares and prints it: without the facts that change on every heartbeat.
std::string Stable(json d) {
  if (d.is_object()) {
    d.erase("last_heard_ms_ago");
    d.erase("lag_seconds");
    d.erase("file_size");
    d.erase("peer_lag");
  }
  return d.dump();
}

}  // namespace

int RunWatch(const CoordinatorEndpoint& coordinator, const std::string& path, bool as_json, int count,
             int timeout_ms) {
  std::map<std::string, std::string> last;  // path -> Stable(document): what was printed
  bool first = true;
  int changes = 0;
  auto print = [&](const char* what, const std::string& p, const std::string* stable) {
    json value = stable ? json::parse(*stable) : json();
    if (as_json) {
      json line = {{"time", IsoNow()}, {"event", what}, {"path", p}};
      if (stable) line["value"] = value;
      printf("%s\n", line.dump().c_str());
    } else {
      printf("%s %s %s%s%s\n", IsoNow().c_str(), what, p.c_str(), stable ? " " : "", stable ? stable->c_str() : "");
    }
    fflush(stdout);
  };
  auto apply = [&](const std::string& p, const json* value) {
    auto old = last.find(p);
    if (value == nullptr || value->is_null()) {
      if (old == last.end()) return;
      last.erase(old);
      print("removed", p, nullptr);
    } else {
      std::string now = Stable(*value);
      if (old != last.end() && old->second == now) return;
      print(old == last.end() ? "added" : "changed", p, &now);
      last[p] = now;
    }
    ++changes;
  };
  // The leader pushes every change; a connection that ends (a failover, a restart) or goes
  // silent past the timeout is opened again, to the leader then, and what changed meanwhile is
  // printed from its snapshot.
  std::minstd_rand jitter(static_cast<unsigned>(::getpid()));
  auto lost_since = std::chrono::steady_clock::now();
  for (;;) {
    Result<CoordinatorReply> opened = CoordinatorOpen(coordinator, {{"type", "watch"}, {"path", path}}, timeout_ms);
    if (!opened) {
      if (first || std::chrono::steady_clock::now() - lost_since > kFindLeaderFor) {
        fprintf(stderr, "tailsafectl: %s\n", opened.status().message().c_str());
        return 1;
      }
      fprintf(stderr, "tailsafectl: %s; trying again\n", opened.status().message().c_str());
      ::usleep(static_cast<useconds_t>(250000 + jitter() % 500000));  // 0.25 to 0.75 s
      continue;
    }
    json snapshot = json::object();
    json reply = std::move(opened->first);
    Status bad;
    for (;;) {
      bool more = false;
      std::string next;
      if (Status s = ReadPage(reply, &snapshot, &more, &next); !s) {
        bad = s;
        break;
      }
      if (!more) break;
      Result<json> page = opened->stream->Next(timeout_ms);
      if (!page) {
        bad = page.status();
        break;
      }
      reply = std::move(page.value());
    }
    if (!bad.ok()) {
      fprintf(stderr, "tailsafectl: %s\n", bad.message().c_str());
      if (first) return 1;
      continue;
    }
    if (first) {
      if (as_json) {
        printf("%s\n", json{{"time", IsoNow()}, {"event", "watching"}, {"path", path}, {"documents", snapshot.size()}}.dump().c_str());
      } else {
        printf("%s watching %s: %zu documents\n", IsoNow().c_str(), path.c_str(), snapshot.size());
      }
      fflush(stdout);
      for (auto it = snapshot.begin(); it != snapshot.end(); ++it) {
        std::string now = Stable(it.value());
        last[it.key()] = now;
        print("now", it.key(), &now);
      }
      first = false;
    } else {
      std::vector<std::string> gone;
      for (const auto& [p, text] : last) {
        if (!snapshot.contains(p)) gone.push_back(p);
      }
      for (const std::string& p : gone) apply(p, nullptr);
      for (auto it = snapshot.begin(); it != snapshot.end(); ++it) apply(it.key(), &it.value());
    }
    if (count > 0 && changes >= count) return 0;
    for (;;) {
      Result<json> msg = opened->stream->Next(timeout_ms);
      if (!msg) {
        fprintf(stderr, "tailsafectl: %s; finding the leader again\n", msg.status().message().c_str());
        lost_since = std::chrono::steady_clock::now();
        break;
      }
      std::string type = Get<std::string>(*msg, "type", "");
      if (type == "watch_alive") continue;
      if (type != "changes" || !msg->contains("changes") || !(*msg)["changes"].is_array()) {
        fprintf(stderr, "tailsafectl: unexpected message '%s' from the coordinator; finding the leader again\n", type.c_str());
        lost_since = std::chrono::steady_clock::now();
        break;
      }
      for (const json& c : (*msg)["changes"]) {
        if (!c.is_object() || !c.contains("path") || !c["path"].is_string()) continue;
        const json* value = c.contains("value") ? &c["value"] : nullptr;
        apply(c["path"].get<std::string>(), value);
      }
      if (count > 0 && changes >= count) return 0;
    }
  }
}

}  // namespace tailsafe
