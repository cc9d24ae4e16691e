// Tests of the classifier: the verdict of every rule on real statements, transaction control,
// proxy settings, tables, the verdict cache and its bound, and use from several threads.
#include "routing/classifier.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace plexi::routing {
namespace {

using TC = TransactionControl;

struct VerdictCase {
  const char* sql;
  bool read;
  TC transaction = TC::kNone;
  bool read_only = false;
  bool parsed = true;
};

const VerdictCase kVerdicts[] = {
    // Reads.
    {"SELECT * FROM users WHERE id = 1", true},
    {"select u.name, count(*) from s.users u join orders o on o.uid = u.id group by 1", true},
    {"SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 3", true},
    {"VALUES (1, 'a'), (2, 'b')", true},
    {"TABLE accounts", true},
    {"WITH x AS (SELECT * FROM t) SELECT * FROM x", true},
    {"WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n + 1 FROM r WHERE n < 9) SELECT * FROM r",
     true},
    {"SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = now())", true},
    {"SELECT * FROM generate_series(1, 10) g, LATERAL (SELECT g * 2) d", true},
    {"SELECT lo_get(42), random(), pg_is_in_recovery()", true},
    {"SELECT * FROM t TABLESAMPLE SYSTEM (10)", true},
    {"SHOW search_path", true},
    {"SHOW ALL", true},
    {"EXPLAIN SELECT * FROM t", true},
    {"EXPLAIN DELETE FROM t", true},
    {"EXPLAIN (VERBOSE, COSTS OFF) UPDATE t SET a = 1", true},
    {"EXPLAIN ANALYZE SELECT * FROM t", true},
    {"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM t", true},
    {"/* plexiproxy: role=replica */ SELECT 1", true},
    {"", true},
    {"-- only a comment", true},
    {"SELECT 1; SELECT 2;", true},
    // Locking clauses, also in subqueries.
    {"SELECT * FROM t WHERE id = 1 FOR UPDATE", false},
    {"SELECT * FROM t FOR SHARE", false},
    {"SELECT * FROM t FOR NO KEY UPDATE NOWAIT", false},
    {"SELECT * FROM t FOR KEY SHARE SKIP LOCKED", false},
    {"SELECT * FROM (SELECT * FROM t FOR UPDATE) s", false},
    // SELECT INTO and data-modifying WITH.
    {"SELECT * INTO new_t FROM t", false},
    {"WITH x AS (DELETE FROM t WHERE a = 1 RETURNING *) SELECT * FROM x", false},
    {"WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM x", false},
    {"WITH x AS (UPDATE t SET a = 2 RETURNING *) SELECT count(*) FROM x", false},
    {"SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s", false},
    // Volatile functions, anywhere in the tree, in any case and schema.
    {"SELECT nextval('s')", false},
    {"SELECT pg_catalog.setval('s', 10)", false},
    {"SELECT * FROM t WHERE id = currval('s')", false},
    {"SELECT lastval()", false},
    {"SELECT \"NEXTVAL\"('s')", false},
    {"SELECT pg_advisory_lock(1)", false},
    {"SELECT pg_advisory_xact_lock_shared(1)", false},
    {"SELECT pg_try_advisory_lock(1, 2)", false},
    {"SELECT pg_advisory_unlock_all()", false},
    {"SELECT * FROM pg_advisory_lock(7)", false},
    {"SELECT txid_current(), pg_current_xact_id()", false},
    {"SELECT set_config('search_path', 'x', false)", false},
    {"SELECT pg_notify('ch', 'hello')", false},
    {"SELECT pg_sleep(0.1)", false},
    {"SELECT dblink_exec('conn', 'DELETE FROM t')", false},
    {"SELECT lo_unlink(42)", false},
    {"SELECT pg_terminate_backend(123)", false},
    {"SELECT pg_current_wal_lsn()", false},
    {"SELECT CASE WHEN a THEN nextval('s') END FROM t", false},
    {"EXPLAIN ANALYZE DELETE FROM t", false},
    {"EXPLAIN (ANALYZE, FORMAT JSON) SELECT nextval('s')", false},
    // Transaction control.
    {"BEGIN", false, TC::kBegin},
    {"BEGIN READ ONLY", true, TC::kBegin, true},
    {"BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", true, TC::kBegin, true},
    {"BEGIN READ WRITE", false, TC::kBegin},
    {"START TRANSACTION READ ONLY", true, TC::kBegin, true},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", true, TC::kBegin, true},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", false, TC::kBegin},
    {"COMMIT", false, TC::kCommit},
    {"END", false, TC::kCommit},
    {"PREPARE TRANSACTION 'tx1'", false, TC::kCommit},
    {"ROLLBACK", false, TC::kRollback},
    {"ABORT", false, TC::kRollback},
    {"SAVEPOINT a", false},
    {"COMMIT PREPARED 'tx1'", false},
    // In one string: what follows BEGIN READ ONLY up to its end is a read.
    {"BEGIN READ ONLY; SELECT * FROM t; COMMIT", true, TC::kCommit},
    {"BEGIN READ ONLY; SELECT 1", true, TC::kBegin, true},
    {"BEGIN; SELECT 1; COMMIT", false, TC::kCommit},
    {"BEGIN READ ONLY; SELECT 1; COMMIT; SELECT nextval('s')", false, TC::kCommit},
    {"BEGIN READ ONLY; SET TRANSACTION READ WRITE; INSERT INTO t VALUES (1)", false, TC::kBegin},
    {"SELECT 1; DELETE FROM t", false},
    {"SELECT 1; SET search_path = x", false},
    // Everything else is a write.
    {"INSERT INTO t (a) VALUES (1)", false},
    {"UPDATE t SET a = 1 WHERE id = 2", false},
    {"DELETE FROM t", false},
    {"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", false},
    {"TRUNCATE t", false},
    {"CREATE TABLE n (a int)", false},
    {"CREATE TABLE n AS SELECT * FROM t", false},
    {"ALTER TABLE t ADD COLUMN b int", false},
    {"DROP TABLE t", false},
    {"SET search_path = public", false},
    {"SET LOCAL statement_timeout = '5s'", false},
    {"RESET ALL", false},
    {"DISCARD ALL", false},
    {"DO $$ BEGIN PERFORM 1; END $$", false},
    {"CALL refresh_totals()", false},
    {"COPY t FROM STDIN", false},
    {"COPY t TO STDOUT", false},
    {"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", false},
    {"LISTEN channel", false},
    {"NOTIFY channel", false},
    {"PREPARE q AS SELECT 1", false},
    {"EXECUTE q", false},
    {"DEALLOCATE q", false},
    {"DECLARE c CURSOR FOR SELECT 1", false},
    {"FETCH 10 FROM c", false},
    {"VACUUM t", false},
    {"ANALYZE t", false},
    {"GRANT SELECT ON t TO app", false},
    // Unparseable text goes to the primary.
    {"SELEC 1", false, TC::kNone, false, false},
    {"SELECT 'unterminated", false, TC::kNone, false, false},
    {"SELECT * FROM", false, TC::kNone, false, false},
    {"SELECT 1; garbage", false, TC::kNone, false, false},
    {"\x01\x02\xff", false, TC::kNone, false, false},
};

