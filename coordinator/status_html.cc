#include "coordinator/status_html.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "common/format.h"

namespace tailsafe {
namespace {

using json = nlohmann::json;

std::string Esc(const json& j, const char* key, const char* fallback = "") {
  return HtmlEscape(Get<std::string>(j, key, fallback));
}

std::string Num(uint64_t n) { return std::to_string(n); }


// "14:03:27 UTC" for a Unix time in ms; "" for 0.
std::string ClockTime(uint64_t unix_ms) {
  if (unix_ms == 0) return "";
  time_t t = static_cast<time_t>(unix_ms / 1000);
  tm parts{};
  gmtime_r(&t, &parts);
  char buf[32];
  strftime(buf, sizeof buf, "%H:%M:%S UTC", &parts);
  return buf;
}

std::string Duration(uint64_t ms) {
  char buf[32];
  if (ms < 1000) {
    snprintf(buf, sizeof buf, "%llu ms", static_cast<unsigned long long>(ms));
  } else if (ms < 120000) {
    snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000);
  } else {
    snprintf(buf, sizeof buf, "%llu min", static_cast<unsigned long long>(ms / 60000));
  }
  return buf;
}

// A state said three ways: a symbol, a word, and a class the stylesheet colours.
std::string Badge(const std::string& kind, const std::string& word) {
  const char* symbol = kind == "ok" ? "\u25CF" : kind == "bad" ? "\u2716" : kind == "warn" ? "\u25B2" : "\u25CB";
  return "<span class=\"badge " + kind + "\"><span aria-hidden=\"true\">" + symbol + "</span> " + HtmlEscape(word) +
         "</span>";
}

std::string Command(const std::string& cmd) {
  return "<div class=\"cmd\">Act: <code>" + HtmlEscape(cmd) + "</code></div>";
}

// A link to another instance's page; only http(s) URLs become links.
std::string PageLink(const std::string& page, const std::string& text, const std::string& attrs) {
  bool web = page.rfind("http://", 0) == 0 || page.rfind("https://", 0) == 0;
  if (!web) return HtmlEscape(text);
  return "<a href=\"" + HtmlEscape(page) + "\"" + attrs + ">" + HtmlEscape(text) + "</a>";
}

// Every coordinator instance standing for the leadership, each a link to its page: where the
// script goes when this instance stops answering.
std::string Instances(const json& c) {
  const json& list = Field(c, "instances");
  if (!list.is_array() || list.empty()) return "";
  std::string leader = Get<bool>(c, "leading", false) ? Get<std::string>(c, "listen", "") : Get<std::string>(c, "leader", "");
  std::string out = "<p class=\"instances\">Coordinators:";
  bool first = true;
  for (const auto& one : list) {
    std::string address = Get<std::string>(one, "address", "");
    bool leads = !leader.empty() && address == leader;
    out += std::string(first ? " " : ", ") +
           PageLink(Get<std::string>(one, "page", ""), address,
                    std::string(" data-coordinator-page data-leading=\"") + (leads ? "true" : "false") + "\"") +
           (leads ? " (leading)" : "");
    first = false;
  }
  return out + "</p>";
}

std::string Summary(const json& s) {
  const json& c = Field(s, "coordinator");
  size_t agents = 0, alive = 0, failed = 0, open = 0;
  for (const auto& [path, a] : Field(s, "agents").items()) {
    ++agents;
    alive += Get<bool>(a, "alive", false) ? 1 : 0;
  }
  for (const auto& [path, r] : Field(s, "recoveries").items()) {
    std::string st = Get<std::string>(r, "state", "");
    failed += st == "failed" ? 1 : 0;
    open += st == "waiting" || st == "assigned" || st == "running" ? 1 : 0;
  }
  bool leading = Get<bool>(c, "leading", false);
  std::string out = std::string("<section id=\"summary\" aria-labelledby=\"summary-h\" data-leading=\"") +
                    (leading ? "true" : "false") + "\"><h1 id=\"summary-h\">tailsafe: " + Esc(s, "cluster") +
                    "</h1><p class=\"leader\">";
  if (leading) {
    out += Badge("ok", "leading") + " coordinator " + Esc(c, "listen") + ", term <span data-term>" +
           Num(Get<uint64_t>(c, "term", 0)) + "</span>";
  } else {
    std::string leader = Get<std::string>(c, "leader", "");
    out += Badge("warn", "not leading") + " this coordinator (" + Esc(c, "listen") + ") is not the leader" +
           (leader.empty() ? "; no leader is known yet" : "; the leader is at <span data-leader>" + HtmlEscape(leader) + "</span>");
    std::string page = Get<std::string>(c, "leader_page", "");
    if (!leader.empty() && !page.empty()) out += ", its page " + PageLink(page, page, " data-leader-page");
  }
  out += "</p>" + Instances(c);
  out += "<ul class=\"counts\"><li><strong>" + Num(alive) + "/" + Num(agents) + "</strong> agents alive</li><li><strong>" +
         Num(Field(s, "bolts").size()) + "</strong> bolts</li><li><strong>" + Num(open) +
         "</strong> recoveries under way</li><li" + std::string(failed ? " class=\"bad\"" : "") + "><strong>" + Num(failed) +
         "</strong> failed</li></ul><p class=\"stamp\">As of " + ClockTime(Get<uint64_t>(s, "generated_unix_ms", 0)) +
         " <span id=\"live\" class=\"live\" role=\"status\">snapshot</span></p></section>";
  return out;
}

std::string Agents(const json& s) {
  std::string out =
      "<section id=\"agents\" aria-labelledby=\"agents-h\"><h2 id=\"agents-h\">Agents</h2><div class=\"scroll\"><table>"
      "<thead><tr><th scope=\"col\">Agent</th><th scope=\"col\">State</th><th scope=\"col\">Address</th>"
      "<th scope=\"col\">Last heartbeat</th><th scope=\"col\">Version</th></tr></thead><tbody>";
  for (const auto& [path, a] : Field(s, "agents").items()) {
    std::string id = path.substr(path.rfind('/') + 1);
    bool alive = Get<bool>(a, "alive", false);
    std::string state = alive ? (Get<bool>(a, "connected", false) ? "alive" : "alive, reconnecting") : "dead";
    out += "<tr data-agent=\"" + HtmlEscape(id) + "\" data-state=\"" + (alive ? "alive" : "dead") + "\"" +
           (alive ? "" : " class=\"bad\"") + "><th scope=\"row\">" + HtmlEscape(id) + "</th><td data-label=\"State\">" +
           Badge(alive ? (state == "alive" ? "ok" : "warn") : "bad", state);
    if (!alive) {
      uint64_t since = Get<uint64_t>(a, "dead_since_unix_ms", 0);
      if (since) out += " since " + ClockTime(since);
      out += Command("tailsafectl forget-agent " + id) + "<div class=\"hint\">only if its host will not come back</div>";
    }
    out += "</td><td data-label=\"Address\">" + Esc(a, "address") + "</td><td data-label=\"Heartbeat\">" +
           (alive && a.contains("last_heard_ms_ago") ? Num(Get<uint64_t>(a, "last_heard_ms_ago", 0)) + " ms ago" : "-") +
           "</td><td data-label=\"Version\">" + Esc(a, "version", "-") + "</td></tr>";
  }
  return out + "</tbody></table></div></section>";
}

// Lag over the last minutes as an inline SVG line, scaled to its own peak.
std::string Sparkline(const json& points) {
  if (!points.is_array() || points.size() < 2) return "<span class=\"hint\">no history yet</span>";
  std::vector<std::pair<uint64_t, uint64_t>> pts;
  for (const json& p : points) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number_unsigned() || !p[1].is_number_unsigned()) continue;
    pts.emplace_back(p[0].get<uint64_t>(), p[1].get<uint64_t>());
  }
  if (pts.size() < 2) return "<span class=\"hint\">no history yet</span>";
  uint64_t t0 = pts.front().first, t1 = std::max(pts.back().first, t0 + 1), peak = 0;
  for (const auto& p : pts) peak = std::max(peak, p.second);
  std::string line;
  for (const auto& [t, v] : pts) {
    char buf[48];
    double x = 120.0 * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
    double y = 22.0 - (peak ? 20.0 * static_cast<double>(v) / static_cast<double>(peak) : 0.0);
    snprintf(buf, sizeof buf, "%.1f,%.1f ", x, y);
    line += buf;
  }
  return "<svg class=\"spark\" viewBox=\"0 0 120 24\" width=\"120\" height=\"24\" role=\"img\" aria-label=\"lag over the last " +
         Duration(t1 - t0) + ", peak " + HumanBytes(peak) + "\"><polyline points=\"" + line +
         "\"/></svg><span class=\"hint\">peak " + HumanBytes(peak) + "</span>";
}

