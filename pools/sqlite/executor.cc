// The SQLite executor's connections: statements and cursors kept per client, blocking work
// sent to the database's thread pool, and SQLITE_BUSY waited out on the client's executor.
#include "pools/sqlite/executor.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "pools/sqlite/connection_state.h"
#include "pools/sqlite/errors.h"
#include "pools/sqlite/run_on_pool.h"
#include "pools/sqlite/statement.h"
#include "pools/sqlite/statement_text.h"

namespace plexi::sqlite {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Connections never sleep inside SQLite (busy timeout 0): a waiting writer would hold a pool
// thread, and with as many waiters as threads the lock holder could never run again.
constexpr Clock::duration kBusyTimeout = 10s;
constexpr Clock::duration kFirstBusyWait = 1ms;
constexpr Clock::duration kLongestBusyWait = 20ms;

bool retryable(sqlite3* db, int rc) {
  int primary = rc & 0xff;
  if (primary != SQLITE_BUSY && primary != SQLITE_LOCKED) return false;
  // Inside a transaction a stale snapshot stays stale: only ROLLBACK helps.
  if (rc == SQLITE_BUSY_SNAPSHOT && !sqlite3_get_autocommit(db)) return false;
  // A COMMIT while this connection's own write statement is unfinished waits on itself.
  return std::string_view(sqlite3_errmsg(db)).find("statements in progress") ==
         std::string_view::npos;
}

Error interrupted() {
  Error error;
  error.code = error.extended_code = SQLITE_INTERRUPT;
  error.message = sqlite3_errstr(SQLITE_INTERRUPT);
  error.sqlstate = "57014";
  return error;
}

// Waits before the next attempt of a busy statement, on the caller's executor so no pool
// thread is held. False once the busy timeout is spent or the client cancelled.
struct Backoff {
  Clock::time_point deadline = Clock::now() + kBusyTimeout;
  Clock::duration wait = kFirstBusyWait;
};

awaitable<bool> back_off(Backoff& backoff, const std::atomic<bool>& cancel) {
  if (cancel.load() || Clock::now() + backoff.wait > backoff.deadline) co_return false;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(backoff.wait);
  co_await timer.async_wait(use_awaitable);
  backoff.wait = std::min(backoff.wait * 2, kLongestBusyWait);
  co_return !cancel.load();
}

// The outcome of one attempt on the pool.
struct Prepare {
  Result<StatementInfo> result;
  StatementHandle handle;
  bool busy = false;
};

struct Batch {
  Result<Rows> result;
  StatementHandle fresh;  // a handle prepared for this cursor by the attempt
  bool busy = false;
};

// Reads one batch of rows; `first`: the statement's first step, where SQLITE_BUSY can
// still be retried because nothing was returned or changed.
Batch read_batch(sqlite3* db, sqlite3_stmt* statement, std::size_t max_rows, bool first,
                 const StatementInfo& info, std::vector<Column> columns) {
  Batch batch;
  Rows rows;
  int rc = step_rows(statement, max_rows, rows.rows);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    Error error = error_from(db, rc);
    batch.busy = first && rows.rows.empty() && retryable(db, rc);
    sqlite3_reset(statement);
    batch.result = std::move(error);
    return batch;
  }
  if (first) {
    // Described after the first step: SQLite may have recompiled the statement there.
    columns = describe_columns(statement);
    note_first_values(columns, rows.rows);
  }
  rows.columns = std::move(columns);
  if (rc == SQLITE_DONE) {
    rows.complete = true;
    rows.changes = reports_changes(info.verb, info.read_only) ? sqlite3_changes64(db) : 0;
    rows.last_insert_id = sqlite3_last_insert_rowid(db);
    sqlite3_reset(statement);  // ends the statement's read transaction now
  }
  batch.result = std::move(rows);
  return batch;
}

// Marks a connection as running a statement, so interrupt() knows there is one to stop.
// A cancel request outlives neither: a later prepare (whose schema reads also consult the
// progress handler) or statement must not inherit it.
class Running {
 public:
  Running(std::atomic<bool>& running, std::atomic<bool>& cancel)
      : running_(running), cancel_(cancel) {
    cancel_.store(false);
    running_.store(true);
  }
  ~Running() {
    running_.store(false);
    cancel_.store(false);
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

 private:
  std::atomic<bool>& running_;
  std::atomic<bool>& cancel_;
};

}  // namespace

