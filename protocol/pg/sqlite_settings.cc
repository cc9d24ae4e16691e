// Session parameters of an embedded-database client: defaults, SET validation, RESET,
// SHOW, transactional undo and the ParameterStatus reports PostgreSQL clients rely on.
#include "protocol/pg/sqlite_settings.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "protocol/pg/encoder.h"
#include "protocol/pg/sqlite_commands.h"

namespace plexi::pg {
namespace {

struct Known {
  std::string_view name;     // lower-cased, the key
  std::string_view display;  // as PostgreSQL spells it
  bool reported;             // sent with ParameterStatus (GUC_REPORT)
  bool read_only;            // SET is refused
};

// Reported parameters are those PostgreSQL 15 reports; the others are what drivers and
// tools commonly SHOW.
constexpr std::array kKnown = {
    Known{"application_name", "application_name", true, false},
    Known{"client_encoding", "client_encoding", true, false},
    Known{"datestyle", "DateStyle", true, false},
    Known{"default_transaction_read_only", "default_transaction_read_only", true, false},
    Known{"in_hot_standby", "in_hot_standby", true, true},
    Known{"integer_datetimes", "integer_datetimes", true, true},
    Known{"intervalstyle", "IntervalStyle", true, false},
    Known{"is_superuser", "is_superuser", true, true},
    Known{"server_encoding", "server_encoding", true, true},
    Known{"server_version", "server_version", true, true},
    Known{"session_authorization", "session_authorization", true, true},
    Known{"standard_conforming_strings", "standard_conforming_strings", true, false},
    Known{"timezone", "TimeZone", true, false},
    Known{"bytea_output", "bytea_output", false, false},
    Known{"default_transaction_isolation", "default_transaction_isolation", false, false},
    Known{"extra_float_digits", "extra_float_digits", false, false},
    Known{"lc_collate", "lc_collate", false, true},
    Known{"lc_ctype", "lc_ctype", false, true},
    Known{"lock_timeout", "lock_timeout", false, false},
    Known{"max_identifier_length", "max_identifier_length", false, true},
    Known{"search_path", "search_path", false, false},
    Known{"server_version_num", "server_version_num", false, true},
    Known{"statement_timeout", "statement_timeout", false, false},
    Known{"transaction_isolation", "transaction_isolation", false, false},
    Known{"transaction_read_only", "transaction_read_only", false, false},
};

const Known* known(std::string_view name) {
  for (const auto& k : kKnown) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The encodings the front can serve: its bytes are UTF-8, which SQL_ASCII passes through.
std::optional<std::string> client_encoding(std::string_view value) {
  std::string canonical;
  for (char c : value) {
    if (c != '-' && c != '_')
      canonical += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (canonical == "UTF8" || canonical == "UNICODE") return "UTF8";
  if (canonical == "SQLASCII") return "SQL_ASCII";
  return std::nullopt;
}

bool truthy(std::string_view value) {
  std::string v = lower(value);
  return v == "on" || v == "true" || v == "yes" || v == "1" || v == "t";
}

}  // namespace

SessionSettings::SessionSettings(std::string_view user,
                                 const std::vector<std::pair<std::string, std::string>>& startup) {
  values_ = {
      {"application_name", ""},
      {"bytea_output", "hex"},
      {"client_encoding", "UTF8"},
      {"datestyle", "ISO, MDY"},
      {"default_transaction_isolation", "serializable"},
      {"default_transaction_read_only", "off"},
      {"extra_float_digits", "1"},
      {"in_hot_standby", "off"},
      {"integer_datetimes", "on"},
      {"intervalstyle", "postgres"},
      {"is_superuser", "off"},
      {"lc_collate", "C"},
      {"lc_ctype", "C"},
      {"lock_timeout", "0"},
      {"max_identifier_length", "63"},
      {"search_path", "\"$user\", public"},
      {"server_encoding", "UTF8"},
      {"server_version", "15.0"},
      {"server_version_num", "150000"},
      {"session_authorization", std::string(user)},
      {"standard_conforming_strings", "on"},
      {"statement_timeout", "0"},
      {"timezone", "UTC"},
      // SQLite transactions are serializable: one writer at a time, snapshot reads.
      {"transaction_isolation", "serializable"},
      {"transaction_read_only", "off"},
  };
  for (const auto& [name, value] : startup) {
    // Startup values the front cannot honour are dropped rather than refused, so that a
    // client whose locale asks for another encoding still connects (and is told UTF8).
    (void)set(name, value);
  }
  initial_ = values_;
}

std::optional<SessionSettings::Failure> SessionSettings::set(std::string_view name_in,
                                                             std::string_view value) {
  std::string name = lower(name_in);
  const Known* k = known(name);
  if (k && k->read_only) {
    return Failure{"55P02", "parameter \"" + std::string(k->display) + "\" cannot be changed"};
  }
  std::string stored(value);
  if (name == "client_encoding") {
    auto encoding = client_encoding(value);
    if (!encoding) {
      return Failure{"0A000", "client_encoding \"" + std::string(value) +
                                  "\" is not supported by the embedded SQLite database, which "
                                  "serves UTF8 only"};
    }
    stored = *encoding;
  } else if (name == "datestyle") {
    auto style = normalize_datestyle(value, values_["datestyle"]);
    if (!style) {
      return Failure{"22023",
                     "invalid value for parameter \"DateStyle\": \"" + std::string(value) + "\""};
    }
    stored = *style;
  } else if (name == "standard_conforming_strings") {
    // SQLite reads backslashes in literals as plain characters, which is what "on" means.
    if (!truthy(value)) {
      return Failure{"0A000",
                     "standard_conforming_strings cannot be turned off on the embedded SQLite "
                     "database"};
    }
    stored = "on";
  } else if (name == "timezone" && lower(value) == "utc") {
    stored = "UTC";
  }
  values_[name] = stored;
  return std::nullopt;
}

void SessionSettings::reset(std::string_view name_in) {
  std::string name = lower(name_in);
  auto it = initial_.find(name);
  if (it != initial_.end()) {
    values_[name] = it->second;
  } else {
    values_.erase(name);
  }
}

void SessionSettings::reset_all() { values_ = initial_; }

const std::string* SessionSettings::find(std::string_view name) const {
  auto it = values_.find(lower(name));
  return it == values_.end() ? nullptr : &it->second;
}

std::string SessionSettings::display_name(std::string_view name) const {
  std::string key = lower(name);
  const Known* k = known(key);
  return k ? std::string(k->display) : key;
}

std::vector<std::pair<std::string, std::string>> SessionSettings::all() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : values_) out.emplace_back(display_name(name), value);
  return out;
}

void SessionSettings::report_changes(ByteVector& out) {
  for (const auto& k : kKnown) {
    if (!k.reported) continue;
    auto value = values_.find(k.name);
    if (value == values_.end()) continue;
    auto seen = reported_.find(k.name);
    if (seen != reported_.end() && seen->second == value->second) continue;
    encode_parameter_status(out, k.display, value->second);
    reported_[std::string(k.name)] = value->second;
  }
}

void SessionSettings::begin_transaction() { before_transaction_ = values_; }

void SessionSettings::commit_transaction() { before_transaction_.reset(); }

void SessionSettings::rollback_transaction() {
  if (before_transaction_) values_ = std::move(*before_transaction_);
  before_transaction_.reset();
}

}  // namespace plexi::pg
