// LockDataDir: makes sure one process at a time uses a data directory. Two agents on one
// data_dir would corrupt each other's replicas and state, so the directory is created if need
// be (mode 0750), `DIR/NAME.lock` is opened and locked (flock, exclusive, without waiting), and
// the holder's pid is written into it, so that the error a second process gets names the first.
// The lock lasts as long as the returned descriptor is open.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace tailsafe {

// `program` names the holder in the error ("another tailsafe-agent (pid 123) is using ...").
Result<Fd> LockDataDir(const std::string& dir, const std::string& name, const std::string& program);

}  // namespace tailsafe
