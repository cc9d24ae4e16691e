// Maps SQLite failures onto the SQLSTATEs PostgreSQL (and MySQL's SQLSTATE field) clients
// test for, so an application's "unique violation" or "no such table" handling works unchanged.
#include "pools/sqlite/errors.h"

#include <sqlite3.h>

namespace plexi::sqlite {
namespace {

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// SQLITE_ERROR covers every compile-time failure; only its message tells them apart.
std::string sqlstate_for_message(std::string_view message) {
  if (contains(message, "no such table")) return "42P01";     // undefined_table
  if (contains(message, "no such column")) return "42703";    // undefined_column
  if (contains(message, "no such function")) return "42883";  // undefined_function
  if (contains(message, "syntax error") || contains(message, "incomplete input") ||
      contains(message, "unrecognized token")) {
    return "42601";  // syntax_error
  }
  if (contains(message, "already exists")) return "42P07";  // duplicate_table (any relation)
  if (contains(message, "cannot start a transaction within a transaction")) {
    return "25001";  // active_sql_transaction
  }
  if (contains(message, "no transaction is active")) return "25P01";  // no_active_sql_transaction
  if (contains(message, "no such savepoint")) return "3B001";  // invalid_savepoint_specification
  return "XX000";
}

}  // namespace

std::string sqlstate_for(int extended_code, std::string_view message) {
  switch (extended_code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
      return "23505";  // unique_violation
    case SQLITE_CONSTRAINT_NOTNULL:
      return "23502";  // not_null_violation
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return "23503";  // foreign_key_violation
    case SQLITE_CONSTRAINT_CHECK:
      return "23514";  // check_violation
    case SQLITE_CONSTRAINT_DATATYPE:
      return "42804";  // datatype_mismatch (STRICT tables)
    default:
      break;
  }
  switch (extended_code & 0xff) {
    case SQLITE_CONSTRAINT:
      return "23000";  // integrity_constraint_violation: triggers' RAISE(ABORT), ...
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "55P03";  // lock_not_available
    case SQLITE_INTERRUPT:
      return "57014";  // query_canceled
    case SQLITE_READONLY:
      return "25006";  // read_only_sql_transaction
    case SQLITE_TOOBIG:
      return "54000";  // program_limit_exceeded
    case SQLITE_RANGE:
      return "08P01";  // protocol_violation: parameters that do not match the statement
    case SQLITE_MISMATCH:
      return "42804";  // datatype_mismatch
    case SQLITE_NOMEM:
      return "53200";  // out_of_memory
    case SQLITE_FULL:
      return "53100";  // disk_full
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return "58030";  // io_error
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "XX001";  // data_corrupted
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return "42501";  // insufficient_privilege
    default:
      return sqlstate_for_message(message);
  }
}

Error error_from(sqlite3* db, int rc) {
  Error error;
  // With extended result codes enabled, rc from prepare/step is already extended; the
  // connection's own record is the fallback for calls that return primary codes only.
  error.extended_code = rc > 0xff ? rc : (db ? sqlite3_extended_errcode(db) : rc);
  if ((error.extended_code & 0xff) != (rc & 0xff)) error.extended_code = rc;
  error.code = error.extended_code & 0xff;
  const char* message = db ? sqlite3_errmsg(db) : nullptr;
  // sqlite3_errmsg describes the connection's last error, which is rc's unless rc came
  // from somewhere else (a reset's stale code); then the generic text is the honest one.
  if (message == nullptr || (db && (sqlite3_errcode(db) & 0xff) != error.code)) {
    message = sqlite3_errstr(rc);
  }
  error.message = message;
  error.sqlstate = sqlstate_for(error.extended_code, error.message);
  return error;
}

Error executor_error(std::string sqlstate, std::string message) {
  Error error;
  error.code = SQLITE_ERROR;
  error.extended_code = SQLITE_ERROR;
  error.message = std::move(message);
  error.sqlstate = std::move(sqlstate);
  return error;
}

Error failure_of(const std::exception& e) {
  return executor_error("XX000", std::string("executor failure: ") + e.what());
}

}  // namespace plexi::sqlite
