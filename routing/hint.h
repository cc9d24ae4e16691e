// The routing hint a client puts in a statement's leading comment:
// `/* plexiproxy: role=analytics cache_ttl=30s */ SELECT ...`.
#pragma once

#include <optional>
#include <string_view>

#include "config/config.h"

namespace plexi::routing {

// Read from the comments before the statement's first token (`/* ... */`, or `-- ...` on its
// own line); the first whose text starts with "plexiproxy:" counts. Views point into the
// statement text.
struct Hint {
  // role=primary|replica|analytics (any case); absent when missing or any other value.
  std::optional<config::Role> role;
  // The comment's text after "plexiproxy:", trimmed: key=value pairs separated by spaces,
  // commas or semicolons. Empty when there is no hint.
  std::string_view pairs;

  bool present() const { return !pairs.empty(); }
  // The raw value of `key` (any case; the first occurrence): value("cache_ttl") == "30s";
  // an empty view for a key given without "=value"; nullopt when the key is absent.
  std::optional<std::string_view> value(std::string_view key) const;
};

// The hint of `sql`, if any. Never throws; unknown keys and values are kept or ignored.
Hint read_hint(std::string_view sql);

}  // namespace plexi::routing
