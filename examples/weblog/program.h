// What the weblog programs share as programs: messages on stderr, and SIGTERM/SIGINT as a
// readable descriptor for their poll loops.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include <cstdarg>
#include <cstdio>

#include "common/fd.h"

namespace weblog {

// "PREFIX: message\n" on stderr.
inline void Logf(const char* prefix, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline void Logf(const char* prefix, const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", prefix, buf);
}

// Blocks SIGTERM and SIGINT and returns a non-blocking signalfd that reports them; ignores
// SIGPIPE (a peer that went away is an error return, not a death).
inline tailsafe::Fd StopSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return tailsafe::Fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
}

}  // namespace weblog
