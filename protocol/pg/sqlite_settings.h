// The session parameters of a client of the embedded SQLite database: what SET, RESET and
// SHOW see, which of them PostgreSQL reports with ParameterStatus, and their transactional
// undo. SQLite has no such parameters, so the front keeps them itself.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"

namespace plexi::pg {

class SessionSettings {
 public:
  struct Failure {
    std::string sqlstate;
    std::string message;
  };

  // Defaults as a PostgreSQL 15 server in UTF8 and UTC would have them, then the client's
  // startup parameters. A startup value that cannot be honoured (a client_encoding other
  // than UTF8 or SQL_ASCII) is ignored: the client follows what ParameterStatus reports.
  SessionSettings(std::string_view user,
                  const std::vector<std::pair<std::string, std::string>>& startup);

  // SET name TO value, with PostgreSQL's checks for the parameters that have meaning here.
  [[nodiscard]] std::optional<Failure> set(std::string_view name, std::string_view value);
  // RESET name: back to the value the session started with.
  void reset(std::string_view name);
  void reset_all();

  // The value SHOW prints, or nullptr for an unknown parameter.
  const std::string* find(std::string_view name) const;
  // The name PostgreSQL shows for a parameter ("DateStyle" for datestyle).
  std::string display_name(std::string_view name) const;
  // Every parameter (display name, value), sorted by name, for SHOW ALL.
  std::vector<std::pair<std::string, std::string>> all() const;

  // Appends a ParameterStatus for every reported parameter whose value the client has not
  // seen yet; PostgreSQL reports them just before ReadyForQuery.
  void report_changes(ByteVector& out);

  // SET inside a transaction that is rolled back is undone, as in PostgreSQL.
  void begin_transaction();
  void commit_transaction();
  void rollback_transaction();

 private:
  std::map<std::string, std::string, std::less<>> values_;    // lower-cased name → value
  std::map<std::string, std::string, std::less<>> initial_;   // what RESET returns to
  std::map<std::string, std::string, std::less<>> reported_;  // last value sent to the client
  std::optional<std::map<std::string, std::string, std::less<>>> before_transaction_;
};

}  // namespace plexi::pg
