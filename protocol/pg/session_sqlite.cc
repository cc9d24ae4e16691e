// The PostgreSQL front of the embedded SQLite database: a client's simple and extended
// queries run on its own SQLite connection, while the front keeps what SQLite lacks —
// PostgreSQL's transaction block states, session parameters, portals and wire formats.
// This file holds the session's life and the protocol's messages.
#include "protocol/pg/session_sqlite.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <variant>

#include "common/socket_io.h"
#include "protocol/pg/decoder.h"
#include "protocol/pg/encoder.h"

namespace plexi::pg {

using embedded::ends_failed_block;
using embedded::kAborted;
using embedded::kIdleBuffer;
using embedded::runs_in_sqlite;
using embedded::to_value;

SqliteFront::~SqliteFront() {
  {
    std::lock_guard lock(s_.cancel_lock_);
    s_.cancel_action_ = nullptr;
  }
  portals_.clear();
  statements_.clear();
  // Only reached with the connection still set when the coroutine was destroyed without
  // finishing (the process is stopping): close it here rather than on a pool that may be gone.
  connection_.reset();
}

awaitable<bool> SqliteFront::connect() {
  const config::Backend& backend = s_.cluster_->backends.front();
  std::string failure;
  database_ = s_.env_.pools.sqlite_database(backend.path, failure);
  if (database_ == nullptr) {
    s_.env_.log->error("cannot open the embedded database {}: {}", backend.path, failure);
    co_await s_.fatal("58030", "could not open the embedded database: " + failure);
    co_return false;
  }
  auto opened = co_await database_->connect();
  if (auto* e = std::get_if<sqlite::Error>(&opened)) {
    s_.env_.log->error("cannot connect to the embedded database {}: {}", backend.path, e->message);
    co_await s_.fatal("58030", "could not open the embedded database: " + e->message);
    co_return false;
  }
  connection_ = std::move(std::get<std::unique_ptr<sqlite::Connection>>(opened));
  std::lock_guard lock(s_.cancel_lock_);
  // Runs on the canceller's thread; the weak pointer keeps it safe once the client is gone.
  s_.cancel_action_ = [weak = std::weak_ptr<sqlite::Connection>(connection_)] {
    if (auto connection = weak.lock()) connection->interrupt();
  };
  co_return true;
}

// Closing an SQLite handle can checkpoint the WAL file, so it happens on the database's
// pool, not on a network worker.
void SqliteFront::release_connection() {
  {
    std::lock_guard lock(s_.cancel_lock_);
    s_.cancel_action_ = nullptr;
  }
  portals_.clear();
  statements_.clear();
  if (connection_ && database_ != nullptr) {
    asio::post(database_->pool(),
               [connection = std::move(connection_)]() mutable { connection.reset(); });
  }
}

awaitable<void> SqliteFront::run() {
  s_.phase_ = Phase::kActive;
  bool connected = co_await connect();
  if (!connected) co_return;
  settings_.report_changes(s_.output_);
  encode_backend_key_data(s_.output_, s_.cancel_key_->pid, s_.cancel_key_->secret);
  encode_ready_for_query(s_.output_, TxStatus::kIdle);

  while (!closed_) {
    if (!message_waiting()) {
      // Everything the client sent so far is answered: send it before waiting for more.
      bool written = co_await write_now();
      if (!written) break;
      s_.phase_ = block_ == Block::kNone && !in_batch_ ? Phase::kIdle : Phase::kActive;
      // An idle client may stay idle for hours: it keeps no buffer meanwhile.
      if (s_.phase_ == Phase::kIdle) {
        s_.input_.release_if_empty();
      } else {
        s_.input_.shrink_if_idle(kIdleBuffer);
      }
      if (s_.phase_ == Phase::kIdle && s_.draining()) {
        co_await s_.end_for_shutdown();
        break;
      }
    }
    Frame frame;
    bool received = co_await s_.read_message(frame);
    if (!received) break;
    s_.phase_ = Phase::kActive;
    // Statements answered by the executor count like relayed ones, on the SQLite backend.
    bool counted = (frame.type == frontend::kQuery || frame.type == frontend::kExecute) &&
                   s_.env_.metrics.enabled();
    auto started = counted ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    bool keep_going = co_await handle(frame);
    if (counted) {
      if (!series_) {
        const config::Backend& backend = s_.cluster_->backends.front();
        series_ = &s_.env_.metrics.statements("postgres", s_.cluster_->name, backend.name,
                                              config::to_string(backend.role));
      }
      series_->record(std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now() - started));
    }
    s_.input_.consume(frame.size);
    if (!keep_going) break;
  }
  release_connection();
}

bool SqliteFront::message_waiting() const {
  std::size_t limit = s_.config_->limits.max_message_size;
  return decode_frame(s_.input_.readable(), limit).status != DecodeStatus::kNeedMore;
}

