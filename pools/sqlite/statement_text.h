// What the executor reads from statement text before SQLite sees it: the verb, the
// PostgreSQL transaction commands SQLite spells differently, and declared column types.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "pools/sqlite/executor.h"

namespace plexi::sqlite {

// The first keyword, upper-cased, after whitespace, comments and semicolons ("" if none).
std::string leading_verb(std::string_view sql);

// A transaction command of the first statement in SQLite's spelling.
struct TransactionRewrite {
  std::string sql;           // what SQLite runs instead
  std::size_t consumed = 0;  // bytes of the original text the command used (with its ';')
  bool read_only = false;    // BEGIN ... READ ONLY
};

// BEGIN / START TRANSACTION with PostgreSQL options becomes BEGIN IMMEDIATE, or a deferred
// BEGIN when READ ONLY; COMMIT/END/ROLLBACK/ABORT [WORK|TRANSACTION] [AND NO CHAIN] become
// COMMIT/ROLLBACK. Anything else (SQLite's own BEGIN DEFERRED, ROLLBACK TO, unknown options)
// is left to SQLite: nullopt.
std::optional<TransactionRewrite> rewrite_transaction(std::string_view sql);

// SQLite's affinity rules applied to a declared type, with BOOLEAN and NUMERIC/DECIMAL kept
// apart; null or unrecognised declarations (DATE, JSON, ...) are kNone so the value decides.
DeclaredType declared_type(const char* declaration);

// Whether sqlite3_changes64 describes this statement (INSERT/UPDATE/DELETE/REPLACE, also
// behind WITH); SQLite leaves the previous statement's count in place for the others.
bool reports_changes(std::string_view verb, bool read_only);

}  // namespace plexi::sqlite
