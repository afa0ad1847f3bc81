// StatusPage: the coordinator's page for operators, at [coordinator] http_listen, on an
// HttpDaemon (common/http_daemon.h) on the coordinator's loop:
//
//   /             the page: every section rendered here (coordinator/status_html.h), so it reads
//                 the same with the script off; the script keeps it live from /api/events
//   /api/status   the status document as JSON, for scripts
//   /api/events   server-sent events: "section" events ({id, html}) with a section rendered
//                 again; sent for the sections a durable commit touched (the change feed: the
//                 paths written), and every kLiveEveryMs for the live facts (heartbeats, lag)
//   /metrics      the Prometheus text, as at metrics_listen
//   /api/role     {leading, term, page}: whether this instance leads, open to any origin and
//                 without the token (it names nothing else), so that a page whose coordinator
//                 died can ask the other instances which one leads, and go there
//   /app.js, /style.css   the page's script and stylesheet, built into the binary
//
// The page shows host names and paths: with http_token_file set, every route but the two
// assets wants the token (Authorization: Bearer, ?token=, or the cookie set when it came in the
// query); without it, http_listen must be loopback (checked in common/config.cc).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/http_daemon.h"
#include "common/status.h"
#include "common/uv_handle.h"
#include "coordinator/namespace_store.h"

namespace tailsafe {

class StatusPage {
 public:
  static constexpr uint64_t kLiveEveryMs = 2000;
  static constexpr uint64_t kCoalesceMs = 250;   // sections touched by commits go out this often at most
  static constexpr size_t kHistoryPoints = 150;  // lag samples kept per bolt: 5 minutes
  static constexpr size_t kMinTokenBytes = 16;

  struct Sources {
    std::function<nlohmann::json()> status;  // the status document, without its lag history
    std::function<std::string()> metrics;    // the Prometheus text
    // Whether every commit made so far is durable: sections go out only then, like every other
    // word from the coordinator.
    std::function<bool()> settled;
    // The status document's "coordinator" part alone (cheap: /api/role asks it without a token).
    std::function<nlohmann::json()> coordinator;
  };
  StatusPage(uv_loop_t* loop, const CoordinatorConfig& config, Sources sources);
  // Reads the token file (if any), listens, and starts its clock (kTickMs).
  Status Start();
  void Stop();
  // A commit was made: the sections its writes fall in go out again once it is durable.
  void OnCommitted(const std::vector<NamespaceStore::Write>& writes);
  // This instance started or stopped leading: every section goes out again.
  void OnLeadership() { dirty_.insert(kAll.begin(), kAll.end()); }
  static constexpr uint64_t kTickMs = 100;
  size_t clients() const { return http_.streams(); }
  HttpDaemon& http() { return http_; }  // for the HTTP fuzzer (HttpDaemon::Adopt)
  uint16_t port() const { return http_.port(); }
  // Where this instance's page is, for the other instances' pages: "http://HOST:PORT/" with
  // http_listen's host, or when that is a wildcard (0.0.0.0, ::) the host of `listen`, or
  // when that is one too, `hostname`. "" without http_listen.
  static std::string PageUrl(const CoordinatorConfig& config, const std::string& hostname);
  static std::string PageUrl(const CoordinatorConfig& config);  // with this host's name
  // The Content-Security-Policy of the page: this origin, and the origins of the other
  // instances' pages in `status` (the script asks them who leads).
  static std::string Policy(const nlohmann::json& status);
  // The status document with its lag history (what /api/status answers).
  nlohmann::json Snapshot() const;
  // `status` with the lag history added.
  nlohmann::json WithHistory(nlohmann::json status) const;

 private:
  static const std::set<std::string> kAll;
  void Tick(uint64_t now);
  void Sample(const nlohmann::json& status);
  void Send(const std::set<std::string>& sections, const nlohmann::json& status);
  std::optional<HttpReply> Guard(const HttpRequest& req) const;

  uv_loop_t* loop_;
  const CoordinatorConfig& config_;
  Sources sources_;
  HttpDaemon http_;
  UvPtr<uv_timer_t> timer_;
  std::string token_;  // empty: no token asked for
  std::set<std::string> dirty_;
  uint64_t last_live_ns_ = 0;
  uint64_t last_sent_ns_ = 0;
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> history_;  // ORIGIN/BOLT -> (unix ms, lag bytes)
};

}  // namespace tailsafe
