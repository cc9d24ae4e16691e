// Tests of statement shapes: literals of every kind, list collapsing, canonical spacing and
// case, the digest, the hint comment, and robustness on text that is not SQL.
#include "routing/statement_shape.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace plexi::routing {
namespace {

struct ShapeCase {
  const char* sql;
  const char* shape;
};

const ShapeCase kShapes[] = {
    // Numbers, strings and parameters.
    {"SELECT * FROM users WHERE id = 42", "SELECT * FROM users WHERE id = ?"},
    {"select *   from Users\n\twhere ID=$1", "SELECT * FROM users WHERE id = ?"},
    {"SELECT 1e5, .5, 1.5, 1e-5, 1.5E+10, 3.e5, .5e-2, 1_000", "SELECT ?, ?, ?, ?, ?, ?, ?, ?"},
    {"SELECT -3, +4, (-1), x = -5, 5 - -5, a*-1, a<=-1",
     "SELECT ?, ?, (?), x = ?, ? - ?, a * ?, a <= ?"},
    {"SELECT a - 1, a-1, a -1, -x, - - 5", "SELECT a - ?, a - ?, a - ?, - x, - ?"},
    {"SELECT CASE WHEN a THEN 1 ELSE -1 END - 1", "SELECT CASE WHEN a THEN ? ELSE ? END - ?"},
    {"SELECT 'it''s', E'a\\'b', e'\\\\', $$dollar's$$, $tag$x$y$tag$", "SELECT ?, ?, ?, ?, ?"},
    {"SELECT 'a' 'b', B'1010', X'1F', N'nat', U&'\\0041' UESCAPE '!'",
     "SELECT ? ?, ?, ?, ?, ? uescape ?"},
    {"SELECT $1::int, $12, $1abc", "SELECT ?::INT, ?, ? abc"},
    // PostgreSQL 15 reads these as a number followed by a word.
    {"SELECT 0x1F, 1abc, 1.2.3, 1e", "SELECT ? x1f, ? abc, ? ?, ? e"},
    // Casts, typed literals, arrays.
    {"SELECT 'x'::text, CAST('1' AS int), '{1,2}'::int[], x::int[]",
     "SELECT ?::text, CAST (? AS INT), ?::INT[], x::INT[]"},
    {"SELECT interval '1 day', DATE '2024-01-01', TIMESTAMP WITH TIME ZONE '2024-01-01'",
     "SELECT INTERVAL ?, date ?, TIMESTAMP WITH TIME ZONE ?"},
    {"SELECT ARRAY[1,2,3], ARRAY['a'], ARRAY[ARRAY[1,2],ARRAY[3]], ARRAY[1, x]",
     "SELECT ARRAY[...], ARRAY[...], ARRAY[ARRAY[...], ARRAY[...]], ARRAY[?, x]"},
    {"SELECT a[1:2], a[$1], x = ANY($1), x = ANY(ARRAY[$1, $2])",
     "SELECT a[?:?], a[?], x = ANY (?), x = ANY (ARRAY[...])"},
    // IN and VALUES lists of placeholders collapse; others stay.
    {"SELECT * FROM t WHERE id IN (1, 2, 3) AND name NOT IN ('a','b') OR k IN (-1, .5)",
     "SELECT * FROM t WHERE id IN (...) AND name NOT IN (...) OR k IN (...)"},
    {"SELECT * FROM t WHERE id IN ($1, $2, $3)", "SELECT * FROM t WHERE id IN (...)"},
    {"SELECT * FROM t WHERE id IN (1)", "SELECT * FROM t WHERE id IN (...)"},
    {"SELECT * FROM t WHERE a IN (1, b) OR c IN (SELECT id FROM s)",
     "SELECT * FROM t WHERE a IN (?, b) OR c IN (SELECT id FROM s)"},
    {"INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
     "INSERT INTO t(a, b) VALUES (...)"},
    {"INSERT INTO t VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
     "INSERT INTO t VALUES (...) ON CONFLICT (id) DO NOTHING"},
    {"INSERT INTO t VALUES (1, now()), (2, now())", "INSERT INTO t VALUES (?, now()), (?, now())"},
    {"INSERT INTO t VALUES (1), (now()), (2), (3)", "INSERT INTO t VALUES (...), (now()), (...)"},
    // Comments, case, spacing, statements.
    {"/* plexiproxy: role=analytics */ SELECT count ( * ) FROM Orders -- tail",
     "SELECT count(*) FROM orders"},
    {"SELECT 1/*c*/+/*d*/2, a-->comment\n", "SELECT ? + ?, a"},
    {"SELECT 1; select 2;", "SELECT ?; SELECT ?"},
    {";;SELECT 1;;", "SELECT ?"},
    {"SELECT \"MixedCase\".\"Col\", U&\"\\0041\" FROM \"My Table\" T",
     "SELECT \"MixedCase\".\"Col\", U&\"\\0041\" FROM \"My Table\" t"},
    {"SELECT t.*, pg_catalog.now() FROM t JOIN u ON t.id=u.tid",
     "SELECT t.*, pg_catalog.now() FROM t JOIN u ON t.id = u.tid"},
    {"SELECT data->>'key', data ? 'k', data ?| array['a'], a<>b, a!=b, a||b, a@-1, f(a := 1)",
     "SELECT data ->> ?, data ? ?, data ?| ARRAY[...], a <> b, a != b, a || b, a @- ?, f(a := ?)"},
    {"SELECT * FROM t LIMIT 10 OFFSET 20 FOR UPDATE",
     "SELECT * FROM t LIMIT ? OFFSET ? FOR UPDATE"},
    {"SET plexiproxy.role = 'replica'", "SET plexiproxy.role = ?"},
    {"", ""},
    {"  -- nothing\n /* at all */ ", ""},
    // What the server cannot read stays as written, so it never shares a complete shape.
    {"SELECT 'unterminated", "SELECT 'unterminated"},
    {"SELECT 1 /* open /* nested */ comment", "SELECT ? /* open /* nested */ comment"},
    {"SELECT \"open ident", "SELECT \"open ident"},
    {"SELECT $$ open", "SELECT $$ open"},
    {"SELECT E'ends in a backslash\\", "SELECT E'ends in a backslash\\"},
};

TEST(StatementShape, ReplacesLiteralsAndNormalises) {
  for (const auto& c : kShapes) {
    EXPECT_EQ(shape_statement(c.sql).text, c.shape) << c.sql;
  }
}

TEST(StatementShape, ShapingAShapeGivesItBack) {
  for (const auto& c : kShapes) {
    EXPECT_EQ(shape_statement(c.shape).text, c.shape) << c.sql;
  }
}

TEST(StatementShape, DigestIsTheShapesAndStable) {
  const StatementShape a = shape_statement("SELECT * FROM users WHERE id = 1");
  const StatementShape b = shape_statement("select *\n from USERS where id=$1 -- by id");
  const StatementShape c = shape_statement("SELECT * FROM users WHERE name = 'x'");
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_NE(a.digest, c.digest);
  EXPECT_EQ(a.digest, shape_digest(a.text));
  EXPECT_EQ(shape_statement("SELECT * FROM t WHERE id IN (1, 2)").digest,
            shape_statement("SELECT * FROM t WHERE id IN (7, 8, 9, 10)").digest);
  EXPECT_NE(shape_statement("SELECT 1").digest, shape_statement("SELECT 1;SELECT 1").digest);
  // Fixed values: the digest keys query statistics across restarts and processes.
  EXPECT_EQ(format_digest(shape_digest("")), "e39eb746afff40cf");
  EXPECT_EQ(format_digest(shape_digest("SELECT ?")), "c244caefc2a2acdb");
  EXPECT_EQ(format_digest(a.digest), "0f14c0cc67727946");
}

TEST(StatementShape, DigestsOfManyShapesDiffer) {
  std::vector<std::uint64_t> digests;
  for (int i = 0; i < 5000; ++i) {
    digests.push_back(shape_digest("SELECT c" + std::to_string(i) + " FROM t"));
    digests.push_back(shape_digest(std::string(static_cast<std::size_t>(i % 64), 'x')));
  }
  std::sort(digests.begin(), digests.end());
  EXPECT_EQ(std::unique(digests.begin(), digests.end()) - digests.begin(), 5000 + 64);
}

TEST(StatementShape, DigestTextRoundTrips) {
  EXPECT_EQ(format_digest(0), "0000000000000000");
  EXPECT_EQ(format_digest(0x0123456789abcdefull), "0123456789abcdef");
  EXPECT_EQ(parse_digest("0123456789ABCDEF"), 0x0123456789abcdefull);
  EXPECT_EQ(parse_digest("ffffffffffffffff"), ~std::uint64_t{0});
  EXPECT_FALSE(parse_digest("0123456789abcde"));
  EXPECT_FALSE(parse_digest("0123456789abcdefa"));
  EXPECT_FALSE(parse_digest("0123456789abcdeg"));
  EXPECT_FALSE(parse_digest("SELECT ?"));
}

TEST(Hint, ReadsTheRoleAndOtherPairs) {
  const Hint hint =
      shape_statement("/* plexiproxy: role=analytics, cache_ttl=30s */ SELECT 1").hint;
  EXPECT_TRUE(hint.present());
  EXPECT_EQ(hint.role, config::Role::kAnalytics);
  EXPECT_EQ(hint.pairs, "role=analytics, cache_ttl=30s");
  EXPECT_EQ(hint.value("cache_ttl"), "30s");
  EXPECT_EQ(hint.value("ROLE"), "analytics");
  EXPECT_FALSE(hint.value("timeout"));

  EXPECT_EQ(read_hint("/*plexiproxy:role=REPLICA*/SELECT 1").role, config::Role::kReplica);
  EXPECT_EQ(read_hint("-- plexiproxy: role = primary\nSELECT 1").role, config::Role::kPrimary);
  EXPECT_EQ(read_hint("  /* app: checkout */ /* PlexiProxy : role=replica flag */ SELECT").role,
            config::Role::kReplica);
  EXPECT_EQ(read_hint("/* plexiproxy: flag role=replica */ SELECT 1").value("flag"), "");
}

TEST(Hint, IgnoresWhatIsNotAHint) {
  EXPECT_FALSE(read_hint("SELECT 1 /* plexiproxy: role=replica */").present());
  EXPECT_FALSE(read_hint("/* role=replica */ SELECT 1").present());
  EXPECT_FALSE(read_hint("/* plexiproxy role=replica */ SELECT 1").present());
  EXPECT_FALSE(read_hint("/* plexiproxy: role=replica").present());  // never closed
  EXPECT_FALSE(read_hint("").present());
  // Unknown roles are ignored; the other pairs stay readable.
  const Hint odd = read_hint("/* plexiproxy: role=cache ttl=5s */ SELECT 1");
  EXPECT_TRUE(odd.present());
  EXPECT_FALSE(odd.role);
  EXPECT_EQ(odd.value("ttl"), "5s");
  EXPECT_FALSE(read_hint("/* plexiproxy: role */ SELECT 1").role);
  EXPECT_EQ(read_hint("/* plexiproxy: = =x role= , */").value("role"), "");
}

TEST(StatementShape, NeverFailsOnTextThatIsNotSql) {
  std::mt19937 random(7);
  const std::string alphabet = "abcSELECT0123456789.eE+-*/<>=~!@#%^&|`?$_'\"(),;:[]{} \n\\\x80";
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const std::size_t length = random() % 40;
    for (std::size_t j = 0; j < length; ++j) {
      text += (random() % 8 == 0) ? static_cast<char>(random() % 256)
                                  : alphabet[random() % alphabet.size()];
    }
    const StatementShape shape = shape_statement(text);
    EXPECT_EQ(shape.digest, shape_digest(shape.text));
    EXPECT_LE(shape.text.size(), 2 * text.size() + 1) << text;
  }
  // Every prefix of a statement, as when a message is cut short.
  const std::string sql = "SELECT E'a\\'b', $t$x$t$, \"q\"\"\" FROM t WHERE a IN (1, 2) /* c */";
  for (std::size_t n = 0; n <= sql.size(); ++n) shape_statement(sql.substr(0, n));
}

TEST(StatementShape, ReusesTheTextsCapacity) {
  StatementShape shape;
  shape_statement("SELECT * FROM a_rather_long_table_name WHERE id = 1", shape);
  const char* buffer = shape.text.data();
  shape_statement("SELECT 2", shape);
  EXPECT_EQ(shape.text, "SELECT ?");
  EXPECT_EQ(shape.text.data(), buffer);
}

}  // namespace
}  // namespace plexi::routing
