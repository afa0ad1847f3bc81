// UvPtr<T>: owner of a libuv handle that lives on the heap.
//
// libuv forbids freeing (or moving) a handle before its close callback has run. UvPtr holds an
// initialized handle; its destructor calls uv_close and the close callback frees the memory, so
// the handle outlives its owner exactly as long as libuv needs. Pending write and connect
// requests on a closed stream complete with UV_ECANCELED: their callbacks must not touch the
// (destroyed) owner in that case.
#pragma once

#include <uv.h>

#include <utility>

#include "common/status.h"

namespace tailsafe {

template <typename T>
class UvPtr {
 public:
  UvPtr() = default;
  // Takes ownership of `handle`, which must have been initialized with uv_*_init.
  explicit UvPtr(T* handle) : h_(handle) {}
  ~UvPtr() { Reset(); }
  UvPtr(UvPtr&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UvPtr& operator=(UvPtr&& o) noexcept {
    if (this != &o) {
      Reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  UvPtr(const UvPtr&) = delete;
  UvPtr& operator=(const UvPtr&) = delete;

  T* get() const { return h_; }
  T* operator->() const { return h_; }
  explicit operator bool() const { return h_ != nullptr; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(h_); }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(h_); }

  void Reset() {
    if (h_ == nullptr) return;
    T* h = std::exchange(h_, nullptr);
    h->data = nullptr;  // callbacks still queued see no owner
    uv_close(reinterpret_cast<uv_handle_t*>(h),
             [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
  }

 private:
  T* h_ = nullptr;
};

// uv_alloc_cb for reads into a fresh heap buffer; the read callback must `delete[] buf->base`.
inline void AllocReadBuffer(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = new char[suggested];
  buf->len = suggested;
}

// Allocates and initializes a handle: MakeUv<uv_timer_t>(uv_timer_init, loop).
template <typename T, typename Init, typename... Args>
Result<UvPtr<T>> MakeUv(Init init, uv_loop_t* loop, Args&&... args) {
  T* h = new T{};
  int rc = init(loop, h, std::forward<Args>(args)...);
  if (rc != 0) {
    delete h;
    return UvStatus("uv handle init", rc);
  }
  return UvPtr<T>(h);
}

}  // namespace tailsafe
