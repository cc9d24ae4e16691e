// Tests for the SQLite executor against a real database file in a temporary directory.
#include "pools/sqlite/executor.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "pools/sqlite/run_on_pool.h"

namespace plexi::sqlite {
namespace {

using namespace std::chrono_literals;

// Runs a coroutine to completion on `context` and returns its result.
template <class T>
T run(asio::io_context& context, awaitable<T> work) {
  auto future = asio::co_spawn(context, std::move(work), asio::use_future);
  context.restart();
  context.run();
  return future.get();
}

awaitable<Result<Rows>> run_sql(Connection& connection, std::string sql,
                                std::vector<Value> parameters = {}, std::size_t max_rows = 0) {
  auto prepared = co_await connection.prepare("", sql);
  if (auto* error = std::get_if<Error>(&prepared)) co_return *error;
  auto rows = co_await connection.execute("", "", std::move(parameters), max_rows);
  co_return rows;
}

// One session of the concurrency test: `transactions` transactions of `rows` inserts each.
awaitable<void> insert_rows(Connection& connection, int id, int transactions, int rows,
                            const std::function<void(std::string)>& fail,
                            std::atomic<int>& finished) {
  std::string insert_sql = "INSERT INTO t VALUES ($1, $2)";
  std::string name = "insert";
  auto insert = co_await connection.prepare(name, insert_sql);
  if (std::holds_alternative<Error>(insert)) fail("prepare");
  for (int t = 0; t < transactions; ++t) {
    auto begun = co_await run_sql(connection, "BEGIN");
    if (auto* error = std::get_if<Error>(&begun)) fail("BEGIN: " + error->message);
    for (int r = 0; r < rows; ++r) {
      std::vector<Value> parameters{Value::of_integer(id), Value::of_integer(t * rows + r)};
      std::string cursor;
      auto result = co_await connection.execute(cursor, name, std::move(parameters), 0);
      if (auto* error = std::get_if<Error>(&result)) fail("INSERT: " + error->message);
    }
    auto committed = co_await run_sql(connection, "COMMIT");
    if (auto* error = std::get_if<Error>(&committed)) fail("COMMIT: " + error->message);
  }
  ++finished;
}

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "plexi_sqlite_XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    directory_ = pattern;
    std::string error;
    database_ = Database::open(path(), 4, error);
    ASSERT_TRUE(database_) << error;
    connection_ = connect();
  }

  void TearDown() override {
    connection_.reset();
    database_.reset();
    std::filesystem::remove_all(directory_);
  }

  std::string path() const { return (directory_ / "test.db").string(); }

  std::unique_ptr<Connection> connect() {
    auto opened = run(context_, database_->connect());
    if (auto* error = std::get_if<Error>(&opened)) {
      ADD_FAILURE() << error->message;
      return nullptr;
    }
    return std::move(std::get<std::unique_ptr<Connection>>(opened));
  }

  Result<Rows> sql(std::string text, std::vector<Value> parameters = {}, std::size_t max_rows = 0) {
    return run(context_, run_sql(*connection_, std::move(text), std::move(parameters), max_rows));
  }

  // Runs a statement that must succeed.
  Rows ok(std::string text, std::vector<Value> parameters = {}, std::size_t max_rows = 0) {
    auto result = sql(text, std::move(parameters), max_rows);
    if (auto* error = std::get_if<Error>(&result)) {
      ADD_FAILURE() << text << ": " << error->message;
      return {};
    }
    return std::get<Rows>(std::move(result));
  }

  // Runs a statement that must fail, and returns its SQLSTATE.
  std::string fails(std::string text, std::vector<Value> parameters = {}) {
    auto result = sql(text, std::move(parameters));
    if (auto* error = std::get_if<Error>(&result)) return error->sqlstate;
    ADD_FAILURE() << text << " succeeded";
    return {};
  }

  std::filesystem::path directory_;
  asio::io_context context_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<Connection> connection_;
};