TEST(Classifier, ClassifiesEveryKindOfStatement) {
  Classifier classifier;
  for (const auto& c : kVerdicts) {
    const Verdict verdict = classifier.classify(c.sql);
    EXPECT_EQ(verdict.read, c.read) << c.sql;
    EXPECT_EQ(verdict.parsed, c.parsed) << c.sql << ": " << verdict.parse_error;
    EXPECT_EQ(verdict.transaction, c.transaction) << c.sql;
    EXPECT_EQ(verdict.read_only, c.read_only) << c.sql;
    EXPECT_EQ(verdict.parse_error.empty(), c.parsed) << c.sql;
  }
  // The same again, from the cache.
  const auto parses = classifier.stats().parses;
  for (const auto& c : kVerdicts) EXPECT_EQ(classifier.classify(c.sql).read, c.read) << c.sql;
  EXPECT_EQ(classifier.stats().parses, parses);
}

TEST(Classifier, VerdictCarriesShapeDigestAndHint) {
  Classifier classifier;
  const std::string sql =
      "/* plexiproxy: role=analytics cache_ttl=30s */ SELECT * FROM t WHERE a = 5";
  const Verdict verdict = classifier.classify(sql);
  EXPECT_EQ(verdict.shape, "SELECT * FROM t WHERE a = ?");
  EXPECT_EQ(verdict.digest, shape_digest(verdict.shape));
  EXPECT_EQ(verdict.hint.role, config::Role::kAnalytics);
  EXPECT_EQ(verdict.hint.value("cache_ttl"), "30s");
  // A cached verdict still has this statement's hint.
  const Verdict plain = classifier.classify("SELECT * FROM t WHERE a = 6");
  EXPECT_FALSE(plain.hint.present());
  EXPECT_EQ(plain.digest, verdict.digest);
  EXPECT_EQ(classifier.stats().parses, 1u);
}

