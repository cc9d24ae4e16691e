// What a MySQL statement string asks of routing and pooling, from one pass over its tokens
// (MySQL's lexical rules: backquoted names, '...' and "..." strings with backslash escapes,
// `#` and `-- ` comments, executable /*! ... */ comments, x'..', b'..', 0x.. literals):
// read or write, transaction control, session settings to replay on another server, state
// that pins the client to its server, and the statement's shape for digests and rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/hint.h"
#include "routing/statement_rules.h"
#include "routing/statement_shape.h"

namespace plexi::routing {

// Why a MySQL client must keep its server connection.
enum class MysqlPin {
  kNone,
  kUserVariable,    // SET @x, SELECT @x := ..., any @x reference
  kTemporaryTable,  // CREATE TEMPORARY TABLE
  kUserLock,        // GET_LOCK(), IS_USED_LOCK() …
  kLockTables,      // LOCK TABLES, FLUSH TABLES WITH READ LOCK
  kFoundRows,       // SQL_CALC_FOUND_ROWS, FOUND_ROWS()
  kLastInsertId,    // LAST_INSERT_ID() (its value lives on the server that ran the insert)
  kSqlPrepare,      // PREPARE / EXECUTE / DEALLOCATE PREPARE
  kUnknownSetting,  // a SET the proxy cannot replay
  kHandler,         // HANDLER ... OPEN
};
std::string_view to_string(MysqlPin pin);

// One session setting to replay on another server: `key` identifies it (later ones replace
// earlier ones with the same key), `sql` is the assignment ready to follow "SET ": the
// variable's name in lower case without its scope (SESSION, @@session.), " = ", and the value
// as written (one space where the text had space or comments).
struct MysqlSetting {
  std::string key;  // lower-case: "names", "autocommit", "sql_mode", "time_zone",
                    // "transaction_isolation", "character_set_results", ...
  std::string sql;  // "NAMES utf8mb4", "autocommit = 0", "sql_mode = 'ANSI'" (also for
                    // SET @@session.sql_mode := 'ANSI'), "tx_isolation = 'READ-COMMITTED'",
                    // "SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
};

struct MysqlStatement {
  // Every statement of the string is a read: SELECT (and WITH … SELECT, TABLE, VALUES)
  // without FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE / INTO; SHOW, DESCRIBE, EXPLAIN
  // (without ANALYZE); DO; HELP; START TRANSACTION READ ONLY and what follows it. USE and
  // SET of tracked settings count as reads too (they are replayed, never routed). A
  // statement that pins is never a read, so that the connection a client keeps can write.
  bool read = false;
  TransactionControl transaction = TransactionControl::kNone;  // the last one in the string
  bool read_only = false;  // kBegin with READ ONLY
  // Statements that commit implicitly (DDL, LOCK TABLES, …): a transaction ends. UNLOCK
  // TABLES commits only what LOCK TABLES began, so it says so only after a LOCK TABLES in the
  // same string.
  bool implicit_commit = false;
  std::vector<MysqlSetting> settings;  // tracked SET assignments, in order
  std::optional<std::string> use_database;  // USE db (unquoted)
  MysqlPin pin = MysqlPin::kNone;            // the first reason found
  bool pin_released = false;  // UNLOCK TABLES, RELEASE_ALL_LOCKS(), DEALLOCATE … (informative)
  // KILL [CONNECTION | QUERY] <id>: the id, and whether only the query is to stop.
  std::optional<std::uint64_t> kill_id;
  bool kill_query = false;
  bool load_data_local = false;  // LOAD DATA LOCAL INFILE
  bool multiple = false;         // more than one statement in the string
  Hint hint;
};

// Never throws, on any input.
MysqlStatement analyze_mysql(std::string_view sql);

// The statement's shape for digests and rules: literals as `?`, IN lists and VALUES rows
// collapsed, comments dropped, spacing normalised, key words upper-cased (as
// shape_statement does for PostgreSQL), with MySQL's lexical rules; digest =
// shape_digest(text). Unquoted names are lower-cased, backquoted ones kept as written; the
// content of executable comments (/*! ... */) is kept as code.
StatementShape shape_mysql_statement(std::string_view sql);
// The same into `out`, reusing its text's capacity.
void shape_mysql_statement(std::string_view sql, StatementShape& out);

}  // namespace plexi::routing
