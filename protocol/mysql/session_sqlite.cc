// The MySQL front of the embedded SQLite database: a logged-in client's commands answered
// from its own SQLite connection, with what SQLite lacks kept by the front — autocommit,
// system variables, prepared statements and MySQL's result encodings. This file holds the
// session's life and the protocol's commands.
#include "protocol/mysql/session_sqlite.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <variant>

#include "daemon/metrics.h"

namespace plexi::mysql {
namespace {

using embedded::FrontKind;

// The executor's statement for the statement of a COM_QUERY string that runs now; client
// names never start with a control character.
constexpr std::string_view kQueryStatement = "\x01q";

// MySQL error numbers of this front's own answers.
constexpr std::uint16_t kQueryEmpty = 1065;
constexpr std::uint16_t kWrongArguments = 1210;
constexpr std::uint16_t kNoOpenCursor = 1421;
constexpr std::uint16_t kNotSupportedYet = 1235;

// BLOB types in parameter types, which packets.h's FieldType leaves out.
bool is_blob_type(FieldType type) {
  auto code = static_cast<std::uint8_t>(type);
  return code >= 0xf9 && code <= 0xfc;
}

// A COM_STMT_EXECUTE parameter as SQLite binds it: integers and reals as numbers, blobs as
// blobs, everything else (strings, decimals, dates as their text) as text for the column's
// affinity to convert.
sqlite::Value to_value(BinaryValue&& value) {
  if (value.is_null) return sqlite::Value::null();
  switch (value.type) {
    case FieldType::kTiny:
    case FieldType::kShort:
    case FieldType::kLong:
    case FieldType::kInt24:
    case FieldType::kLongLong:
    case FieldType::kYear:
      // An unsigned BIGINT above INT64_MAX comes as its bits: SQLite can only hold it as a real.
      if (value.is_unsigned && value.integer < 0) {
        return sqlite::Value::of_real(
            static_cast<double>(static_cast<std::uint64_t>(value.integer)));
      }
      return sqlite::Value::of_integer(value.integer);
    case FieldType::kFloat:
    case FieldType::kDouble:
      return sqlite::Value::of_real(value.real);
    default:
      if (is_blob_type(value.type)) return sqlite::Value::of_blob(std::move(value.bytes));
      return sqlite::Value::of_text(std::move(value.bytes));
  }
}

}  // namespace

SqliteFront::SqliteFront(Session& session)
    : s_(session),
      variables_(std::string(kServerVersion),
                 std::string("plexiproxy embedded SQLite ") + sqlite3_libversion(),
                 session.config().limits.max_message_size),
      multi_statements_((session.capabilities() & cap::kMultiStatements) != 0) {}

SqliteFront::~SqliteFront() {
  s_.set_cancel_action(nullptr);
  statements_.clear();
  // Only reached with the connection still set when the coroutine was destroyed without
  // finishing (the process is stopping): close it here rather than on a pool that may be gone.
  connection_.reset();
}

awaitable<bool> SqliteFront::connect() {
  const config::Backend& backend = s_.cluster().backends.front();
  std::string failure;
  database_ = s_.env().pools.sqlite_database(backend.path, failure);
  if (database_ == nullptr) {
    s_.env().log->error("cannot open the embedded database {}: {}", backend.path, failure);
    co_await s_.fatal(1105, "HY000", "could not open the embedded database: " + failure);
    co_return false;
  }
  auto opened = co_await database_->connect();
  if (auto* e = std::get_if<sqlite::Error>(&opened)) {
    s_.env().log->error("cannot connect to the embedded database {}: {}", backend.path, e->message);
    co_await s_.fatal(1105, "HY000", "could not open the embedded database: " + e->message);
    co_return false;
  }
  connection_ = std::move(std::get<std::unique_ptr<sqlite::Connection>>(opened));
  // Runs on the canceller's thread (KILL QUERY from another client); the weak pointer keeps
  // it safe once this client is gone.
  s_.set_cancel_action([weak = std::weak_ptr<sqlite::Connection>(connection_)] {
    if (auto connection = weak.lock()) connection->interrupt();
  });
  co_return true;
}

// Closing an SQLite handle can checkpoint the WAL file, so it happens on the database's
// pool, not on a network worker.
void SqliteFront::release_connection() {
  s_.set_cancel_action(nullptr);
  statements_.clear();
  if (connection_ && database_ != nullptr) {
    asio::post(database_->pool(),
               [connection = std::move(connection_)]() mutable { connection.reset(); });
  }
}

awaitable<void> SqliteFront::run() {
  s_.set_phase(Phase::kActive);
  bool connected = co_await connect();
  if (!connected) co_return;
  ByteVector payload;
  while (!closed_) {
    // Everything the client sent is answered: send it before waiting for more.
    bool written = co_await s_.flush();
    if (!written) break;
    bool idle = !connection_->in_transaction();
    s_.set_phase(idle ? Phase::kIdle : Phase::kActive);
    if (idle && s_.draining()) {
      co_await s_.fatal(error::kServerShutdown, "08S01", "Server shutdown in progress");
      break;
    }
    bool received = co_await s_.read_command(payload);
    if (!received) break;
    s_.set_phase(Phase::kActive);
    auto command = payload.empty() ? Command::kSleep : static_cast<Command>(payload[0]);
    // Statements answered by the executor count like relayed ones, on the SQLite backend.
    bool counted = (command == Command::kQuery || command == Command::kStmtExecute) &&
                   s_.env().metrics.enabled();
    auto started =
        counted ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    bool keep_going = co_await handle(payload);
    if (!keep_going) co_await s_.flush();  // a refused COM_CHANGE_USER's ERR
    if (counted) {
      if (!series_) {
        const config::Backend& backend = s_.cluster().backends.front();
        series_ = &s_.env().metrics.statements("mysql", s_.cluster().name, backend.name,
                                               config::to_string(backend.role));
      }
      series_->record(std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now() - started));
    }
    if (!keep_going) break;
  }
  release_connection();
}

