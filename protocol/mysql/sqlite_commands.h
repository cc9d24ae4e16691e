// MySQL statements the embedded SQLite front answers or adjusts before SQLite sees them:
// transaction control, SET, USE, SHOW, DESCRIBE, KILL and the SELECTs of system variables
// and session functions that clients send on connect. Pure text work, with MySQL's lexical
// rules (sqlite_lexer.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/mysql/sqlite_lexer.h"

namespace plexi::mysql::embedded {

enum class FrontKind {
  kEmpty,            // only whitespace, comments and semicolons
  kSql,              // anything else: SQLite runs it
  kBegin,            // BEGIN [WORK], START TRANSACTION [...]
  kCommit,           // COMMIT [WORK] [AND [NO] CHAIN] [[NO] RELEASE]
  kRollback,         // ROLLBACK [WORK] ... (not ROLLBACK TO, which SQLite runs)
  kSet,              // SET assignments, SET NAMES, SET CHARACTER SET, SET TRANSACTION
  kUse,              // USE db
  kShowDatabases,    // SHOW DATABASES | SCHEMAS [LIKE 'p']
  kShowTables,       // SHOW [FULL] TABLES [FROM db] [LIKE 'p']
  kShowColumns,      // SHOW [FULL] COLUMNS | FIELDS FROM t [FROM db] [LIKE 'p'], DESCRIBE t
  kShowCreateTable,  // SHOW CREATE TABLE t
  kShowWarnings,     // SHOW WARNINGS | ERRORS [LIMIT ...]
  kShowVariables,    // SHOW [GLOBAL | SESSION] VARIABLES [LIKE 'p' | WHERE Variable_name ...]
  kShowStatus,       // SHOW [GLOBAL | SESSION] STATUS [LIKE 'p']
  kSelectValues,     // SELECT of system variables, user variables and session functions only
  kKill,             // KILL [CONNECTION | QUERY] id
  kAccepted,         // LOCK TABLES, UNLOCK TABLES: nothing to do for one SQLite file
};

// One assignment of a SET statement.
struct Assignment {
  enum class Scope { kSession, kGlobal, kUser };  // @@global. / GLOBAL, @name
  enum class Value {
    kLiteral,  // a number, a string or a word such as ON: `value` holds it unquoted
    kNull,     // NULL
    kDefault,  // DEFAULT: back to the session's initial value
    kOther,    // an expression: `value` holds its text as written
  };
  Scope scope = Scope::kSession;
  std::string name;  // lower-cased for system variables (names as written for @user ones)
  Value kind = Value::kLiteral;
  std::string value;
  bool quoted = false;  // kLiteral: the value was a string, not a number or a word
};

// One item of a SELECT the front answers.
struct SelectItem {
  enum class Kind { kSystemVariable, kUserVariable, kFunction };
  Kind kind = Kind::kSystemVariable;
  std::string name;   // the variable lower-cased (user variables as written); the function
                      // upper-cased: DATABASE, VERSION, USER, CONNECTION_ID, LAST_INSERT_ID
  std::string label;  // the column's name: the alias, else the item's text as written
};

struct FrontStatement {
  FrontKind kind = FrontKind::kEmpty;
  // Where its first token starts (after whitespace, comments and stray semicolons), and the
  // bytes the statement takes with its semicolon. For kSql only `begin` is reliable:
  // SQLite decides where its own statements end.
  std::size_t begin = 0;
  std::size_t length = 0;

  std::vector<Assignment> assignments;  // kSet
  // kUse: the database; kShowColumns, kShowCreateTable: the table; kShowTables: the
  // database named by FROM, if any; kBegin: SQLite's DEFERRED, IMMEDIATE or EXCLUSIVE, if
  // the client asked for one.
  std::string name;
  std::optional<std::string> like;  // SHOW ... LIKE 'pattern', unquoted
  // SHOW VARIABLES WHERE Variable_name = 'a' [OR Variable_name = 'b' ...] or IN ('a', ...).
  std::vector<std::string> where_names;
  bool full = false;                   // SHOW FULL TABLES / COLUMNS
  bool read_only = false;              // kBegin: START TRANSACTION READ ONLY
  std::vector<SelectItem> items;       // kSelectValues
  std::optional<std::uint64_t> limit;  // kSelectValues: LIMIT n
  std::uint64_t kill_id = 0;           // kKill
  bool kill_query = false;             // kKill: KILL QUERY (else the connection)
};

// The first statement of `sql`.
FrontStatement classify_statement(std::string_view sql);

// The kinds the front answers with rows it computes itself.
bool answers_rows(FrontKind kind);

}  // namespace plexi::mysql::embedded
