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
  bool read_only = false;                                      // kBegin with READ ONLY
  // Statements that commit implicitly (DDL, LOCK TABLES, …): a transaction ends. UNLOCK
  // TABLES commits only what LOCK TABLES began, so it says so only after a LOCK TABLES in the
  // same string.
  bool implicit_commit = false;
  std::vector<MysqlSetting> settings;       // tracked SET assignments, in order
  std::optional<std::string> use_database;  // USE db (unquoted)
  MysqlPin pin = MysqlPin::kNone;           // the first reason found
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

// What a statement string does to tables, for the result cache. Read by its own pass, on
// demand: only statements the cache is concerned with pay for it. A name the scan takes for a
// table when it is not one costs a Redis key; a table it missed would let a stale answer be
// served, so where it cannot tell it says `incomplete` or `writes_unknown`.
struct MysqlTables {
  // "db.t" or "t": unquoted parts in lower case, backquoted ones as written without their
  // quotes. Sorted, without repeats. `read`: FROM and JOIN lists, TABLE t, ... `written`:
  // UPDATE t, INSERT / REPLACE INTO t, DELETE (every table it names), TRUNCATE, ALTER, DROP,
  // CREATE and RENAME TABLE, CREATE / DROP INDEX ... ON t, views, sequences, LOAD DATA.
  std::vector<std::string> read;
  std::vector<std::string> written;
  // It changes data whose tables the text does not name (CALL, EXECUTE, DROP DATABASE, a
  // stored program created or dropped, a data change whose table the scan missed):
  // anything cached for the cluster may be stale.
  bool writes_unknown = false;
  // Its answer may differ between two runs on unchanged tables: a function such as NOW(),
  // CURRENT_TIMESTAMP, RAND(), UUID(), CONNECTION_ID(), USER(), DATABASE(), SLEEP(),
  // GET_LOCK(), NEXTVAL() (the list is in mysql_statement.cc), a sequence's NEXT VALUE, a
  // system or user variable, a stored function called as schema.f(), or a table of a system
  // schema (information_schema, performance_schema, mysql, sys). Stored functions called
  // without their schema are not recognised.
  bool volatile_answer = false;
  // Every statement is a query answered from tables: SELECT, WITH ... SELECT, TABLE, VALUES,
  // (SELECT ...) (not SHOW, EXPLAIN, DESCRIBE, DO, SET, USE, ...).
  bool only_queries = false;
  // Nested deeper than the scan follows: the tables read may be incomplete.
  bool incomplete = false;
};

// Never throws, on any input.
MysqlTables mysql_tables(std::string_view sql);

// Whether `schema` is one whose tables change without writes through the proxy.
bool mysql_system_schema(std::string_view schema);

// The statement's shape for digests and rules: literals as `?`, IN lists and VALUES rows
// collapsed, comments dropped, spacing normalised, key words upper-cased (as
// shape_statement does for PostgreSQL), with MySQL's lexical rules; digest =
// shape_digest(text). Unquoted names are lower-cased, backquoted ones kept as written; the
// content of executable comments (/*! ... */) is kept as code.
StatementShape shape_mysql_statement(std::string_view sql);
// The same into `out`, reusing its text's capacity.
void shape_mysql_statement(std::string_view sql, StatementShape& out);

}  // namespace plexi::routing