Connection::Connection(Database& database, std::unique_ptr<State> state)
    : database_(database), state_(std::move(state)) {}

Connection::~Connection() = default;

awaitable<Result<StatementInfo>> Connection::prepare(std::string name, std::string sql) {
  State& state = *state_;
  std::optional<TransactionRewrite> rewrite = rewrite_transaction(sql);
  std::string text = rewrite ? rewrite->sql : sql;
  auto attempt = [&state, &text, &sql, &rewrite]() {
    Prepare outcome;
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(state.db, text.data(), static_cast<int>(text.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    outcome.handle.reset(raw);
    if (rc != SQLITE_OK) {
      outcome.busy = retryable(state.db, rc);
      outcome.result = error_from(state.db, rc);
      return outcome;
    }
    StatementInfo info;
    info.consumed = rewrite ? rewrite->consumed : static_cast<std::size_t>(tail - text.data());
    info.verb = leading_verb(sql);
    info.empty = raw == nullptr;
    info.read_only = raw == nullptr || sqlite3_stmt_readonly(raw);
    if (raw != nullptr) {
      info.parameter_count = parameter_count(raw);
      info.columns = describe_columns(raw);
    }
    outcome.result = std::move(info);
    return outcome;
  };
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    co_return executor_error("54000", "statement too long");
  }
  Running running(state.running, state.cancel);
  Backoff backoff;
  Prepare outcome;
  for (;;) {
    try {
      outcome = co_await run_on_pool(database_.pool(), attempt);
    } catch (const std::exception& e) {
      outcome = Prepare{failure_of(e), nullptr, false};
    }
    if (!outcome.busy) break;
    bool again = co_await back_off(backoff, state.cancel);
    if (!again) {
      if (state.cancel.load()) outcome.result = interrupted();
      break;
    }
  }
  if (name.empty()) state.statements.erase(name);
  auto* info = std::get_if<StatementInfo>(&outcome.result);
  if (info == nullptr) co_return outcome.result;
  auto prepared = std::make_shared<Prepared>();
  prepared->sql = rewrite ? text : text.substr(0, info->consumed);
  prepared->info = *info;
  prepared->handle = std::move(outcome.handle);
  prepared->begins_read_only = rewrite && rewrite->read_only;
  state.statements[name] = std::move(prepared);
  co_return outcome.result;
}

void Connection::close_statement(const std::string& name) { state_->statements.erase(name); }

const StatementInfo* Connection::statement(const std::string& name) const {
  auto found = state_->statements.find(name);
  return found == state_->statements.end() ? nullptr : &found->second->info;
}

awaitable<Result<Rows>> Connection::execute(std::string cursor_name, std::string statement,
                                            std::vector<Value> parameters, std::size_t max_rows) {
  State& state = *state_;
  close_cursor(cursor_name);
  auto found = state.statements.find(statement);
  if (found == state.statements.end()) {
    co_return executor_error("26000", "prepared statement \"" + statement + "\" does not exist");
  }
  std::shared_ptr<Prepared> prepared = found->second;
  const StatementInfo& info = prepared->info;
  if (info.empty) {
    state.cursors[cursor_name] = Cursor{};
    Rows rows;
    rows.complete = true;
    co_return rows;
  }
  if (parameters.size() != static_cast<std::size_t>(info.parameter_count)) {
    co_return executor_error("08P01", "bind message supplies " + std::to_string(parameters.size()) +
                                          " parameters, but prepared statement \"" + statement +
                                          "\" requires " + std::to_string(info.parameter_count));
  }
  // SQLite's deferred BEGIN does not stop writes; PostgreSQL's READ ONLY does.
  if (sqlite3_get_autocommit(state.db)) state.read_only_transaction = false;
  if (state.read_only_transaction && !info.read_only) {
    co_return executor_error("25006",
                             "cannot execute " + info.verb + " in a read-only transaction");
  }

  Cursor cursor;
  cursor.prepared = prepared;
  if (!prepared->handle_in_use) {
    cursor.statement = prepared->handle.get();
    prepared->handle_in_use = true;
  }
  Running running(state.running, state.cancel);
  auto attempt = [&]() {
    Batch batch;
    sqlite3_stmt* handle = cursor.statement;
    if (handle == nullptr) {
      int rc =
          sqlite3_prepare_v3(state.db, prepared->sql.data(), static_cast<int>(prepared->sql.size()),
                             SQLITE_PREPARE_PERSISTENT, &handle, nullptr);
      batch.fresh.reset(handle);
      if (rc != SQLITE_OK || handle == nullptr) {
        batch.busy = retryable(state.db, rc);
        batch.result = rc != SQLITE_OK ? error_from(state.db, rc)
                                       : executor_error("XX000", "statement vanished");
        return batch;
      }
    }
    sqlite3_reset(handle);
    sqlite3_clear_bindings(handle);
    if (int rc = bind_parameters(handle, parameters); rc != SQLITE_OK) {
      batch.result = error_from(state.db, rc);
      return batch;
    }
    if (state.cancel.load()) {
      batch.result = interrupted();
      return batch;
    }
    StatementHandle fresh = std::move(batch.fresh);
    batch = read_batch(state.db, handle, max_rows, true, info, {});
    batch.fresh = std::move(fresh);
    return batch;
  };

  Backoff backoff;
  Batch batch;
  for (;;) {
    try {
      batch = co_await run_on_pool(database_.pool(), attempt);
    } catch (const std::exception& e) {
      batch = Batch{failure_of(e), nullptr, false};
    }
    if (batch.fresh) {
      cursor.owned = std::move(batch.fresh);
      cursor.statement = cursor.owned.get();
    }
    if (!batch.busy) break;
    bool again = co_await back_off(backoff, state.cancel);
    if (!again) {
      if (state.cancel.load()) batch.result = interrupted();
      break;
    }
  }

  auto* rows = std::get_if<Rows>(&batch.result);
  if (rows == nullptr) {
    finish(cursor);
    co_return batch.result;
  }
  cursor.columns = rows->columns;
  if (rows->complete) {
    if (prepared->begins_read_only) state.read_only_transaction = true;
    finish(cursor);
  }
  state.cursors[cursor_name] = std::move(cursor);
  co_return batch.result;
}

awaitable<Result<Rows>> Connection::fetch(std::string cursor_name, std::size_t max_rows) {
  State& state = *state_;
  auto found = state.cursors.find(cursor_name);
  if (found == state.cursors.end()) {
    co_return executor_error("34000", "portal \"" + cursor_name + "\" does not exist");
  }
  Cursor& cursor = found->second;
  if (cursor.statement == nullptr) {
    Rows rows;
    rows.columns = cursor.columns;
    rows.complete = true;
    co_return rows;
  }
  Running running(state.running, state.cancel);
  Batch batch;
  try {
    batch = co_await run_on_pool(database_.pool(), [&]() {
      if (state.cancel.load()) {
        sqlite3_reset(cursor.statement);
        return Batch{interrupted(), nullptr, false};
      }
      return read_batch(state.db, cursor.statement, max_rows, false, cursor.prepared->info,
                        cursor.columns);
    });
  } catch (const std::exception& e) {
    batch = Batch{failure_of(e), nullptr, false};
  }
  auto* rows = std::get_if<Rows>(&batch.result);
  if (rows == nullptr) {
    close_cursor(cursor_name);
  } else if (rows->complete) {
    finish(cursor);
  }
  co_return batch.result;
}

void Connection::close_cursor(const std::string& cursor) {
  auto found = state_->cursors.find(cursor);
  if (found == state_->cursors.end()) return;
  finish(found->second);
  state_->cursors.erase(found);
}

bool Connection::in_transaction() const { return !sqlite3_get_autocommit(state_->db); }

void Connection::interrupt() {
  // Only while a statement runs or compiles: SQLite's own flag would otherwise stay set while a
  // suspended cursor keeps a statement active, and stop the client's next statement.
  if (!state_->running.load()) return;
  state_->cancel.store(true);
  sqlite3_interrupt(state_->db);
}

}  // namespace plexi::sqlite
