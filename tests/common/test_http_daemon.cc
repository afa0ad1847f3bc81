// HttpDaemon (common/http_daemon.h): libmicrohttpd on a real libuv loop, driven by raw sockets:
// routes, methods, the limits a client controls, keep-alive and a clean stop.
#include "common/http_daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "tests/support/test_loop.h"

namespace tailsafe {
namespace {

using testing::TestLoop;

// A client on its own socket, read without blocking while the loop runs.
struct Client {
  Fd fd;
  std::string got;
  bool closed = false;

  // Connects to 127.0.0.1:`port` from `source`.
  Client(uint16_t port, const char* source = "127.0.0.1") : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, source, &a.sin_addr);
    BOOST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    BOOST_REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  }
  void Send(const std::string& bytes) { BOOST_REQUIRE(::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())); }
  void Drain() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
      return;
    }
  }
  // Whole responses received so far (each head plus its Content-Length of body).
  size_t Responses() const {
    size_t count = 0, at = 0;
    for (;;) {
      size_t end = got.find("\r\n\r\n", at);
      if (end == std::string::npos) return count;
      size_t cl = got.find("Content-Length: ", at);
      size_t len = cl != std::string::npos && cl < end ? std::stoul(got.substr(cl + 16)) : 0;
      size_t next = end + 4 + len;
      if (got.size() < next) return count;
      ++count;
      at = next;
    }
  }
};

struct Fixture {
  TestLoop loop;
  HttpDaemon http{loop.get(), "test", Limits()};
  static HttpDaemon::Limits Limits() {
    HttpDaemon::Limits l;
    l.max_clients = 8;
    l.max_per_ip = 3;
    l.timeout_s = 1;
    return l;
  }
  Fixture() {
    http.Route("/hello", [](const HttpRequest& r) {
      HttpReply reply;
      reply.body = "hello " + r.method + "\n";
      return reply;
    });
    BOOST_REQUIRE(http.Listen(HostPort{"127.0.0.1", 0}, "test_listen").ok());
    BOOST_REQUIRE(http.port() != 0);
  }
  // Sends `request` on a fresh connection and runs the loop until `want` responses came or it closed.
  std::string Ask(const std::string& request, size_t want = 1) {
    Client c(http.port());
    c.Send(request);
    loop.RunUntil([&] {
      c.Drain();
      return c.closed || c.Responses() >= want;
    });
    return c.got;
  }
};

std::string StatusLine(const std::string& response) { return response.substr(0, response.find("\r\n")); }

BOOST_FIXTURE_TEST_SUITE(http_daemon, Fixture)