TEST_F(ExecutorTest, EveryValueKindAndNullRoundTrips) {
  ok("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)");
  std::string blob("a\0b\xff", 4);
  ok("INSERT INTO t VALUES ($1, $2, $3, $4, $5)",
     {Value::of_integer(-9000000000LL), Value::of_real(2.5), Value::of_text("héllo"),
      Value::of_blob(blob), Value::null()});
  ok("INSERT INTO t VALUES (NULL, NULL, '', x'', NULL)");
  Rows rows = ok("SELECT i, r, s, b, n FROM t ORDER BY rowid");
  ASSERT_EQ(rows.rows.size(), 2u);
  ASSERT_TRUE(rows.complete);
  const auto& first = rows.rows[0];
  EXPECT_EQ(first[0].kind, ValueKind::kInteger);
  EXPECT_EQ(first[0].integer, -9000000000LL);
  EXPECT_EQ(first[1].kind, ValueKind::kReal);
  EXPECT_EQ(first[1].real, 2.5);
  EXPECT_EQ(first[2].kind, ValueKind::kText);
  EXPECT_EQ(first[2].bytes, "héllo");
  EXPECT_EQ(first[3].kind, ValueKind::kBlob);
  EXPECT_EQ(first[3].bytes, blob);
  EXPECT_EQ(first[4].kind, ValueKind::kNull);
  const auto& second = rows.rows[1];
  EXPECT_EQ(second[0].kind, ValueKind::kNull);
  EXPECT_EQ(second[1].kind, ValueKind::kNull);
  EXPECT_EQ(second[2].kind, ValueKind::kText);
  EXPECT_EQ(second[2].bytes, "");
  EXPECT_EQ(second[3].kind, ValueKind::kBlob);
  EXPECT_EQ(second[3].bytes, "");
}

TEST_F(ExecutorTest, DollarAndQuestionMarkParameters) {
  auto prepared = run(context_, connection_->prepare("swap", "SELECT $2, $1, $2 || $1"));
  ASSERT_TRUE(std::holds_alternative<StatementInfo>(prepared));
  EXPECT_EQ(std::get<StatementInfo>(prepared).parameter_count, 2);
  auto result = run(
      context_, connection_->execute("", "swap", {Value::of_text("a"), Value::of_text("b")}, 0));
  ASSERT_TRUE(std::holds_alternative<Rows>(result));
  const auto& row = std::get<Rows>(result).rows.at(0);
  EXPECT_EQ(row[0].bytes, "b");
  EXPECT_EQ(row[1].bytes, "a");
  EXPECT_EQ(row[2].bytes, "ba");

  // PostgreSQL counts up to the highest $n, even when one is unused.
  auto gap = run(context_, connection_->prepare("gap", "SELECT $1, $3"));
  EXPECT_EQ(std::get<StatementInfo>(gap).parameter_count, 3);
  Rows gap_rows = std::get<Rows>(
      run(context_,
          connection_->execute(
              "", "gap", {Value::of_integer(1), Value::of_integer(2), Value::of_integer(3)}, 0)));
  EXPECT_EQ(gap_rows.rows.at(0)[1].integer, 3);

  Rows positional = ok("SELECT ? + ?", {Value::of_integer(40), Value::of_integer(2)});
  EXPECT_EQ(positional.rows.at(0)[0].integer, 42);
  EXPECT_EQ(fails("SELECT $1, $2", {Value::of_integer(1)}), "08P01");
}

