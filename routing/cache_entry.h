// What the result cache keeps and under which key (see routing/result_cache.h): which
// statements may be cached, the key hashed from what decides an answer, the generation
// keys of tables, and the entry holding an answer with the generations it was stored under.
// Pure functions, without I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "config/config.h"
#include "routing/hint.h"
#include "routing/statement_rules.h"

namespace plexi::routing {

// The cache_ttl a statement's hint asks for: nullopt without one; zero for cache_ttl=0 or
// cache_ttl=off, which keeps the statement out of the cache whatever the rules say. A value
// that is not a duration counts as absent.
std::optional<config::Duration> hinted_cache_ttl(const Hint& hint);

// The generation keys of the tables a statement's hint says it writes besides those the proxy
// can name, for writes done by a function or a trigger: `invalidate=orders|order_lines`, or
// `invalidate=*` for every entry of `cluster`. Raised like its own writes' when its
// transaction is over; such a statement is never answered from the cache. Empty without
// such a hint.
std::vector<std::string> hinted_invalidations(std::string_view cluster, const Hint& hint);

// A statement whose answer may be cached: every statement of it a read (no locking clause,
// no volatile function, no SELECT INTO), no transaction control, no proxy setting.
bool cacheable(const Analysis& analysis);

// The part of a statement's text that keys its entry: without the leading comments (the
// hint, so that two TTLs share an entry), surrounding space and trailing semicolons.
std::string_view cache_text(std::string_view sql);

// Session settings that cannot change what a read returns (application_name, timeouts,
// logging), left out of the key so that they do not split entries.
bool setting_changes_results(std::string_view name);

// Builds an entry's key from its fields, each length-prefixed so that no two field lists
// give the same bytes: "plexiproxy:result:" and 32 hexadecimal digits (SHA-256, cut).
class CacheKey {
 public:
  CacheKey(std::string_view cluster, std::string_view user, std::string_view database);
  CacheKey& add(std::string_view field);
  CacheKey& add(Bytes field);
  std::string finish() const;

 private:
  std::string fields_;
};

// The generation counter of a table: "plexiproxy:gen:<cluster>:<table>", the table's name
// without its schema (so "public.t" and "t" are one table; a same-named table in another
// schema is invalidated with it, which costs hits, never correctness) and in lower case.
std::string generation_key(std::string_view cluster, std::string_view table);
// The generation every entry of `cluster` depends on besides its tables': raised by writes
// whose tables the proxy cannot name (MySQL's CALL, DROP DATABASE, a stored program
// replaced, ...) and by INVALIDATE CACHE without tables. It cannot be a table's key: those
// have a ':' and the table's name after the cluster's.
std::string cluster_generation_key(std::string_view cluster);
// The generation keys of `tables` (sorted, without repeats).
std::vector<std::string> generation_keys(std::string_view cluster,
                                         const std::vector<std::string>& tables);

// An entry's value: "PXC1", a 16-bit count of generations, each as a signed 64-bit number
// (big endian), then the answer's bytes.
std::string encode_entry(std::span<const std::int64_t> generations, Bytes answer);
// The answer of `entry` when it was stored under `current` generations; nullopt when it
// was not, or `entry` is not an entry.
std::optional<Bytes> entry_answer(std::string_view entry, std::span<const std::int64_t> current);

}  // namespace plexi::routing