// Each holder's lag as a bar: full at 8 MiB (the default window), so a caught-up peer is empty.
std::string PeerBars(const json& b) {
  const json& peers = Field(b, "peer_lag");
  if (!peers.is_object() || peers.empty()) return "<span class=\"hint\">no holders reported</span>";
  std::string out = "<ul class=\"bars\">";
  for (const auto& [peer, bytes] : peers.items()) {
    uint64_t n = bytes.is_number_unsigned() ? bytes.get<uint64_t>() : 0;
    out += "<li data-peer=\"" + HtmlEscape(peer) + "\"><span class=\"peer\">" + HtmlEscape(peer) +
           "</span> <meter min=\"0\" max=\"8388608\" low=\"65536\" high=\"1048576\" optimum=\"0\" value=\"" + Num(n) + "\">" +
           HumanBytes(n) + "</meter> " + HumanBytes(n) + "</li>";
  }
  return out + "</ul>";
}

std::string Bolts(const json& s) {
  std::string out =
      "<section id=\"bolts\" aria-labelledby=\"bolts-h\"><h2 id=\"bolts-h\">Bolts</h2><div class=\"scroll\"><table>"
      "<thead><tr><th scope=\"col\">Bolt</th><th scope=\"col\">Host</th><th scope=\"col\">Process</th>"
      "<th scope=\"col\">File</th><th scope=\"col\">Checkpoint</th><th scope=\"col\">Lag per holder</th>"
      "<th scope=\"col\">Lag, last minutes</th></tr></thead><tbody>";
  const json& history = Field(s, "lag_history");
  for (const auto& [path, b] : Field(s, "bolts").items()) {
    std::string origin = Get<std::string>(b, "origin", ""), bolt = Get<std::string>(b, "bolt", "");
    std::string key = origin + "/" + bolt;
    const json& proc = Field(b, "process");
    std::string state = Get<std::string>(proc, "state", "unknown");
    bool host_alive = Get<bool>(b, "host_alive", true);
    bool under = Get<uint64_t>(b, "holders_filling", 0) > 0;
    std::string kind = !host_alive || state == "dead" ? "bad" : state == "running" ? "ok" : "warn";
    out += "<tr data-bolt=\"" + HtmlEscape(key) + "\" data-state=\"" + HtmlEscape(state) + "\"" +
           (kind == "bad" ? " class=\"bad\"" : "") + "><th scope=\"row\">" + HtmlEscape(bolt) + "</th><td data-label=\"Host\">" +
           HtmlEscape(origin) + (host_alive ? "" : " " + Badge("bad", "host dead")) + "</td><td data-label=\"Process\">" + Badge(kind, state);
    if (proc.contains("pid")) out += " pid " + Num(Get<uint64_t>(proc, "pid", 0));
    out += "</td><td data-label=\"File\">" + (b.contains("file_size") ? HumanBytes(Get<uint64_t>(b, "file_size", 0)) : std::string("-")) +
           "</td><td data-label=\"Checkpoint\">";
    const json& cp = Field(b, "checkpoint");
    out += cp.contains("offset") ? "gen " + Num(Get<uint64_t>(cp, "gen", 0)) + " @ " + Num(Get<uint64_t>(cp, "offset", 0))
                                 : std::string("-");
    out += "</td><td data-label=\"Lag\">" + PeerBars(b) + (under ? Badge("warn", "under-replicated") : "") +
           "</td><td data-label=\"History\">" +
           Sparkline(history.value(key, json::array())) + "</td></tr>";
  }
  return out + "</tbody></table></div></section>";
}

