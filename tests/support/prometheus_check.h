// A strict reader of Prometheus text exposition (format 0.0.4) for tests: it checks what the
// daemons' /metrics must satisfy and returns the samples so tests can check values too.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tailsafe::testing {

// Series as written ("tailsafe_peer_up{peer=\"h2\"}") -> value.
using MetricSamples = std::map<std::string, double>;

// Every family has # HELP and # TYPE before its samples and appears once; names start with
// tailsafe_ and follow the conventions (counters end in _total; _bytes and _seconds are the
// units); labels are well formed and escaped; no series repeats; histogram buckets are
// cumulative and +Inf equals _count. The error names the line.
Result<MetricSamples> ParsePrometheusText(std::string_view text);

// A plain HTTP request to host:port; the whole response (until the server closes), or an
// error. `request` is sent as given.
Result<std::string> HttpExchange(uint16_t port, const std::string& request, double seconds = 10,
                                 const std::string& host = "127.0.0.1");
// GET `path`: the body of a 200 response, or an error with the status line.
Result<std::string> HttpGet(uint16_t port, const std::string& path, double seconds = 10,
                            const std::string& host = "127.0.0.1");

// promtool (Debian's prometheus package): on PATH, or BIN/tools/promtool (scripts/promtool.sh
// puts it there); empty if neither.
std::string FindPromtool();

}  // namespace tailsafe::testing
