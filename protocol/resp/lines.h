// What the RESP request parser, reply scanner and reply reader share: Redis' integer syntax,
// CRLF-terminated lines, and the header of a reply value checked against the limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/resp/resp.h"

namespace plexi::resp::detail {

// A decimal integer as Redis' string2ll reads it: an optional '-', then "0" or digits that do
// not start with 0, within int64. No '+', no spaces, no "-0".
std::optional<std::int64_t> parse_integer(std::string_view text);

enum class Step { kOk, kNeedMore, kError };

struct Line {
  Step step = Step::kNeedMore;
  std::string_view text;  // kOk: the bytes before CRLF
  std::size_t next = 0;   // kOk: the position after LF
};

// The line that starts at `start` and ends with CRLF. An error as soon as the bytes present
// show that it is longer than `max_length`, or that its first CR is not followed by LF.
Line read_line(std::string_view buffer, std::size_t start, std::size_t max_length);

// The longest integer line: "-9223372036854775808".
inline constexpr std::size_t kMaxNumberLine = 20;

// A header's length for `$?`, `*?`, `%?` and `~?`.
inline constexpr std::int64_t kStreamed = -2;

// The header line of one reply value: the type byte, then the line, checked for its type.
// Errors are static texts: the scanner reads a header per value and allocates nothing.
struct Header {
  Step step = Step::kNeedMore;
  char type = 0;
  std::string_view text;  // kOk: the line after the type byte
  // kOk, for blob strings and aggregates (and a streamed string's `;` chunks): bytes, or
  // elements (pairs for maps and attributes); -1 for a RESP2 null; kStreamed.
  std::int64_t length = 0;
  std::size_t next = 0;    // kOk: where the value's body (or the next value) starts
  const char* error = "";  // kError: what is wrong
};

// Reads the header at `pos` (which must be inside `buffer`). Type bytes that only mean
// something in context ('.' ending a streamed aggregate, ';' a streamed string's chunk) are
// read like the others; the caller checks that they are in their place.
Header read_header(std::string_view buffer, std::size_t pos, const Limits& limits);

// True for the type bytes of aggregates (elements follow the header).
inline bool is_aggregate_type(char type) {
  return type == '*' || type == '%' || type == '~' || type == '|' || type == '>';
}

// The body of a blob string, blob error or verbatim string whose header `header` was read.
struct Blob {
  Step step = Step::kNeedMore;
  std::string_view body;   // kOk: the bytes between the header and the closing CRLF
  std::size_t next = 0;    // kOk: after the closing CRLF; kNeedMore: where it will be
  const char* error = "";  // kError: what is wrong
};
Blob read_blob(std::string_view buffer, const Header& header);

// `a + b`, or SIZE_MAX when that overflows: for lower bounds of what a reply still needs.
inline std::size_t saturating_add(std::size_t a, std::size_t b) {
  return a + b < a ? static_cast<std::size_t>(-1) : a + b;
}

}  // namespace plexi::resp::detail
