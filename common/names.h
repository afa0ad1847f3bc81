// Names that travel on the wire or become path components: agent ids, bolt names, cluster names.
// Valid names match [a-zA-Z0-9._-]{1,128} and are not "." or "..", so a name can never climb
// out of the directory it is joined under.
#pragma once

#include <string_view>

#include "common/status.h"

namespace tailsafe {

constexpr size_t kMaxNameLength = 128;

bool IsValidName(std::string_view name);
// Ok, or "<what> 'name' is invalid: ..." explaining the rule.
Status CheckName(std::string_view what, std::string_view name);

}  // namespace tailsafe
