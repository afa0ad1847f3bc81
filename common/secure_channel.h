// SecureChannel: mutual authentication and encryption for one TCP connection, keyed by the
// cluster key (common/cluster_key.h). It sits between the socket and the frame layer
// (common/wire.h) on both ends of every tailsafe connection: agent to agent, agent to
// coordinator, tailsafectl to coordinator. No application frame is read before the handshake
// has proved that the other side holds the cluster key.
//
// It does no I/O (like leveldb's log reader, it is fed bytes and hands bytes back), so the libuv
// connections, the blocking tailsafectl client, the tests and the fuzz target share it.
//
// Handshake (X25519 ephemeral keys, BLAKE2b, all from libsodium):
//
//   client -> server  CLIENT_HELLO   "TSX1", n (1..8), n key ids (u64 LE), client ephemeral public key
//   server -> client  SERVER_HELLO   "TSX1", index of the chosen key id, server ephemeral public key,
//                                    server proof (32)
//   client -> server  CLIENT_PROOF   client proof (32)
//
//   prk        = BLAKE2b-512(key = cluster key, "tailsafe-handshake-1" || X25519(ephemerals) ||
//                            CLIENT_HELLO || SERVER_HELLO without its proof)
//   proof key  = BLAKE2b-256(key = prk, "proof"); server proof = BLAKE2b-256(key = proof key, "server"),
//                client proof = BLAKE2b-256(key = proof key, "client")
//   record keys: BLAKE2b-256(key = prk, "client->server"), and "server->client"
//
// Only a holder of the cluster key can compute a proof; both ephemerals are fresh per connection,
// so a recorded handshake replayed to either side fails its proof, and the record keys are new
// for every connection (a key that leaks later does not open recorded traffic).
//
// Records, each way, after the handshake:
//
//   u32 LE length L (17 .. kMaxRecordPlain + 16) | ChaCha20-Poly1305 (IETF) ciphertext of L bytes
//
// with the length as additional data and the record's sequence number (per direction, from 0)
// as the nonce: a modified, reordered, duplicated, replayed or dropped record fails to
// authenticate and ends the connection. A connection that ends inside a record is reported as
// truncated (AtEof); nothing of a partial record is ever handed on.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/cluster_key.h"
#include "common/status.h"

namespace tailsafe {

constexpr size_t kMaxRecordPlain = 256 << 10;
constexpr size_t kRecordOverhead = 4 + crypto_aead_chacha20poly1305_ietf_ABYTES;
constexpr size_t kMaxOfferedKeys = 8;

class SecureChannel {
 public:
  enum class Role { kClient, kServer };
  // `keys` (at least one) must outlive the channel.
  SecureChannel(Role role, const ClusterKeys* keys);
  ~SecureChannel();
  SecureChannel(const SecureChannel&) = delete;
  SecureChannel& operator=(const SecureChannel&) = delete;

  // The bytes to send when the connection opens: CLIENT_HELLO for a client, nothing for a server.
  std::string Start();

  // Feeds bytes received from the socket. Handshake messages to send back are appended to
  // *to_send (with any application bytes Seal()ed before the handshake completed); decrypted
  // application bytes are appended to *plain. An error means the connection must be closed; the
  // channel then stays failed and returns the same error.
  Status Receive(std::string_view in, std::string* to_send, std::string* plain);

  // Encrypts application bytes into records appended to *out. Before the handshake completes the
  // bytes are held, and leave with the handshake's last message (through Receive's *to_send).
  void Seal(std::string_view plain, std::string* out);

  // At end of stream: an error if the stream ended inside the handshake or inside a record.
  Status AtEof() const;

  bool established() const { return state_ == State::kEstablished; }
  // The id of the cluster key the handshake settled on (0 before).
  uint64_t key_id() const { return key_ != nullptr ? key_->id : 0; }
  uint64_t records_in() const { return recv_seq_; }
  uint64_t records_out() const { return send_seq_; }

 private:
  enum class State { kClientWaitServerHello, kServerWaitClientHello, kServerWaitProof, kEstablished, kFailed };

  Status Fail(std::string message);
  Status OnClientHello(std::string* to_send, bool* progressed);
  Status OnServerHello(std::string* to_send, bool* progressed);
  Status OnClientProof(std::string* to_send, bool* progressed);
  Status OpenRecords(std::string* plain);
  Status DeriveKeys(const uint8_t* peer_public, std::string_view server_hello_head);
  void SealNow(std::string_view plain, std::string* out);

  Role role_;
  const ClusterKeys* keys_;
  const ClusterKey* key_ = nullptr;
  State state_;
  std::string error_;
  std::string in_;          // received bytes not yet consumed
  size_t in_start_ = 0;
  std::string held_;        // application bytes sealed before the handshake completed
  std::string client_hello_;
  uint8_t eph_public_[crypto_scalarmult_BYTES]{};
  uint8_t eph_secret_[crypto_scalarmult_SCALARBYTES]{};
  uint8_t proof_key_[32]{};
  uint8_t send_key_[crypto_aead_chacha20poly1305_ietf_KEYBYTES]{};
  uint8_t recv_key_[crypto_aead_chacha20poly1305_ietf_KEYBYTES]{};
  uint64_t send_seq_ = 0;
  uint64_t recv_seq_ = 0;
};

}  // namespace tailsafe
