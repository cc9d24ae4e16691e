// Tests for the statement-text helpers and the SQLSTATE mapping, which need no database.
#include "pools/sqlite/statement_text.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "pools/sqlite/errors.h"

namespace plexi::sqlite {
namespace {

TEST(LeadingVerb, SkipsCommentsAndSemicolons) {
  EXPECT_EQ(leading_verb("select 1"), "SELECT");
  EXPECT_EQ(leading_verb("  -- note\n /* block */ ;; insert into t values (1)"), "INSERT");
  EXPECT_EQ(leading_verb("/* unterminated"), "");
  EXPECT_EQ(leading_verb("   "), "");
  EXPECT_EQ(leading_verb("With x AS (SELECT 1) SELECT * FROM x"), "WITH");
  EXPECT_EQ(leading_verb("(SELECT 1)"), "");
}

struct RewriteCase {
  const char* sql;
  const char* expected;  // nullptr: left to SQLite
  bool read_only;
};

TEST(RewriteTransaction, PostgresSpellingsBecomeSqlite) {
  const RewriteCase cases[] = {
      {"BEGIN", "BEGIN IMMEDIATE", false},
      {"begin;", "BEGIN IMMEDIATE", false},
      {"BEGIN TRANSACTION", "BEGIN IMMEDIATE", false},
      {"BEGIN WORK", "BEGIN IMMEDIATE", false},
      {"START TRANSACTION", "BEGIN IMMEDIATE", false},
      {"BEGIN ISOLATION LEVEL SERIALIZABLE", "BEGIN IMMEDIATE", false},
      {"BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE", "BEGIN IMMEDIATE", false},
      {"START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY DEFERRABLE", "BEGIN", true},
      {"BEGIN READ ONLY", "BEGIN", true},
      {"BEGIN TRANSACTION READ ONLY, NOT DEFERRABLE", "BEGIN", true},
      {"/* hint */ BEGIN -- c\n READ WRITE ;", "BEGIN IMMEDIATE", false},
      {"COMMIT", "COMMIT", false},
      {"COMMIT WORK", "COMMIT", false},
      {"END TRANSACTION", "COMMIT", false},
      {"END", "COMMIT", false},
      {"COMMIT AND NO CHAIN", "COMMIT", false},
      {"ROLLBACK", "ROLLBACK", false},
      {"ABORT", "ROLLBACK", false},
      {"ABORT WORK;", "ROLLBACK", false},
      {"ROLLBACK TRANSACTION", "ROLLBACK", false},
      {"BEGIN DEFERRED", nullptr, false},
      {"BEGIN EXCLUSIVE TRANSACTION", nullptr, false},
      {"BEGIN ISOLATION LEVEL CHAOS", nullptr, false},
      {"START", nullptr, false},
      {"ROLLBACK TO SAVEPOINT a", nullptr, false},
      {"COMMIT AND CHAIN", nullptr, false},
      {"SELECT 1", nullptr, false},
      {"BEGINNING", nullptr, false},
  };
  for (const RewriteCase& c : cases) {
    SCOPED_TRACE(c.sql);
    auto rewrite = rewrite_transaction(c.sql);
    if (c.expected == nullptr) {
      EXPECT_FALSE(rewrite.has_value());
      continue;
    }
    ASSERT_TRUE(rewrite.has_value());
    EXPECT_EQ(rewrite->sql, c.expected);
    EXPECT_EQ(rewrite->read_only, c.read_only);
  }
}

TEST(RewriteTransaction, ConsumesOnlyTheFirstStatement) {
  std::string script = "BEGIN READ WRITE; INSERT INTO t VALUES (';')";
  auto rewrite = rewrite_transaction(script);
  ASSERT_TRUE(rewrite.has_value());
  EXPECT_EQ(script.substr(rewrite->consumed), " INSERT INTO t VALUES (';')");
  EXPECT_EQ(rewrite_transaction("COMMIT")->consumed, 6u);
}

TEST(DeclaredType, AffinityRulesWithBooleanAndNumericApart) {
  EXPECT_EQ(declared_type(nullptr), DeclaredType::kNone);
  EXPECT_EQ(declared_type(""), DeclaredType::kNone);
  EXPECT_EQ(declared_type("INTEGER"), DeclaredType::kInteger);
  EXPECT_EQ(declared_type("bigint"), DeclaredType::kInteger);
  EXPECT_EQ(declared_type("VARCHAR(20)"), DeclaredType::kText);
  EXPECT_EQ(declared_type("CLOB"), DeclaredType::kText);
  EXPECT_EQ(declared_type("text"), DeclaredType::kText);
  EXPECT_EQ(declared_type("BLOB"), DeclaredType::kBlob);
  EXPECT_EQ(declared_type("REAL"), DeclaredType::kReal);
  EXPECT_EQ(declared_type("DOUBLE PRECISION"), DeclaredType::kReal);
  EXPECT_EQ(declared_type("float"), DeclaredType::kReal);
  EXPECT_EQ(declared_type("BOOLEAN"), DeclaredType::kBoolean);
  EXPECT_EQ(declared_type("bool"), DeclaredType::kBoolean);
  EXPECT_EQ(declared_type("NUMERIC(10,2)"), DeclaredType::kNumeric);
  EXPECT_EQ(declared_type("DECIMAL"), DeclaredType::kNumeric);
  EXPECT_EQ(declared_type("DATE"), DeclaredType::kNone);
  EXPECT_EQ(declared_type("TIMESTAMP"), DeclaredType::kNone);
}

TEST(ReportsChanges, OnlyDataChangingStatements) {
  EXPECT_TRUE(reports_changes("INSERT", false));
  EXPECT_TRUE(reports_changes("REPLACE", false));
  EXPECT_TRUE(reports_changes("WITH", false));
  EXPECT_FALSE(reports_changes("WITH", true));
  EXPECT_FALSE(reports_changes("SELECT", true));
  EXPECT_FALSE(reports_changes("CREATE", false));
}

TEST(Sqlstate, CodesAndMessages) {
  EXPECT_EQ(sqlstate_for(SQLITE_CONSTRAINT_UNIQUE, ""), "23505");
  EXPECT_EQ(sqlstate_for(SQLITE_CONSTRAINT_PRIMARYKEY, ""), "23505");
  EXPECT_EQ(sqlstate_for(SQLITE_CONSTRAINT_NOTNULL, ""), "23502");
  EXPECT_EQ(sqlstate_for(SQLITE_CONSTRAINT_FOREIGNKEY, ""), "23503");
  EXPECT_EQ(sqlstate_for(SQLITE_CONSTRAINT_CHECK, ""), "23514");
  EXPECT_EQ(sqlstate_for(SQLITE_BUSY, "database is locked"), "55P03");
  EXPECT_EQ(sqlstate_for(SQLITE_BUSY_SNAPSHOT, ""), "55P03");
  EXPECT_EQ(sqlstate_for(SQLITE_LOCKED, ""), "55P03");
  EXPECT_EQ(sqlstate_for(SQLITE_INTERRUPT, ""), "57014");
  EXPECT_EQ(sqlstate_for(SQLITE_READONLY, ""), "25006");
  EXPECT_EQ(sqlstate_for(SQLITE_TOOBIG, ""), "54000");
  EXPECT_EQ(sqlstate_for(SQLITE_RANGE, ""), "08P01");
  EXPECT_EQ(sqlstate_for(SQLITE_ERROR, "no such table: t"), "42P01");
  EXPECT_EQ(sqlstate_for(SQLITE_ERROR, "no such column: c"), "42703");
  EXPECT_EQ(sqlstate_for(SQLITE_ERROR, "near \"x\": syntax error"), "42601");
  EXPECT_EQ(sqlstate_for(SQLITE_ERROR, "incomplete input"), "42601");
  EXPECT_EQ(sqlstate_for(SQLITE_ERROR, "table t already exists"), "42P07");
  EXPECT_EQ(sqlstate_for(SQLITE_ERROR, "cannot start a transaction within a transaction"), "25001");
  EXPECT_EQ(sqlstate_for(SQLITE_ERROR, "cannot commit - no transaction is active"), "25P01");
  EXPECT_EQ(sqlstate_for(SQLITE_ERROR, "something else"), "XX000");
}

}  // namespace
}  // namespace plexi::sqlite
