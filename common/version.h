// The version of tailsafe's programs (--version, the agents' registration, the status page).
// Kept equal to packaging/debian/changelog and packaging/rpm/tailsafe.spec.
#pragma once

namespace tailsafe {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace tailsafe