awaitable<bool> SqliteFront::write_now() {
  if (!closed_) {
    bool written = co_await s_.flush();
    closed_ = !written;
  }
  co_return !closed_;
}

TxStatus SqliteFront::tx_status() const {
  switch (block_) {
    case Block::kNone:
      return TxStatus::kIdle;
    case Block::kOpen:
      return TxStatus::kInTransaction;
    case Block::kFailed:
      return TxStatus::kFailed;
  }
  return TxStatus::kIdle;
}

awaitable<bool> SqliteFront::ready_for_query() {
  settings_.report_changes(s_.output_);
  encode_ready_for_query(s_.output_, tx_status());
  if (s_.draining() && block_ == Block::kNone) {
    co_await write_now();
    co_await s_.end_for_shutdown();
    co_return false;
  }
  co_return true;
}

awaitable<bool> SqliteFront::protocol_violation(std::string_view message) {
  co_await s_.fatal("08P01", message);
  co_return false;
}

awaitable<bool> SqliteFront::handle(const Frame& frame) {
  if (frame.type == frontend::kTerminate) co_return false;
  if (frame.type == frontend::kSync) {
    if (!frame.body.empty()) co_return co_await protocol_violation("invalid Sync message");
    co_return co_await sync();
  }
  // After an error in an extended-protocol batch PostgreSQL reads on to the Sync.
  if (skipping_) co_return true;
  switch (frame.type) {
    case frontend::kQuery: {
      auto sql = parse_query(frame.body);
      if (!sql) co_return co_await protocol_violation("invalid Query message");
      co_return co_await simple_query(*sql);
    }
    case frontend::kParse: {
      auto message = parse_parse(frame.body);
      if (!message) co_return co_await protocol_violation("invalid Parse message");
      in_batch_ = true;
      bool ok = co_await parse(*message);
      skipping_ = !ok;
      co_return !closed_;
    }
    case frontend::kBind: {
      auto message = parse_bind(frame.body);
      if (!message) co_return co_await protocol_violation("invalid Bind message");
      in_batch_ = true;
      bool ok = co_await bind(*message);
      skipping_ = !ok;
      co_return !closed_;
    }
    case frontend::kDescribe: {
      auto message = parse_describe(frame.body);
      if (!message) co_return co_await protocol_violation("invalid Describe message");
      in_batch_ = true;
      bool ok = co_await describe(*message);
      skipping_ = !ok;
      co_return !closed_;
    }
    case frontend::kExecute: {
      auto message = parse_execute(frame.body);
      if (!message) co_return co_await protocol_violation("invalid Execute message");
      in_batch_ = true;
      bool ok = co_await execute(*message);
      skipping_ = !ok;
      co_return !closed_;
    }
    case frontend::kClose: {
      auto message = parse_close(frame.body);
      if (!message) co_return co_await protocol_violation("invalid Close message");
      in_batch_ = true;
      close(*message);
      co_return true;
    }
    case frontend::kFlush:
      co_return co_await write_now();
    case frontend::kCopyData:
    case frontend::kCopyDone:
    case frontend::kCopyFail:
      // PostgreSQL ignores these outside COPY: they follow a COPY that failed to start.
      co_return true;
    case frontend::kFunctionCall:
      error("0A000", "function calls are not supported by the embedded SQLite database");
      co_return co_await ready_for_query();
    default:
      co_return co_await protocol_violation("invalid frontend message type " +
                                            std::to_string(static_cast<unsigned char>(frame.type)));
  }
}

// --- simple query -------------------------------------------------------------------------

// PostgreSQL runs the statements of one Query as a single implicit transaction; here each
// statement outside an explicit BEGIN commits on its own, so an error stops the rest of the
// Query but does not undo the statements before it.
awaitable<bool> SqliteFront::simple_query(std::string_view sql) {
  // A simple Query replaces the unnamed statement and portal, as in PostgreSQL.
  statements_.erase("");
  close_portal("");
  bool any = false;
  std::size_t offset = 0;
  while (offset < sql.size() && !closed_) {
    std::string_view rest = sql.substr(offset);
    FrontStatement command = classify_statement(rest);
    if (command.kind == FrontKind::kEmpty) break;
    if (block_ == Block::kFailed && !ends_failed_block(command.kind)) {
      any = true;
      error("25P02", kAborted);
      break;
    }
    auto prepared = std::make_shared<Prepared>();
    std::size_t begin = command.begin;
    std::size_t length = command.length;
    prepared->command = std::move(command);
    if (runs_in_sqlite(prepared->command.kind)) {
      bool prepared_ok = co_await prepare_sql(*prepared, rest.substr(begin, length - begin));
      if (!prepared_ok) {
        any = true;
        break;
      }
      length = begin + prepared->command.length;
      if (prepared->sqlite_parameters > 0) {
        any = true;
        error("42P02", "there is no parameter $1");
        break;
      }
    }
    offset += std::max<std::size_t>(length, 1);
    if (prepared->command.kind == FrontKind::kEmpty) continue;  // only comments, to SQLite
    any = true;
    Portal portal;
    portal.statement = prepared;
    portal.simple = true;
    bool ok = co_await run_portal(portal, "", 0);
    if (!ok) break;
  }
  if (!any) encode_empty_query_response(s_.output_);
  if (block_ == Block::kNone) close_portals(nullptr);
  if (closed_) co_return false;
  co_return co_await ready_for_query();
}

