// The rows scripts/redis_command_table.py writes into redis_commands_data.cc: one Redis
// server's COMMAND reply with every name kept as Redis spells it, so that
// CommandTable::builtin() reads them with the lookups it uses for a live reply.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace plexi::routing::builtin_commands {

struct SpecRow {
  std::string_view flags;  // "RW access update"
  std::string_view begin;  // "index", "keyword" or "unknown"
  int begin_value;         // index: the position; keyword: startfrom
  std::string_view keyword;
  std::string_view find;  // "range", "keynum" or "unknown"
  // range: lastkey, keystep, limit; keynum: keynumidx, firstkey, keystep.
  int find_values[3];
};

struct CommandRow {
  std::string_view name;  // a subcommand as "container|sub"
  int arity;
  std::string_view flags;  // "write denyoom"
  int first_key, last_key, step;
  std::string_view acl_categories;  // "@write @string @slow"
  std::string_view tips;            // "request_policy:multi_shard response_policy:agg_sum"
  std::uint16_t spec_begin;         // into kSpecs
  std::uint16_t spec_count;
  std::uint16_t subcommands;  // the rows right after this one
};

extern const std::span<const SpecRow> kSpecs;
extern const std::span<const CommandRow> kCommands;  // top-level commands by name
extern const std::string_view kServerVersion;

}  // namespace plexi::routing::builtin_commands
