// The PostgreSQL functions that drivers, ORMs and psql call when they connect, so they work
// against the embedded SQLite database as they would against a server.
#include "pools/sqlite/functions.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <thread>

namespace plexi::sqlite {
namespace {

void result_text(sqlite3_context* context, const std::string& text) {
  sqlite3_result_text64(context, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

void version(sqlite3_context* context, int, sqlite3_value**) {
  result_text(context, std::string("PostgreSQL 15.0 (plexiproxy embedded SQLite ") +
                           sqlite3_libversion() + ")");
}

void current_database(sqlite3_context* context, int, sqlite3_value**) {
  result_text(context, "plexiproxy");
}

void current_schema(sqlite3_context* context, int, sqlite3_value**) {
  result_text(context, "public");
}

// UTC in SQLite's datetime('now') format, which SQLite's own date functions read back.
void now(sqlite3_context* context, int, sqlite3_value**) {
  std::time_t seconds = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::size_t size = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  sqlite3_result_text(context, text, static_cast<int>(size), SQLITE_TRANSIENT);
}

// Sleeps in 10 ms steps so a cancel request ends it within one step; the statement then
// fails with SQLITE_INTERRUPT like any other interrupted one.
void pg_sleep(sqlite3_context* context, int, sqlite3_value** arguments) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(sqlite3_user_data(context));
  double seconds = sqlite3_value_double(arguments[0]);
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(std::min(seconds, 1e7)));
  constexpr auto kStep = std::chrono::milliseconds(10);
  while (Clock::now() < deadline) {
    if (cancel->load(std::memory_order_relaxed)) {
      sqlite3_result_error_code(context, SQLITE_INTERRUPT);
      return;
    }
    auto left = deadline - Clock::now();
    std::this_thread::sleep_for(left < kStep ? left : Clock::duration(kStep));
  }
  sqlite3_result_null(context);
}

}  // namespace

int register_functions(sqlite3* db, const std::atomic<bool>* cancel) {
  constexpr int kConstant = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = SQLITE_OK;
  auto add = [&](const char* name, int arguments, int flags, void* data,
                 void (*function)(sqlite3_context*, int, sqlite3_value**)) {
    if (rc == SQLITE_OK) {
      rc = sqlite3_create_function_v2(db, name, arguments, flags, data, function, nullptr, nullptr,
                                      nullptr);
    }
  };
  add("version", 0, kConstant, nullptr, version);
  add("current_database", 0, kConstant, nullptr, current_database);
  add("current_schema", 0, kConstant, nullptr, current_schema);
  add("now", 0, SQLITE_UTF8, nullptr, now);
  add("pg_sleep", 1, SQLITE_UTF8, const_cast<std::atomic<bool>*>(cancel), pg_sleep);
  return rc;
}

}  // namespace plexi::sqlite
