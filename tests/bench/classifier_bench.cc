// Times the statement classifier: the shape pass, a verdict from the cache (hit), a verdict
// parsed afresh (miss), and libpg_query's parse and fingerprint alone, per statement; and the
// MySQL statement analysis and shape pass on sysbench's statements.
// Run by hand: cmake --build build --target classifier_bench && build/tests/classifier_bench
#include <pg_query.h>

#include <time.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "routing/classifier.h"
#include "routing/mysql_statement.h"
#include "routing/statement_shape.h"

namespace {

using plexi::routing::Classifier;

const std::vector<std::string> kStatements = {
    "SELECT abalance FROM pgbench_accounts WHERE aid = 48213",
    "UPDATE pgbench_accounts SET abalance = abalance + -2231 WHERE aid = 1180",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 3301, 512, "
    "CURRENT_TIMESTAMP)",
    "SELECT u.id, u.name, count(o.id) AS orders FROM users u LEFT JOIN orders o ON o.user_id = "
    "u.id WHERE u.created_at > '2024-01-01' AND o.status IN ('paid', 'shipped', 'returned') "
    "GROUP BY u.id, u.name ORDER BY orders DESC LIMIT 20",
    "/* plexiproxy: role=analytics */ SELECT date_trunc('day', ts), sum(amount) FROM payments "
    "WHERE ts >= now() - interval '30 days' GROUP BY 1 ORDER BY 1",
};

// sysbench oltp_read_write's statements (as its text protocol sends them) and a driver's SET.
const std::vector<std::string> kMysqlStatements = {
    "SELECT c FROM sbtest1 WHERE id=48213",
    "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 4105 AND 4204 ORDER BY c",
    "UPDATE sbtest1 SET k=k+1 WHERE id=1180",
    "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5012, 4988, '83868641912-28773972837-"
    "60736120486-75162659906', '67847967377-48000963322-62604785301-91415491898')",
    "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
};

// CPU time of the calling thread, so that other processes on the machine do not count.
double thread_cpu_us() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e6 + static_cast<double>(now.tv_nsec) / 1e3;
}

// Mean CPU microseconds per call of `work` over `rounds` passes through the statements.
template <typename Work>
double per_call(int rounds, Work work, const std::vector<std::string>& statements = kStatements) {
  const double start = thread_cpu_us();
  for (int round = 0; round < rounds; ++round) {
    for (const std::string& sql : statements) work(sql);
  }
  return (thread_cpu_us() - start) / (static_cast<double>(rounds) * statements.size());
}

}  // namespace

int main() {
  static constexpr int kRounds = 20000;
  std::size_t sink = 0;

  plexi::routing::StatementShape shape;
  const double shape_us = per_call(kRounds, [&](const std::string& sql) {
    plexi::routing::shape_statement(sql, shape);
    sink += shape.text.size();
  });

  Classifier cached;
  for (const std::string& sql : kStatements) sink += cached.classify(sql).read;
  const double hit_us =
      per_call(kRounds, [&](const std::string& sql) { sink += cached.classify(sql).read; });

  Classifier uncached({}, 0);
  const double miss_us =
      per_call(kRounds / 10, [&](const std::string& sql) { sink += uncached.classify(sql).read; });

  const double parse_us = per_call(kRounds / 10, [&](const std::string& sql) {
    PgQueryParseResult result = pg_query_parse(sql.c_str());
    sink += result.parse_tree ? 1 : 0;
    pg_query_free_parse_result(result);
  });
  const double fingerprint_us = per_call(kRounds / 10, [&](const std::string& sql) {
    PgQueryFingerprintResult result = pg_query_fingerprint(sql.c_str());
    sink += result.fingerprint & 1;
    pg_query_free_fingerprint_result(result);
  });

  const double mysql_us = per_call(
      kRounds, [&](const std::string& sql) { sink += plexi::routing::analyze_mysql(sql).read; },
      kMysqlStatements);
  const double mysql_shape_us = per_call(
      kRounds,
      [&](const std::string& sql) {
        plexi::routing::shape_mysql_statement(sql, shape);
        sink += shape.text.size();
      },
      kMysqlStatements);

  // Two threads classifying from one cache: what the lock costs when sessions meet on it.
  double shared_us[2] = {};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&cached, &shared_us, t] {
      std::size_t local = 0;
      shared_us[t] =
          per_call(kRounds, [&](const std::string& sql) { local += cached.classify(sql).read; });
      if (local == 0) std::puts("");
    });
  }
  for (auto& thread : threads) thread.join();

  std::printf("CPU time per statement, mean of %zu statements (%d rounds):\n", kStatements.size(),
              kRounds);
  std::printf("  shape only                 %7.2f us\n", shape_us);
  std::printf("  classify, cache hit        %7.2f us\n", hit_us);
  std::printf("  classify, cache miss       %7.2f us\n", miss_us);
  std::printf("  pg_query_parse alone       %7.2f us\n", parse_us);
  std::printf("  pg_query_fingerprint alone %7.2f us\n", fingerprint_us);
  std::printf("  cache hit, 2 threads       %7.2f us, %.2f us\n", shared_us[0], shared_us[1]);
  std::printf("MySQL, mean of %zu statements:\n", kMysqlStatements.size());
  std::printf("  analyze_mysql              %7.2f us\n", mysql_us);
  std::printf("  shape_mysql_statement      %7.2f us\n", mysql_shape_us);
  return sink == 0 ? 1 : 0;
}