TEST_F(ExecutorTest, DeclaredTypesAndExpressionColumns) {
  ok("CREATE TABLE typed (a INTEGER, b VARCHAR(10), c BLOB, d DOUBLE PRECISION, e BOOLEAN,"
     " f NUMERIC(10,2), g, h DATE)");
  auto prepared = run(context_, connection_->prepare("", "SELECT *, 1 + 1 AS two FROM typed"));
  const auto& info = std::get<StatementInfo>(prepared);
  ASSERT_EQ(info.columns.size(), 9u);
  EXPECT_TRUE(info.read_only);
  EXPECT_EQ(info.verb, "SELECT");
  const DeclaredType expected[] = {
      DeclaredType::kInteger, DeclaredType::kText,    DeclaredType::kBlob,
      DeclaredType::kReal,    DeclaredType::kBoolean, DeclaredType::kNumeric,
      DeclaredType::kNone,    DeclaredType::kNone,    DeclaredType::kNone};
  for (std::size_t i = 0; i < info.columns.size(); ++i) {
    EXPECT_EQ(info.columns[i].declared, expected[i]) << info.columns[i].name;
  }
  EXPECT_EQ(info.columns[8].name, "two");

  ok("INSERT INTO typed VALUES (1, 'x', x'00', 1.5, 1, 2.25, 'free', '2024-01-02')");
  Rows rows = ok("SELECT g, h, 1 + 1 AS two, 0.5 AS half, NULL AS missing FROM typed");
  ASSERT_EQ(rows.columns.size(), 5u);
  EXPECT_EQ(rows.columns[0].first_value, ValueKind::kText);
  EXPECT_EQ(rows.columns[1].first_value, ValueKind::kText);
  EXPECT_EQ(rows.columns[2].first_value, ValueKind::kInteger);
  EXPECT_EQ(rows.columns[3].first_value, ValueKind::kReal);
  EXPECT_EQ(rows.columns[4].first_value, ValueKind::kNull);
  Rows none = ok("SELECT 1 + 1 AS two FROM typed WHERE 0");
  EXPECT_EQ(none.columns.at(0).first_value, ValueKind::kNull);
}

TEST_F(ExecutorTest, ChangesAndLastInsertId) {
  Rows created = ok("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)");
  EXPECT_EQ(created.changes, 0);
  EXPECT_TRUE(created.columns.empty());
  Rows inserted = ok("INSERT INTO t (v) VALUES (1), (2), (3)");
  EXPECT_EQ(inserted.changes, 3);
  EXPECT_EQ(inserted.last_insert_id, 3);
  EXPECT_EQ(ok("UPDATE t SET v = v + 1 WHERE v >= 2").changes, 2);
  EXPECT_EQ(ok("SELECT * FROM t").changes, 0);
  EXPECT_EQ(ok("DELETE FROM t WHERE id = 1").changes, 1);
  EXPECT_EQ(ok("DELETE FROM t WHERE id = 1").changes, 0);
  EXPECT_EQ(ok("REPLACE INTO t (id, v) VALUES (7, 7)").last_insert_id, 7);
  EXPECT_EQ(ok("WITH x(v) AS (VALUES (8), (9)) INSERT INTO t (v) SELECT v FROM x").changes, 2);
  Rows returning = ok("INSERT INTO t (v) VALUES (10) RETURNING id, v");
  ASSERT_EQ(returning.rows.size(), 1u);
  EXPECT_EQ(returning.rows[0][1].integer, 10);
  EXPECT_EQ(returning.changes, 1);
}

