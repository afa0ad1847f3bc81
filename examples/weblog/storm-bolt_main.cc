// weblog-storm-bolt: the weblog analysis as an Apache Storm bolt, speaking Storm's multilang
// protocol on standard input and output (Storm's ShellBolt runs it; examples/storm-weblog has
// the topology). It counts the requests of the tuples it gets per minute by host, URL and client
// into the results database, in batches, each one transaction; it acks a batch's tuples after
// the batch commits, so that tailsafe's checkpoint (TailsafeBolt's, on acks) never passes an
// uncounted request.
//
//   weblog-storm-bolt --db DB [--batch N] [--max-rate R]
//
// Tuples are [host, line] or, from a TailsafeBolt with positionValues, [host, line, file id,
// start, end]: the record's place in the task's backup file, which makes counting exactly once
// (results_db.h: counted byte intervals per file, written with the counts). A batch is a run of
// records contiguous in one file; a tick commits what is pending. Without positions (the
// topology without tailsafe) each run gets a file id of its own and offsets of its own, so
// nothing it counts is ever taken for counted already.
//
// Multilang (Storm's "Multi-Lang Protocol"): every message is JSON followed by a line "end". The
// first from Storm is {"conf", "context", "pidDir"}: the bolt creates the file pidDir/PID and
// answers {"pid": PID}. Then tuples {"id", "comp", "stream", "task", "tuple"}; a tuple on the
// stream "__heartbeat" is answered with {"command": "sync"}; the bolt answers others with
// {"command": "ack", "id"}. A message that is not JSON, or a tuple of the wrong shape, is a fatal
// error naming it (the worker then dies and Storm restarts it: nothing is acked that was not
// counted).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <chrono>
#include <deque>
#include <memory>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "common/names.h"
#include "examples/weblog/log_format.h"
#include "examples/weblog/program.h"
#include "examples/weblog/results_db.h"

using namespace weblog;
using nlohmann::json;

namespace {

void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Log(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "weblog-storm-bolt: %s\n", buf);
}

// One multilang message: lines up to one that is "end". Nothing on EOF.
std::optional<std::string> ReadMessage() {
  std::string msg, line;
  while (std::getline(std::cin, line)) {
    if (line == "end") return msg;
    if (!msg.empty()) msg += '\n';
    msg += line;
  }
  return std::nullopt;
}

void WriteMessage(const json& j) {
  std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\nend\n" << std::flush;
}

class StormBolt {
 public:
  StormBolt(std::unique_ptr<ResultsDb> db, size_t batch_lines, uint64_t max_rate)
      : db_(std::move(db)), batch_lines_(batch_lines), max_rate_(max_rate), own_id_("nofile-" + RandomId()) {}

  // Takes one tuple; an error is fatal.
  tailsafe::Status Take(const json& msg) {
    const json& values = msg.at("tuple");
    if (!values.is_array() || (values.size() != 2 && values.size() != 5) || !values[1].is_string())
      return tailsafe::Status::Error("a tuple must be [host, line] or [host, line, file, start, end], not " +
                                     tailsafe::Printable(values.dump(), 120));
    std::string file;
    uint64_t start = 0, end = 0;
    std::string line = values[1].get<std::string>();
    if (values.size() == 5) {
      if (!values[2].is_string() || !values[3].is_number_unsigned() || !values[4].is_number_unsigned())
        return tailsafe::Status::Error("a positioned tuple needs a file id and two offsets, not " +
                                       tailsafe::Printable(values.dump(), 120));
      file = values[2].get<std::string>();
      start = values[3].get<uint64_t>();
      end = values[4].get<uint64_t>();
      if (end <= start) return tailsafe::Status::Error("record [" + std::to_string(start) + ", " + std::to_string(end) + ") is empty");
    } else {
      file = own_id_;
      start = own_end_;
      end = start + line.size() + 1;
      own_end_ = end;
    }
    if (!lines_.empty() && (file != batch_.file_id || start != batch_.end)) {
      if (auto s = Commit(); !s.ok()) return s;
    }
    if (lines_.empty()) {
      batch_ = Batch{};
      batch_.file_id = file;
      batch_.start = start;
    }
    batch_.end = end;
    lines_.push_back(std::move(line));
    ParsedLine p = ParseLine(lines_.back());
    if (p.kind == LineKind::kRequest) {
      batch_.requests.push_back({start, p.request});
    } else if (p.kind == LineKind::kMalformed) {
      batch_.malformed.push_back(start);
    }
    ids_.push_back(msg.at("id"));
    Pace();
    if (lines_.size() >= batch_lines_) return Commit();
    return tailsafe::Status::Ok();
  }

