// The functions whose calls keep a SELECT on the primary: they change data or session state,
// or answer only on a primary (nextval, advisory locks, set_config, pg_current_wal_lsn, ...).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plexi::routing {

// The built-in list (see volatile_functions.cc for why each is there). Entries are a name,
// `schema.name`, or a prefix ending in `*` (`pg_advisory_*`).
std::span<const std::string_view> default_volatile_functions();

// Whether `entry` is a valid list entry: an identifier, optionally schema-qualified, with an
// optional trailing `*`.
bool valid_function_pattern(std::string_view entry);

class VolatileFunctions {
 public:
  // The defaults plus `extra` (a cluster's volatile_functions:); invalid entries are skipped.
  explicit VolatileFunctions(const std::vector<std::string>& extra = {});

  // Whether a call of `schema.name` (schema empty when not written) matches an entry, in
  // any case. An entry without a schema matches every schema (pg_catalog.nextval too).
  bool matches(std::string_view schema, std::string_view name) const;

 private:
  struct Pattern {
    std::string schema;  // lower case; empty: any
    std::string name;    // lower case; for a prefix, without the '*'
  };
  void add(std::string_view entry);

  std::vector<Pattern> exact_;  // sorted by name
  std::vector<Pattern> prefixes_;
};

}  // namespace plexi::routing
