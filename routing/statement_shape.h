// A statement's shape: its text with literals replaced by `?`, the key under which the
// classifier caches verdicts and the query digests count statements, plus the routing hint
// in its leading comment. One pass over the text; no exceptions on any input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "routing/hint.h"

namespace plexi::routing {

struct StatementShape {
  // Normalised text: string, number, bit-string and $n parameters as `?`; `IN (?, ?)`,
  // `VALUES (?, ?), (?, ?)` and `ARRAY[?, ?]` collapsed to `(...)` / `[...]`; comments
  // dropped; spacing fixed whatever the original's (`f(x)`, `t.c`, `x::int`, `a, b`,
  // `x = ?`); key words upper-cased and other unquoted words lower-cased; empty statements
  // and a trailing `;` dropped. Text the server could not read as a whole (an unterminated
  // string, quoted name or comment) is kept verbatim at the end. Shaping a shape gives it
  // back unchanged, so a shape can be written in a rule.
  std::string text;
  // shape_digest(text): stable across runs, builds and processes.
  std::uint64_t digest = 0;
  Hint hint;
};

// Shapes `sql`. Allocates only the shape's text.
StatementShape shape_statement(std::string_view sql);
// The same into `out`, reusing its text's capacity.
void shape_statement(std::string_view sql, StatementShape& out);

// A 64-bit hash of the shape text: its 8-byte little-endian blocks multiplied in, then mixed
// (see statement_shape.cc). The same on every host and in every run; the tests pin known
// values so that a change cannot go unnoticed.
std::uint64_t shape_digest(std::string_view shape);
// A digest as 16 lower-case hexadecimal digits, and back (any case; exactly 16 digits).
std::string format_digest(std::uint64_t digest);
std::optional<std::uint64_t> parse_digest(std::string_view text);

}  // namespace plexi::routing