TEST_F(ExecutorTest, ErrorsMapToSqlstates) {
  ok("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
  ok("CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id),"
     " name TEXT NOT NULL UNIQUE, n INTEGER CHECK (n > 0))");
  ok("INSERT INTO parent VALUES (1)");
  ok("INSERT INTO child VALUES (1, 1, 'a', 1)");
  EXPECT_EQ(fails("INSERT INTO child VALUES (2, 1, 'a', 1)"), "23505");
  EXPECT_EQ(fails("INSERT INTO child VALUES (1, 1, 'b', 1)"), "23505");
  EXPECT_EQ(fails("INSERT INTO child VALUES (2, 1, NULL, 1)"), "23502");
  EXPECT_EQ(fails("INSERT INTO child VALUES (2, 5, 'b', 1)"), "23503");
  EXPECT_EQ(fails("INSERT INTO child VALUES (2, 1, 'b', 0)"), "23514");
  EXPECT_EQ(fails("SELECT * FROM missing"), "42P01");
  EXPECT_EQ(fails("SELECT missing FROM parent"), "42703");
  EXPECT_EQ(fails("SELEC 1"), "42601");
  EXPECT_EQ(fails("SELECT (1"), "42601");
  EXPECT_EQ(fails("CREATE TABLE parent (x)"), "42P07");
  EXPECT_EQ(fails("SELECT no_such_function(1)"), "42883");
  EXPECT_EQ(fails("SELECT zeroblob(2000000000)"), "54000");
  EXPECT_EQ(fails("COMMIT"), "25P01");
  ok("BEGIN");
  EXPECT_EQ(fails("BEGIN"), "25001");
  ok("ROLLBACK");

  auto error = std::get<Error>(sql("SELECT * FROM missing"));
  EXPECT_EQ(error.message, "no such table: missing");
  EXPECT_EQ(error.code, SQLITE_ERROR);

  auto unknown = run(context_, connection_->execute("", "nope", {}, 0));
  EXPECT_EQ(std::get<Error>(unknown).sqlstate, "26000");
  auto no_cursor = run(context_, connection_->fetch("nope", 0));
  EXPECT_EQ(std::get<Error>(no_cursor).sqlstate, "34000");
}

TEST_F(ExecutorTest, ScriptsRunStatementByStatement) {
  std::string script =
      "CREATE TABLE s (v); INSERT INTO s VALUES (1), (2);\n"
      "-- the rows\nSELECT sum(v) FROM s; /* done */ ;  ";
  std::vector<std::string> verbs;
  std::vector<Rows> results;
  std::size_t at = 0;
  for (int guard = 0; guard < 10; ++guard) {
    auto prepared = run(context_, connection_->prepare("", script.substr(at)));
    ASSERT_TRUE(std::holds_alternative<StatementInfo>(prepared));
    const auto& info = std::get<StatementInfo>(prepared);
    ASSERT_GT(info.consumed, 0u);
    at += info.consumed;
    if (info.empty) break;
    verbs.push_back(info.verb);
    results.push_back(std::get<Rows>(run(context_, connection_->execute("", "", {}, 0))));
  }
  EXPECT_EQ(at, script.size());
  EXPECT_EQ(verbs, (std::vector<std::string>{"CREATE", "INSERT", "SELECT"}));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[1].changes, 2);
  EXPECT_EQ(results[2].rows.at(0)[0].integer, 3);

  auto empty = run(context_, connection_->prepare("", " -- only a comment\n;"));
  EXPECT_TRUE(std::get<StatementInfo>(empty).empty);
  Rows nothing = std::get<Rows>(run(context_, connection_->execute("", "", {}, 0)));
  EXPECT_TRUE(nothing.complete);
  EXPECT_TRUE(nothing.columns.empty());
}

TEST_F(ExecutorTest, CursorsReadInBatches) {
  ok("CREATE TABLE n (v INTEGER)");
  ok("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10)"
     " INSERT INTO n SELECT x FROM c");
  run(context_, connection_->prepare("all", "SELECT v FROM n ORDER BY v"));
  auto first = std::get<Rows>(run(context_, connection_->execute("c", "all", {}, 4)));
  auto second = std::get<Rows>(run(context_, connection_->fetch("c", 4)));
  auto third = std::get<Rows>(run(context_, connection_->fetch("c", 4)));
  EXPECT_EQ(first.rows.size(), 4u);
  EXPECT_FALSE(first.complete);
  EXPECT_EQ(second.rows.size(), 4u);
  EXPECT_FALSE(second.complete);
  EXPECT_EQ(third.rows.size(), 2u);
  EXPECT_TRUE(third.complete);
  EXPECT_EQ(first.rows[0][0].integer, 1);
  EXPECT_EQ(second.rows[0][0].integer, 5);
  EXPECT_EQ(third.rows[1][0].integer, 10);
  EXPECT_EQ(third.columns.at(0).name, "v");
  auto after = std::get<Rows>(run(context_, connection_->fetch("c", 4)));
  EXPECT_TRUE(after.complete);
  EXPECT_TRUE(after.rows.empty());
  connection_->close_cursor("c");
  EXPECT_TRUE(std::holds_alternative<Error>(run(context_, connection_->fetch("c", 4))));
}