awaitable<bool> SqliteFront::handle(Bytes payload) {
  if (payload.empty()) {
    error(error::kUnknownCommand, "08S01", "Unknown command");
    co_return true;
  }
  Bytes body = payload.subspan(1);
  switch (static_cast<Command>(payload[0])) {
    case Command::kQuit:
      co_return false;
    case Command::kQuery:
      co_await query(as_chars(body));
      break;
    case Command::kInitDb:
      s_.schema() = std::string(as_chars(body));
      ok(0, 0, false);
      break;
    case Command::kPing:
      ok(0, 0, false);
      break;
    case Command::kFieldList:
      co_await field_list(body);
      break;
    case Command::kStatistics:
      statistics();
      break;
    case Command::kStmtPrepare:
      co_await prepare(as_chars(body));
      break;
    case Command::kStmtExecute:
      co_await execute(payload);
      break;
    case Command::kStmtSendLongData:
      send_long_data(payload);  // no reply, as in MySQL
      break;
    case Command::kStmtClose:
      statements_.erase(statement_id_of(payload));  // no reply
      break;
    case Command::kStmtReset:
      reset_statement(payload);
      break;
    case Command::kStmtFetch:
      // COM_STMT_EXECUTE never opens a cursor here: its rows always follow it at once, which
      // clients asking for a cursor accept (MySQL does the same for statements it cannot
      // open one for), so there is nothing to fetch from.
      error(kNoOpenCursor, "HY000",
            "The statement (" + std::to_string(statement_id_of(payload)) + ") has no open cursor.");
      break;
    case Command::kResetConnection: {
      bool reset = co_await forget_session_state();
      if (reset) ok(0, 0, false);
      break;
    }
    case Command::kSetOption:
      set_option(body);
      break;
    case Command::kProcessKill:
      if (body.size() >= 4 && kill(Reader(body).u32(), false)) ok(0, 0, false);
      break;
    case Command::kChangeUser: {
      // A new user starts afresh, as on a MySQL server. The session checks the user and
      // queues its OK, or an ERR after which the session ends.
      bool forgot = co_await forget_session_state();
      if (!forgot) break;
      bool changed = co_await s_.change_user(payload);
      if (!changed) co_return false;
      break;
    }
    default:
      error(error::kUnknownCommand, "08S01", "Unknown command");
      break;
  }
  co_return !closed_;
}

