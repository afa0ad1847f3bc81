// Names that travel on the wire or become path components: agent ids, bolt names, cluster names.
// Valid names match [a-zA-Z0-9._-]{1,128} and are not "." or "..", so a name can never climb
// out of the directory it is joined under.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tailsafe {

constexpr size_t kMaxNameLength = 128;

bool IsValidName(std::string_view name);
// `text` made safe for logs and JSON: printable ASCII kept, every other byte shown as '?',
// cut to `max` bytes. For anything a peer sent.
std::string Printable(std::string_view text, size_t max = 200);
// `text` without leading and trailing spaces, tabs, CRs and LFs.
std::string_view TrimSpace(std::string_view text);
// Ok, or "<what> 'name' is invalid: ..." explaining the rule.
Status CheckName(std::string_view what, std::string_view name);

}  // namespace tailsafe
