// The SQLite executor: statements run in-process on a bounded thread pool, never on the
// network workers, and come back as protocol-neutral rows that a frontend encodes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/asio.h"

struct sqlite3;

namespace plexi::sqlite {

// How SQLite stored a value.
enum class ValueKind : std::uint8_t { kNull, kInteger, kReal, kText, kBlob };

// What a column's declared type says it holds (SQLite affinity rules, plus BOOLEAN and
// NUMERIC/DECIMAL kept apart so a frontend can report them).
enum class DeclaredType : std::uint8_t { kNone, kInteger, kReal, kText, kBlob, kBoolean, kNumeric };

struct Value {
  ValueKind kind = ValueKind::kNull;
  std::int64_t integer = 0;
  double real = 0;
  std::string bytes;  // kText and kBlob

  static Value null() { return {}; }
  static Value of_integer(std::int64_t v) { return {ValueKind::kInteger, v, 0, {}}; }
  static Value of_real(double v) { return {ValueKind::kReal, 0, v, {}}; }
  static Value of_text(std::string v) { return {ValueKind::kText, 0, 0, std::move(v)}; }
  static Value of_blob(std::string v) { return {ValueKind::kBlob, 0, 0, std::move(v)}; }
};

struct Column {
  std::string name;
  DeclaredType declared = DeclaredType::kNone;
  // kNone columns (expressions): the storage kind of the first row's value when one was
  // read before the columns were reported, else kNull.
  ValueKind first_value = ValueKind::kNull;
};

struct Error {
  int code = 0;           // SQLite primary result code
  int extended_code = 0;  // SQLite extended result code
  std::string message;
  std::string sqlstate;  // the SQL-standard class this maps to (23505, 42P01, 42601, ...)
};

// A statement as prepared: how many parameters it takes and the columns it returns.
struct StatementInfo {
  int parameter_count = 0;
  std::vector<Column> columns;  // empty for statements that return no rows
  bool read_only = false;       // sqlite3_stmt_readonly
  std::string verb;             // the leading keyword upper-cased: SELECT, INSERT, BEGIN, ...
  std::size_t consumed = 0;     // bytes of the SQL text this statement used (for scripts)
  bool empty = false;           // the text held only whitespace and comments
};

// Rows of one execution, in batches so a large result never sits in memory whole.
struct Rows {
  std::vector<Column> columns;
  std::vector<std::vector<Value>> rows;
  bool complete = false;            // no more rows to fetch
  std::int64_t changes = 0;         // complete: rows inserted, updated or deleted
  std::int64_t last_insert_id = 0;  // complete
};

template <class T>
using Result = std::variant<T, Error>;

class Database;

// One client's connection to the database file. Its calls run one at a time on the
// database's thread pool; interrupt() may be called from any thread.
class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Prepares the first statement of `sql` and keeps it as `name` ("" is the unnamed one,
  // replaced by each prepare). PostgreSQL-style $1..$n parameters are accepted.
  awaitable<Result<StatementInfo>> prepare(std::string name, std::string sql);
  void close_statement(const std::string& name);
  // The prepared statement's description, if it exists.
  const StatementInfo* statement(const std::string& name) const;

  // Binds `parameters` to statement `statement` and opens cursor `cursor` ("" unnamed) on
  // it, then reads up to `max_rows` rows (0: all). A cursor replaces one of the same name.
  // SQLITE_BUSY (another connection writing) is retried with short asynchronous waits up
  // to the busy timeout, without holding a pool thread.
  awaitable<Result<Rows>> execute(std::string cursor, std::string statement,
                                  std::vector<Value> parameters, std::size_t max_rows);
  // Reads up to `max_rows` more rows from an open cursor.
  awaitable<Result<Rows>> fetch(std::string cursor, std::size_t max_rows);
  void close_cursor(const std::string& cursor);

  // True while a BEGIN has not been committed or rolled back.
  bool in_transaction() const;
  // Stops the statement running now (a client's cancel request).
  void interrupt();

 private:
  friend class Database;
  struct State;
  explicit Connection(Database& database, std::unique_ptr<State> state);
  Database& database_;
  std::unique_ptr<State> state_;
};

// The database file and the thread pool its statements run on.
class Database {
 public:
  // Opens (creating if needed) the file in WAL mode. `threads`: the size of the pool.
  static std::unique_ptr<Database> open(const std::string& path, std::size_t threads,
                                        std::string& error);
  ~Database();

  // A new connection. While the last connection closes (and checkpoints the WAL file)
  // opening one fails with SQLITE_BUSY, so this retries for up to two seconds.
  awaitable<Result<std::unique_ptr<Connection>>> connect();
  const std::string& path() const { return path_; }
  asio::thread_pool& pool() { return pool_; }

 private:
  Database(std::string path, std::size_t threads);
  std::string path_;
  asio::thread_pool pool_;
};

}  // namespace plexi::sqlite