TEST(Classifier, FindsTheStatementsThatCanChangeViews) {
  Classifier classifier;
  for (const char* sql :
       {"CREATE VIEW v AS SELECT 1", "create or replace view v as select 2", "DROP VIEW v",
        "DROP TABLE t CASCADE", "ALTER VIEW v RENAME TO w", "ALTER TABLE t RENAME TO u",
        "CREATE RULE r AS ON SELECT TO v DO INSTEAD SELECT 1",
        "INSERT INTO t VALUES (1); DROP VIEW v"}) {
    EXPECT_TRUE(classifier.classify(sql).changes_views) << sql;
  }
  for (const char* sql : {"CREATE TABLE t (v int)", "CREATE TEMP TABLE scratch (v int)",
                          "ALTER TABLE t ADD c int", "INSERT INTO t VALUES ('DROP VIEW v')",
                          "SELECT 1 -- DROP VIEW v", "TRUNCATE t", "CREATE INDEX ON t (v)"}) {
    EXPECT_FALSE(classifier.classify(sql).changes_views) << sql;
  }
}

TEST(Classifier, ReadsProxySettings) {
  Classifier classifier;
  Verdict v = classifier.classify("SET plexiproxy.role = 'replica'");
  EXPECT_EQ(v.set_role, config::Role::kReplica);
  EXPECT_FALSE(v.reset_role);
  EXPECT_TRUE(v.read);
  // Same shape, another literal: never answered from the cache.
  v = classifier.classify("SET plexiproxy.role = 'primary'");
  EXPECT_EQ(v.set_role, config::Role::kPrimary);
  EXPECT_EQ(classifier.classify("set plexiproxy.role to Analytics").set_role,
            config::Role::kAnalytics);
  EXPECT_EQ(classifier.stats().parses, 3u);

  v = classifier.classify("SET plexiproxy.role = 'cache'");
  EXPECT_FALSE(v.set_role);
  EXPECT_NE(v.setting_error.find("not 'cache'"), std::string::npos) << v.setting_error;
  EXPECT_FALSE(classifier.classify("SET plexiproxy.role = 1").setting_error.empty());

  for (const char* reset :
       {"RESET plexiproxy.role", "SET plexiproxy.role TO DEFAULT", "RESET ALL", "DISCARD ALL"}) {
    v = classifier.classify(reset);
    EXPECT_TRUE(v.reset_role) << reset;
    EXPECT_FALSE(v.set_role) << reset;
  }
  v = classifier.classify("SET plexiproxy.role = 'replica'; RESET plexiproxy.role");
  EXPECT_TRUE(v.reset_role);
  v = classifier.classify("RESET plexiproxy.role; SET plexiproxy.role = 'analytics'");
  EXPECT_FALSE(v.reset_role);
  EXPECT_EQ(v.set_role, config::Role::kAnalytics);
  EXPECT_FALSE(classifier.classify("SET plexiproxy.other = 'x'").read);
}

