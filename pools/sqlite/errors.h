// Turns SQLite result codes and messages into the executor's Error, with a SQLSTATE.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "pools/sqlite/executor.h"

namespace plexi::sqlite {

// The SQL-standard / PostgreSQL SQLSTATE for an SQLite (extended) result code and message.
std::string sqlstate_for(int extended_code, std::string_view message);

// The error `rc` just returned by a call on `db`, with SQLite's own message.
Error error_from(sqlite3* db, int rc);

// An error raised by the executor itself rather than by SQLite.
Error executor_error(std::string sqlstate, std::string message);

// A job that threw: reported as an internal error instead of ending the process.
Error failure_of(const std::exception& e);

}  // namespace plexi::sqlite