TEST_F(ExecutorTest, TwoCursorsOnOneStatement) {
  ok("CREATE TABLE n (v INTEGER)");
  ok("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10)"
     " INSERT INTO n SELECT x FROM c");
  run(context_, connection_->prepare("above", "SELECT v FROM n WHERE v > $1 ORDER BY v"));
  auto low = std::get<Rows>(
      run(context_, connection_->execute("low", "above", {Value::of_integer(0)}, 2)));
  auto high = std::get<Rows>(
      run(context_, connection_->execute("high", "above", {Value::of_integer(6)}, 2)));
  auto low_next = std::get<Rows>(run(context_, connection_->fetch("low", 2)));
  auto high_next = std::get<Rows>(run(context_, connection_->fetch("high", 0)));
  EXPECT_EQ(low.rows[0][0].integer, 1);
  EXPECT_EQ(low_next.rows[0][0].integer, 3);
  EXPECT_EQ(high.rows[0][0].integer, 7);
  ASSERT_EQ(high_next.rows.size(), 2u);
  EXPECT_EQ(high_next.rows[1][0].integer, 10);
  EXPECT_TRUE(high_next.complete);
  // Replacing the statement leaves the open cursor reading the old one.
  run(context_, connection_->prepare("above", "SELECT 'new'"));
  auto low_rest = std::get<Rows>(run(context_, connection_->fetch("low", 0)));
  EXPECT_EQ(low_rest.rows.size(), 6u);
  connection_->close_statement("above");
  EXPECT_EQ(connection_->statement("above"), nullptr);
}

TEST_F(ExecutorTest, BeginTakesTheWriteLockAndReadOnlyRefusesWrites) {
  ok("CREATE TABLE t (v)");
  EXPECT_FALSE(connection_->in_transaction());
  ok("BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE");
  EXPECT_TRUE(connection_->in_transaction());

  // Another handle cannot take the write lock: the BEGIN was IMMEDIATE.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &other), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_BUSY);

  ok("INSERT INTO t VALUES (1)");
  ok("COMMIT WORK");
  EXPECT_FALSE(connection_->in_transaction());
  EXPECT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE; ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  ok("START TRANSACTION READ ONLY");
  EXPECT_TRUE(connection_->in_transaction());
  EXPECT_EQ(ok("SELECT count(*) FROM t").rows.at(0)[0].integer, 1);
  EXPECT_EQ(fails("INSERT INTO t VALUES (2)"), "25006");
  ok("END");
  ok("INSERT INTO t VALUES (2)");  // read-only ended with its transaction

  ok("BEGIN");
  ok("INSERT INTO t VALUES (3)");
  ok("ABORT");
  EXPECT_FALSE(connection_->in_transaction());
  EXPECT_EQ(ok("SELECT count(*) FROM t").rows.at(0)[0].integer, 2);
}

TEST_F(ExecutorTest, CommitWithAnUnfinishedWriteFailsAtOnce) {
  ok("CREATE TABLE t (v)");
  ok("BEGIN");
  run(context_, connection_->prepare("ret", "INSERT INTO t VALUES (1), (2) RETURNING v"));
  auto partial = std::get<Rows>(run(context_, connection_->execute("c", "ret", {}, 1)));
  EXPECT_FALSE(partial.complete);
  auto started = std::chrono::steady_clock::now();
  auto commit = sql("COMMIT");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  if (auto* error = std::get_if<Error>(&commit)) {
    EXPECT_EQ(error->sqlstate, "55P03") << error->message;
    connection_->close_cursor("c");
    ok("COMMIT");
  }
  EXPECT_FALSE(connection_->in_transaction());
}

TEST_F(ExecutorTest, BusyWriterWaitsForTheLockHolder) {
  ok("CREATE TABLE t (v)");
  auto other = connect();
  ok("BEGIN");
  ok("INSERT INTO t VALUES (1)");
  // The other connection's INSERT is retried while this transaction holds the lock; a
  // timer commits it 100 ms later, and the INSERT then goes through.
  asio::steady_timer timer(context_, 100ms);
  bool committed = false;
  timer.async_wait([&](boost::system::error_code) {
    asio::co_spawn(
        context_,
        [&]() -> awaitable<void> {
          auto result = co_await run_sql(*connection_, "COMMIT");
          committed = std::holds_alternative<Rows>(result);
        },
        asio::detached);
  });
  auto result = run(context_, run_sql(*other, "INSERT INTO t VALUES (2)"));
  ASSERT_TRUE(std::holds_alternative<Rows>(result)) << std::get<Error>(result).message;
  EXPECT_TRUE(committed);
  EXPECT_EQ(ok("SELECT count(*) FROM t").rows.at(0)[0].integer, 2);
}

