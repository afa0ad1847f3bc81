// FramedChannel (common/framed_channel.h): the secure channel and the frames inside it, shared by
// the libuv connection and the blocking client. Frames cross in both directions; frames sent
// before the handshake completes follow it; a stream cut inside a frame or a record is an error at
// EOF, and a client without the key never gets a frame through.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "common/cluster_key.h"
#include "common/framed_channel.h"
#include "common/wire.h"

using namespace tailsafe;

namespace {

ClusterKeys Keys(uint8_t seed) {
  uint8_t bytes[kClusterKeyBytes];
  for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
  ClusterKeys keys;
  keys.keys.push_back(MakeClusterKey(bytes));
  return keys;
}

// Every complete frame `ch` holds, as (type, payload).
std::vector<std::pair<MessageType, std::string>> Drain(FramedChannel& ch, Status* error) {
  std::vector<std::pair<MessageType, std::string>> out;
  for (;;) {
    Frame f;
    FrameReader::Result r = ch.Next(&f, error);
    if (r != FrameReader::Result::kFrame) break;
    out.emplace_back(f.type, std::string(f.payload));
  }
  return out;
}

// Delivers bytes both ways until neither side has anything more to say.
Status Pump(FramedChannel& client, FramedChannel& server, std::string c2s, std::string s2c = "") {
  while (!c2s.empty() || !s2c.empty()) {
    std::string next_c2s, next_s2c;
    if (!c2s.empty()) {
      if (Status s = server.Receive(c2s, &next_s2c); !s) return s;
    }
    if (!s2c.empty()) {
      if (Status s = client.Receive(s2c, &next_c2s); !s) return s;
    }
    c2s = std::move(next_c2s);
    s2c = std::move(next_s2c);
  }
  return Status::Ok();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(framed_channel)

BOOST_AUTO_TEST_CASE(frames_cross_both_ways_and_early_ones_follow_the_handshake) {
  ClusterKeys keys = Keys(1);
  FramedChannel client(SecureChannel::Role::kClient, &keys), server(SecureChannel::Role::kServer, &keys);
  std::string hello = client.Start();
  std::string early;
  client.Seal(EncodeHello({kWireVersionMin, kWireVersionMax, "c", "o"}) + EncodeOpen({1, 1, "b"}), &early);
  BOOST_TEST(early.empty());  // held until the handshake completes
  BOOST_REQUIRE(Pump(client, server, hello).ok());
  BOOST_REQUIRE(client.established());
  BOOST_REQUIRE(server.established());
  Status err;
  auto got = Drain(server, &err);
  BOOST_REQUIRE(got.size() == 2u);
  BOOST_TEST((got[0].first == MessageType::kHello));
  BOOST_TEST((got[1].first == MessageType::kOpen));

  std::string wire;
  server.Seal(EncodeAck({1, 42}), &wire);
  BOOST_REQUIRE(Pump(client, server, "", wire).ok());
  auto back = Drain(client, &err);
  BOOST_REQUIRE(back.size() == 1u);
  BOOST_TEST((back[0].first == MessageType::kAck));
  BOOST_TEST(client.AtEof().ok());
}

BOOST_AUTO_TEST_CASE(a_stream_cut_inside_a_frame_is_an_error_at_eof) {
  ClusterKeys keys = Keys(2);
  FramedChannel client(SecureChannel::Role::kClient, &keys), server(SecureChannel::Role::kServer, &keys);
  BOOST_REQUIRE(Pump(client, server, client.Start()).ok());
  std::string frame = EncodeOpen({1, 1, "bolt"});
  std::string wire;
  client.Seal(frame.substr(0, frame.size() - 3), &wire);  // a whole record, holding part of a frame
  BOOST_REQUIRE(Pump(client, server, wire).ok());
  Status err;
  BOOST_TEST(Drain(server, &err).empty());
  Status eof = server.AtEof();
  BOOST_TEST(!eof.ok());
  BOOST_TEST(eof.message().find("inside a frame") != std::string::npos, eof.message());
}

BOOST_AUTO_TEST_CASE(a_client_without_the_key_gets_no_frame_through) {
  ClusterKeys keys = Keys(3), other = Keys(4);
  FramedChannel client(SecureChannel::Role::kClient, &other), server(SecureChannel::Role::kServer, &keys);
  std::string early;
  client.Seal(EncodeHello({kWireVersionMin, kWireVersionMax, "c", "o"}), &early);
  BOOST_TEST(!Pump(client, server, client.Start()).ok());
  BOOST_TEST(!server.established());
  Status err;
  BOOST_TEST(Drain(server, &err).empty());
}

BOOST_AUTO_TEST_SUITE_END()
