// The database file and the pool its statements run on: opening the file in WAL mode and
// opening each client's own SQLite handle.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "pools/sqlite/connection_state.h"
#include "pools/sqlite/errors.h"
#include "pools/sqlite/executor.h"
#include "pools/sqlite/functions.h"
#include "pools/sqlite/run_on_pool.h"

namespace plexi::sqlite {
namespace {

// Virtual machine steps between checks of the cancel flag.
constexpr int kProgressSteps = 1000;
// Opening a connection while the last one closes (and checkpoints) meets SQLITE_BUSY for
// that short while: up to two seconds of retries.
constexpr int kOpenAttempts = 200;
constexpr std::chrono::milliseconds kOpenRetryWait{10};

}  // namespace

Database::Database(std::string path, std::size_t threads)
    : path_(std::move(path)), pool_(std::max<std::size_t>(threads, 1)) {}

// Waits for queued jobs: each holds a coroutine that must be resumed, not dropped.
Database::~Database() { pool_.join(); }

std::unique_ptr<Database> Database::open(const std::string& path, std::size_t threads,
                                         std::string& error) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  // The journal mode is stored in the file, so one connection sets it for all. This runs
  // once at start-up, where waiting briefly on another process is fine.
  std::string mode;
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(
        db, "PRAGMA journal_mode=WAL",
        [](void* out, int, char** values, char**) {
          *static_cast<std::string*>(out) = values[0] ? values[0] : "";
          return 0;
        },
        &mode, nullptr);
  }
  if (rc != SQLITE_OK) {
    error = path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_close_v2(db);
  // ":memory:" and temporary databases report "memory"; each connection has its own.
  if (mode != "wal" && mode != "memory") {
    error = path + ": cannot use WAL journal mode (got \"" + mode + "\")";
    return nullptr;
  }
  return std::unique_ptr<Database>(new Database(path, threads));
}

awaitable<Result<std::unique_ptr<Connection>>> Database::connect() {
  using Opened = Result<std::unique_ptr<Connection>>;
  auto open_connection = [this]() -> Opened {
    auto state = std::make_unique<Connection::State>();
    int rc =
        sqlite3_open_v2(path_.c_str(), &state->db,
                        SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc == SQLITE_OK) {
      sqlite3_extended_result_codes(state->db, 1);
      sqlite3_busy_timeout(state->db, 0);
      rc = sqlite3_exec(state->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", nullptr,
                        nullptr, nullptr);
    }
    if (rc == SQLITE_OK) rc = register_functions(state->db, &state->cancel);
    if (rc != SQLITE_OK) return error_from(state->db, rc);
    sqlite3_progress_handler(
        state->db, kProgressSteps,
        [](void* cancel) { return static_cast<std::atomic<bool>*>(cancel)->load() ? 1 : 0; },
        &state->cancel);
    return std::unique_ptr<Connection>(new Connection(*this, std::move(state)));
  };
  // The last connection to close checkpoints and removes the WAL file under an exclusive
  // lock; a connection opened meanwhile is told SQLITE_BUSY, so it tries again briefly.
  Opened opened;
  for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
    if (attempt > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(kOpenRetryWait);
      co_await timer.async_wait(use_awaitable);
    }
    try {
      opened = co_await run_on_pool(pool_, open_connection);
    } catch (const std::exception& e) {
      opened = failure_of(e);
    }
    auto* e = std::get_if<Error>(&opened);
    if (e == nullptr || e->code != SQLITE_BUSY) break;
  }
  co_return opened;
}

}  // namespace plexi::sqlite
