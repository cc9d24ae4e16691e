// The MySQL front of the embedded SQLite database, shared by its three files: the session
// loop and its commands (session_sqlite.cc), running statements and sending their results
// (session_sqlite_statements.cc), and what the front answers itself (SET, SHOW, SELECT
// @@variable, KILL: session_sqlite_answers.cc). Private to them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pools/sqlite/executor.h"
#include "protocol/mysql/packets.h"
#include "protocol/mysql/session.h"
#include "protocol/mysql/sqlite_commands.h"
#include "protocol/mysql/sqlite_ddl.h"
#include "protocol/mysql/sqlite_encoding.h"
#include "protocol/mysql/sqlite_variables.h"

namespace plexi::metrics {
struct StatementSeries;
}

namespace plexi::mysql {
namespace embedded {

// Rows read per trip to the database's thread pool, so large results stream in pieces.
inline constexpr std::size_t kBatchRows = 1000;
// Output goes out once it passes this size, before the result is complete.
inline constexpr std::size_t kFlushBytes = 64 * 1024;

Storage storage(sqlite::ValueKind kind);
Cell cell(const sqlite::Value& value);
// The class a declared type gives its column (kNone: decided by the values).
std::optional<ColumnClass> declared_class(sqlite::DeclaredType type);

// One statement as the front runs it: a statement of a COM_QUERY string for the time it
// runs, or a COM_STMT_PREPARE statement until COM_STMT_CLOSE.
struct Statement {
  FrontStatement command;
  std::string executor_name;  // the executor's statement, when SQLite runs it
  std::size_t parameters = 0;
  std::vector<sqlite::Column> columns;  // as prepared, for statements SQLite runs
  std::string verb;                     // SQLite's leading keyword: INSERT, SELECT, ...
  bool read_only = false;               // SQLite's verdict: the statement does not write
  bool commits = false;                 // DDL, which MySQL commits around
  bool table_must_exist = false;        // no rows mean the table `command.name` is missing

  // Prepared statements: the parameter types the last execution sent (later ones may
  // omit them), and COM_STMT_SEND_LONG_DATA's pieces by parameter.
  std::vector<std::pair<FieldType, bool>> types;
  std::vector<std::optional<std::string>> long_data;

  std::weak_ptr<sqlite::Connection> connection;

  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() {
    if (executor_name.empty()) return;
    if (auto c = connection.lock()) c->close_statement(executor_name);
  }
};

// A result set's columns as described to the client.
struct ResultColumns {
  std::vector<ColumnDefinition> definitions;
  std::vector<ColumnClass> classes;
  std::vector<FieldType> types;
  bool binary = false;  // rows in the binary protocol (COM_STMT_EXECUTE)

  void add(std::string_view name, ColumnClass type) {
    definitions.push_back(column_definition(name, type, binary));
    classes.push_back(type);
    types.push_back(definitions.back().type);
  }
};

// Rows the front computed itself.
struct Answer {
  std::vector<std::pair<std::string, ColumnClass>> columns;
  std::vector<std::vector<sqlite::Value>> rows;
};

}  // namespace embedded

// One client of the embedded database, from the OK after login to its last command.
class SqliteFront {
  using Answer = embedded::Answer;
  using FrontStatement = embedded::FrontStatement;
  using ResultColumns = embedded::ResultColumns;
  using Statement = embedded::Statement;

 public:
  explicit SqliteFront(Session& session);
  SqliteFront(const SqliteFront&) = delete;
  SqliteFront& operator=(const SqliteFront&) = delete;
  ~SqliteFront();

  awaitable<void> run();

 private:
  // --- the session and its commands (session_sqlite.cc) ---
  awaitable<bool> connect();
  void release_connection();
  awaitable<bool> handle(Bytes payload);
  awaitable<void> query(std::string_view sql);
  awaitable<void> prepare(std::string_view sql);
  awaitable<void> execute(Bytes payload);
  void send_long_data(Bytes payload);
  void reset_statement(Bytes payload);
  std::shared_ptr<Statement> find_statement(Bytes payload);
  awaitable<bool> forget_session_state();
  void set_option(Bytes payload);
  void statistics();

  // --- statements and results (session_sqlite_statements.cc) ---
  awaitable<bool> plan(Statement& statement, std::string_view text, std::string name,
                       std::size_t& length);
  awaitable<bool> run(Statement& statement, std::vector<sqlite::Value> parameters, bool binary,
                      bool more);
  awaitable<bool> run_sql(Statement& statement, std::vector<sqlite::Value> parameters, bool binary,
                          bool more);
  awaitable<bool> transaction(const FrontStatement& command, bool more);
  awaitable<bool> run_internal(const std::string& sql);
  awaitable<std::optional<std::vector<std::vector<sqlite::Value>>>> query_rows(
      const std::string& sql, std::vector<sqlite::Value> parameters);
  ResultColumns describe(const std::vector<sqlite::Column>& columns,
                         const std::vector<std::vector<sqlite::Value>>& rows, bool binary) const;
  void send_columns(const ResultColumns& columns, bool more);
  void send_row(const ResultColumns& columns, const std::vector<sqlite::Value>& row);
  void end_rows(bool more);
  void send_answer(const Answer& answer, bool binary, bool more);
  awaitable<bool> flush_if_full();
  void ok(std::uint64_t affected_rows, std::uint64_t last_insert_id, bool more);
  void error(std::uint16_t code, std::string_view sqlstate, std::string_view message);
  void error(const sqlite::Error& failure);
  void update_status(bool more);
  bool autocommit() const;

  // --- what the front answers itself (session_sqlite_answers.cc) ---
  awaitable<bool> set(const FrontStatement& command, bool more);
  std::optional<Answer> answer(const FrontStatement& command);
  std::optional<Answer> select_values(const FrontStatement& command);
  Answer show_variables(const FrontStatement& command) const;
  bool kill(std::uint64_t id, bool query_only);
  awaitable<void> field_list(Bytes payload);
  std::string show_sql(const FrontStatement& command) const;
  std::string database_name() const;
  void no_such_table(std::string_view table);

  Session& s_;
  embedded::SystemVariables variables_;
  std::map<std::string, sqlite::Value, std::less<>> user_variables_;
  sqlite::Database* database_ = nullptr;
  std::shared_ptr<sqlite::Connection> connection_;
  std::map<std::uint32_t, std::shared_ptr<Statement>> statements_;
  std::uint32_t last_statement_id_ = 0;
  bool multi_statements_ = false;  // CLIENT_MULTI_STATEMENTS, or COM_SET_OPTION's choice
  bool closed_ = false;            // writing to the client failed, or the session must end
  std::int64_t last_insert_id_ = 0;
  std::int64_t row_count_ = -1;  // ROW_COUNT(): rows changed by the last statement
  std::uint64_t questions_ = 0;
  ByteVector row_;                    // the row being encoded
  std::vector<BinaryCell> cells_;     // the binary row being encoded
  std::vector<std::string> scratch_;  // its formatted values
  const metrics::StatementSeries* series_ = nullptr;
};

}  // namespace plexi::mysql
