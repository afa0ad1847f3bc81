#include "common/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstring>

#include "common/log.h"

namespace tailsafe {

std::string StatusLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

ServiceNotifier::ServiceNotifier(uv_loop_t* loop) {
  uint64_t usec = 0;
  // 0 keeps WATCHDOG_USEC/WATCHDOG_PID in the environment; hooks get a minimal one anyway.
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  auto timer = MakeUv<uv_timer_t>(uv_timer_init, loop);
  if (!timer) {
    LOG_WARN("systemd watchdog requested but no timer: %s", timer.status().message().c_str());
    return;
  }
  watchdog_ = std::move(timer.value());
  watchdog_usec_ = usec;
  watchdog_->data = this;
  uint64_t every_ms = usec / 2000;
  if (every_ms == 0) every_ms = 1;
  uv_timer_start(watchdog_.get(), [](uv_timer_t* h) {
    if (auto* self = static_cast<ServiceNotifier*>(h->data)) self->Send("WATCHDOG=1");
  }, every_ms, every_ms);
  uv_unref(watchdog_.handle());
  LOG_INFO("systemd watchdog: pinging every %llu ms", static_cast<unsigned long long>(every_ms));
}

void ServiceNotifier::Send(const std::string& state) {
  int rc = sd_notify(0, state.c_str());
  if (rc < 0 && !warned_) {  // not fatal, and said once: a watchdog ping fails every few seconds
    warned_ = true;
    LOG_WARN("cannot notify systemd (%s): %s", state.substr(0, state.find('\n')).c_str(), std::strerror(-rc));
  }
}

void ServiceNotifier::Ready(std::string_view status) { Send("READY=1\nSTATUS=" + StatusLine(status)); }
void ServiceNotifier::Reloading(std::string_view status) { Send("RELOADING=1\nSTATUS=" + StatusLine(status)); }
void ServiceNotifier::Stopping(std::string_view status) { Send("STOPPING=1\nSTATUS=" + StatusLine(status)); }
void ServiceNotifier::Status(std::string_view status) { Send("STATUS=" + StatusLine(status)); }

}  // namespace tailsafe