TEST(Classifier, ListsTablesReadAndWritten) {
  Classifier classifier;
  auto tables = [&](std::string_view sql) { return *classifier.classify(sql).tables; };
  using Names = std::vector<std::string>;

  TableAccess t = tables("SELECT * FROM s.users u JOIN orders o ON o.uid = u.id, orders");
  EXPECT_EQ(t.read, (Names{"orders", "s.users"}));
  EXPECT_TRUE(t.written.empty());
  t = tables("WITH x AS (SELECT * FROM base) SELECT * FROM x JOIN other USING (id)");
  EXPECT_EQ(t.read, (Names{"base", "other"}));
  t = tables("INSERT INTO audit.log SELECT * FROM events WHERE id IN (SELECT id FROM recent)");
  EXPECT_EQ(t.read, (Names{"events", "recent"}));
  EXPECT_EQ(t.written, (Names{"audit.log"}));
  t = tables("UPDATE t SET a = s.a FROM s WHERE s.id = t.id");
  EXPECT_EQ(t.read, (Names{"s"}));
  EXPECT_EQ(t.written, (Names{"t"}));
  t = tables("WITH d AS (DELETE FROM old RETURNING *) INSERT INTO archive SELECT * FROM d");
  EXPECT_EQ(t.written, (Names{"archive", "old"}));
  EXPECT_TRUE(t.read.empty());
  t = tables("SELECT * INTO copy FROM original");
  EXPECT_EQ(t.read, (Names{"original"}));
  EXPECT_EQ(t.written, (Names{"copy"}));
  EXPECT_EQ(tables("TRUNCATE a, s.b").written, (Names{"a", "s.b"}));
  EXPECT_EQ(tables("DROP TABLE a, db.s.b").written, (Names{"a", "s.b"}));
  EXPECT_EQ(tables("COPY t FROM STDIN").written, (Names{"t"}));
  EXPECT_EQ(tables("COPY t TO STDOUT").read, (Names{"t"}));
  EXPECT_EQ(tables("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE").written,
            (Names{"t"}));
  EXPECT_EQ(tables("SELECT * FROM \"Odd\"\"Name\"").read, (Names{"Odd\"Name"}));
  EXPECT_EQ(tables("SELECT 1; DELETE FROM a; SELECT * FROM b").read, (Names{"b"}));
  EXPECT_TRUE(tables("SELEC 1").read.empty());
}

TEST(Classifier, AddsConfiguredVolatileFunctions) {
  Classifier plain;
  Classifier custom({"audit.log_event", "queue_*", "Touch"});
  EXPECT_TRUE(plain.classify("SELECT audit.log_event('x')").read);
  EXPECT_FALSE(custom.classify("SELECT audit.log_event('x')").read);
  EXPECT_TRUE(custom.classify("SELECT other.log_event('x')").read);  // schema given: only it
  EXPECT_TRUE(custom.classify("SELECT log_event('x')").read);
  EXPECT_FALSE(custom.classify("SELECT queue_push('job')").read);
  EXPECT_FALSE(custom.classify("SELECT jobs.queue_pop()").read);  // no schema: any schema
  EXPECT_FALSE(custom.classify("SELECT touch(1)").read);
  EXPECT_FALSE(custom.classify("SELECT nextval('s')").read);  // defaults stay
}

TEST(VolatileFunctions, MatchNamesSchemasAndPrefixes) {
  const VolatileFunctions functions({"app.bump", "x_*", "not valid()", ""});
  EXPECT_TRUE(functions.matches("", "nextval"));
  EXPECT_TRUE(functions.matches("pg_catalog", "NextVal"));
  EXPECT_TRUE(functions.matches("", "pg_advisory_lock"));
  EXPECT_TRUE(functions.matches("", "pg_sleep_for"));
  EXPECT_TRUE(functions.matches("APP", "bump"));
  EXPECT_FALSE(functions.matches("", "bump"));
  EXPECT_TRUE(functions.matches("any", "x_y"));
  EXPECT_FALSE(functions.matches("", "x"));
  EXPECT_FALSE(functions.matches("", "now"));
  EXPECT_FALSE(functions.matches("", "nextva"));
  EXPECT_FALSE(functions.matches("", "nextvalue"));
  for (std::string_view entry : default_volatile_functions()) {
    EXPECT_TRUE(valid_function_pattern(entry)) << entry;
  }
  EXPECT_FALSE(valid_function_pattern("f()"));
  EXPECT_FALSE(valid_function_pattern("a.b.c"));
  EXPECT_FALSE(valid_function_pattern("*"));
  EXPECT_TRUE(valid_function_pattern("s.f*"));
}

TEST(Classifier, HitsDoNotParseAgain) {
  Classifier classifier;
  EXPECT_EQ(classifier.classify("SELECT * FROM t WHERE id = 1").read, true);
  EXPECT_EQ(classifier.classify("SELECT * FROM t WHERE id = 2").read, true);
  EXPECT_EQ(classifier.classify("select * from T where ID = $1").read, true);
  EXPECT_EQ(classifier.classify("SELEC 1").parsed, false);
  EXPECT_EQ(classifier.classify("SELEC 2").parsed, false);  // unparseable verdicts are kept too
  const Classifier::Stats stats = classifier.stats();
  EXPECT_EQ(stats.parses, 2u);
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.entries, 2u);
}

