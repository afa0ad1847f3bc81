// The transport (common/stream_conn.h, common/framed_conn.h, common/stream_endpoints.h) on a real
// libuv loop: a reader that reads nothing is cut off at the queue limit, a deadline closes, two
// FramedConns talk over TCP (and an owner may drop its connection inside a callback), a
// connection attempt dropped early never calls back, and one that gets no answer fails at its
// deadline.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/cluster_key.h"
#include "common/fd.h"
#include "common/framed_conn.h"
#include "common/stream_conn.h"
#include "common/stream_endpoints.h"
#include "common/uv_handle.h"
#include "common/wire.h"

using namespace tailsafe;

namespace {

class Loop {
 public:
  Loop() { uv_loop_init(&loop_); }
  ~Loop() {
    uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks
    uv_loop_close(&loop_);
  }
  uv_loop_t* get() { return &loop_; }
  // Runs the loop until `done()` or `ms` have passed; whether `done()` came true.
  bool RunUntil(const std::function<bool()>& done, uint64_t ms = 5000) {
    auto tick = MakeUv<uv_timer_t>(uv_timer_init, &loop_);  // wakes the loop to look at `done`
    uv_timer_start(tick->get(), [](uv_timer_t*) {}, 5, 5);
    uint64_t until = uv_now(&loop_) + ms;
    while (!done() && uv_now(&loop_) < until) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

 private:
  uv_loop_t loop_;
};

ClusterKeys Keys() {
  uint8_t bytes[kClusterKeyBytes];
  for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(i * 5 + 3);
  ClusterKeys keys;
  keys.keys.push_back(MakeClusterKey(bytes));
  return keys;
}

// One end of a Unix socket pair as a StreamConn; the other end is returned in *other.
std::shared_ptr<StreamConn> PairedConn(Loop& loop, size_t max_queued, Fd* other) {
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  other->Reset(fds[1]);
  auto pipe = MakeUv<uv_pipe_t>(uv_pipe_init, loop.get(), 0);
  BOOST_REQUIRE(pipe.ok());
  BOOST_REQUIRE(uv_pipe_open(pipe->get(), fds[0]) == 0);
  return std::make_shared<StreamConn>(std::move(pipe.value()), max_queued);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stream_conn)

BOOST_AUTO_TEST_CASE(a_reader_that_reads_nothing_is_closed_at_the_queue_limit) {
  Loop loop;
  Fd deaf;
  auto conn = PairedConn(loop, 1 << 20, &deaf);
  CloseReason closed;
  bool was_closed = false;
  StreamConn::Handlers h;
  h.on_data = [](std::string_view) {};
  h.on_close = [&](const CloseReason& r) {
    closed = r;
    was_closed = true;
  };
  BOOST_REQUIRE(conn->Start(std::move(h)).ok());
  for (int i = 0; i < 64 && !was_closed; ++i) conn->Write(std::string(64 << 10, 'x'));
  BOOST_REQUIRE(was_closed);
  BOOST_TEST((closed.kind == CloseReason::kOverflow));
  BOOST_TEST(closed.why.find("does not read them (limit 1048576)") != std::string::npos, closed.why);
  BOOST_TEST(!conn->open());
}

BOOST_AUTO_TEST_CASE(a_deadline_closes_unless_cleared) {
  Loop loop;
  Fd a_end, b_end;
  auto a = PairedConn(loop, 0, &a_end);
  auto b = PairedConn(loop, 0, &b_end);
  CloseReason why_a;
  bool closed_b = false;
  StreamConn::Handlers ha, hb;
  ha.on_data = hb.on_data = [](std::string_view) {};
  ha.on_close = [&](const CloseReason& r) { why_a = r; };
  hb.on_close = [&](const CloseReason&) { closed_b = true; };
  BOOST_REQUIRE(a->Start(std::move(ha)).ok());
  BOOST_REQUIRE(b->Start(std::move(hb)).ok());
  b->SetDeadline(10, "b too slow");
  b->ClearDeadline();
  a->SetDeadline(10, "a too slow");
  BOOST_REQUIRE(loop.RunUntil([&] { return !a->open(); }));
  BOOST_TEST((why_a.kind == CloseReason::kTimeout));
  BOOST_TEST(why_a.why == "a too slow");
  BOOST_TEST(!closed_b);
  b->Close({CloseReason::kEnded, "done"});
  BOOST_TEST(closed_b);
}

BOOST_AUTO_TEST_CASE(framed_conns_talk_over_tcp_and_an_owner_may_drop_one_in_its_callback) {
  Loop loop;
  ClusterKeys keys = Keys();
  TcpListener listener;
  std::shared_ptr<FramedConn> server, client;
  std::string server_got;
  CloseReason server_closed;
  bool server_done = false, client_got_ack = false;
  Status listening = listener.Listen(loop.get(), "127.0.0.1", 0, [&](UvPtr<uv_tcp_t> tcp) {
    FramedConn::Options o;
    o.first_frame = "HELLO";
    server = std::make_shared<FramedConn>(std::move(tcp), SecureChannel::Role::kServer, &keys, o);
    BOOST_REQUIRE(server
                      ->Start([&](const Frame& f) {
                                server_got += MessageTypeName(f.type);
                                server->Send(EncodeAck({1, 7}));
                                return Status::Ok();
                              },
                              [&](const CloseReason& r) {
                                server_closed = r;
                                server_done = true;
                              })
                      .ok());
  });
  BOOST_REQUIRE_MESSAGE(listening.ok(), listening.message());
  BOOST_REQUIRE(listener.port() != 0);
  auto pending = ConnectTcp(loop.get(), "127.0.0.1", listener.port(), [&](Result<UvPtr<uv_tcp_t>> tcp) {
    BOOST_REQUIRE(tcp.ok());
    client = std::make_shared<FramedConn>(std::move(tcp.value()), SecureChannel::Role::kClient, &keys);
    BOOST_REQUIRE(client
                      ->Start([&](const Frame& f) {
                                client_got_ack = f.type == MessageType::kAck;
                                client.reset();  // the owner lets go inside the callback
                                return Status::Ok();
                              },
                              [&](const CloseReason&) {})
                      .ok());
    client->Send(EncodeHello({kWireVersionMin, kWireVersionMax, "c", "o"}));
  });
  BOOST_REQUIRE(pending.ok());
  BOOST_REQUIRE(loop.RunUntil([&] { return client_got_ack && server_done; }));
  BOOST_TEST(server_got == "HELLO");
  BOOST_TEST(!client);
  BOOST_TEST((server_closed.kind == CloseReason::kEnded), server_closed.why);
  listener.Stop();
  server.reset();
}

// Corked, frames gather (counted as queued) and leave in order as one write at Uncork; past
// kCorkBytes they leave at once; after Uncork each Send goes as before.
BOOST_AUTO_TEST_CASE(corked_frames_leave_together_in_order_at_uncork) {
  Loop loop;
  ClusterKeys keys = Keys();
  TcpListener listener;
  std::shared_ptr<FramedConn> server, client;
  std::vector<uint32_t> got;  // the stream of each ACK, in arrival order
  int batches = 0;
  Status listening = listener.Listen(loop.get(), "127.0.0.1", 0, [&](UvPtr<uv_tcp_t> tcp) {
    server = std::make_shared<FramedConn>(std::move(tcp), SecureChannel::Role::kServer, &keys);
    FramedConn::Handlers h;
    h.on_frame = [&](const Frame& f) {
      AckMsg m;
      BOOST_REQUIRE(DecodeAck(f, &m).ok());
      got.push_back(m.stream);
      return Status::Ok();
    };
    h.on_close = [](const CloseReason&) {};
    h.on_batch = [&] { ++batches; };
    BOOST_REQUIRE(server->Start(std::move(h)).ok());
  });
  BOOST_REQUIRE_MESSAGE(listening.ok(), listening.message());
  auto pending = ConnectTcp(loop.get(), "127.0.0.1", listener.port(), [&](Result<UvPtr<uv_tcp_t>> tcp) {
    BOOST_REQUIRE(tcp.ok());
    client = std::make_shared<FramedConn>(std::move(tcp.value()), SecureChannel::Role::kClient, &keys);
    BOOST_REQUIRE(client->Start([](const Frame&) { return Status::Ok(); }, [](const CloseReason&) {}).ok());
  });
  BOOST_REQUIRE(pending.ok());
  BOOST_REQUIRE(loop.RunUntil([&] { return client && client->authenticated() && server; }));
  size_t before = client->queued();
  client->Cork();
  for (uint32_t i = 1; i <= 50; ++i) client->Send(EncodeAck({i, i}));
  BOOST_TEST(client->queued() > before);  // held, and counted
  BOOST_REQUIRE(loop.RunUntil([&] { return false; }, 50) == false);
  BOOST_TEST(got.empty());  // nothing left while corked
  client->Uncork();
  BOOST_REQUIRE(loop.RunUntil([&] { return got.size() == 50; }));
  for (uint32_t i = 1; i <= 50; ++i) BOOST_TEST(got[i - 1] == i);
  client->Cork();  // past kCorkBytes the gathered frames leave without waiting for Uncork
  size_t sent = 0;
  uint32_t next = 51;
  while (sent <= FramedConn::kCorkBytes) {
    std::string frame = EncodeAck({next, next});
    client->Send(frame);
    sent += frame.size();
    ++next;
  }
  BOOST_REQUIRE(loop.RunUntil([&] { return got.size() > 50; }));
  client->Uncork();
  BOOST_REQUIRE(loop.RunUntil([&] { return got.size() == next - 1; }));
  BOOST_TEST(got.back() == next - 1);
  listener.Stop();
  client.reset();
  server.reset();
}

BOOST_AUTO_TEST_CASE(a_connection_attempt_dropped_early_never_calls_back) {
  Loop loop;
  TcpListener listener;
  int accepted = 0;
  BOOST_REQUIRE(listener.Listen(loop.get(), "127.0.0.1", 0, [&](UvPtr<uv_tcp_t>) { ++accepted; }).ok());
  bool called = false;
  auto pending = ConnectTcp(loop.get(), "127.0.0.1", listener.port(), [&](Result<UvPtr<uv_tcp_t>>) { called = true; });
  BOOST_REQUIRE(pending.ok());
  pending.value().reset();
  // A second attempt, kept, completes: by then the dropped one would have called back too.
  bool second = false;
  auto kept = ConnectTcp(loop.get(), "127.0.0.1", listener.port(), [&](Result<UvPtr<uv_tcp_t>> r) { second = r.ok(); });
  BOOST_REQUIRE(kept.ok());
  BOOST_REQUIRE(loop.RunUntil([&] { return second; }));
  BOOST_TEST(!called);
  listener.Stop();
}

// A listener whose accept queue is full drops SYNs, as a partition does: the kernel alone would
// retry them for about two minutes. The attempt fails at its own deadline instead, once.
BOOST_AUTO_TEST_CASE(a_connection_attempt_with_no_answer_fails_at_its_deadline) {
  Loop loop;
  Fd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(server.get() >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  BOOST_REQUIRE(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  BOOST_REQUIRE(::listen(server.get(), 0) == 0);  // room for one connection, never accepted
  BOOST_REQUIRE(::getsockname(server.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  Fd first(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(::connect(first.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);  // fills the queue

  int calls = 0;
  std::string error;
  auto pending = ConnectTcp(loop.get(), "127.0.0.1", ntohs(addr.sin_port), [&](Result<UvPtr<uv_tcp_t>> r) {
    ++calls;
    if (!r) error = r.status().message();
  }, 200);
  BOOST_REQUIRE(pending.ok());
  BOOST_REQUIRE(loop.RunUntil([&] { return calls > 0; }));
  BOOST_TEST(error.find("connect to 127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + ": no answer in 200 ms") !=
                 std::string::npos, error);
  pending.value().reset();  // after its callback, as an owner does
  // An attempt that connects is not failed later by its deadline.
  TcpListener listener;
  BOOST_REQUIRE(listener.Listen(loop.get(), "127.0.0.1", 0, [](UvPtr<uv_tcp_t>) {}).ok());
  int ok_calls = 0;
  UvPtr<uv_tcp_t> kept;
  auto good = ConnectTcp(loop.get(), "127.0.0.1", listener.port(), [&](Result<UvPtr<uv_tcp_t>> r) {
    ++ok_calls;
    if (r) kept = std::move(r.value());
  }, 50);
  BOOST_REQUIRE(good.ok());
  BOOST_REQUIRE(loop.RunUntil([&] { return ok_calls > 0; }));
  BOOST_TEST(static_cast<bool>(kept));
  // Its deadline is disarmed: no timer of the loop is still running to call it back.
  int armed = 0;
  uv_walk(loop.get(), [](uv_handle_t* h, void* arg) {
    if (h->type == UV_TIMER && uv_is_active(h)) ++*static_cast<int*>(arg);
  }, &armed);
  BOOST_TEST(armed == 0);
  BOOST_TEST(ok_calls == 1);
  BOOST_TEST(calls == 1);
  listener.Stop();
}

BOOST_AUTO_TEST_SUITE_END()
