#include "coordinator/namespace_reader.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/coord_protocol.h"
#include "common/log.h"

namespace tailsafe {

using nlohmann::json;

namespace {

// Tree order: component by component, so "/a/b" and all below it come before "/a-c".
std::vector<std::string_view> Components(std::string_view path) {
  std::vector<std::string_view> out;
  for (size_t i = 1; i <= path.size();) {
    size_t end = std::min(path.find('/', i), path.size());
    out.push_back(path.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

bool TreeLess(const std::string& a, const std::string& b) {
  auto ca = Components(a), cb = Components(b);
  return std::lexicographical_compare(ca.begin(), ca.end(), cb.begin(), cb.end());
}

std::string Dumped(const json& doc) { return doc.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

NamespaceReader::NamespaceReader(const NamespaceStore* store, const TermState* state, DeliverFn deliver)
    : store_(store), state_(state), deliver_(std::move(deliver)) {}

void NamespaceReader::Deliver(FramedConn* conn, std::string frame) { deliver_(conn, std::move(frame)); }

Status NamespaceReader::OnRead(FramedConn* conn, const json& msg) {
  std::string type = msg["type"].get<std::string>();
  std::string path, after;
  if (Status s = ReadString(msg, "path", &path); !s) return s;
  if (msg.contains("after")) {
    if (Status s = ReadString(msg, "after", &after); !s) return s;
  }
  if (Status s = CheckNamespacePath(path); !s) {
    Deliver(conn, ControlFrame({{"type", "error"}, {"message", s.message()}}));
    return Status::Ok();
  }
  if (type == "ls") {
    auto names = store_->Children(path);
    if (names.empty() && path != "/" && !store_->Get(path)) {
      Deliver(conn, ControlFrame({{"type", "error"}, {"message", "no such path: " + path}}));
      return Status::Ok();
    }
    auto it = after.empty() ? names.begin() : std::upper_bound(names.begin(), names.end(), after);
    json page = json::array();
    size_t bytes = 0;
    for (; it != names.end() && bytes < kPageBytes && page.size() < kPageNames; ++it) {
      bytes += it->size() + 4;
      page.push_back(*it);
    }
    Deliver(conn, ControlFrame({{"type", "children"}, {"path", path}, {"names", page}, {"more", it != names.end()}}));
    return Status::Ok();
  }
  if (type == "dump" || type == "watch") {
    if (type == "watch") {
      watchers_[conn] = path;
      LOG_INFO("tailsafectl at %s watches %s", conn->remote().c_str(), path.c_str());
    }
    DeliverDocuments(conn, path, after, type == "watch");
    return Status::Ok();
  }
  auto doc = store_->Get(path);
  if (!doc) {
    std::string hint = store_->Children(path).empty() ? "" : " (it has children: use ls)";
    Deliver(conn, ControlFrame({{"type", "error"}, {"message", "no document at " + path + hint}}));
    return Status::Ok();
  }
  Deliver(conn, ControlFrame({{"type", "document"}, {"path", path}, {"value", LiveDoc(path, *doc)}}));
  return Status::Ok();
}

void NamespaceReader::CollectPaths(const std::string& path, std::vector<std::string>* out) const {
  if (store_->Get(path)) out->push_back(path);
  for (const std::string& child : store_->Children(path)) CollectPaths(path == "/" ? "/" + child : path + "/" + child, out);
}

void NamespaceReader::DeliverDocuments(FramedConn* conn, const std::string& path, const std::string& after, bool all_pages) {
  std::vector<std::string> paths;
  CollectPaths(path, &paths);
  auto it = after.empty() ? paths.begin() : std::upper_bound(paths.begin(), paths.end(), after, TreeLess);
  do {
    json docs = json::object();
    size_t bytes = 0;
    std::string last;
    for (; it != paths.end() && (bytes < kPageBytes || docs.empty()); ++it) {
      json doc = LiveDoc(*it, store_->Get(*it).value_or("null"));
      bytes += it->size() + Dumped(doc).size();
      docs[*it] = std::move(doc);
      last = *it;
    }
    bool more = it != paths.end();
    json reply = {{"type", "documents"}, {"path", path}, {"documents", docs}, {"more", more}};
    if (more) reply["next"] = last;
    if (all_pages) reply["watch"] = true;
    Deliver(conn, ControlFrame(reply));
    if (!more) return;
  } while (all_pages);
}

void NamespaceReader::OnCommitted(const std::vector<NamespaceStore::Write>& writes) {
  for (const auto& [conn, watched] : watchers_) {
    std::string prefix = watched == "/" ? "/" : watched + "/";
    json changes = json::array();
    size_t bytes = 0;
    auto flush = [&] {
      if (changes.empty()) return;
      Deliver(conn, ControlFrame({{"type", "changes"}, {"changes", changes}}));
      changes = json::array();
      bytes = 0;
    };
    for (const NamespaceStore::Write& w : writes) {
      if (w.path != watched && w.path.compare(0, prefix.size(), prefix) != 0) continue;
      json value = w.value ? LiveDoc(w.path, *w.value) : json();
      bytes += w.path.size() + (w.value ? w.value->size() : 4);
      changes.push_back({{"path", w.path}, {"value", std::move(value)}});
      if (bytes >= kPageBytes) flush();
    }
    flush();
  }
}

json NamespaceReader::Documents(const std::string& path) const {
  std::vector<std::string> paths;
  CollectPaths(path, &paths);
  json docs = json::object();
  for (const std::string& p : paths) docs[p] = LiveDoc(p, store_->Get(p).value_or("null"));
  return docs;
}

void NamespaceReader::KeepAlive(uint64_t now) {
  if (now - watch_alive_ns_ < 1000000000ull) return;
  watch_alive_ns_ = now;
  if (watchers_.empty()) return;
  std::string frame = ControlFrame({{"type", "watch_alive"}});
  for (const auto& [conn, watched] : watchers_) Deliver(conn, frame);
}

json NamespaceReader::LiveDoc(const std::string& path, const std::string& stored) const {
  json value = json::parse(stored, nullptr, false);
  if (!value.is_object()) return value;
  if (path.rfind("/agents/", 0) == 0) {
    // Live facts, not stored: how long ago the agent was last heard from.
    auto it = state_->agents.find(path.substr(8));
    if (it != state_->agents.end() && it->second.alive()) {
      value["last_heard_ms_ago"] = (NowNs() - it->second.last_heard_ns) / 1000000;
      value["connected"] = it->second.conn != nullptr;
      if (!it->second.version.empty()) value["version"] = it->second.version;
    }
  } else if (path.rfind("/bolts/", 0) == 0) {
    // The replication lag the origin reported last (changes every heartbeat: not stored).
    std::string rest = path.substr(7);
    auto slash = rest.find('/');
    if (slash != std::string::npos) {
      auto it = state_->agents.find(rest.substr(0, slash));
      if (it != state_->agents.end() && it->second.alive()) {
        auto lag = it->second.bolt_lag.find(rest.substr(slash + 1));
        if (lag != it->second.bolt_lag.end()) value.update(lag->second);
        auto ends = it->second.bolt_ends.find(rest.substr(slash + 1));
        if (ends != it->second.bolt_ends.end() && !ends->second.empty()) {
          value["file_size"] = ends->second.rbegin()->second;  // its newest generation's
        }
      }
    }
  }
  return value;
}

}  // namespace tailsafe
