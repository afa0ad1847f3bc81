// ControlServer (agent/control_server.h) on a real libuv loop and Unix socket: one request line,
// one reply, then the server closes; a request cut short or too long is still answered; the
// socket's mode; and ControlReply's answer to an unknown request or a builder that throws.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/control_server.h"
#include "common/fd.h"
#include "tests/support/cluster.h"
#include "tests/support/test_loop.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;
using tailsafe::testing::TestLoop;

namespace {

// A client connected to the socket at `path` (the listen backlog accepts it at once).
Fd Connect(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(fd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  BOOST_REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void Send(const Fd& fd, const std::string& bytes) {
  BOOST_REQUIRE(::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

// Runs the loop until the server has closed the connection; everything it sent.
std::string ReadToEof(TestLoop& loop, const Fd& fd) {
  std::string got;
  bool eof = false;
  BOOST_REQUIRE(loop.RunUntil([&] {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        continue;
      }
      eof = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      return eof;
    }
  }));
  return got;
}

struct Fixture {
  ScopedTempDir dir{"control"};
  TestLoop loop;
  std::string path = dir.path + "/control.sock";
  std::vector<std::string> requests;
  ControlServer server{loop.get(), path, [this](const std::string& req) {
                         requests.push_back(req);
                         return "reply to " + std::to_string(requests.size());
                       }};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(control_server)

BOOST_AUTO_TEST_CASE(one_line_gets_one_reply_then_the_server_closes) {
  Fixture f;
  BOOST_REQUIRE(f.server.Listen().ok());
  struct stat st;
  BOOST_REQUIRE(::stat(f.path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0660u);
  Fd a = Connect(f.path), b = Connect(f.path);
  Send(a, "status\nignored after the line");
  Send(b, "sta");
  Send(b, "tus\n");  // a line over two reads
  BOOST_TEST(ReadToEof(f.loop, a) == "reply to 1\n");
  BOOST_TEST(ReadToEof(f.loop, b) == "reply to 2\n");
  BOOST_TEST(f.requests == std::vector<std::string>({"status", "status"}));
  f.server.Stop();
  BOOST_TEST(::access(f.path.c_str(), F_OK) != 0, "Stop removes the socket file");
}

BOOST_AUTO_TEST_CASE(a_request_without_its_newline_or_too_long_is_still_answered) {
  Fixture f;
  BOOST_REQUIRE(f.server.Listen().ok());
  Fd cut = Connect(f.path);
  Send(cut, "acklog");
  BOOST_REQUIRE(::shutdown(cut.get(), SHUT_WR) == 0);
  BOOST_TEST(ReadToEof(f.loop, cut) == "reply to 1\n");
  BOOST_TEST(f.requests.back() == "acklog");

  Fd flood = Connect(f.path);
  Send(flood, std::string(ControlServer::kMaxRequest + 100, '\xff'));  // no newline, not UTF-8
  BOOST_TEST(ReadToEof(f.loop, flood) == "reply to 2\n");
  BOOST_TEST(f.requests.back().size() > ControlServer::kMaxRequest);
  BOOST_TEST(f.requests.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_socket_in_a_missing_directory_is_a_clear_error) {
  TestLoop loop;
  ControlServer server(loop.get(), "/nonexistent-dir/control.sock", [](const std::string&) { return ""; });
  Status st = server.Listen();
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST(st.message().find("control socket /nonexistent-dir/control.sock") != std::string::npos, st.message());
}

BOOST_AUTO_TEST_CASE(unknown_requests_and_failing_builders_get_a_json_error) {
  std::map<std::string, std::function<std::string()>> routes = {
      {"status", [] { return std::string("{\"ok\":true}"); }},
      {"broken", []() -> std::string { throw std::runtime_error("no status today"); }},
  };
  BOOST_TEST(ControlReply("status", routes) == "{\"ok\":true}");
  auto unknown = nlohmann::json::parse(ControlReply("stats", routes));
  BOOST_TEST(unknown["error"].get<std::string>() == "unknown request 'stats'; try 'status'");
  auto broken = nlohmann::json::parse(ControlReply("broken", routes));
  BOOST_TEST(broken["error"].get<std::string>() == "internal error: no status today");
  // Bad UTF-8 and a long request: still valid JSON, the request cut to 64 bytes.
  auto bad = nlohmann::json::parse(ControlReply(std::string(100, '\xff'), routes));
  std::string why = bad["error"].get<std::string>();
  BOOST_TEST(why.find("unknown request '") == 0u);
  BOOST_TEST(why.size() < 64 * 3 + 40);
}

BOOST_AUTO_TEST_SUITE_END()
