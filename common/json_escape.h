// JSON string escaping for the log lines the daemon writes (component logs, the audit log):
// whatever bytes a message holds, the line stays one valid JSON value.
#pragma once

#include <string>
#include <string_view>

namespace plexi {

// Appends `text` to `out` as the inside of a JSON string (no surrounding quotes): `"` and `\`
// escaped, \n \r \t as themselves, other control characters (U+0000–U+001F, U+007F) as
// \u00XX, valid UTF-8 kept as it is, and each invalid UTF-8 sequence (a stray continuation
// byte, a truncated or overlong sequence, a surrogate, a code point past U+10FFFF) replaced
// by U+FFFD, one per maximal invalid subpart as Unicode recommends.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace plexi