  // Commits the pending batch and acks its tuples.
  tailsafe::Status Commit() {
    if (lines_.empty()) return tailsafe::Status::Ok();
    auto r = db_->Apply(batch_, /*recovered=*/false);
    if (!r.ok()) return tailsafe::Status::Error("committing " + std::to_string(lines_.size()) + " records: " + r.status().message());
    counted_ += r.value().counted;
    skipped_ += r.value().skipped;
    for (const json& id : ids_) WriteMessage({{"command", "ack"}, {"id", id}});
    ids_.clear();
    lines_.clear();
    batch_ = Batch{};
    return tailsafe::Status::Ok();
  }

  uint64_t counted() const { return counted_; }
  uint64_t skipped() const { return skipped_; }

 private:
  // Caps the tuples taken per second (--max-rate), to play a busy analysis.
  void Pace() {
    if (max_rate_ == 0) return;
    ++taken_;
    auto due = started_ + std::chrono::microseconds(taken_ * 1000000 / max_rate_);
    auto now = std::chrono::steady_clock::now();
    if (due > now) std::this_thread::sleep_for(due - now);
  }

  std::unique_ptr<ResultsDb> db_;
  size_t batch_lines_;
  uint64_t max_rate_;
  std::string own_id_;
  uint64_t own_end_ = 0;
  Batch batch_;
  std::deque<std::string> lines_;  // the batch's requests point into these
  std::vector<json> ids_;
  uint64_t counted_ = 0, skipped_ = 0, taken_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

int Run(const std::string& db_path, size_t batch_lines, uint64_t max_rate) {
  std::ios::sync_with_stdio(false);
  auto setup = ReadMessage();
  if (!setup) {
    Log("standard input ended before Storm's setup message: run me from a ShellBolt");
    return 2;
  }
  json conf;
  try {
    conf = json::parse(*setup);
  } catch (const json::exception& e) {
    Log("Storm's setup message is not JSON (%s): run me from a ShellBolt", e.what());
    return 2;
  }
  if (!conf.contains("pidDir") || !conf["pidDir"].is_string()) {
    Log("Storm's setup message has no pidDir");
    return 2;
  }
  std::string pid_file = conf["pidDir"].get<std::string>() + "/" + std::to_string(getpid());
  tailsafe::Fd touch(open(pid_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (!touch) {
    Log("cannot create %s: %s", pid_file.c_str(), strerror(errno));
    return 1;
  }
  auto db = ResultsDb::Open(db_path);
  if (!db.ok()) {
    Log("%s", db.status().message().c_str());
    return 1;
  }
  WriteMessage({{"pid", getpid()}});
  StormBolt bolt(std::move(db.value()), batch_lines, max_rate);
  while (auto text = ReadMessage()) {
    json msg;
    try {
      msg = json::parse(*text);
    } catch (const json::exception& e) {
      Log("a message from Storm is not JSON (%s): %s", e.what(), tailsafe::Printable(*text, 120).c_str());
      return 1;
    }
    try {
      std::string stream = msg.value("stream", "");
      if (stream == "__heartbeat") {
        WriteMessage({{"command", "sync"}});
        continue;
      }
      tailsafe::Status s = tailsafe::Status::Ok();
      if (msg.value("comp", "") == "__system" && stream == "__tick") {
        s = bolt.Commit();
        if (s.ok()) WriteMessage({{"command", "ack"}, {"id", msg.at("id")}});
      } else {
        s = bolt.Take(msg);
      }
      if (!s.ok()) {
        Log("%s", s.message().c_str());
        return 1;
      }
    } catch (const json::exception& e) {
      Log("a tuple message lacks what it needs (%s): %s", e.what(), tailsafe::Printable(*text, 120).c_str());
      return 1;
    }
  }
  // Storm closed the pipe: the worker is gone. What is not committed is the tail tailsafe
  // recovers; committing it now would be harmless (counting is by record) but is not needed.
  Log("Storm closed standard input; %llu requests counted, %llu were counted already",
      static_cast<unsigned long long>(bolt.counted()), static_cast<unsigned long long>(bolt.skipped()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"weblog-storm-bolt: the weblog analysis as a Storm multilang bolt"};
  std::string db;
  size_t batch = 1000;
  uint64_t max_rate = 0;
  app.add_option("--db", db, "results database: a SQLite file or a postgresql:// URI")->required();
  app.add_option("--batch", batch, "records per transaction (a tick commits fewer)")->check(CLI::Range(1, 1000000));
  app.add_option("--max-rate", max_rate, "tuples taken per second, to play a busy analysis (0: no cap)");
  CLI11_PARSE(app, argc, argv);
  return Run(db, batch, max_rate);
}
