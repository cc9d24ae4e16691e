// The system variables a client of the embedded SQLite database sees: MySQL 8.0's defaults
// for the ones drivers and tools read on connect (@@version_comment, @@max_allowed_packet,
// @@sql_mode, @@transaction_isolation, ...), changed per session by SET. SQLite has no such
// variables, so the front keeps them; most have no effect beyond being shown back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexi::mysql::embedded {

class SystemVariables {
 public:
  enum class Kind {
    kText,
    kInteger,
    kBoolean,  // SELECT shows 1 or 0, SHOW VARIABLES shows ON or OFF
  };
  struct Value {
    std::string text;  // booleans as "1" or "0"
    Kind kind = Kind::kText;
  };
  struct Failure {
    std::uint16_t code = 0;
    std::string sqlstate;
    std::string message;
  };

  // MySQL 8.0's defaults, with what only the session knows filled in: the version the
  // greeting announced, the version comment (which names SQLite and its version) and the
  // largest packet it accepts.
  SystemVariables(std::string version, std::string version_comment, std::size_t max_allowed_packet);

  // The session's value of a variable (lower-case name; tx_isolation and tx_read_only are
  // their 8.0 names' aliases), or nullopt for one MySQL would call unknown. A variable that
  // only a SET gave a value is known from then on.
  std::optional<Value> find(std::string_view name) const;
  // SET name = value. Booleans take 1/0/ON/OFF/TRUE/FALSE and integers a number; other
  // variables take any value, including names this table does not know (tools set many).
  [[nodiscard]] std::optional<Failure> set(std::string_view name, std::string_view value);
  // SET name = DEFAULT.
  void reset(std::string_view name);
  void reset_all();

  // Every variable with its value as SHOW VARIABLES prints it, sorted by name.
  std::vector<std::pair<std::string, std::string>> all() const;

 private:
  std::string_view canonical(std::string_view name) const;

  std::map<std::string, Value, std::less<>> defaults_;
  std::map<std::string, Value, std::less<>> values_;
};

// A boolean SET value: 1/ON/TRUE or 0/OFF/FALSE in any case; nullopt otherwise.
std::optional<bool> parse_boolean(std::string_view value);

}  // namespace plexi::mysql::embedded
