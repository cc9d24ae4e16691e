// Tests of the query digest table: what an entry adds up, which statements share an entry,
// the bound and its evictions, the displayed text and what it must not keep, and recording
// from several threads at once.
#include "routing/query_digests.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "routing/statement_shape.h"

namespace plexi::routing {
namespace {

using namespace std::chrono_literals;

// One statement as the relay sees it: its text and the shape the router's tokenizer gave it.
struct Statement {
  explicit Statement(std::string text) : sql(std::move(text)), shape(shape_statement(sql)) {}

  DigestSample sample(std::chrono::nanoseconds elapsed = 1ms, std::string_view user = "alice",
                      std::string_view cluster = "app") const {
    DigestSample sample;
    sample.cluster = cluster;
    sample.user = user;
    sample.digest = shape.digest;
    sample.shape = shape.text;
    sample.statement = sql;
    sample.elapsed = elapsed;
    sample.backend = "pg1";
    return sample;
  }

  std::string sql;
  StatementShape shape;
};

// A sample keyed by `digest` alone, for tests that place entries in chosen shards.
DigestSample sample_with_digest(std::uint64_t digest) {
  DigestSample sample;
  sample.cluster = "app";
  sample.user = "alice";
  sample.digest = digest;
  sample.shape = "SELECT ?";
  sample.statement = "SELECT 1";
  sample.elapsed = 1ms;
  return sample;
}

std::set<std::string> digests_of(const std::vector<DigestRow>& rows) {
  std::set<std::string> digests;
  for (const DigestRow& row : rows) digests.insert(row.digest);
  return digests;
}

TEST(QueryDigestsTest, AddsUpCallsErrorsTimeAndRows) {
  QueryDigests digests(100);
  const Statement first("SELECT * FROM orders WHERE id = 1");
  const Statement second("select *  from orders where id = 2");
  ASSERT_EQ(first.shape.digest, second.shape.digest);

  const auto before = std::chrono::system_clock::now();
  DigestSample sample = first.sample(3ms);
  sample.rows = 1;
  digests.record(sample);
  sample = second.sample(1ms);
  sample.rows = -1;  // unknown: not added
  sample.error = true;
  digests.record(sample);
  sample = second.sample(2ms);
  sample.rows = 5;
  sample.backend = "pg2";
  digests.record(sample);
  const auto after = std::chrono::system_clock::now();

  const std::vector<DigestRow> rows = digests.snapshot();
  ASSERT_EQ(rows.size(), 1u);
  const DigestRow& row = rows[0];
  EXPECT_EQ(row.cluster, "app");
  EXPECT_EQ(row.user, "alice");
  EXPECT_EQ(row.digest, format_digest(first.shape.digest));
  EXPECT_EQ(row.calls, 3u);
  EXPECT_EQ(row.errors, 1u);
  EXPECT_DOUBLE_EQ(row.total_seconds, 0.006);
  EXPECT_DOUBLE_EQ(row.mean_seconds, 0.002);
  EXPECT_DOUBLE_EQ(row.min_seconds, 0.001);
  EXPECT_DOUBLE_EQ(row.max_seconds, 0.003);
  EXPECT_EQ(row.rows, 6);
  EXPECT_EQ(row.last_backend, "pg2");
  EXPECT_LE(before, row.first_seen);
  EXPECT_LE(row.first_seen, row.last_seen);
  EXPECT_LE(row.last_seen, after);
  EXPECT_EQ(digests.stats().entries, 1u);
}

TEST(QueryDigestsTest, KeepsOneEntryPerClusterAndUser) {
  QueryDigests digests(100);
  const Statement statement("SELECT name FROM users WHERE id = 7");
  digests.record(statement.sample(1ms, "alice", "app"));
  digests.record(statement.sample(2ms, "bob", "app"));
  digests.record(statement.sample(4ms, "alice", "reports"));
  digests.record(statement.sample(8ms, "alice", "app"));

  const std::vector<DigestRow> rows = digests.snapshot();
  ASSERT_EQ(rows.size(), 3u);
  // Most total time first.
  EXPECT_EQ(rows[0].cluster, "app");
  EXPECT_EQ(rows[0].user, "alice");
  EXPECT_EQ(rows[0].calls, 2u);
  EXPECT_DOUBLE_EQ(rows[0].total_seconds, 0.009);
  EXPECT_EQ(rows[1].cluster, "reports");
  EXPECT_EQ(rows[1].user, "alice");
  EXPECT_EQ(rows[1].calls, 1u);
  EXPECT_EQ(rows[2].cluster, "app");
  EXPECT_EQ(rows[2].user, "bob");
  EXPECT_EQ(rows[2].calls, 1u);
  for (const DigestRow& row : rows) EXPECT_EQ(row.digest, rows[0].digest);

  const std::vector<DigestRow> top = digests.snapshot(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].cluster, "app");
  EXPECT_EQ(top[1].cluster, "reports");
}

TEST(QueryDigestsTest, EvictsTheLeastRecentlyRecordedEntryOfAFullShard) {
  // Two entries per shard; three digests of the same shard.
  QueryDigests digests(QueryDigests::kShards * 2);
  const std::uint64_t a = QueryDigests::kShards * 1;
  const std::uint64_t b = QueryDigests::kShards * 2;
  const std::uint64_t c = QueryDigests::kShards * 3;
  ASSERT_EQ(QueryDigests::shard_of(a), QueryDigests::shard_of(b));
  ASSERT_EQ(QueryDigests::shard_of(a), QueryDigests::shard_of(c));

  digests.record(sample_with_digest(a));
  digests.record(sample_with_digest(b));
  digests.record(sample_with_digest(a));  // b is now the least recent
  EXPECT_EQ(digests.stats().evictions, 0u);
  digests.record(sample_with_digest(c));

  EXPECT_EQ(digests.stats().evictions, 1u);
  EXPECT_EQ(digests.stats().entries, 2u);
  const std::vector<DigestRow> rows = digests.snapshot();
  EXPECT_EQ(digests_of(rows), (std::set{format_digest(a), format_digest(c)}));
  for (const DigestRow& row : rows) {
    EXPECT_EQ(row.calls, row.digest == format_digest(a) ? 2u : 1u);
  }

  // b comes back as a new entry, counted from zero, and evicts a.
  digests.record(sample_with_digest(b));
  EXPECT_EQ(digests.stats().evictions, 2u);
  EXPECT_EQ(digests_of(digests.snapshot()), (std::set{format_digest(b), format_digest(c)}));
}

TEST(QueryDigestsTest, HoldsNoMoreThanMaxEntries) {
  QueryDigests digests(100);
  for (std::uint64_t digest = 0; digest < 1000; ++digest) {
    digests.record(sample_with_digest(digest));
  }
  EXPECT_EQ(digests.stats().entries, 100u);
  EXPECT_EQ(digests.stats().evictions, 900u);
  EXPECT_EQ(digests.snapshot().size(), 100u);
}

TEST(QueryDigestsTest, ShrinkingEvictsTheLeastRecentAndGrowingKeepsAll) {
  QueryDigests digests(1000);
  for (std::uint64_t digest = 0; digest < 100; ++digest) {
    digests.record(sample_with_digest(digest));
  }
  ASSERT_EQ(digests.stats().entries, 100u);

  // One entry per shard: each keeps the digest it saw last.
  digests.set_max_entries(QueryDigests::kShards);
  EXPECT_EQ(digests.stats().entries, QueryDigests::kShards);
  EXPECT_EQ(digests.stats().evictions, 100u - QueryDigests::kShards);
  std::set<std::string> expected;
  for (std::uint64_t digest = 100 - QueryDigests::kShards; digest < 100; ++digest) {
    expected.insert(format_digest(digest));
  }
  EXPECT_EQ(digests_of(digests.snapshot()), expected);

  digests.set_max_entries(1000);
  EXPECT_EQ(digests.stats().entries, QueryDigests::kShards);
  digests.record(sample_with_digest(1000));
  EXPECT_EQ(digests.stats().entries, QueryDigests::kShards + 1);

  digests.set_max_entries(0);
  EXPECT_EQ(digests.stats().entries, 0u);
  digests.record(sample_with_digest(1000));
  EXPECT_EQ(digests.stats().entries, 0u);
  EXPECT_TRUE(digests.snapshot().empty());
}

TEST(QueryDigestsTest, ClearForgetsEntriesAndKeepsTheEvictionCount) {
  QueryDigests digests(QueryDigests::kShards);
  digests.record(sample_with_digest(QueryDigests::kShards));
  digests.record(sample_with_digest(QueryDigests::kShards * 2));
  ASSERT_EQ(digests.stats().evictions, 1u);
  digests.clear();
  EXPECT_EQ(digests.stats().entries, 0u);
  EXPECT_EQ(digests.stats().evictions, 1u);
  EXPECT_TRUE(digests.snapshot().empty());
}

TEST(QueryDigestsTest, ShowsTheStatementNormalisedByPostgresParser) {
  QueryDigests digests(100);
  const Statement first("SELECT * FROM users WHERE name = 'alice' AND age > 30");
  const Statement later("SELECT * FROM users WHERE name = 'bob' AND age > 40");
  digests.record(first.sample());
  digests.record(later.sample());

  std::vector<DigestRow> rows = digests.snapshot();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text, "SELECT * FROM users WHERE name = $1 AND age > $2");