TEST(Classifier, EvictsTheLeastRecentlyUsedShape) {
  Classifier classifier({}, 3);
  auto query = [](int n) { return "SELECT c" + std::to_string(n) + " FROM t WHERE id = 1"; };
  for (int n = 1; n <= 3; ++n) classifier.classify(query(n));
  classifier.classify(query(1));  // 1 is now the most recent; 2 the least
  classifier.classify(query(4));  // evicts 2
  EXPECT_EQ(classifier.stats().entries, 3u);
  EXPECT_EQ(classifier.stats().parses, 4u);
  classifier.classify(query(1));
  classifier.classify(query(3));
  classifier.classify(query(4));
  EXPECT_EQ(classifier.stats().parses, 4u);
  classifier.classify(query(2));  // parsed again, evicting 1
  EXPECT_EQ(classifier.stats().parses, 5u);
  classifier.classify(query(1));
  EXPECT_EQ(classifier.stats().parses, 6u);
  EXPECT_EQ(classifier.stats().entries, 3u);
}

// Statements that the tokenizer would misread could share a shape with a read and take
// its cached verdict; these are read as PostgreSQL reads them.
TEST(Classifier, ShapesDoNotHideStatements) {
  Classifier classifier;
  EXPECT_TRUE(classifier.classify("SELECT 1; -- note\rSELECT 2").read);
  EXPECT_FALSE(classifier.classify("SELECT 1; -- note\rDELETE FROM t").read);
  EXPECT_TRUE(
      classifier.classify("SELECT $\xc3\xa9$'$\xc3\xa9$; SELECT 1; SELECT $\xc3\xa9$'$\xc3\xa9$")
          .read);
  EXPECT_FALSE(
      classifier
          .classify("SELECT $\xc3\xa9$'$\xc3\xa9$; DELETE FROM t; SELECT $\xc3\xa9$'$\xc3\xa9$")
          .read);
}

TEST(Classifier, WithoutCapacityParsesEveryStatement) {
  Classifier classifier({}, 0);
  classifier.classify("SELECT 1");
  classifier.classify("SELECT 1");
  EXPECT_EQ(classifier.stats().parses, 2u);
  EXPECT_EQ(classifier.stats().entries, 0u);
}

TEST(Classifier, LeavesLongAndZeroByteStatementsUnparsed) {
  Classifier classifier({}, 100, 64);
  const Verdict long_one = classifier.classify("SELECT '" + std::string(100, 'x') + "'");
  EXPECT_FALSE(long_one.parsed);
  EXPECT_FALSE(long_one.read);
  const Verdict zero = classifier.classify(std::string_view("SELECT '\0'", 10));
  EXPECT_FALSE(zero.parsed);
  EXPECT_EQ(zero.shape, "SELECT ?");
  // Neither was cached as a write for their shape.
  EXPECT_TRUE(classifier.classify("SELECT 'short'").read);
  EXPECT_TRUE(classifier.classify("SELECT 'x'").read);
  EXPECT_EQ(classifier.stats().parses, 1u);
}

TEST(Classifier, ServesSeveralThreadsAtOnce) {
  Classifier classifier({}, 16);  // smaller than the shapes used: evictions race with hits
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&classifier, &wrong, t] {
      for (int i = 0; i < 2000; ++i) {
        const int n = (i * 7 + t) % 40;
        const bool write = n % 3 == 0;
        const std::string sql =
            write ? "UPDATE t SET c" + std::to_string(n) + " = " + std::to_string(i)
                  : "SELECT c" + std::to_string(n) + " FROM t WHERE id = " + std::to_string(i);
        const Verdict verdict = classifier.classify(sql);
        if (verdict.read == write || !verdict.parsed) ++wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
  const Classifier::Stats stats = classifier.stats();
  EXPECT_EQ(stats.hits + stats.misses, 8000u);
  EXPECT_LE(stats.entries, 16u);
}

}  // namespace
}  // namespace plexi::routing