// --- extended query -----------------------------------------------------------------------

awaitable<bool> SqliteFront::prepare_sql(Prepared& prepared, std::string_view sql) {
  std::string text = rewrite_casts(sql);
  bool rewritten = text != sql;
  std::string name = "\x01s" + std::to_string(++statement_counter_);
  auto result = co_await connection_->prepare(name, text);
  if (auto* e = std::get_if<sqlite::Error>(&result)) {
    error(*e);
    co_return false;
  }
  auto& info = std::get<sqlite::StatementInfo>(result);
  prepared.executor_name = std::move(name);
  prepared.connection = connection_;
  // SQLite decides where the statement ends (it knows its own trigger bodies and quotes);
  // offsets in rewritten text only map back when SQLite took all of it. The length is
  // counted from the start of `sql`.
  std::size_t length = info.consumed;
  if (rewritten) {
    if (!is_blank(std::string_view(text).substr(std::min(info.consumed, text.size())))) {
      error("42601", "cannot split this query into statements: send them one at a time");
      co_return false;
    }
    length = sql.size();
  }
  prepared.command.length = length > 0 ? length : sql.size();
  if (info.empty) {
    // Only comments by SQLite's reading: nothing to run.
    prepared.command.kind = FrontKind::kEmpty;
    co_return true;
  }
  prepared.sqlite_parameters = static_cast<std::size_t>(std::max(info.parameter_count, 0));
  prepared.columns = std::move(info.columns);
  prepared.tag = tag_command(sql.substr(0, prepared.command.length));
  co_return true;
}

awaitable<bool> SqliteFront::parse(const ParseMessage& message) {
  std::string name(message.statement);
  if (!name.empty() && statements_.count(name)) {
    error("42P05", "prepared statement \"" + name + "\" already exists");
    co_return false;
  }
  auto prepared = std::make_shared<Prepared>();
  prepared->command = classify_statement(message.query);
  if (block_ == Block::kFailed && !ends_failed_block(prepared->command.kind)) {
    error("25P02", kAborted);
    co_return false;
  }
  std::size_t length = prepared->command.length;
  if (runs_in_sqlite(prepared->command.kind)) {
    std::size_t begin = prepared->command.begin;
    bool prepared_ok = co_await prepare_sql(*prepared, message.query.substr(begin));
    if (!prepared_ok) co_return false;
    length = begin + prepared->command.length;
  }
  length = std::min(length, message.query.size());
  if (!is_blank(message.query.substr(length))) {
    error("42601", "cannot insert multiple commands into a prepared statement");
    co_return false;
  }
  prepared->parameter_types = message.parameter_types;
  if (prepared->parameter_types.size() < prepared->sqlite_parameters) {
    prepared->parameter_types.resize(prepared->sqlite_parameters, oid::kUnspecified);
  }
  statements_[name] = std::move(prepared);
  encode_parse_complete(s_.output_);
  co_return true;
}

const std::shared_ptr<SqliteFront::Prepared>* SqliteFront::find_statement(const std::string& name) {
  auto it = statements_.find(name);
  if (it != statements_.end()) return &it->second;
  error("26000", name.empty() ? "unnamed prepared statement does not exist"
                              : "prepared statement \"" + name + "\" does not exist");
  return nullptr;
}

