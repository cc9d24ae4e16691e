// The default list of volatile and side-effect functions, and matching calls against it.
#include "routing/volatile_functions.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace plexi::routing {
namespace {

// clang-format off
constexpr auto kDefaults = std::to_array<std::string_view>({
    // Sequences: advance or read this session's sequence state.
    "nextval", "setval", "currval", "lastval",
    // Advisory locks, session and transaction level, taking and releasing.
    "pg_advisory_*", "pg_try_advisory_*",
    // Transaction ids and snapshots: assign an id or answer for this session's transaction.
    "txid_current", "txid_current_if_assigned", "pg_current_xact_id",
    "pg_current_xact_id_if_assigned", "pg_export_snapshot",
    // Session settings and state.
    "set_config", "setseed",
    // Notifications, waiting.
    "pg_notify", "pg_sleep*",
    // Remote writes and connections held by the session.
    "dblink*",
    // Large objects: writes, and the descriptors lo_open hands to one session.
    "lo_creat", "lo_create", "lo_import", "lo_export", "lo_unlink", "lo_put", "lo_from_bytea",
    "lo_open", "lo_close", "lo_truncate", "lo_truncate64", "lo_lseek", "lo_lseek64", "lo_tell",
    "lo_tell64", "loread", "lowrite",
    // Write-ahead log positions: fail during recovery, so only a primary answers.
    "pg_current_wal_*", "pg_switch_wal", "pg_create_restore_point",
    // Server administration.
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
    "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_backup_start",
    "pg_backup_stop", "pg_start_backup", "pg_stop_backup", "pg_log_backend_memory_contexts",
    "pg_stat_reset*", "pg_stat_statements_reset", "pg_import_system_collations",
    // Replication slots and origins.
    "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
    "pg_drop_replication_slot", "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot", "pg_replication_slot_advance",
    "pg_logical_slot_get_changes", "pg_logical_slot_get_binary_changes",
    "pg_logical_emit_message", "pg_replication_origin_*",
    // Server files (adminpack).
    "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync",
});
// clang-format on

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lower(c);
  return out;
}

// Three-way comparison of `a` in any case against `b` in lower case.
int compare_lower(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char x = lower(a[i]);
    if (x != b[i]) return static_cast<unsigned char>(x) < static_cast<unsigned char>(b[i]) ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

bool identifier(std::string_view text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '$') {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
  });
}

}  // namespace

std::span<const std::string_view> default_volatile_functions() { return kDefaults; }

bool valid_function_pattern(std::string_view entry) {
  if (entry.ends_with('*')) entry.remove_suffix(1);
  const std::size_t dot = entry.find('.');
  if (dot == std::string_view::npos) return identifier(entry);
  return identifier(entry.substr(0, dot)) && identifier(entry.substr(dot + 1));
}

VolatileFunctions::VolatileFunctions(const std::vector<std::string>& extra) {
  for (std::string_view entry : kDefaults) add(entry);
  for (const std::string& entry : extra) {
    if (valid_function_pattern(entry)) add(entry);
  }
  std::sort(exact_.begin(), exact_.end(),
            [](const Pattern& a, const Pattern& b) { return a.name < b.name; });
}

void VolatileFunctions::add(std::string_view entry) {
  Pattern pattern;
  const bool prefix = entry.ends_with('*');
  if (prefix) entry.remove_suffix(1);
  if (const std::size_t dot = entry.find('.'); dot != std::string_view::npos) {
    pattern.schema = lowered(entry.substr(0, dot));
    entry.remove_prefix(dot + 1);
  }
  pattern.name = lowered(entry);
  (prefix ? prefixes_ : exact_).push_back(std::move(pattern));
}

bool VolatileFunctions::matches(std::string_view schema, std::string_view name) const {
  auto schema_fits = [schema](const Pattern& p) {
    return p.schema.empty() || compare_lower(schema, p.schema) == 0;
  };
  auto it = std::lower_bound(
      exact_.begin(), exact_.end(), name,
      [](const Pattern& p, std::string_view n) { return compare_lower(n, p.name) > 0; });
  for (; it != exact_.end() && compare_lower(name, it->name) == 0; ++it) {
    if (schema_fits(*it)) return true;
  }
  for (const Pattern& p : prefixes_) {
    if (name.size() >= p.name.size() && compare_lower(name.substr(0, p.name.size()), p.name) == 0 &&
        schema_fits(p)) {
      return true;
    }
  }
  return false;
}

}  // namespace plexi::routing
