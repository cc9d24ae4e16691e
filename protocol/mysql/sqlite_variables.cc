// MySQL 8.0's system variables as the embedded database reports them. The values describe
// SQLite honestly where a client could act on them: serializable transactions, table names
// compared without case (lower_case_table_names = 2), no backslash escapes in strings.
#include "protocol/mysql/sqlite_variables.h"

#include <cctype>
#include <charconv>
#include <cstdint>

namespace plexi::mysql::embedded {
namespace {

using Kind = SystemVariables::Kind;

struct Default {
  std::string_view name;
  std::string_view value;
  Kind kind;
};

constexpr Default kDefaults[] = {
    {"auto_increment_increment", "1", Kind::kInteger},
    {"auto_increment_offset", "1", Kind::kInteger},
    {"autocommit", "1", Kind::kBoolean},
    {"character_set_client", "utf8mb4", Kind::kText},
    {"character_set_connection", "utf8mb4", Kind::kText},
    {"character_set_database", "utf8mb4", Kind::kText},
    {"character_set_results", "utf8mb4", Kind::kText},
    {"character_set_server", "utf8mb4", Kind::kText},
    {"character_set_system", "utf8mb3", Kind::kText},
    {"collation_connection", "utf8mb4_general_ci", Kind::kText},
    {"collation_database", "utf8mb4_general_ci", Kind::kText},
    {"collation_server", "utf8mb4_general_ci", Kind::kText},
    {"default_storage_engine", "SQLite", Kind::kText},
    {"error_count", "0", Kind::kInteger},
    {"foreign_key_checks", "1", Kind::kBoolean},
    {"init_connect", "", Kind::kText},
    {"innodb_lock_wait_timeout", "10", Kind::kInteger},  // the executor's busy timeout
    {"innodb_read_only", "0", Kind::kBoolean},
    {"interactive_timeout", "28800", Kind::kInteger},
    {"lower_case_table_names", "2", Kind::kInteger},
    {"max_allowed_packet", "67108864", Kind::kInteger},
    {"max_connections", "151", Kind::kInteger},
    {"net_buffer_length", "16384", Kind::kInteger},
    {"net_read_timeout", "30", Kind::kInteger},
    {"net_write_timeout", "60", Kind::kInteger},
    {"performance_schema", "0", Kind::kBoolean},
    {"protocol_version", "10", Kind::kInteger},
    {"query_cache_size", "0", Kind::kInteger},
    {"read_only", "0", Kind::kBoolean},
    {"server_id", "1", Kind::kInteger},
    {"sql_mode", "NO_BACKSLASH_ESCAPES", Kind::kText},
    {"sql_select_limit", "18446744073709551615", Kind::kInteger},
    {"super_read_only", "0", Kind::kBoolean},
    {"system_time_zone", "UTC", Kind::kText},
    {"time_zone", "SYSTEM", Kind::kText},
    {"transaction_isolation", "SERIALIZABLE", Kind::kText},
    {"transaction_read_only", "0", Kind::kBoolean},
    {"unique_checks", "1", Kind::kBoolean},
    {"version", "", Kind::kText},
    {"version_comment", "", Kind::kText},
    {"version_compile_machine", "x86_64", Kind::kText},
    {"version_compile_os", "Linux", Kind::kText},
    {"wait_timeout", "28800", Kind::kInteger},
    {"warning_count", "0", Kind::kInteger},
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool is_integer(std::string_view text) {
  if (!text.empty() && text.front() == '-') text.remove_prefix(1);
  if (text.empty()) return false;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::optional<bool> parse_boolean(std::string_view value) {
  for (std::string_view yes : {"1", "ON", "TRUE"}) {
    if (equal_ignoring_case(value, yes)) return true;
  }
  for (std::string_view no : {"0", "OFF", "FALSE"}) {
    if (equal_ignoring_case(value, no)) return false;
  }
  return std::nullopt;
}

SystemVariables::SystemVariables(std::string version, std::string version_comment,
                                 std::size_t max_allowed_packet) {
  for (const auto& entry : kDefaults) {
    defaults_[std::string(entry.name)] = Value{std::string(entry.value), entry.kind};
  }
  defaults_["version"].text = std::move(version);
  defaults_["version_comment"].text = std::move(version_comment);
  defaults_["max_allowed_packet"].text = std::to_string(max_allowed_packet);
}

std::string_view SystemVariables::canonical(std::string_view name) const {
  if (name == "tx_isolation") return "transaction_isolation";
  if (name == "tx_read_only") return "transaction_read_only";
  return name;
}

std::optional<SystemVariables::Value> SystemVariables::find(std::string_view name) const {
  name = canonical(name);
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  if (auto it = defaults_.find(name); it != defaults_.end()) return it->second;
  return std::nullopt;
}

std::optional<SystemVariables::Failure> SystemVariables::set(std::string_view name,
                                                             std::string_view value) {
  name = canonical(name);
  auto known = defaults_.find(name);
  Kind kind = known == defaults_.end() ? Kind::kText : known->second.kind;
  std::string text(value);
  if (kind == Kind::kBoolean) {
    auto flag = parse_boolean(value);
    if (!flag) {
      return Failure{
          1231, "42000",
          "Variable '" + std::string(name) + "' can't be set to the value of '" + text + "'"};
    }
    text = *flag ? "1" : "0";
  } else if (kind == Kind::kInteger && !is_integer(value)) {
    return Failure{1232, "42000",
                   "Incorrect argument type to variable '" + std::string(name) + "'"};
  }
  values_[std::string(name)] = Value{std::move(text), kind};
  return std::nullopt;
}

void SystemVariables::reset(std::string_view name) {
  auto it = values_.find(canonical(name));
  if (it != values_.end()) values_.erase(it);
}

void SystemVariables::reset_all() { values_.clear(); }

std::vector<std::pair<std::string, std::string>> SystemVariables::all() const {
  std::map<std::string, Value, std::less<>> merged = defaults_;
  for (const auto& [name, value] : values_) merged[name] = value;
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merged.size());
  for (const auto& [name, value] : merged) {
    std::string shown = value.text;
    if (value.kind == Kind::kBoolean) shown = value.text == "1" ? "ON" : "OFF";
    out.emplace_back(name, std::move(shown));
  }
  return out;
}

}  // namespace plexi::mysql::embedded
