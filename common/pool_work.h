// QueueWork: runs a blocking job on libuv's thread pool and its completion back on the loop.
// Whatever could stall the loop (a large hash, a copy, an fsync) goes through here.
//
// `work` runs on a worker thread and must touch only what it owns (copies, shared_ptrs it holds);
// `done` runs on the loop afterwards, unless `alive` has expired by then (its owner is gone).
// A job cannot be cancelled once queued: its captures live until `done` would have run, and the
// loop stays alive until then.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "common/status.h"

namespace tailsafe {

Status QueueWork(uv_loop_t* loop, std::weak_ptr<void> alive, std::function<void()> work, std::function<void()> done);

}  // namespace tailsafe
