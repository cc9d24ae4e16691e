// Blocking operations on one sqlite3_stmt: binding, describing and stepping. They run on
// the database's thread pool, never on a network worker.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "pools/sqlite/executor.h"

namespace plexi::sqlite {

struct StatementDeleter {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using StatementHandle = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

// How many parameters a client must send: the highest $n for PostgreSQL-style parameters
// (so "$1 ... $3" takes three even when $2 is unused), the position for ? and :name.
int parameter_count(sqlite3_stmt* statement);

// Binds parameter i (0-based) to "$<i+1>" when the text names it, else to position i+1.
// Returns an SQLite result code.
int bind_parameters(sqlite3_stmt* statement, const std::vector<Value>& parameters);

// Column names and declared types; first_value stays kNull.
std::vector<Column> describe_columns(sqlite3_stmt* statement);

// Sets first_value of kNone columns from the first row, if there is one.
void note_first_values(std::vector<Column>& columns, const std::vector<std::vector<Value>>& rows);

// Steps until `max_rows` rows were appended (0: no limit). Returns SQLITE_ROW when it
// stopped at the limit (more may follow), SQLITE_DONE at the end, or the error code.
int step_rows(sqlite3_stmt* statement, std::size_t max_rows, std::vector<std::vector<Value>>& rows);

}  // namespace plexi::sqlite
