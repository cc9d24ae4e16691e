// Running statements for the embedded SQLite front: SQLite's rows sent as MySQL result sets
// in batches, OK packets with affected rows and insert ids, and MySQL's transaction rules
// (autocommit, implicit commits around DDL) kept around SQLite's own transactions.
#include <algorithm>
#include <variant>

#include "protocol/mysql/session_sqlite.h"

namespace plexi::mysql {
namespace embedded {

Storage storage(sqlite::ValueKind kind) {
  switch (kind) {
    case sqlite::ValueKind::kNull:
      return Storage::kNull;
    case sqlite::ValueKind::kInteger:
      return Storage::kInteger;
    case sqlite::ValueKind::kReal:
      return Storage::kReal;
    case sqlite::ValueKind::kText:
      return Storage::kText;
    case sqlite::ValueKind::kBlob:
      return Storage::kBlob;
  }
  return Storage::kNull;
}

Cell cell(const sqlite::Value& value) {
  return {storage(value.kind), value.integer, value.real, value.bytes};
}

std::optional<ColumnClass> declared_class(sqlite::DeclaredType type) {
  switch (type) {
    case sqlite::DeclaredType::kNone:
      return std::nullopt;
    case sqlite::DeclaredType::kInteger:
      return ColumnClass::kInteger;
    case sqlite::DeclaredType::kReal:
      return ColumnClass::kReal;
    case sqlite::DeclaredType::kText:
      return ColumnClass::kText;
    case sqlite::DeclaredType::kBlob:
      return ColumnClass::kBlob;
    case sqlite::DeclaredType::kBoolean:
      return ColumnClass::kBoolean;
    case sqlite::DeclaredType::kNumeric:
      return ColumnClass::kNumeric;
  }
  return std::nullopt;
}

}  // namespace embedded

namespace {

using embedded::ColumnClass;
using embedded::FrontKind;
using embedded::kBatchRows;
using embedded::kFlushBytes;

// The executor's statement and cursor for the front's own statements.
constexpr std::string_view kInternalName = "\x01i";

// The class of an expression column: that of the values read so far when they agree
// (integers and reals together read as reals), else text, which every value can be sent as.
ColumnClass batch_class(sqlite::ValueKind first,
                        const std::vector<std::vector<sqlite::Value>>& rows, std::size_t column) {
  sqlite::ValueKind kind = first;
  for (const auto& row : rows) {
    if (column >= row.size()) break;
    sqlite::ValueKind value = row[column].kind;
    if (value == sqlite::ValueKind::kNull || value == kind) continue;
    bool numbers = (kind == sqlite::ValueKind::kInteger || kind == sqlite::ValueKind::kReal) &&
                   (value == sqlite::ValueKind::kInteger || value == sqlite::ValueKind::kReal);
    if (kind == sqlite::ValueKind::kNull) {
      kind = value;
    } else if (numbers) {
      kind = sqlite::ValueKind::kReal;
    } else {
      return ColumnClass::kText;
    }
  }
  return embedded::class_of(embedded::storage(kind));
}

}  // namespace

// Readies a classified statement: SQLite prepares what will run for it (the client's text,
// or the front's own query for SHOW TABLES and friends). `length` becomes the bytes of
// `text` the statement takes; false once an error was sent.
awaitable<bool> SqliteFront::plan(Statement& statement, std::string_view text, std::string name,
                                  std::size_t& length) {
  FrontStatement& command = statement.command;
  length = command.length;
  std::string sql;
  bool rewritten = false;
  switch (command.kind) {
    case FrontKind::kSql:
      if (auto ddl = embedded::rewrite_create_table(text.substr(command.begin))) {
        sql = std::move(*ddl);
        rewritten = true;
      } else {
        sql = std::string(text.substr(command.begin));
      }
      break;
    case FrontKind::kShowTables:
    case FrontKind::kShowColumns:
    case FrontKind::kShowCreateTable:
      sql = show_sql(command);
      // A table always has a column, so no rows mean no table (unless LIKE filtered them).
      statement.table_must_exist = command.kind != FrontKind::kShowTables && !command.like;
      break;
    default:
      co_return true;  // answered by the front
  }
  auto result = co_await connection_->prepare(name, sql);
  if (auto* e = std::get_if<sqlite::Error>(&result)) {
    error(*e);
    co_return false;
  }
  auto& info = std::get<sqlite::StatementInfo>(result);
  statement.executor_name = std::move(name);
  statement.connection = connection_;
  if (command.kind == FrontKind::kSql) {
    if (rewritten) {
      // The rewrite took the statement up to its ';': SQLite must take all of it.
      if (!embedded::is_blank(std::string_view(sql).substr(std::min(info.consumed, sql.size())))) {
        error(error::kParse, "42000",
              "You have an error in your SQL syntax: CREATE TABLE could not be read to its end");
        co_return false;
      }
    } else {
      // SQLite decides where its statements end: it knows its own quoting and trigger bodies.
      length = info.consumed > 0 ? command.begin + info.consumed : text.size();
    }
    if (info.empty) command.kind = FrontKind::kEmpty;
    statement.commits = embedded::commits_implicitly(sql);
  }
  statement.parameters = static_cast<std::size_t>(std::max(info.parameter_count, 0));
  statement.columns = std::move(info.columns);
  statement.verb = std::move(info.verb);
  statement.read_only = info.read_only;
  co_return true;
}

awaitable<bool> SqliteFront::run(Statement& statement, std::vector<sqlite::Value> parameters,
                                 bool binary, bool more) {
  const FrontStatement& command = statement.command;
  switch (command.kind) {
    case FrontKind::kEmpty:
    case FrontKind::kAccepted:
      ok(0, 0, more);
      co_return true;
    case FrontKind::kSql:
    case FrontKind::kShowTables:
    case FrontKind::kShowColumns:
    case FrontKind::kShowCreateTable:
      co_return co_await run_sql(statement, std::move(parameters), binary, more);
    case FrontKind::kBegin:
    case FrontKind::kCommit:
    case FrontKind::kRollback:
      co_return co_await transaction(command, more);
    case FrontKind::kSet:
      co_return co_await set(command, more);
    case FrontKind::kUse:
      s_.schema() = command.name;
      ok(0, 0, more);
      co_return true;
    case FrontKind::kKill: {
      bool killed = kill(command.kill_id, command.kill_query);
      if (killed) ok(0, 0, more);
      co_return killed;
    }
    case FrontKind::kShowDatabases:
    case FrontKind::kShowWarnings:
    case FrontKind::kShowVariables:
    case FrontKind::kShowStatus:
    case FrontKind::kSelectValues: {
      auto rows = answer(command);
      if (!rows) co_return false;
      send_answer(*rows, binary, more);
      co_return true;
    }
  }
  co_return false;
}

awaitable<bool> SqliteFront::run_sql(Statement& statement, std::vector<sqlite::Value> parameters,
                                     bool binary, bool more) {
  if (statement.command.kind == FrontKind::kSql) {
    bool open = connection_->in_transaction();
    if (statement.commits && open) {
      // DDL commits the transaction before it, and itself, as in MySQL.
      bool committed = co_await run_internal("COMMIT");
      if (!committed) co_return false;
    } else if (!statement.commits && !open && !autocommit()) {
      // With autocommit off a statement opens the transaction COMMIT ends. One that only
      // reads takes no write lock, so idle clients in that mode do not hold up writers.
      bool begun =
          co_await run_internal(statement.read_only ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE");
      if (!begun) co_return false;
    }
  }
  const std::string& cursor = statement.executor_name;
  auto result = co_await connection_->execute(cursor, statement.executor_name,
                                              std::move(parameters), kBatchRows);
  if (auto* e = std::get_if<sqlite::Error>(&result)) {
    error(*e);
    co_return false;
  }
  auto& rows = std::get<sqlite::Rows>(result);
  if (rows.columns.empty()) {
    connection_->close_cursor(cursor);
    std::uint64_t insert_id = 0;
    if ((statement.verb == "INSERT" || statement.verb == "REPLACE") && rows.changes > 0) {
      // MySQL reports the first id of a multi-row INSERT; SQLite knows the last, and rows
      // that get generated ids get consecutive ones.
      last_insert_id_ = rows.last_insert_id - (rows.changes - 1);
      insert_id = static_cast<std::uint64_t>(last_insert_id_);
    }
    row_count_ = rows.changes;
    ok(static_cast<std::uint64_t>(rows.changes), insert_id, more);
    co_return true;
  }
  if (statement.table_must_exist && rows.complete && rows.rows.empty()) {
    connection_->close_cursor(cursor);
    no_such_table(statement.command.name);
    co_return false;
  }
  row_count_ = -1;
  ResultColumns columns = describe(rows.columns, rows.rows, binary);
  send_columns(columns, more);
  for (;;) {
    for (const auto& row : rows.rows) {
      send_row(columns, row);
      bool written = co_await flush_if_full();
      if (!written) {
        connection_->close_cursor(cursor);
        co_return false;
      }
    }
    if (rows.complete) break;
    auto next = co_await connection_->fetch(cursor, kBatchRows);
    if (auto* e = std::get_if<sqlite::Error>(&next)) {
      // The client has the columns and some rows: ERR ends the result set instead of EOF.
      error(*e);
      co_return false;
    }
    auto& batch = std::get<sqlite::Rows>(next);
    rows.rows = std::move(batch.rows);
    rows.complete = batch.complete;
  }
  connection_->close_cursor(cursor);
  end_rows(more);
  co_return true;
}

awaitable<bool> SqliteFront::transaction(const FrontStatement& command, bool more) {
  bool open = connection_->in_transaction();
  bool done = true;
  if (command.kind == FrontKind::kBegin) {
    // MySQL commits the open transaction when another begins.
    if (open) done = co_await run_internal("COMMIT");
    if (done) {
      // The executor makes BEGIN an IMMEDIATE one (the write lock at once, so a transaction
      // that reads then writes cannot fail half-way) and BEGIN READ ONLY a deferred one
      // that refuses writes.
      std::string sql = command.read_only      ? "BEGIN READ ONLY"
                        : command.name.empty() ? "BEGIN"
                                               : "BEGIN " + command.name;
      done = co_await run_internal(sql);
    }
  } else if (open) {
    done = co_await run_internal(command.kind == FrontKind::kCommit ? "COMMIT" : "ROLLBACK");
  }
  if (done) ok(0, 0, more);
  co_return done;
}

awaitable<bool> SqliteFront::run_internal(const std::string& sql) {
  auto rows = co_await query_rows(sql, {});
  co_return rows.has_value();
}

// Runs one statement of the front's own to its end; nullopt once its error was sent.
awaitable<std::optional<std::vector<std::vector<sqlite::Value>>>> SqliteFront::query_rows(
    const std::string& sql, std::vector<sqlite::Value> parameters) {
  const std::string name(kInternalName);
  auto prepared = co_await connection_->prepare(name, sql);
  if (auto* e = std::get_if<sqlite::Error>(&prepared)) {
    error(*e);
    co_return std::nullopt;
  }
  auto result = co_await connection_->execute(name, name, std::move(parameters), 0);
  connection_->close_cursor(name);
  connection_->close_statement(name);
  if (auto* e = std::get_if<sqlite::Error>(&result)) {
    error(*e);
    co_return std::nullopt;
  }
  co_return std::move(std::get<sqlite::Rows>(result).rows);
}

// --- results ------------------------------------------------------------------------------

embedded::ResultColumns SqliteFront::describe(const std::vector<sqlite::Column>& columns,
                                              const std::vector<std::vector<sqlite::Value>>& rows,
                                              bool binary) const {
  ResultColumns out;
  out.binary = binary;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    auto type = embedded::declared_class(columns[i].declared);
    out.add(columns[i].name, type ? *type : batch_class(columns[i].first_value, rows, i));
  }
  return out;
}

void SqliteFront::send_columns(const ResultColumns& columns, bool more) {
  row_.clear();
  append_lenenc(row_, columns.definitions.size());
  s_.send_packet(row_);
  for (const auto& definition : columns.definitions) {
    s_.send_packet(encode_column_definition_payload(definition));
  }
  if ((s_.capabilities() & cap::kDeprecateEof) == 0) {
    update_status(more);
    s_.send_eof(false);
  }
}

void SqliteFront::send_row(const ResultColumns& columns, const std::vector<sqlite::Value>& row) {
  row_.clear();
  std::size_t count = std::min(row.size(), columns.classes.size());
  if (!columns.binary) {
    for (std::size_t i = 0; i < count; ++i) {
      embedded::append_text_cell(row_, embedded::cell(row[i]), columns.classes[i]);
    }
  } else {
    // Sized before any cell points into it.
    if (scratch_.size() < count) scratch_.resize(count);
    cells_.clear();
    for (std::size_t i = 0; i < count; ++i) {
      cells_.push_back(embedded::binary_cell(embedded::cell(row[i]), columns.types[i],
                                             columns.classes[i], scratch_[i]));
    }
    append_binary_row_payload(row_, columns.types, cells_);
  }
  s_.send_packet(row_);
}

void SqliteFront::end_rows(bool more) {
  update_status(more);
  s_.send_eof(true);
}

void SqliteFront::send_answer(const Answer& answer, bool binary, bool more) {
  ResultColumns columns;
  columns.binary = binary;
  for (const auto& [name, type] : answer.columns) columns.add(name, type);
  send_columns(columns, more);
  for (const auto& row : answer.rows) send_row(columns, row);
  end_rows(more);
}

awaitable<bool> SqliteFront::flush_if_full() {
  if (s_.output().size() < kFlushBytes) co_return true;
  bool written = co_await s_.flush();
  if (!written) closed_ = true;
  co_return written;
}

void SqliteFront::ok(std::uint64_t affected_rows, std::uint64_t last_insert_id, bool more) {
  update_status(more);
  s_.send_ok(affected_rows, last_insert_id);
}

void SqliteFront::error(std::uint16_t code, std::string_view sqlstate, std::string_view message) {
  s_.send_error(code, sqlstate, message);
}

void SqliteFront::error(const sqlite::Error& failure) {
  embedded::ErrorCode code = embedded::error_code(failure.sqlstate, failure.message);
  if (code.code == error::kQueryInterrupted) {
    error(code.code, code.sqlstate, "Query execution was interrupted");
  } else {
    error(code.code, code.sqlstate, failure.message);
  }
}

// The flags every OK and EOF carries. NO_BACKSLASH_ESCAPES tells clients that quote values
// themselves (PyMySQL, libmysqlclient's mysql_real_escape_string) to double quotes rather
// than escape them with backslashes, which SQLite would keep as they are.
void SqliteFront::update_status(bool more) {
  std::uint16_t flags = status::kNoBackslashEscapes;
  if (autocommit()) flags |= status::kAutocommit;
  if (connection_ && connection_->in_transaction()) flags |= status::kInTrans;
  if (more) flags |= status::kMoreResultsExist;
  s_.status_flags() = flags;
}

bool SqliteFront::autocommit() const {
  auto value = variables_.find("autocommit");
  return !value || value->text != "0";
}

}  // namespace plexi::mysql