BOOST_AUTO_TEST_CASE(a_route_answers_get_and_head_and_ignores_the_query) {
  std::string r = Ask("GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  BOOST_TEST(StatusLine(r) == "HTTP/1.1 200 OK");
  BOOST_TEST(r.find("Content-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
  BOOST_TEST(r.substr(r.find("\r\n\r\n") + 4) == "hello GET\n");
  std::string h = Ask("HEAD /hello HTTP/1.0\r\n\r\n");
  BOOST_TEST(StatusLine(h) == "HTTP/1.1 200 OK");  // a server answers with its own version
  BOOST_TEST(h.find("Content-Length: 11\r\n") != std::string::npos);  // "hello HEAD\n", not sent
  BOOST_TEST(h.substr(h.find("\r\n\r\n") + 4).empty());
  BOOST_TEST(http.requests() == 2u);
}

BOOST_AUTO_TEST_CASE(other_methods_get_405_and_unknown_paths_404) {
  std::string post = Ask("POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
  BOOST_TEST(StatusLine(post) == "HTTP/1.1 405 Method Not Allowed");
  BOOST_TEST(post.find("Allow: GET, HEAD\r\n") != std::string::npos);
  BOOST_TEST(StatusLine(Ask("GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n")) == "HTTP/1.1 404 Not Found");
}

BOOST_AUTO_TEST_CASE(malformed_and_oversized_heads_get_a_4xx_or_505_and_nothing_else) {
  BOOST_TEST(StatusLine(Ask("GET /hello HTTP/1.1\r\nno colon\r\n\r\n")).substr(9, 1) == "4");
  BOOST_TEST(StatusLine(Ask("GET /hello HTTP/2.0\r\n\r\n")).substr(9, 3) == "505");
  std::string long_url = Ask("GET /" + std::string(HttpDaemon::kHeadBytes, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n");
  BOOST_TEST(StatusLine(long_url).substr(9, 3) == "414");
  std::string long_header = Ask("GET /hello HTTP/1.1\r\nHost: a\r\nX: " + std::string(HttpDaemon::kHeadBytes, 'b') + "\r\n\r\n");
  BOOST_TEST(StatusLine(long_header).substr(9, 3) == "431");
  BOOST_TEST(http.requests() == 0u);  // none of them reached a handler
}

BOOST_AUTO_TEST_CASE(keep_alive_answers_each_request_of_one_connection) {
  std::string r = Ask("GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n", 2);
  BOOST_TEST(r.find("HTTP/1.1 200 OK") != r.rfind("HTTP/1.1 200 OK"), r);
  BOOST_TEST(http.requests() == 2u);
}

BOOST_AUTO_TEST_CASE(an_idle_connection_is_closed_after_the_timeout) {
  Client c(http.port());
  BOOST_TEST(loop.RunUntil([&] { return c.Drain(), c.closed; }, 5000));
  BOOST_TEST(c.got.empty());
}

BOOST_AUTO_TEST_CASE(one_address_holds_at_most_max_per_ip_connections) {
  Client a(http.port()), b(http.port()), c(http.port()), d(http.port());
  // The fourth from 127.0.0.1 is closed at accept; one from another address is still served.
  BOOST_TEST(loop.RunUntil([&] { return d.Drain(), d.closed; }, 3000));
  Client other(http.port(), "127.0.0.2");
  other.Send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  BOOST_TEST(loop.RunUntil([&] { return other.Drain(), other.Responses() == 1; }, 3000));
  a.Drain(), b.Drain(), c.Drain();
  BOOST_TEST(!a.closed);
  BOOST_TEST(!c.closed);
}

BOOST_AUTO_TEST_CASE(stop_closes_the_listening_socket_and_the_connections) {
  Client c(http.port());
  uint16_t port = http.port();
  c.Send("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  BOOST_TEST(loop.RunUntil([&] { return c.Drain(), c.Responses() == 1; }));  // accepted, kept alive
  http.Stop();
  BOOST_TEST(loop.RunUntil([&] { return c.Drain(), c.closed; }, 3000));
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  BOOST_TEST(::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0);
}

BOOST_AUTO_TEST_CASE(listen_names_the_setting_in_its_errors) {
  HttpDaemon other(loop.get(), "other");
  Status s = other.Listen(HostPort{"127.0.0.1", http.port()}, "http_listen");
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.message().find("http_listen: bind 127.0.0.1:") == 0u, s.message());
  Status bad = other.Listen(HostPort{"example.org", 80}, "http_listen");
  BOOST_TEST(bad.message().find("is not an IP address") != std::string::npos, bad.message());
}

BOOST_AUTO_TEST_CASE(a_stream_sends_its_first_bytes_then_each_broadcast_until_ended) {
  http.StreamRoute("/events", [](const HttpRequest&) {
    HttpReply r;
    r.type = "text/event-stream";
    r.body = "data: first\n\n";
    return r;
  });
  Client c(http.port());
  c.Send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
  BOOST_TEST(loop.RunUntil([&] { return c.Drain(), c.got.find("data: first") != std::string::npos; }));
  BOOST_TEST(c.got.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  BOOST_TEST(http.streams() == 1u);
  http.Broadcast("/events", "data: second\n\n");
  http.Broadcast("/other", "data: not here\n\n");
  BOOST_TEST(loop.RunUntil([&] { return c.Drain(), c.got.find("data: second") != std::string::npos; }));
  http.EndStreams("/events");
  BOOST_TEST(loop.RunUntil([&] { return c.Drain(), c.got.find("\r\n0\r\n\r\n") != std::string::npos; }, 3000), c.got);
  BOOST_TEST(c.got.find("not here") == std::string::npos);
  BOOST_TEST(loop.RunUntil([&] { return http.streams() == 0; }));
}

BOOST_AUTO_TEST_CASE(a_stream_whose_client_does_not_read_is_ended_and_the_others_go_on) {
  http.StreamRoute("/events", [](const HttpRequest&) { return HttpReply{200, "text/event-stream", ": hi\n\n", {}}; });
  Client slow(http.port()), fast(http.port(), "127.0.0.2");
  slow.Send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
  fast.Send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
  BOOST_TEST(loop.RunUntil([&] { return http.streams() == 2; }));
  const std::string chunk = "data: " + std::string(64 * 1024, 'x') + "\n\n";
  size_t sent = 0;
  // Until the slow one's queue passes its bound; the fast one reads everything meanwhile.
  BOOST_TEST(loop.RunUntil([&] {
    http.Broadcast("/events", chunk);
    ++sent;
    fast.got.clear();
    fast.Drain();
    return http.streams() == 1 || sent > 2000;
  }, 20000));
  BOOST_TEST(http.streams() == 1u);
  BOOST_TEST(!fast.closed);
}

BOOST_AUTO_TEST_CASE(at_most_half_the_connections_are_streams) {
  http.StreamRoute("/events", [](const HttpRequest&) { return HttpReply{200, "text/event-stream", ": hi\n\n", {}}; });
  BOOST_REQUIRE(http.MaxStreams() == 4u);  // max_clients 8
  std::vector<std::unique_ptr<Client>> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(std::make_unique<Client>(http.port(), i < 2 ? "127.0.0.1" : "127.0.0.2"));
    open.back()->Send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
  }
  BOOST_TEST(loop.RunUntil([&] { return http.streams() == 4; }));
  Client refused(http.port(), "127.0.0.3");
  refused.Send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
  BOOST_TEST(loop.RunUntil([&] { return refused.Drain(), refused.got.find("\r\n\r\n") != std::string::npos; }));
  BOOST_TEST(StatusLine(refused.got) == "HTTP/1.1 503 Service Unavailable");
  BOOST_TEST(refused.got.find("Retry-After: 10") != std::string::npos);
  BOOST_TEST(StatusLine(Ask("GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")) == "HTTP/1.1 200 OK");
}

BOOST_AUTO_TEST_CASE(stop_with_suspended_streams_ends_them) {
  http.StreamRoute("/events", [](const HttpRequest&) { return HttpReply{200, "text/event-stream", ": hi\n\n", {}}; });
  Client c(http.port());
  c.Send("GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
  BOOST_TEST(loop.RunUntil([&] { return c.Drain(), c.got.find(": hi") != std::string::npos; }));
  http.Stop();
  BOOST_TEST(http.streams() == 0u);
  BOOST_TEST(loop.RunUntil([&] { return c.Drain(), c.closed; }));
}

BOOST_AUTO_TEST_CASE(the_guard_sees_the_token_from_the_header_or_the_query) {
  http.Guard([](const HttpRequest& r) -> std::optional<HttpReply> {
    if (r.token == "s3cret") return std::nullopt;
    return HttpReply{401, "text/plain; charset=utf-8", "token required\n", {}};
  });
  BOOST_TEST(StatusLine(Ask("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")) == "HTTP/1.1 401 Unauthorized");
  BOOST_TEST(StatusLine(Ask("GET /hello?token=wrong HTTP/1.1\r\nHost: a\r\n\r\n")) == "HTTP/1.1 401 Unauthorized");
  BOOST_TEST(StatusLine(Ask("GET /hello?token=s3cret HTTP/1.1\r\nHost: a\r\n\r\n")) == "HTTP/1.1 200 OK");
  BOOST_TEST(StatusLine(Ask("GET /hello HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer s3cret\r\n\r\n")) ==
             "HTTP/1.1 200 OK");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tailsafe