// --- COM_QUERY ----------------------------------------------------------------------------

// Statements of one string run one after another, each committing on its own unless a
// transaction is open; the first error ends the string, as in MySQL.
awaitable<void> SqliteFront::query(std::string_view text) {
  ++questions_;
  std::string rewritten;
  if (text.find('\0') != std::string_view::npos) {
    rewritten = embedded::blob_literals_for_nul(text);
    text = rewritten;
  }
  bool any = false;
  std::size_t offset = 0;
  while (!closed_ && offset < text.size()) {
    std::string_view rest = text.substr(offset);
    Statement statement;
    statement.command = embedded::classify_statement(rest);
    if (statement.command.kind == FrontKind::kEmpty) break;
    std::size_t length = 0;
    bool planned = co_await plan(statement, rest, std::string(kQueryStatement), length);
    if (!planned) co_return;
    offset += std::max<std::size_t>(length, 1);
    if (statement.command.kind == FrontKind::kEmpty) continue;  // only comments, to SQLite
    bool more = !embedded::is_blank(text.substr(std::min(offset, text.size())));
    if (more && !multi_statements_) {
      error(error::kParse, "42000",
            "You have an error in your SQL syntax: several statements in one query need the "
            "client's CLIENT_MULTI_STATEMENTS option");
      co_return;
    }
    if (statement.parameters > 0) {
      error(kNotSupportedYet, "42000",
            "This version of MySQL doesn't yet support '? parameters and @variables in "
            "statements of COM_QUERY' (use a prepared statement)");
      co_return;
    }
    any = true;
    bool ran = co_await run(statement, {}, false, more);
    if (!ran || !more) co_return;
  }
  if (!any && !closed_) error(kQueryEmpty, "42000", "Query was empty");
}

// --- prepared statements ------------------------------------------------------------------

awaitable<void> SqliteFront::prepare(std::string_view sql) {
  auto statement = std::make_shared<Statement>();
  statement->command = embedded::classify_statement(sql);
  std::uint32_t id = last_statement_id_ + 1;
  std::size_t length = 0;
  if (statement->command.kind != FrontKind::kEmpty) {
    bool planned = co_await plan(*statement, sql, "\x01p" + std::to_string(id), length);
    if (!planned) co_return;
  }
  if (statement->command.kind == FrontKind::kEmpty) {
    error(kQueryEmpty, "42000", "Query was empty");
    co_return;
  }
  if (!embedded::is_blank(sql.substr(std::min(length, sql.size())))) {
    error(error::kParse, "42000",
          "You have an error in your SQL syntax: a prepared statement holds one statement");
    co_return;
  }
  ResultColumns columns;
  columns.binary = true;
  if (!statement->executor_name.empty()) {
    // Expression columns are typed by their values when the statement runs; until then
    // they are strings.
    for (const auto& column : statement->columns) {
      columns.add(column.name,
                  embedded::declared_class(column.declared).value_or(embedded::ColumnClass::kText));
    }
  } else if (auto described = answer(statement->command)) {
    for (const auto& [name, type] : described->columns) columns.add(name, type);
  } else if (embedded::answers_rows(statement->command.kind)) {
    co_return;  // answer() reported why (an unknown system variable)
  }
  last_statement_id_ = id;
  statements_[id] = statement;

  PrepareOk prepared;
  prepared.statement_id = id;
  prepared.columns =
      static_cast<std::uint16_t>(std::min<std::size_t>(columns.definitions.size(), 0xffff));
  prepared.parameters =
      static_cast<std::uint16_t>(std::min<std::size_t>(statement->parameters, 0xffff));
  s_.send_packet(encode_prepare_ok_payload(prepared));
  bool eof = (s_.capabilities() & cap::kDeprecateEof) == 0;
  if (prepared.parameters > 0) {
    // SQLite does not type its parameters: they are described as MySQL describes
    // parameters it cannot type either.
    ColumnDefinition parameter =
        embedded::column_definition("?", embedded::ColumnClass::kNull, true);
    parameter.collation = kCollationBinary;
    ByteVector encoded = encode_column_definition_payload(parameter);
    for (std::size_t i = 0; i < prepared.parameters; ++i) s_.send_packet(encoded);
    if (eof) {
      update_status(false);
      s_.send_eof(false);
    }
  }
  if (prepared.columns > 0) {
    for (const auto& column : columns.definitions) {
      s_.send_packet(encode_column_definition_payload(column));
    }
    if (eof) {
      update_status(false);
      s_.send_eof(false);
    }
  }
}