awaitable<bool> SqliteFront::bind(const BindMessage& message) {
  std::string statement_name(message.statement);
  std::string portal_name(message.portal);
  const auto* found = find_statement(statement_name);
  if (found == nullptr) co_return false;
  std::shared_ptr<Prepared> prepared = *found;
  if (block_ == Block::kFailed && !ends_failed_block(prepared->command.kind)) {
    error("25P02", kAborted);
    co_return false;
  }
  const auto& formats = message.parameter_formats;
  const auto& values = message.parameters;
  if (formats.size() > 1 && formats.size() != values.size()) {
    error("08P01", "bind message has " + std::to_string(formats.size()) +
                       " parameter formats but " + std::to_string(values.size()) + " parameters");
    co_return false;
  }
  if (values.size() != prepared->parameter_types.size()) {
    error("08P01", "bind message supplies " + std::to_string(values.size()) +
                       " parameters, but prepared statement \"" + statement_name + "\" requires " +
                       std::to_string(prepared->parameter_types.size()));
    co_return false;
  }
  auto portal = std::make_shared<Portal>();
  portal->statement = prepared;
  for (std::size_t i = 0; i < values.size() && i < prepared->sqlite_parameters; ++i) {
    std::int16_t format = formats.empty() ? 0 : formats.size() == 1 ? formats[0] : formats[i];
    ParameterValue value;
    if (auto failure = decode_parameter(values[i], format, prepared->parameter_types[i], value)) {
      error(failure->sqlstate, failure->message + " (parameter $" + std::to_string(i + 1) + ")");
      co_return false;
    }
    portal->parameters.push_back(to_value(std::move(value)));
  }
  std::size_t columns = prepared->column_count();
  if (message.result_formats.size() > 1 && message.result_formats.size() != columns) {
    error("08P01", "bind message has " + std::to_string(message.result_formats.size()) +
                       " result formats but query has " + std::to_string(columns) + " columns");
    co_return false;
  }
  for (auto format : message.result_formats) {
    if (format != 0 && format != 1) {
      error("22023", "unsupported format code: " + std::to_string(format));
      co_return false;
    }
  }
  portal->result_formats = message.result_formats;
  if (!portal_name.empty() && portals_.count(portal_name)) {
    error("42P03", "cursor \"" + portal_name + "\" already exists");
    co_return false;
  }
  close_portal(portal_name);
  portals_[portal_name] = std::move(portal);
  encode_bind_complete(s_.output_);
  co_return true;
}

awaitable<bool> SqliteFront::describe(const TargetMessage& message) {
  std::string name(message.name);
  if (message.kind == 'S') {
    const auto* found = find_statement(name);
    if (found == nullptr) co_return false;
    const Prepared& prepared = **found;
    std::vector<std::uint32_t> types = prepared.parameter_types;
    for (auto& type : types) {
      if (type == oid::kUnspecified) type = oid::kText;
    }
    encode_parameter_description(s_.output_, types);
    Portal portal;  // an unbound portal of the statement: declared types, text format
    portal.statement = *found;
    if (prepared.column_count() == 0) {
      encode_no_data(s_.output_);
    } else {
      settle_types(portal, false);
      describe_rows(portal);
    }
    co_return true;
  }
  auto it = portals_.find(name);
  if (it == portals_.end()) {
    error("34000", "portal \"" + name + "\" does not exist");
    co_return false;
  }
  std::shared_ptr<Portal> portal = it->second;
  const Prepared& prepared = *portal->statement;
  if (prepared.column_count() == 0) {
    encode_no_data(s_.output_);
    co_return true;
  }
  // Expression columns take their type from the first row, so the rows are read now;
  // every driver executes a portal it described, and this is what it will be sent.
  if (prepared.command.kind == FrontKind::kSql && !portal->started) {
    bool started = co_await start(*portal, name);
    if (!started) {
      co_await after_failure(prepared.command.kind, name);
      co_return false;
    }
  }
  settle_types(*portal, true);
  describe_rows(*portal);
  co_return true;
}

awaitable<bool> SqliteFront::execute(const ExecuteMessage& message) {
  std::string name(message.portal);
  auto it = portals_.find(name);
  if (it == portals_.end()) {
    error("34000", "portal \"" + name + "\" does not exist");
    co_return false;
  }
  std::shared_ptr<Portal> portal = it->second;  // kept alive if the statement drops portals
  std::size_t max_rows = message.max_rows > 0 ? static_cast<std::size_t>(message.max_rows) : 0;
  co_return co_await run_portal(*portal, name, max_rows);
}

void SqliteFront::close(const TargetMessage& message) {
  std::string name(message.name);
  if (message.kind == 'S') {
    auto it = statements_.find(name);
    if (it != statements_.end()) {
      // Closing a statement closes the portals made from it, as in PostgreSQL.
      std::vector<std::string> dependent;
      for (const auto& [portal_name, portal] : portals_) {
        if (portal->statement == it->second) dependent.push_back(portal_name);
      }
      for (const auto& portal_name : dependent) close_portal(portal_name);
      statements_.erase(it);
    }
  } else {
    close_portal(name);
  }
  encode_close_complete(s_.output_);
}

awaitable<bool> SqliteFront::sync() {
  skipping_ = false;
  in_batch_ = false;
  // Outside a transaction block the implicit transaction ends here and its portals with it,
  // which also lets SQLite drop the read snapshot of any suspended cursor.
  if (block_ == Block::kNone) close_portals(nullptr);
  co_return co_await ready_for_query();
}

awaitable<void> run_sqlite_front(Session& session) {
  SqliteFront front(session);
  co_await front.run();
}

}  // namespace plexi::pg
