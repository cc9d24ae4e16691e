// Tests of the embedded front's statement recognition: SET/SHOW/RESET and friends, where
// statements end, PostgreSQL's CommandComplete tags, cast rewriting and DateStyle.
#include "protocol/pg/sqlite_commands.h"

#include <gtest/gtest.h>

namespace plexi::pg {
namespace {

TEST(SqliteCommands, EmptyText) {
  EXPECT_EQ(classify_statement("").kind, FrontKind::kEmpty);
  EXPECT_EQ(classify_statement("  ; -- nothing\n /* at /* all */ */ ;").kind, FrontKind::kEmpty);
  EXPECT_TRUE(is_blank(" ;\n"));
  EXPECT_FALSE(is_blank(" ; select 1"));
}

TEST(SqliteCommands, SetForms) {
  auto set = classify_statement("SET application_name TO 'my app'; SELECT 1");
  EXPECT_EQ(set.kind, FrontKind::kSet);
  EXPECT_EQ(set.name, "application_name");
  EXPECT_EQ(set.value, "my app");
  EXPECT_EQ(set.tag, "SET");
  EXPECT_EQ(set.length, std::string_view("SET application_name TO 'my app';").size());

  set = classify_statement("set SESSION DateStyle = ISO, DMY");
  EXPECT_EQ(set.kind, FrontKind::kSet);
  EXPECT_EQ(set.name, "datestyle");
  EXPECT_EQ(set.value, "iso, dmy");

  set = classify_statement("SET TIME ZONE 'Europe/Paris'");
  EXPECT_EQ(set.name, "timezone");
  EXPECT_EQ(set.value, "Europe/Paris");

  set = classify_statement("SET NAMES 'UTF8'");
  EXPECT_EQ(set.name, "client_encoding");
  EXPECT_EQ(set.value, "UTF8");

  set = classify_statement("SET \"Quoted.Name\" = 'it''s'");
  EXPECT_EQ(set.name, "Quoted.Name");
  EXPECT_EQ(set.value, "it's");

  set = classify_statement("SET statement_timeout = -5");
  EXPECT_EQ(set.value, "-5");

  EXPECT_EQ(classify_statement("SET search_path TO DEFAULT").kind, FrontKind::kSetDefault);
  EXPECT_EQ(classify_statement("SET LOCAL x = 1").kind, FrontKind::kSetAccepted);
  EXPECT_EQ(classify_statement("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").kind,
            FrontKind::kSetAccepted);
  EXPECT_EQ(classify_statement("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY").kind,
            FrontKind::kSetAccepted);
  EXPECT_EQ(classify_statement("SET ROLE admin").kind, FrontKind::kSetAccepted);
}

TEST(SqliteCommands, ResetShowDiscardDeallocate) {
  auto reset = classify_statement("RESET application_name");
  EXPECT_EQ(reset.kind, FrontKind::kReset);
  EXPECT_EQ(reset.name, "application_name");
  EXPECT_EQ(reset.tag, "RESET");
  EXPECT_EQ(classify_statement("RESET ALL").kind, FrontKind::kResetAll);
  EXPECT_EQ(classify_statement("reset time zone").name, "timezone");

  auto show = classify_statement("SHOW DateStyle;");
  EXPECT_EQ(show.kind, FrontKind::kShow);
  EXPECT_EQ(show.name, "datestyle");
  EXPECT_EQ(classify_statement("SHOW TRANSACTION ISOLATION LEVEL").name, "transaction_isolation");
  EXPECT_EQ(classify_statement("show all").kind, FrontKind::kShowAll);

  EXPECT_EQ(classify_statement("DISCARD ALL").kind, FrontKind::kDiscardAll);
  EXPECT_EQ(classify_statement("DISCARD ALL").tag, "DISCARD ALL");
  EXPECT_EQ(classify_statement("discard plans").tag, "DISCARD PLANS");

  auto deallocate = classify_statement("DEALLOCATE PREPARE _pg3_1");
  EXPECT_EQ(deallocate.kind, FrontKind::kDeallocate);
  EXPECT_EQ(deallocate.name, "_pg3_1");
  EXPECT_EQ(deallocate.tag, "DEALLOCATE");
  EXPECT_EQ(classify_statement("DEALLOCATE ALL").kind, FrontKind::kDeallocateAll);
  EXPECT_EQ(classify_statement("DEALLOCATE ALL").tag, "DEALLOCATE ALL");
}

TEST(SqliteCommands, TransactionControl) {
  EXPECT_EQ(classify_statement("BEGIN").kind, FrontKind::kBegin);
  EXPECT_EQ(classify_statement("BEGIN ISOLATION LEVEL SERIALIZABLE").tag, "BEGIN");
  EXPECT_EQ(classify_statement("START TRANSACTION READ ONLY").tag, "START TRANSACTION");
  EXPECT_EQ(classify_statement("COMMIT").kind, FrontKind::kCommit);
  EXPECT_EQ(classify_statement("END WORK").kind, FrontKind::kCommit);
  EXPECT_EQ(classify_statement("END").tag, "COMMIT");
  EXPECT_EQ(classify_statement("ROLLBACK").kind, FrontKind::kRollback);
  EXPECT_EQ(classify_statement("ABORT").tag, "ROLLBACK");
  EXPECT_EQ(classify_statement("ROLLBACK TO SAVEPOINT a").kind, FrontKind::kRollbackTo);
  EXPECT_EQ(classify_statement("rollback work to a").kind, FrontKind::kRollbackTo);
  EXPECT_EQ(classify_statement("SAVEPOINT a").kind, FrontKind::kSavepoint);
  EXPECT_EQ(classify_statement("RELEASE SAVEPOINT a").kind, FrontKind::kRelease);
  EXPECT_EQ(classify_statement("COMMIT PREPARED 'x'").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("COMMIT AND CHAIN").kind, FrontKind::kSql);
}

TEST(SqliteCommands, CopyAndSql) {
  EXPECT_EQ(classify_statement("COPY t FROM STDIN").kind, FrontKind::kCopy);
  EXPECT_EQ(classify_statement("select 'SET x = 1'").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("/* SET */ select 1").kind, FrontKind::kSql);
}

TEST(SqliteCommands, StatementLengthSkipsLiteralsAndComments) {
  std::string_view sql = "select 'a;b', \"c;d\", $$e;f$$ -- g;h\n; select 2";
  EXPECT_EQ(classify_statement(sql).length, sql.find("; select 2") + 1);
  sql = "select E'it\\'s;' ; x";
  EXPECT_EQ(classify_statement(sql).length, sql.find(" ; x") + 2);
  sql = " ;; select 2";
  EXPECT_EQ(classify_statement(sql).begin, sql.find("select"));
  EXPECT_EQ(classify_statement(sql).length, sql.size());
  // A trigger body holds semicolons: SQLite finds its end.
  sql = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; SELECT 2";
  EXPECT_EQ(classify_statement(sql).length, sql.size());
}

TEST(SqliteCommands, Tags) {
  EXPECT_EQ(tag_command("insert into t values (1)"), "INSERT");
  EXPECT_EQ(tag_command("REPLACE INTO t VALUES (1)"), "INSERT");
  EXPECT_EQ(tag_command("update t set a = 1"), "UPDATE");
  EXPECT_EQ(tag_command("delete from t"), "DELETE");
  EXPECT_EQ(tag_command("select 1"), "SELECT");
  EXPECT_EQ(tag_command("values (1)"), "SELECT");
  EXPECT_EQ(tag_command("create table t (a int)"), "CREATE TABLE");
  EXPECT_EQ(tag_command("CREATE TEMP TABLE IF NOT EXISTS t (a int)"), "CREATE TABLE");
  EXPECT_EQ(tag_command("CREATE TABLE t AS SELECT 1"), "CREATE TABLE AS");
  EXPECT_EQ(tag_command("create unique index i on t(a)"), "CREATE INDEX");
  EXPECT_EQ(tag_command("CREATE VIEW v AS SELECT 1"), "CREATE VIEW");
  EXPECT_EQ(tag_command("create or replace view v as select 1"), "CREATE VIEW");
  EXPECT_EQ(tag_command("CREATE VIRTUAL TABLE f USING fts5(x)"), "CREATE TABLE");
  EXPECT_EQ(tag_command("drop table t"), "DROP TABLE");
  EXPECT_EQ(tag_command("DROP INDEX IF EXISTS i"), "DROP INDEX");
  EXPECT_EQ(tag_command("alter table t add column b"), "ALTER TABLE");
  EXPECT_EQ(tag_command("WITH x AS (SELECT 1) SELECT * FROM x"), "SELECT");
  EXPECT_EQ(tag_command("WITH x AS (SELECT 1), y AS (SELECT 2) INSERT INTO t SELECT * FROM x"),
            "INSERT");
  EXPECT_EQ(tag_command("with recursive c(n) as (select 1) delete from t"), "DELETE");
  EXPECT_EQ(tag_command("begin"), "BEGIN");
  EXPECT_EQ(tag_command("vacuum"), "VACUUM");
  EXPECT_EQ(tag_command("/* c */ pragma table_info(t)"), "PRAGMA");

  EXPECT_EQ(complete_tag("INSERT", 0, 3), "INSERT 0 3");
  EXPECT_EQ(complete_tag("UPDATE", 0, 2), "UPDATE 2");
  EXPECT_EQ(complete_tag("DELETE", 0, 0), "DELETE 0");
  EXPECT_EQ(complete_tag("SELECT", 5, 0), "SELECT 5");
  EXPECT_EQ(complete_tag("CREATE TABLE", 0, 0), "CREATE TABLE");
}

TEST(SqliteCommands, CastsBecomeSqlite) {
  EXPECT_EQ(rewrite_casts("select 1"), "select 1");
  EXPECT_EQ(rewrite_casts("select '\\x0001ff'::bytea"), "select x'0001ff'");
  EXPECT_EQ(rewrite_casts("select 'Infinity'::float8, '-Infinity'::float8, 'NaN'::float8"),
            "select 9e999, -9e999, NULL");
  EXPECT_EQ(rewrite_casts("select '12.5'::numeric"), "select CAST('12.5' AS NUMERIC)");
  EXPECT_EQ(rewrite_casts("select $1::int + 1"), "select CAST($1 AS INTEGER) + 1");
  EXPECT_EQ(rewrite_casts("select a::text from t"), "select CAST(a AS TEXT) from t");
  EXPECT_EQ(rewrite_casts("select t.a::double precision"), "select CAST(t.a AS REAL)");
  EXPECT_EQ(rewrite_casts("select count(*)::int"), "select CAST(count(*) AS INTEGER)");
  EXPECT_EQ(rewrite_casts("select (1 + 2)::text"), "select CAST((1 + 2) AS TEXT)");
  EXPECT_EQ(rewrite_casts("select 1::int::text"), "select CAST(CAST(1 AS INTEGER) AS TEXT)");
  EXPECT_EQ(rewrite_casts("select 't'::bool, 'off'::boolean"), "select 1, 0");
  EXPECT_EQ(rewrite_casts("select '2020-01-02'::date"), "select '2020-01-02'");
  EXPECT_EQ(rewrite_casts("select now()::date"), "select date(now())");
  EXPECT_EQ(rewrite_casts("select 'x'::varchar(10)"), "select CAST('x' AS TEXT)");
  EXPECT_EQ(rewrite_casts("select '2020-01-01 10:00'::timestamp with time zone"),
            "select '2020-01-01 10:00'");
  EXPECT_EQ(rewrite_casts("select 'u'::uuid, '{}'::int[]"), "select CAST('u' AS TEXT), '{}'");
  // Inside literals and comments nothing changes.
  EXPECT_EQ(rewrite_casts("select 'a::int' -- b::int\n"), "select 'a::int' -- b::int\n");
}

TEST(SqliteCommands, DateStyle) {
  EXPECT_EQ(normalize_datestyle("iso, dmy", "ISO, MDY"), "ISO, DMY");
  EXPECT_EQ(normalize_datestyle("German", "ISO, DMY"), "German, DMY");
  EXPECT_EQ(normalize_datestyle("ymd", "Postgres, MDY"), "Postgres, YMD");
  EXPECT_EQ(normalize_datestyle("euro", "ISO, MDY"), "ISO, DMY");
  EXPECT_FALSE(normalize_datestyle("bogus", "ISO, MDY"));
}

}  // namespace
}  // namespace plexi::pg
