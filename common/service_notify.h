// ServiceNotifier: tells systemd how a daemon under Type=notify is doing (sd_notify(3)).
//
//   READY=1      after start-up, and again after a reload
//   RELOADING=1  while a SIGHUP reload is applied
//   STOPPING=1   when shutdown begins
//   STATUS=...   one line systemctl status shows
//   WATCHDOG=1   from a timer on the daemon's own event loop at half of WatchdogSec=, so a loop
//                that stops turning stops the pings and systemd restarts the daemon
//
// Without NOTIFY_SOCKET in the environment (not started by systemd) every call does nothing. The
// watchdog timer is unreferenced: it never keeps the loop alive on its own.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/uv_handle.h"

namespace tailsafe {

class ServiceNotifier {
 public:
  explicit ServiceNotifier(uv_loop_t* loop);
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  void Ready(std::string_view status);
  void Reloading(std::string_view status);
  void Stopping(std::string_view status);
  void Status(std::string_view status);
  // The watchdog interval systemd asked for (0: none).
  uint64_t watchdog_usec() const { return watchdog_usec_; }

 private:
  void Send(const std::string& state);
  UvPtr<uv_timer_t> watchdog_;
  uint64_t watchdog_usec_ = 0;
  bool warned_ = false;
};

// STATUS= text is one line: control characters become spaces.
std::string StatusLine(std::string_view text);

}  // namespace tailsafe