  // Recorded after normalising: the text stays.
  digests.record(Statement("SELECT * FROM users WHERE name = 'carol' AND age > 50").sample());
  rows = digests.snapshot();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text, "SELECT * FROM users WHERE name = $1 AND age > $2");
  EXPECT_EQ(rows[0].calls, 3u);
}

TEST(QueryDigestsTest, ShowsTheShapeOfWhatTheParserRejects) {
  QueryDigests digests(100);
  const Statement typo("SELEC * FROM accounts WHERE pin = '1234'");
  digests.record(typo.sample());
  const std::vector<DigestRow> rows = digests.snapshot();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text, typo.shape.text);
  EXPECT_EQ(rows[0].text.find("1234"), std::string::npos);
  EXPECT_EQ(digests.stats().pending, 0u);
}

TEST(QueryDigestsTest, DropsTheStatementOnceNormalised) {
  QueryDigests digests(100);
  digests.record(Statement("SELECT id FROM accounts WHERE password = 'hunter2'").sample());
  EXPECT_EQ(digests.stats().pending, 1u);

  const std::vector<DigestRow> rows = digests.snapshot();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text, "SELECT id FROM accounts WHERE password = $1");
  EXPECT_EQ(digests.stats().pending, 0u);
  EXPECT_EQ(digests.normalise_pending(), 0u);

  // The entry exists: a later statement's text is not kept either.
  digests.record(Statement("SELECT id FROM accounts WHERE password = 'swordfish'").sample());
  EXPECT_EQ(digests.stats().pending, 0u);
  EXPECT_EQ(digests.snapshot()[0].text, "SELECT id FROM accounts WHERE password = $1");
}

