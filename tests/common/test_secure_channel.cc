// The secure channel (common/secure_channel.h) and cluster key files (common/cluster_key.h):
// the handshake admits only holders of the cluster key, and every tampered, replayed, reordered,
// duplicated or truncated record ends the connection without handing on a byte of it.
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "common/cluster_key.h"
#include "common/config.h"
#include "common/secure_channel.h"
#include "tests/support/cluster.h"

using namespace tailsafe;
using tailsafe::testing::ScopedTempDir;

namespace {

ClusterKeys KeysOf(std::initializer_list<uint8_t> seeds) {
  ClusterKeys keys;
  for (uint8_t seed : seeds) {
    uint8_t bytes[kClusterKeyBytes];
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
    keys.keys.push_back(MakeClusterKey(bytes));
  }
  return keys;
}

// Both ends of one connection, with what each has sent so far (for replay and tamper tests).
struct Pair {
  SecureChannel client;
  SecureChannel server;
  std::string client_wire;  // every byte the client sent
  std::string server_wire;
  std::string client_plain;  // application bytes the client received
  std::string server_plain;
  Status client_status;
  Status server_status;

  Pair(const ClusterKeys* ck, const ClusterKeys* sk)
      : client(SecureChannel::Role::kClient, ck), server(SecureChannel::Role::kServer, sk) {}

