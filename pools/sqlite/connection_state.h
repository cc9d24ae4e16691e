// What a Connection keeps between calls: its SQLite handle, its prepared statements and its
// open cursors. Shared by the connection's code and the Database that opens it.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pools/sqlite/executor.h"
#include "pools/sqlite/statement.h"

namespace plexi::sqlite {

// A statement as prepared under a name. Cursors share it; its own handle serves one
// cursor at a time and the others get handles of their own.
struct Prepared {
  std::string sql;  // the text SQLite compiled (after rewriting), for further handles
  StatementInfo info;
  StatementHandle handle;         // null for an empty statement
  bool handle_in_use = false;     // a cursor is reading through `handle`
  bool begins_read_only = false;  // BEGIN ... READ ONLY
};

struct Cursor {
  std::shared_ptr<Prepared> prepared;  // null once the cursor is done
  sqlite3_stmt* statement = nullptr;   // prepared->handle, or owned.get()
  StatementHandle owned;
  std::vector<Column> columns;
};

// Gives a cursor's handle back: a borrowed one is reset for the statement's next use.
inline void finish(Cursor& cursor) {
  if (cursor.statement != nullptr && !cursor.owned) {
    sqlite3_reset(cursor.statement);
    sqlite3_clear_bindings(cursor.statement);
    cursor.prepared->handle_in_use = false;
  }
  cursor.statement = nullptr;
  cursor.owned.reset();
  cursor.prepared.reset();
}

struct Connection::State {
  sqlite3* db = nullptr;
  std::atomic<bool> running{false};  // a statement is executing or fetching
  std::atomic<bool> cancel{false};   // read by pg_sleep and the progress handler
  std::map<std::string, std::shared_ptr<Prepared>, std::less<>> statements;
  std::map<std::string, Cursor, std::less<>> cursors;
  bool read_only_transaction = false;  // a BEGIN READ ONLY is open

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  // Statements first: SQLite closes a handle only once all its statements are finalized.
  ~State() {
    for (auto& [name, cursor] : cursors) finish(cursor);
    cursors.clear();
    statements.clear();
    sqlite3_close_v2(db);
  }
};

}  // namespace plexi::sqlite
