// SQL functions PostgreSQL clients and tools call on connect, added to every connection.
#pragma once

#include <atomic>

struct sqlite3;

namespace plexi::sqlite {

// Registers version(), current_database(), current_schema(), now() and pg_sleep(seconds).
// pg_sleep polls `cancel` (owned by the connection, outliving `db`'s functions) so a
// client's cancel request ends it. Returns an SQLite result code.
int register_functions(sqlite3* db, const std::atomic<bool>* cancel);

}  // namespace plexi::sqlite
