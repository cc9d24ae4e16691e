// What the parts of the Redis command table share: the names COMMAND uses for flags, ACL
// categories and tips, and ASCII case folding for command names and keywords.
#pragma once

#include <cstdint>
#include <string_view>

#include "routing/redis_commands.h"

namespace plexi::routing::redis_names {

// The bit of a name as COMMAND spells it ("denyoom", "RW", "@read" or "read"); 0 for a name
// these tables do not know, which a newer server may send.
std::uint32_t command_flag(std::string_view name);
std::uint32_t key_flag(std::string_view name);
std::uint32_t acl_category(std::string_view name);

// Applies one tip ("request_policy:all_shards", "response_policy:agg_sum"); others are
// ignored.
void apply_tip(std::string_view tip, CommandInfo& command);

KeySpec::Begin begin_search(std::string_view type);  // "index", "keyword"; else kUnknown
KeySpec::Find find_keys(std::string_view type);      // "range", "keynum"; else kUnknown

constexpr char fold(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// `text` equals `word` ignoring ASCII case.
constexpr bool equals_folded(std::string_view text, std::string_view word) {
  if (text.size() != word.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (fold(text[i]) != fold(word[i])) return false;
  }
  return true;
}

}  // namespace plexi::routing::redis_names