TEST(QueryDigestsTest, ShowsTheShapeOfALongStatementCutAtACharacter) {
  QueryDigests digests(100);
  // A quoted name stays in the shape: the shape is longer than the bound, and its two-byte
  // characters start at odd offsets, so the bound falls inside one.
  std::string name;
  for (int i = 0; i < 2100; ++i) name += "\xC3\xA9";  // é
  const Statement statement("SELECT \"a" + name + "\" FROM t WHERE secret = 'x'");
  ASSERT_GT(statement.shape.text.size(), QueryDigests::kMaxTextSize);
  digests.record(statement.sample());
  EXPECT_EQ(digests.stats().pending, 0u);  // too long to keep: nothing to normalise

  const std::vector<DigestRow> rows = digests.snapshot();
  ASSERT_EQ(rows.size(), 1u);
  const std::string& text = rows[0].text;
  EXPECT_LE(text.size(), QueryDigests::kMaxTextSize);
  EXPECT_GT(text.size(), QueryDigests::kMaxTextSize - 4);
  EXPECT_EQ(statement.shape.text.compare(0, text.size(), text), 0);
  EXPECT_NE(static_cast<unsigned char>(statement.shape.text[text.size()]) & 0xC0, 0x80);
}

TEST(QueryDigestsTest, CountsExactlyFromSeveralThreads) {
  QueryDigests digests(1000);
  const std::vector<Statement> statements = {
      Statement("SELECT abalance FROM pgbench_accounts WHERE aid = 1"),
      Statement("UPDATE pgbench_accounts SET abalance = abalance + 5 WHERE aid = 2"),
      Statement("INSERT INTO pgbench_history (tid, aid, delta) VALUES (1, 2, 3)"),
  };
  const std::vector<std::string> users = {"alice", "bob"};
  static constexpr int kThreads = 4;
  static constexpr int kRounds = 20000;

  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) digests.snapshot(2);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        for (std::size_t s = 0; s < statements.size(); ++s) {
          DigestSample sample =
              statements[s].sample(std::chrono::microseconds(s + 1), users[(round + t) % 2]);
          sample.rows = static_cast<std::int64_t>(s);
          sample.error = round % 10 == 0;
          digests.record(sample);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  done = true;
  reader.join();

  const std::vector<DigestRow> rows = digests.snapshot();
  ASSERT_EQ(rows.size(), statements.size() * users.size());
  const std::uint64_t calls = kThreads * kRounds / users.size();
  for (const DigestRow& row : rows) {
    const auto statement = std::find_if(statements.begin(), statements.end(), [&](auto& s) {
      return format_digest(s.shape.digest) == row.digest;
    });
    ASSERT_NE(statement, statements.end());
    const auto s = static_cast<std::size_t>(statement - statements.begin());
    EXPECT_EQ(row.calls, calls);
    EXPECT_EQ(row.errors, calls / 10);
    EXPECT_EQ(row.rows, static_cast<std::int64_t>(s * calls));
    EXPECT_NEAR(row.total_seconds, static_cast<double>((s + 1) * calls) / 1e6, 1e-12);
    EXPECT_NE(row.text.find("$1"), std::string::npos) << row.text;
  }
  EXPECT_EQ(digests.stats().evictions, 0u);
}

TEST(QueryDigestsTest, StaysWithinItsBoundWhileThreadsEvictAndTheBoundChanges) {
  QueryDigests digests(64);
  static constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < 5000; ++i) {
        digests.record(sample_with_digest(i * kThreads + static_cast<std::uint64_t>(t)));
        if (t == 0 && i % 500 == 0) digests.set_max_entries(i % 1000 == 0 ? 32 : 64);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  digests.set_max_entries(64);
  EXPECT_LE(digests.stats().entries, 64u);
  EXPECT_GT(digests.stats().evictions, 0u);
  EXPECT_EQ(digests.snapshot().size(), digests.stats().entries);
}

}  // namespace
}  // namespace plexi::routing
