// Tests for the statement tokenizer that finds settings changes and pinning statements.
#include "protocol/pg/statement.h"

#include <gtest/gtest.h>

namespace plexi::pg {
namespace {

TEST(StatementEffects, SetForms) {
  auto effects = analyze_statements("SET search_path TO myschema, public");
  ASSERT_EQ(effects.settings.size(), 1u);
  EXPECT_EQ(effects.settings[0].kind, SettingChange::Kind::kSet);
  EXPECT_EQ(effects.settings[0].name, "search_path");
  EXPECT_EQ(effects.settings[0].value, "myschema, public");

  effects = analyze_statements("set SESSION TimeZone = 'Europe/Paris';");
  ASSERT_EQ(effects.settings.size(), 1u);
  EXPECT_EQ(effects.settings[0].name, "timezone");
  EXPECT_EQ(effects.settings[0].value, "'Europe/Paris'");

  effects = analyze_statements("SET TIME ZONE 'UTC'");
  ASSERT_EQ(effects.settings.size(), 1u);
  EXPECT_EQ(effects.settings[0].name, "timezone");
  EXPECT_EQ(effects.settings[0].value, "'UTC'");

  effects = analyze_statements("SET NAMES 'LATIN1'");
  ASSERT_EQ(effects.settings.size(), 1u);
  EXPECT_EQ(effects.settings[0].name, "client_encoding");

  effects = analyze_statements("SET application_name TO DEFAULT");
  ASSERT_EQ(effects.settings.size(), 1u);
  EXPECT_EQ(effects.settings[0].kind, SettingChange::Kind::kReset);
}

TEST(StatementEffects, TransactionScopedSetsAreIgnored) {
  EXPECT_TRUE(analyze_statements("SET LOCAL search_path TO x").settings.empty());
  EXPECT_TRUE(analyze_statements("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").settings.empty());
  EXPECT_TRUE(analyze_statements("SET CONSTRAINTS ALL DEFERRED").settings.empty());
  EXPECT_TRUE(analyze_statements("SET plexiproxy.role = 'replica'").settings.empty());
}

TEST(StatementEffects, ResetAndDiscard) {
  auto effects = analyze_statements("RESET search_path; RESET ALL");
  ASSERT_EQ(effects.settings.size(), 2u);
  EXPECT_EQ(effects.settings[0].kind, SettingChange::Kind::kReset);
  EXPECT_EQ(effects.settings[0].name, "search_path");
  EXPECT_EQ(effects.settings[1].kind, SettingChange::Kind::kResetAll);

  effects = analyze_statements("DISCARD ALL");
  EXPECT_TRUE(effects.discard_all);
  EXPECT_TRUE(effects.discards_prepared);
  EXPECT_TRUE(analyze_statements("DEALLOCATE ALL").discards_prepared);
  EXPECT_TRUE(analyze_statements("deallocate prepare all").discards_prepared);
  EXPECT_FALSE(analyze_statements("DEALLOCATE stmt1").discards_prepared);
}

TEST(StatementEffects, SeveralStatements) {
  auto effects = analyze_statements(
      "SELECT 'SET a TO b; x'; SET a.b TO 1; /* SET c TO 2; */ SELECT $$;SET d TO 3$$; "
      "SET \"Quoted\" = 'v'");
  ASSERT_EQ(effects.settings.size(), 2u);
  EXPECT_EQ(effects.settings[0].name, "a.b");
  EXPECT_EQ(effects.settings[0].value, "1");
  EXPECT_EQ(effects.settings[1].name, "Quoted");
  EXPECT_EQ(effects.settings[1].value, "'v'");
}

TEST(StatementEffects, Pinning) {
  EXPECT_EQ(analyze_statements("LISTEN events").pin, PinReason::kListen);
  EXPECT_EQ(analyze_statements("select pg_advisory_lock(1)").pin, PinReason::kAdvisoryLock);
  EXPECT_EQ(analyze_statements("select pg_try_advisory_lock(1)").pin, PinReason::kAdvisoryLock);
  EXPECT_EQ(analyze_statements("select pg_advisory_xact_lock(1)").pin, PinReason::kNone);
  EXPECT_EQ(analyze_statements("CREATE TEMP TABLE t (a int)").pin, PinReason::kTemporaryTable);
  EXPECT_EQ(analyze_statements("create global temporary table t (a int)").pin,
            PinReason::kTemporaryTable);
  EXPECT_EQ(analyze_statements("CREATE TABLE temp (a int)").pin, PinReason::kNone);
  EXPECT_EQ(analyze_statements("DECLARE c CURSOR WITH HOLD FOR SELECT 1").pin,
            PinReason::kHoldCursor);
  EXPECT_EQ(analyze_statements("DECLARE c CURSOR FOR SELECT 1").pin, PinReason::kNone);
  EXPECT_EQ(analyze_statements("PREPARE p AS SELECT 1").pin, PinReason::kSqlPrepare);
  EXPECT_EQ(analyze_statements("SET ROLE admin").pin, PinReason::kRoleChange);
  EXPECT_EQ(analyze_statements("SET SESSION AUTHORIZATION bob").pin, PinReason::kRoleChange);
  EXPECT_EQ(analyze_statements("SELECT 'LISTEN x'").pin, PinReason::kNone);
  EXPECT_EQ(analyze_statements("-- LISTEN x\nSELECT 1").pin, PinReason::kNone);
}

TEST(StatementEffects, PlainStatementsHaveNone) {
  for (const char* sql : {"SELECT 1", "INSERT INTO t VALUES ('SET x TO 1')", "", ";;",
                          "UPDATE settings SET value = 1", "/* unterminated", "'unterminated"}) {
    auto effects = analyze_statements(sql);
    EXPECT_TRUE(effects.settings.empty()) << sql;
    EXPECT_EQ(effects.pin, PinReason::kNone) << sql;
  }
}

TEST(QuoteIdentifier, DoublesQuotes) {
  EXPECT_EQ(quote_identifier("search_path"), "\"search_path\"");
  EXPECT_EQ(quote_identifier("a\"b"), "\"a\"\"b\"");
}

}  // namespace
}  // namespace plexi::pg
