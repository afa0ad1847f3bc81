#include "common/secure_channel.h"

#include <algorithm>
#include <cstring>

namespace tailsafe {

namespace {

constexpr char kMagic[4] = {'T', 'S', 'X', '1'};
constexpr size_t kPublicBytes = crypto_scalarmult_BYTES;
constexpr size_t kProofBytes = 32;
constexpr size_t kServerHelloHead = 4 + 1 + kPublicBytes;
constexpr size_t kTagBytes = crypto_aead_chacha20poly1305_ietf_ABYTES;
constexpr char kLabel[] = "tailsafe-handshake-1";

void PutU32(uint32_t v, char* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
void Nonce(uint64_t seq, uint8_t* nonce) {
  memset(nonce, 0, crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(seq >> (8 * i));
}
const uint8_t* U8(const char* p) { return reinterpret_cast<const uint8_t*>(p); }

void Mac(uint8_t* out, const uint8_t* key, size_t key_len, std::string_view label) {
  crypto_generichash(out, 32, U8(label.data()), label.size(), key, key_len);
}

std::string Hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

}  // namespace

SecureChannel::SecureChannel(Role role, const ClusterKeys* keys)
    : role_(role),
      keys_(keys),
      state_(role == Role::kClient ? State::kClientWaitServerHello : State::kServerWaitClientHello) {
  // Idempotent and thread-safe; it fails only if the kernel has no random source at all.
  if (sodium_init() < 0) state_ = State::kFailed, error_ = "libsodium failed to initialise";
}

SecureChannel::~SecureChannel() {
  sodium_memzero(eph_secret_, sizeof eph_secret_);
  sodium_memzero(proof_key_, sizeof proof_key_);
  sodium_memzero(send_key_, sizeof send_key_);
  sodium_memzero(recv_key_, sizeof recv_key_);
}

Status SecureChannel::Fail(std::string message) {
  state_ = State::kFailed;
  error_ = std::move(message);
  sodium_memzero(send_key_, sizeof send_key_);
  sodium_memzero(recv_key_, sizeof recv_key_);
  return Status::Error(error_);
}

std::string SecureChannel::Start() {
  if (role_ != Role::kClient) return "";
  randombytes_buf(eph_secret_, sizeof eph_secret_);
  crypto_scalarmult_base(eph_public_, eph_secret_);
  size_t n = std::min(keys_->keys.size(), kMaxOfferedKeys);
  client_hello_.assign(kMagic, 4);
  client_hello_ += static_cast<char>(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t id = keys_->keys[i].id;
    for (int b = 0; b < 8; ++b) client_hello_ += static_cast<char>(id >> (8 * b));
  }
  client_hello_.append(reinterpret_cast<const char*>(eph_public_), kPublicBytes);
  return client_hello_;
}

Status SecureChannel::DeriveKeys(const uint8_t* peer_public, std::string_view server_hello_head) {
  uint8_t shared[crypto_scalarmult_BYTES];
  if (crypto_scalarmult(shared, eph_secret_, peer_public) != 0) {
    return Fail("handshake: the other side's ephemeral public key is invalid (a low-order point)");
  }
  sodium_memzero(eph_secret_, sizeof eph_secret_);
  uint8_t prk[crypto_generichash_BYTES_MAX];
  crypto_generichash_state st;
  crypto_generichash_init(&st, key_->bytes.data(), key_->bytes.size(), sizeof prk);
  crypto_generichash_update(&st, U8(kLabel), sizeof kLabel - 1);
  crypto_generichash_update(&st, shared, sizeof shared);
  crypto_generichash_update(&st, U8(client_hello_.data()), client_hello_.size());
  crypto_generichash_update(&st, U8(server_hello_head.data()), server_hello_head.size());
  crypto_generichash_final(&st, prk, sizeof prk);
  sodium_memzero(shared, sizeof shared);
  uint8_t c2s[32], s2c[32];
  Mac(proof_key_, prk, sizeof prk, "proof");
  Mac(c2s, prk, sizeof prk, "client->server");
  Mac(s2c, prk, sizeof prk, "server->client");
  sodium_memzero(prk, sizeof prk);
  memcpy(send_key_, role_ == Role::kClient ? c2s : s2c, sizeof send_key_);
  memcpy(recv_key_, role_ == Role::kClient ? s2c : c2s, sizeof recv_key_);
  sodium_memzero(c2s, sizeof c2s);
  sodium_memzero(s2c, sizeof s2c);
  return Status::Ok();
}

Status SecureChannel::OnClientHello(std::string* to_send, bool* progressed) {
  size_t avail = in_.size() - in_start_;
  const char* p = in_.data() + in_start_;
  if (avail < 5) return Status::Ok();
  if (memcmp(p, kMagic, 4) != 0) {
    // An unencrypted wire frame (common/wire.h) starts with its length, then a type byte and three
    // zero bytes; a HELLO is type 1.
    if (avail >= 8 && p[4] == 1 && p[5] == 0 && p[6] == 0 && p[7] == 0) {
      return Fail("handshake: the client speaks the unencrypted protocol (a tailsafe without cluster keys)");
    }
    return Fail("handshake: the first bytes (" + Hex(std::string_view(p, 4)) +
                ") are not a tailsafe handshake: not a tailsafe node, or not one of this version");
  }
  size_t n = static_cast<uint8_t>(p[4]);
  if (n == 0 || n > kMaxOfferedKeys) {
    return Fail("handshake: the client offers " + std::to_string(n) + " keys; 1 to " +
                std::to_string(kMaxOfferedKeys) + " are allowed");
  }
  size_t size = 5 + 8 * n + kPublicBytes;
  if (avail < size) return Status::Ok();
  size_t index = n;
  std::string offered;
  for (size_t i = 0; i < n; ++i) {
    uint64_t id = GetU64(p + 5 + 8 * i);
    offered += (i ? ", " : "") + KeyIdHex(id);
    if (index == n && (key_ = keys_->Find(id)) != nullptr) index = i;
  }
  if (index == n) {
    std::string held;
    for (const ClusterKey& k : keys_->keys) held += (held.empty() ? "" : ", ") + KeyIdHex(k.id);
    return Fail("handshake: the client's cluster key (id " + offered + ") is not one this node holds (id " + held +
                "): the two use different cluster keys");
  }
  client_hello_.assign(p, size);
  in_start_ += size;
  uint8_t client_public[kPublicBytes];
  memcpy(client_public, p + 5 + 8 * n, kPublicBytes);

  randombytes_buf(eph_secret_, sizeof eph_secret_);
  crypto_scalarmult_base(eph_public_, eph_secret_);
  std::string hello(kMagic, 4);
  hello += static_cast<char>(index);
  hello.append(reinterpret_cast<const char*>(eph_public_), kPublicBytes);
  if (Status s = DeriveKeys(client_public, hello); !s) return s;
  uint8_t proof[kProofBytes];
  Mac(proof, proof_key_, sizeof proof_key_, "server");
  hello.append(reinterpret_cast<const char*>(proof), sizeof proof);
  *to_send += hello;
  state_ = State::kServerWaitProof;
  *progressed = true;
  return Status::Ok();
}

Status SecureChannel::OnServerHello(std::string* to_send, bool* progressed) {
  size_t avail = in_.size() - in_start_;
  const char* p = in_.data() + in_start_;
  if (avail >= 4 && memcmp(p, kMagic, 4) != 0) {
    return Fail("handshake: the server's first bytes (" + Hex(std::string_view(p, 4)) +
                ") are not a tailsafe handshake: not a tailsafe node, or not one of this version");
  }
  if (avail < kServerHelloHead + kProofBytes) return Status::Ok();
  size_t index = static_cast<uint8_t>(p[4]);
  size_t offered = std::min(keys_->keys.size(), kMaxOfferedKeys);
  if (index >= offered) {
    return Fail("handshake: the server chose key " + std::to_string(index) + " of the " + std::to_string(offered) +
                " offered");
  }
  key_ = &keys_->keys[index];
  std::string_view head(p, kServerHelloHead);
  if (Status s = DeriveKeys(U8(p + 5), head); !s) return s;
  uint8_t expect[kProofBytes];
  Mac(expect, proof_key_, sizeof proof_key_, "server");
  if (sodium_memcmp(expect, p + kServerHelloHead, kProofBytes) != 0) {
    return Fail("handshake: the server's proof is wrong: it does not hold the cluster key (id " + KeyIdHex(key_->id) +
                ") it chose, or the handshake was tampered with");
  }
  in_start_ += kServerHelloHead + kProofBytes;
  uint8_t proof[kProofBytes];
  Mac(proof, proof_key_, sizeof proof_key_, "client");
  to_send->append(reinterpret_cast<const char*>(proof), sizeof proof);
  state_ = State::kEstablished;
  std::string held = std::move(held_);
  held_.clear();
  SealNow(held, to_send);
  *progressed = true;
  return Status::Ok();
}

Status SecureChannel::OnClientProof(std::string* to_send, bool* progressed) {
  if (in_.size() - in_start_ < kProofBytes) return Status::Ok();
  uint8_t expect[kProofBytes];
  Mac(expect, proof_key_, sizeof proof_key_, "client");
  if (sodium_memcmp(expect, in_.data() + in_start_, kProofBytes) != 0) {
    return Fail("handshake: the client's proof is wrong: it does not hold the cluster key (id " + KeyIdHex(key_->id) +
                ") it named, or it replayed a recorded handshake");
  }
  in_start_ += kProofBytes;
  state_ = State::kEstablished;
  std::string held = std::move(held_);
  held_.clear();
  SealNow(held, to_send);
  *progressed = true;
  return Status::Ok();
}

Status SecureChannel::OpenRecords(std::string* plain) {
  for (;;) {
    size_t avail = in_.size() - in_start_;
    if (avail < 4) return Status::Ok();
    const char* p = in_.data() + in_start_;
    uint32_t len = GetU32(p);
    if (len <= kTagBytes || len > kMaxRecordPlain + kTagBytes) {
      return Fail("encrypted record " + std::to_string(recv_seq_) + ": length " + std::to_string(len) +
                  " is outside 17.." + std::to_string(kMaxRecordPlain + kTagBytes));
    }
    if (avail < 4 + static_cast<size_t>(len)) return Status::Ok();
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    Nonce(recv_seq_, nonce);
    size_t at = plain->size();
    plain->resize(at + len - kTagBytes);
    unsigned long long out_len = 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(reinterpret_cast<uint8_t*>(plain->data() + at), &out_len, nullptr,
                                                  U8(p + 4), len, U8(p), 4, nonce, recv_key_) != 0) {
      plain->resize(at);
      return Fail("encrypted record " + std::to_string(recv_seq_) +
                  " failed authentication: it was modified, reordered, replayed or cut");
    }
    ++recv_seq_;
    in_start_ += 4 + len;
  }
}

Status SecureChannel::Receive(std::string_view in, std::string* to_send, std::string* plain) {
  if (state_ == State::kFailed) return Status::Error(error_);
  in_.append(in.data(), in.size());
  Status st;
  for (bool progressed = true; progressed && st.ok();) {
    progressed = false;
    switch (state_) {
      case State::kServerWaitClientHello: st = OnClientHello(to_send, &progressed); break;
      case State::kServerWaitProof: st = OnClientProof(to_send, &progressed); break;
      case State::kClientWaitServerHello: st = OnServerHello(to_send, &progressed); break;
      case State::kEstablished: st = OpenRecords(plain); break;
      case State::kFailed: st = Status::Error(error_); break;
    }
  }
  if (in_start_ == in_.size()) {
    in_.clear();
    in_start_ = 0;
  } else if (in_start_ >= (64u << 10)) {
    in_.erase(0, in_start_);
    in_start_ = 0;
  }
  return st;
}

void SecureChannel::SealNow(std::string_view plain, std::string* out) {
  while (!plain.empty()) {
    size_t n = std::min(plain.size(), kMaxRecordPlain);
    size_t at = out->size();
    out->resize(at + 4 + n + kTagBytes);
    char* p = out->data() + at;
    PutU32(static_cast<uint32_t>(n + kTagBytes), p);
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    Nonce(send_seq_++, nonce);
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(p + 4), &clen, U8(plain.data()), n, U8(p),
                                              4, nullptr, nonce, send_key_);
    plain.remove_prefix(n);
  }
}

void SecureChannel::Seal(std::string_view plain, std::string* out) {
  if (state_ == State::kEstablished) return SealNow(plain, out);
  if (state_ != State::kFailed) held_.append(plain.data(), plain.size());
}

Status SecureChannel::AtEof() const {
  if (state_ == State::kFailed) return Status::Error(error_);
  if (state_ != State::kEstablished) {
    return Status::Error(role_ == Role::kClient
                             ? "the connection ended during the secure handshake: the other side does not hold "
                               "this node's cluster key (see its log), or is not a tailsafe node"
                             : "the connection ended during the secure handshake");
  }
  if (in_.size() > in_start_) {
    return Status::Error("the connection ended inside encrypted record " + std::to_string(recv_seq_) + " (truncated)");
  }
  return Status::Ok();
}

}  // namespace tailsafe