  // Runs the handshake to completion (or failure), delivering everything both ways.
  void Handshake() {
    std::string c2s = client.Start();
    Deliver(c2s, "");
  }
  void Deliver(std::string c2s, std::string s2c) {
    while ((!c2s.empty() || !s2c.empty()) && client_status.ok() && server_status.ok()) {
      std::string next_c2s, next_s2c;
      if (!c2s.empty()) {
        client_wire += c2s;
        server_status = server.Receive(c2s, &next_s2c, &server_plain);
      }
      if (!s2c.empty() && server_status.ok()) {
        server_wire += s2c;
        client_status = client.Receive(s2c, &next_c2s, &client_plain);
      }
      c2s = std::move(next_c2s);
      s2c = std::move(next_s2c);
    }
  }
  void ClientSends(std::string_view plain) {
    std::string wire;
    client.Seal(plain, &wire);
    Deliver(wire, "");
  }
  void ServerSends(std::string_view plain) {
    std::string wire;
    server.Seal(plain, &wire);
    Deliver("", wire);
  }
};

std::string Sealed(SecureChannel& ch, std::string_view plain) {
  std::string out;
  ch.Seal(plain, &out);
  return out;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(secure_channel)

BOOST_AUTO_TEST_CASE(handshake_then_records_both_ways) {
  ClusterKeys keys = KeysOf({1});
  Pair p(&keys, &keys);
  // Bytes sealed before the handshake completes leave with its last message.
  std::string early;
  p.client.Seal("hello before the handshake", &early);
  BOOST_TEST(early.empty());
  p.Handshake();
  BOOST_TEST_REQUIRE(p.client_status.ok());
  BOOST_TEST_REQUIRE(p.server_status.ok());
  BOOST_TEST(p.client.established());
  BOOST_TEST(p.server.established());
  BOOST_TEST(p.client.key_id() == keys.keys[0].id);
  BOOST_TEST(p.server_plain == "hello before the handshake");

  std::string big(3 * kMaxRecordPlain + 17, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131);
  p.ClientSends(big);
  BOOST_TEST(p.server_plain == "hello before the handshake" + big);
  p.ServerSends("reply");
  BOOST_TEST(p.client_plain == "reply");
  BOOST_TEST(p.client.records_out() == 5u);  // the early bytes, then 4 records for `big`
  BOOST_TEST(p.client.AtEof().ok());
  BOOST_TEST(p.server.AtEof().ok());
  // Nothing of the plaintext shows on the wire.
  BOOST_TEST(!Contains(p.client_wire, "hello before"));
}

BOOST_AUTO_TEST_CASE(bytes_arrive_in_any_split) {
  ClusterKeys keys = KeysOf({2});
  SecureChannel client(SecureChannel::Role::kClient, &keys), server(SecureChannel::Role::kServer, &keys);
  std::string c2s = client.Start(), s2c, plain_s, plain_c;
  std::string payload = "one byte at a time";
  client.Seal(payload, &c2s);  // held
  // Client hello one byte at a time.
  for (char c : c2s) BOOST_TEST_REQUIRE(server.Receive(std::string_view(&c, 1), &s2c, &plain_s).ok());
  std::string c2s2;
  for (char c : s2c) BOOST_TEST_REQUIRE(client.Receive(std::string_view(&c, 1), &c2s2, &plain_c).ok());
  std::string none;
  for (char c : c2s2) BOOST_TEST_REQUIRE(server.Receive(std::string_view(&c, 1), &none, &plain_s).ok());
  BOOST_TEST(plain_s == payload);
  BOOST_TEST(none.empty());
}

BOOST_AUTO_TEST_CASE(a_wrong_key_is_refused_with_both_key_ids_named) {
  ClusterKeys good = KeysOf({3}), wrong = KeysOf({4});
  Pair p(&wrong, &good);
  std::string held;
  p.client.Seal("write this", &held);
  p.Handshake();
  BOOST_TEST(!p.server_status.ok());
  BOOST_TEST(Contains(p.server_status.message(), KeyIdHex(wrong.keys[0].id)));
  BOOST_TEST(Contains(p.server_status.message(), KeyIdHex(good.keys[0].id)));
  BOOST_TEST(Contains(p.server_status.message(), "different cluster keys"));
  BOOST_TEST(p.server_plain.empty());
  BOOST_TEST(!p.server.established());
  // The client sees the server hang up during the handshake.
  BOOST_TEST(!p.client.AtEof().ok());
  BOOST_TEST(Contains(p.client.AtEof().message(), "cluster key"));
}

BOOST_AUTO_TEST_CASE(a_client_naming_the_right_key_id_without_the_key_fails_its_proof) {
  ClusterKeys good = KeysOf({5});
  // The attacker learns the key id (it is not secret) and offers it with its own ephemeral key,
  // then answers the server with a made-up proof.
  SecureChannel server(SecureChannel::Role::kServer, &good);
  std::string hello = "TSX1";
  hello += static_cast<char>(1);
  uint64_t id = good.keys[0].id;
  for (int b = 0; b < 8; ++b) hello += static_cast<char>(id >> (8 * b));
  uint8_t pk[32], sk[32];
  crypto_box_keypair(pk, sk);
  hello.append(reinterpret_cast<char*>(pk), 32);
  std::string reply, plain;
  BOOST_TEST_REQUIRE(server.Receive(hello, &reply, &plain).ok());
  BOOST_TEST(reply.size() == 4 + 1 + 32 + 32u);
  Status s = server.Receive(std::string(32, '\x5a') + "and some data", &reply, &plain);
  BOOST_TEST(!s.ok());
  BOOST_TEST(Contains(s.message(), "proof is wrong"));
  BOOST_TEST(plain.empty());
  BOOST_TEST(!server.established());
}

BOOST_AUTO_TEST_CASE(not_a_handshake_is_refused_naming_what_came) {
  ClusterKeys keys = KeysOf({6});
  std::string plain_hello("\x20\0\0\0\x01\0\0\0", 8);  // an unencrypted HELLO frame's header
  for (std::string first : {std::string("GET / HTTP/1.1\r\n\r\n"), plain_hello,
                            std::string("TSX1\x00", 5), std::string("TSX1\x09", 5)}) {
    SecureChannel server(SecureChannel::Role::kServer, &keys);
    std::string reply, plain;
    Status s = server.Receive(first, &reply, &plain);
    BOOST_TEST_INFO("first bytes " << first.size());
    BOOST_TEST(!s.ok());
    BOOST_TEST(reply.empty());
    // Failed channels stay failed.
    BOOST_TEST(!server.Receive("more", &reply, &plain).ok());
  }
  SecureChannel server(SecureChannel::Role::kServer, &keys);
  std::string reply, plain;
  BOOST_TEST(Contains(server.Receive(plain_hello, &reply, &plain).message(), "unencrypted"));
}

BOOST_AUTO_TEST_CASE(every_bit_flip_of_the_handshake_fails_it) {
  ClusterKeys keys = KeysOf({7});
  Pair ref(&keys, &keys);
  ref.Handshake();
  BOOST_TEST_REQUIRE(ref.client.established());
  // Flip each bit of the server's hello on its way to a fresh client: the client must refuse.
  // (The server's hello depends on the client's fresh ephemeral key, so it is rebuilt each time.)
  for (size_t bit = 0; bit < (4 + 1 + 32 + 32) * 8; bit += 3) {
    SecureChannel client(SecureChannel::Role::kClient, &keys), server(SecureChannel::Role::kServer, &keys);
    std::string s2c, c2s, plain;
    BOOST_TEST_REQUIRE(server.Receive(client.Start(), &s2c, &plain).ok());
    s2c[bit / 8] = static_cast<char>(s2c[bit / 8] ^ (1 << (bit % 8)));
    Status s = client.Receive(s2c, &c2s, &plain);
    BOOST_TEST_INFO("bit " << bit);
    BOOST_TEST(!s.ok());
    BOOST_TEST(!client.established());
  }
  // Flip bits of the client's hello: the server refuses it, or the proofs fail, or (a flipped
  // key count) the server waits for bytes that never come, which its handshake deadline ends.
  for (size_t bit = 0; bit < (5 + 8 + 32) * 8; bit += 3) {
    SecureChannel client(SecureChannel::Role::kClient, &keys), server(SecureChannel::Role::kServer, &keys);
    std::string c2s = client.Start(), s2c, c2s2, plain;
    c2s[bit / 8] = static_cast<char>(c2s[bit / 8] ^ (1 << (bit % 8)));
    Status s = server.Receive(c2s, &s2c, &plain);
    if (s.ok()) {
      Status c = client.Receive(s2c, &c2s2, &plain);
      if (c.ok()) s = server.Receive(c2s2, &s2c, &plain);
      else s = c;
    }
    BOOST_TEST_INFO("bit " << bit);
    BOOST_TEST((!s.ok() || !server.AtEof().ok()));
    BOOST_TEST(!server.established());
    BOOST_TEST(plain.empty());
  }
}

BOOST_AUTO_TEST_CASE(a_recorded_connection_replayed_to_a_new_server_fails) {
  ClusterKeys keys = KeysOf({8});
  Pair p(&keys, &keys);
  p.Handshake();
  p.ClientSends("OPEN bolt-1 and write these bytes");
  BOOST_TEST_REQUIRE(p.server_plain == "OPEN bolt-1 and write these bytes");
  // An eavesdropper replays every byte the client sent.
  SecureChannel fresh(SecureChannel::Role::kServer, &keys);
  std::string reply, plain;
  Status s = fresh.Receive(p.client_wire, &reply, &plain);
  BOOST_TEST(!s.ok());
  BOOST_TEST(Contains(s.message(), "replayed"));
  BOOST_TEST(plain.empty());
  // And the server's bytes replayed to a new client.
  SecureChannel client(SecureChannel::Role::kClient, &keys);
  (void)client.Start();
  Status c = client.Receive(p.server_wire, &reply, &plain);
  BOOST_TEST(!c.ok());
  BOOST_TEST(plain.empty());
}

struct Established {
  ClusterKeys keys = KeysOf({9});
  SecureChannel client{SecureChannel::Role::kClient, &keys};
  SecureChannel server{SecureChannel::Role::kServer, &keys};
  Established() {
    std::string s2c, c2s, plain;
    BOOST_REQUIRE(server.Receive(client.Start(), &s2c, &plain).ok());
    BOOST_REQUIRE(client.Receive(s2c, &c2s, &plain).ok());
    BOOST_REQUIRE(server.Receive(c2s, &s2c, &plain).ok());
    BOOST_REQUIRE(server.established() && client.established());
  }
};

BOOST_AUTO_TEST_CASE(every_bit_flip_of_a_record_is_rejected_and_hands_on_nothing) {
  std::string reference;
  {
    Established e;
    reference = Sealed(e.client, "a record of thirty-two bytes....");
  }
  for (size_t bit = 0; bit < reference.size() * 8; ++bit) {
    Established e;
    std::string rec = Sealed(e.client, "a record of thirty-two bytes....");
    rec[bit / 8] = static_cast<char>(rec[bit / 8] ^ (1 << (bit % 8)));
    std::string out, plain;
    Status s = e.server.Receive(rec, &out, &plain);
    // A flip in the length either fails at once (out of range) or waits for bytes that would
    // then fail authentication; either way nothing is handed on, and at EOF it is an error.
    BOOST_TEST_INFO("bit " << bit);
    BOOST_TEST(plain.empty());
    BOOST_TEST((!s.ok() || !e.server.AtEof().ok()));
  }
}

BOOST_AUTO_TEST_CASE(reordered_duplicated_and_dropped_records_are_rejected) {
  {
    Established e;
    std::string r1 = Sealed(e.client, "first"), r2 = Sealed(e.client, "second");
    std::string out, plain;
    Status s = e.server.Receive(r2 + r1, &out, &plain);
    BOOST_TEST(!s.ok());
    BOOST_TEST(Contains(s.message(), "record 0 failed authentication"));
    BOOST_TEST(plain.empty());
  }
  {
    Established e;
    std::string r1 = Sealed(e.client, "first");
    std::string out, plain;
    BOOST_TEST_REQUIRE(e.server.Receive(r1, &out, &plain).ok());
    Status s = e.server.Receive(r1, &out, &plain);  // duplicated (replayed within the connection)
    BOOST_TEST(!s.ok());
    BOOST_TEST(plain == "first");
  }
  {
    Established e;
    std::string r1 = Sealed(e.client, "first"), r2 = Sealed(e.client, "second");
    (void)r1;  // dropped on the way
    std::string out, plain;
    BOOST_TEST(!e.server.Receive(r2, &out, &plain).ok());
    BOOST_TEST(plain.empty());
  }
  {
    // A record from another connection (same cluster key, other connection keys).
    Established a, b;
    std::string rec = Sealed(a.client, "from another connection");
    std::string out, plain;
    BOOST_TEST(!b.server.Receive(rec, &out, &plain).ok());
    BOOST_TEST(plain.empty());
  }
}

BOOST_AUTO_TEST_CASE(truncation_at_every_length_hands_on_nothing_partial) {
  std::string reference;
  {
    Established e;
    reference = Sealed(e.client, "twenty bytes of data");
  }
  for (size_t cut = 1; cut < reference.size(); ++cut) {
    Established e;
    std::string rec = Sealed(e.client, "twenty bytes of data");
    std::string out, plain;
    BOOST_TEST_REQUIRE(e.server.Receive(std::string_view(rec).substr(0, cut), &out, &plain).ok());
    BOOST_TEST(plain.empty());
    Status eof = e.server.AtEof();
    BOOST_TEST_INFO("cut " << cut);
    BOOST_TEST(!eof.ok());
    BOOST_TEST(Contains(eof.message(), "truncated"));
  }
  // An oversized length is refused before any waiting or buffering.
  Established e;
  std::string out, plain;
  Status s = e.server.Receive(std::string("\xff\xff\xff\x7f", 4), &out, &plain);
  BOOST_TEST(!s.ok());
  BOOST_TEST(Contains(s.message(), "outside"));
}

BOOST_AUTO_TEST_CASE(key_rotation_keeps_old_and_new_nodes_talking) {
  ClusterKeys old_only = KeysOf({10}), new_and_old = KeysOf({11, 10}), new_only = KeysOf({11});
  struct Case {
    const ClusterKeys* client;
    const ClusterKeys* server;
    bool ok;
    uint64_t key;
  } cases[] = {
      {&new_and_old, &old_only, true, old_only.keys[0].id},    // a rotated node to one not yet rotated
      {&old_only, &new_and_old, true, old_only.keys[0].id},    // and back
      {&new_and_old, &new_and_old, true, new_only.keys[0].id}, // both rotated: the new key wins
      {&new_only, &new_and_old, true, new_only.keys[0].id},
      {&new_only, &old_only, false, 0},                        // the old key dropped too early
  };
  for (const Case& c : cases) {
    Pair p(c.client, c.server);
    p.Handshake();
    BOOST_TEST(p.client.established() == c.ok);
    BOOST_TEST(p.server.established() == c.ok);
    if (c.ok) {
      BOOST_TEST(p.client.key_id() == c.key);
      BOOST_TEST(p.server.key_id() == c.key);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cluster_key)

namespace {

std::string WriteFile(const std::string& path, const std::string& bytes, mode_t mode) {
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::fchmod(fd, mode);
  ::close(fd);
  return path;
}

std::string LoadError(const std::string& path) {
  Result<ClusterKey> k = LoadClusterKey(path, "[cluster] key_file");
  return k.ok() ? "" : k.status().message();
}

}  // namespace

BOOST_AUTO_TEST_CASE(keygen_makes_a_private_32_byte_key_and_will_not_overwrite) {
  ScopedTempDir scratch("keygen");
  const std::string& dir = scratch.path;
  std::string path = dir + "/cluster.key";
  BOOST_TEST_REQUIRE(WriteNewClusterKey(path, false).ok());
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_TEST(st.st_size == 32);
  Result<ClusterKey> k = LoadClusterKey(path, "[cluster] key_file");
  BOOST_TEST_REQUIRE(k.ok());
  Status again = WriteNewClusterKey(path, false);
  BOOST_TEST(!again.ok());
  BOOST_TEST(Contains(again.message(), "already exists"));
  BOOST_TEST_REQUIRE(WriteNewClusterKey(path, true).ok());
  Result<ClusterKey> k2 = LoadClusterKey(path, "[cluster] key_file");
  BOOST_TEST_REQUIRE(k2.ok());
  BOOST_TEST(k2->id != k->id);
}

BOOST_AUTO_TEST_CASE(unusable_key_files_are_refused_saying_how_to_make_one) {
  ScopedTempDir scratch("badkey");
  const std::string& dir = scratch.path;
  std::string good(32, '\0');
  for (size_t i = 0; i < good.size(); ++i) good[i] = static_cast<char>(i * 37 + 5);
  struct Case {
    std::string path;
    std::vector<std::string> expect;
  } cases[] = {
      {dir + "/missing.key", {"missing.key", "No such file", "tailsafectl keygen"}},
      {WriteFile(dir + "/empty.key", "", 0600), {"is empty", "tailsafectl keygen"}},
      {WriteFile(dir + "/world.key", good, 0644), {"mode 0644", "chmod 600"}},
      {WriteFile(dir + "/group.key", good, 0640), {"mode 0640"}},
      {WriteFile(dir + "/short.key", good.substr(0, 16), 0600), {"holds 16 bytes", "exactly 32"}},
      {WriteFile(dir + "/long.key", good + "\n", 0600), {"holds 33 bytes"}},
      {WriteFile(dir + "/zero.key", std::string(32, '\0'), 0600), {"not random"}},
      {dir, {"not a regular file"}},
  };
  ::chmod(dir.c_str(), 0700);
  for (const Case& c : cases) {
    std::string err = LoadError(c.path);
    BOOST_TEST_INFO(c.path << ": " << err);
    BOOST_TEST(Contains(err, "[cluster] key_file"));
    for (const std::string& part : c.expect) BOOST_TEST(Contains(err, part));
  }
  BOOST_TEST(LoadError(WriteFile(dir + "/ok.key", good, 0600)).empty());
  BOOST_TEST(LoadError(WriteFile(dir + "/ro.key", good, 0400)).empty());
}

BOOST_AUTO_TEST_CASE(config_without_a_key_file_is_refused_when_keys_are_loaded) {
  Result<Config> c = ParseConfig("[cluster]\nname = \"c\"\n", "test.conf");
  BOOST_TEST_REQUIRE(c.ok());
  Result<ClusterKeys> keys = LoadClusterKeys(c->cluster, "test.conf");
  BOOST_TEST(!keys.ok());
  BOOST_TEST(Contains(keys.status().message(), "key_file is not set"));
  BOOST_TEST(Contains(keys.status().message(), "tailsafectl keygen"));
  Result<Config> bad = ParseConfig("[cluster]\nname = \"c\"\nprevious_key_files = [\"rel.key\"]\n", "test.conf");
  BOOST_TEST(!bad.ok());
  BOOST_TEST(Contains(bad.status().message(), "test.conf:3: cluster.previous_key_files[0]"));
}

BOOST_AUTO_TEST_SUITE_END()
