// Status and Result<T>: how fallible functions report failure without exceptions.
//
// Event-loop code never throws; a function that can fail returns a Status (or a Result<T>
// holding either a value or a Status) whose message names the file, peer or field at fault.
// Errors from errno and libuv are converted once, at the boundary, with ErrnoStatus/UvStatus.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace tailsafe {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  explicit operator bool() const { return ok(); }
  const std::string& message() const {
    static const std::string kOk = "ok";
    return message_ ? *message_ : kOk;
  }
  // Prefixes the message with context ("replica host-b/bolt-1: " + message).
  Status Context(const std::string& prefix) const {
    return ok() ? *this : Status(prefix + ": " + *message_);
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// "what: strerror(err)"; err defaults to errno.
Status ErrnoStatus(const std::string& what, int err = -1);
// "what: uv_strerror(code)" for a negative libuv return code.
Status UvStatus(const std::string& what, int code);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(value()); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace tailsafe