std::shared_ptr<embedded::Statement> SqliteFront::find_statement(Bytes payload) {
  std::uint32_t id = statement_id_of(payload);
  auto found = statements_.find(id);
  if (found != statements_.end()) return found->second;
  error(error::kUnknownStatement, "HY000",
        "Unknown prepared statement handler (" + std::to_string(id) + ") given to mysqld_stmt");
  return nullptr;
}

awaitable<void> SqliteFront::execute(Bytes payload) {
  ++questions_;
  std::shared_ptr<Statement> statement = find_statement(payload);
  if (!statement) co_return;
  auto decoded = decode_execute(payload.subspan(1), statement->parameters, statement->types,
                                statement->long_data);
  statement->long_data.clear();  // MySQL forgets long data once it was used
  if (!decoded) {
    error(kWrongArguments, "HY000", "Incorrect arguments to mysqld_stmt_execute");
    co_return;
  }
  if (!decoded->types.empty()) statement->types = std::move(decoded->types);
  std::vector<sqlite::Value> parameters;
  parameters.reserve(decoded->values.size());
  for (auto& value : decoded->values) parameters.push_back(to_value(std::move(value)));
  co_await run(*statement, std::move(parameters), true, false);
}

void SqliteFront::send_long_data(Bytes payload) {
  auto found = statements_.find(statement_id_of(payload));
  Reader reader(payload.subspan(std::min<std::size_t>(5, payload.size())));
  std::uint16_t parameter = reader.u16();
  if (found == statements_.end() || reader.failed()) return;  // MySQL reports nothing either
  Statement& statement = *found->second;
  if (parameter >= statement.parameters) return;
  if (statement.long_data.size() < statement.parameters) {
    statement.long_data.resize(statement.parameters);
  }
  auto& data = statement.long_data[parameter];
  if (!data) data.emplace();
  data->append(reader.rest());
}

void SqliteFront::reset_statement(Bytes payload) {
  std::shared_ptr<Statement> statement = find_statement(payload);
  if (!statement) return;
  statement->long_data.clear();
  ok(0, 0, false);
}

// --- other commands -----------------------------------------------------------------------

// What COM_RESET_CONNECTION and COM_CHANGE_USER drop: the transaction, prepared
// statements, variables. False once an error was sent.
awaitable<bool> SqliteFront::forget_session_state() {
  statements_.clear();
  if (connection_->in_transaction()) {
    bool rolled_back = co_await run_internal("ROLLBACK");
    if (!rolled_back) co_return false;
  }
  bool checks = co_await run_internal("PRAGMA foreign_keys = ON");
  if (!checks) co_return false;
  variables_.reset_all();
  user_variables_.clear();
  last_insert_id_ = 0;
  row_count_ = -1;
  co_return true;
}

void SqliteFront::set_option(Bytes body) {
  Reader reader(body);
  std::uint16_t option = reader.u16();
  if (reader.failed() || option > 1) {
    error(error::kUnknownCommand, "08S01", "Unknown command");
    return;
  }
  multi_statements_ = option == 0;  // MYSQL_OPTION_MULTI_STATEMENTS_ON
  update_status(false);
  s_.send_eof();
}

void SqliteFront::statistics() {
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() -
                                                                 s_.describe().connected_at);
  std::string text = "Uptime: " + std::to_string(std::max<std::int64_t>(uptime.count(), 0)) +
                     "  Threads: " + std::to_string(s_.env().clients.load()) +
                     "  Questions: " + std::to_string(questions_) +
                     "  Slow queries: 0  Opens: 0  Flush tables: 0  Open tables: 0"
                     "  Queries per second avg: 0.000";
  s_.send_packet(as_bytes(text));
}

awaitable<void> run_sqlite_front(Session& session) {
  SqliteFront front(session);
  co_await front.run();
}

}  // namespace plexi::mysql