std::string Recoveries(const json& s) {
  std::vector<std::pair<uint64_t, const json*>> list;
  const json& all = Field(s, "recoveries");
  for (const auto& [path, r] : all.items()) {
    uint64_t n = 0;
    std::sscanf(path.c_str(), "/recoveries/%llu", reinterpret_cast<unsigned long long*>(&n));
    list.emplace_back(n, &r);
  }
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out = "<section id=\"recoveries\" aria-labelledby=\"rec-h\"><h2 id=\"rec-h\">Recoveries</h2>";
  if (list.empty()) return out + "<p class=\"hint\">No recoveries on record.</p></section>";
  out += "<ol class=\"timeline\">";
  for (const auto& [n, rp] : list) {
    const json& r = *rp;
    std::string state = Get<std::string>(r, "state", "");
    std::string kind = state == "recovered" ? "ok" : state == "failed" ? "bad" : "warn";
    uint64_t created = Get<uint64_t>(r, "created_unix_ms", 0), assigned = Get<uint64_t>(r, "assigned_unix_ms", 0),
             finished = Get<uint64_t>(r, "finished_unix_ms", 0);
    out += "<li data-recovery=\"" + Num(n) + "\" data-state=\"" + HtmlEscape(state) + "\"" +
           (kind == "bad" ? " class=\"bad\"" : "") + "><div class=\"head\">" + Badge(kind, state) + " <strong>#" + Num(n) +
           "</strong> " + Esc(r, "origin") + "/" + Esc(r, "bolt") + ", generation " + Num(Get<uint64_t>(r, "generation", 0)) +
           ", bytes " + Num(Get<uint64_t>(r, "from", 0)) + " to " + Num(Get<uint64_t>(r, "to", 0)) + "</div><ol class=\"events\">";
    out += "<li>" + ClockTime(created) + " death: " + Esc(r, "cause", "the bolt died") + "</li>";
    for (const json& a : Field(r, "assignments")) {
      out += "<li>" + ClockTime(Get<uint64_t>(a, "unix_ms", 0)) + " elected " + Esc(a, "agent") + ", epoch " +
             Num(Get<uint64_t>(a, "epoch", 0)) + "</li>";
    }
    if (assigned) out += "<li>" + ClockTime(assigned) + " hook " + Esc(r, "hook") + " started on " + Esc(r, "agent") + "</li>";
    if (finished) {
      out += "<li>" + ClockTime(finished) + " hook ended: " + HtmlEscape(state) +
             (created ? ", " + Duration(finished - std::min(finished, created)) + " after the death" : "") + "</li>";
    }
    out += "</ol>";
    if (state == "failed") {
      out += "<div class=\"err\">" + Esc(r, "error", "the hook failed") + "</div>" + Command("tailsafectl retry /recoveries/" + Num(n));
    }
    out += "</li>";
  }
  return out + "</ol></section>";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string RenderSection(std::string_view id, const json& status) {
  if (id == "summary") return Summary(status);
  if (id == "agents") return Agents(status);
  if (id == "bolts") return Bolts(status);
  if (id == "recoveries") return Recoveries(status);
  return "";
}

std::string RenderStatusPage(const json& status) {
  std::string out =
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>tailsafe: " + Esc(status, "cluster") + "</title><link rel=\"stylesheet\" href=\"style.css\"></head><body>"
      "<nav aria-label=\"sections\"><a href=\"#agents\">Agents</a> <a href=\"#bolts\">Bolts</a> "
      "<a href=\"#recoveries\">Recoveries</a> <a href=\"api/status\">JSON</a></nav><main>";
  for (std::string_view id : kStatusSections) out += RenderSection(id, status);
  return out + "</main><script src=\"app.js\" defer></script></body></html>";
}

}  // namespace tailsafe