TEST_F(ExecutorTest, ConcurrentTransactionsThroughASmallPool) {
  ok("CREATE TABLE t (connection INTEGER, n INTEGER)");
  constexpr int kConnections = 20;
  constexpr int kTransactions = 10;
  constexpr int kRowsEach = 20;
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < kConnections; ++i) connections.push_back(connect());

  // Sessions run on strands of a multi-threaded io_context, as in the daemon.
  asio::io_context context;
  std::atomic<int> finished{0};
  std::vector<std::string> failures;
  std::mutex failures_mutex;
  std::function<void(std::string)> fail = [&](std::string message) {
    std::lock_guard lock(failures_mutex);
    failures.push_back(std::move(message));
  };
  for (int c = 0; c < kConnections; ++c) {
    asio::co_spawn(asio::make_strand(context),
                   insert_rows(*connections[c], c, kTransactions, kRowsEach, fail, finished),
                   asio::detached);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([&] { context.run(); });
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(finished.load(), kConnections);
  EXPECT_TRUE(failures.empty()) << failures.front();
  Rows count = ok("SELECT count(*), count(DISTINCT connection) FROM t");
  EXPECT_EQ(count.rows.at(0)[0].integer, kConnections * kTransactions * kRowsEach);
  EXPECT_EQ(count.rows.at(0)[1].integer, kConnections);
}

TEST_F(ExecutorTest, InterruptStopsPgSleep) {
  auto started = std::chrono::steady_clock::now();
  asio::steady_timer timer(context_, 200ms);
  timer.async_wait([&](boost::system::error_code) { connection_->interrupt(); });
  auto result = sql("SELECT pg_sleep(10)");
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(std::holds_alternative<Error>(result));
  EXPECT_EQ(std::get<Error>(result).sqlstate, "57014");
  EXPECT_LT(elapsed, 1s);
  // The connection carries on, and an interrupt while idle stops nothing.
  connection_->interrupt();
  EXPECT_EQ(ok("SELECT 1").rows.at(0)[0].integer, 1);
}

TEST_F(ExecutorTest, InterruptStopsALongQuery) {
  asio::steady_timer timer(context_, 100ms);
  timer.async_wait([&](boost::system::error_code) { connection_->interrupt(); });
  auto started = std::chrono::steady_clock::now();
  auto result =
      sql("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c");
  ASSERT_TRUE(std::holds_alternative<Error>(result));
  EXPECT_EQ(std::get<Error>(result).sqlstate, "57014");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

TEST_F(ExecutorTest, PostgresFunctions) {
  Rows rows = ok("SELECT version(), current_database(), now(), pg_sleep(0.01)");
  const auto& row = rows.rows.at(0);
  EXPECT_EQ(row[0].bytes.rfind("PostgreSQL 15.0 (plexiproxy embedded SQLite ", 0), 0u);
  EXPECT_EQ(row[1].bytes, "plexiproxy");
  EXPECT_EQ(row[2].bytes.size(), 19u);  // YYYY-MM-DD HH:MM:SS
  EXPECT_EQ(row[3].kind, ValueKind::kNull);
  EXPECT_EQ(ok("SELECT julianday(now()) > 2460000").rows.at(0)[0].integer, 1);
}

TEST(RunOnPool, ResumesOnTheCallersThreadAndCarriesExceptions) {
  asio::thread_pool pool(2);
  asio::io_context context;
  std::thread::id caller;
  auto work = [&]() -> awaitable<int> {
    caller = std::this_thread::get_id();
    std::thread::id worker;
    int value = co_await run_on_pool(pool, [&] {
      worker = std::this_thread::get_id();
      return 41;
    });
    EXPECT_NE(worker, caller);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    bool thrown = false;
    try {
      co_await run_on_pool(pool, []() -> int { throw std::runtime_error("job failed"); });
    } catch (const std::runtime_error& e) {
      thrown = std::string(e.what()) == "job failed";
    }
    EXPECT_TRUE(thrown);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    co_return value + 1;
  };
  EXPECT_EQ(run(context, work()), 42);
  pool.join();
}

TEST(DatabaseOpen, ReportsAnUnusablePath) {
  std::string error;
  auto database = Database::open("/nonexistent-dir/x/y.db", 1, error);
  EXPECT_FALSE(database);
  EXPECT_NE(error.find("/nonexistent-dir/x/y.db"), std::string::npos);
}

}  // namespace
}  // namespace plexi::sqlite
