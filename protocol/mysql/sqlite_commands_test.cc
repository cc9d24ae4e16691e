// Tests of the MySQL embedded front's statement recognition: transaction control, SET, USE,
// SHOW, DESCRIBE, KILL, the SELECTs of variables clients send on connect, where statements
// end.
#include "protocol/mysql/sqlite_commands.h"

#include <gtest/gtest.h>

namespace plexi::mysql::embedded {
namespace {

using Scope = Assignment::Scope;
using Value = Assignment::Value;

TEST(MysqlSqliteCommands, EmptyText) {
  EXPECT_EQ(classify_statement("").kind, FrontKind::kEmpty);
  EXPECT_EQ(classify_statement("  ; -- nothing\n # at all\n /* really */ ;").kind,
            FrontKind::kEmpty);
  // mysqldump's version comments are comments here, as SQLite reads them.
  EXPECT_EQ(classify_statement("/*!40101 SET NAMES utf8mb4 */;").kind, FrontKind::kEmpty);
  EXPECT_TRUE(is_blank(" ;\n-- done\n"));
  EXPECT_FALSE(is_blank(" ; select 1"));
  // "--" starts a comment only when a blank follows, as in MySQL.
  EXPECT_FALSE(is_blank("--1"));
}

TEST(MysqlSqliteCommands, TransactionControl) {
  EXPECT_EQ(classify_statement("BEGIN").kind, FrontKind::kBegin);
  EXPECT_EQ(classify_statement("begin work;").kind, FrontKind::kBegin);
  auto begin = classify_statement("BEGIN IMMEDIATE TRANSACTION");
  EXPECT_EQ(begin.kind, FrontKind::kBegin);
  EXPECT_EQ(begin.name, "IMMEDIATE");
  auto start = classify_statement("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT");
  EXPECT_EQ(start.kind, FrontKind::kBegin);
  EXPECT_TRUE(start.read_only);
  EXPECT_FALSE(classify_statement("START TRANSACTION").read_only);
  EXPECT_EQ(classify_statement("COMMIT WORK AND NO CHAIN").kind, FrontKind::kCommit);
  EXPECT_EQ(classify_statement("rollback").kind, FrontKind::kRollback);
  // Savepoints are SQLite's, spelled as in MySQL.
  EXPECT_EQ(classify_statement("ROLLBACK TO SAVEPOINT a").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("ROLLBACK WORK TO a").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("SAVEPOINT a").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("BEGIN NOT ATOMIC SELECT 1; END").kind, FrontKind::kSql);
}

TEST(MysqlSqliteCommands, AutocommitAsDriversSendIt) {
  for (const char* text : {"SET AUTOCOMMIT = 0", "set autocommit=0", "SET @@session.autocommit = 0",
                           "SET SESSION autocommit=0;", "SET @@autocommit := 0"}) {
    SCOPED_TRACE(text);
    auto set = classify_statement(text);
    ASSERT_EQ(set.kind, FrontKind::kSet);
    ASSERT_EQ(set.assignments.size(), 1u);
    EXPECT_EQ(set.assignments[0].scope, Scope::kSession);
    EXPECT_EQ(set.assignments[0].name, "autocommit");
    EXPECT_EQ(set.assignments[0].kind, Value::kLiteral);
    EXPECT_EQ(set.assignments[0].value, "0");
  }
  auto on = classify_statement("SET autocommit = ON");
  EXPECT_EQ(on.assignments[0].value, "ON");
  EXPECT_FALSE(on.assignments[0].quoted);
}

TEST(MysqlSqliteCommands, SetForms) {
  auto names = classify_statement("SET NAMES 'utf8mb4' COLLATE utf8mb4_unicode_ci");
  ASSERT_EQ(names.kind, FrontKind::kSet);
  ASSERT_EQ(names.assignments.size(), 4u);
  EXPECT_EQ(names.assignments[0].name, "character_set_client");
  EXPECT_EQ(names.assignments[2].name, "character_set_results");
  EXPECT_EQ(names.assignments[2].value, "utf8mb4");
  EXPECT_EQ(names.assignments[3].name, "collation_connection");
  EXPECT_EQ(names.assignments[3].value, "utf8mb4_unicode_ci");

  auto charset = classify_statement("SET CHARACTER SET latin1");
  ASSERT_EQ(charset.assignments.size(), 2u);
  EXPECT_EQ(charset.assignments[1].value, "latin1");

  auto several = classify_statement(
      "SET @a = 5, @`b c` = 'it''s', GLOBAL max_connections = 10, sql_mode = DEFAULT, "
      "character_set_results = NULL, @@global.wait_timeout = -5");
  ASSERT_EQ(several.kind, FrontKind::kSet);
  ASSERT_EQ(several.assignments.size(), 6u);
  EXPECT_EQ(several.assignments[0].scope, Scope::kUser);
  EXPECT_EQ(several.assignments[0].name, "a");
  EXPECT_EQ(several.assignments[0].value, "5");
  EXPECT_FALSE(several.assignments[0].quoted);
  EXPECT_EQ(several.assignments[1].name, "b c");
  EXPECT_EQ(several.assignments[1].value, "it's");
  EXPECT_TRUE(several.assignments[1].quoted);
  EXPECT_EQ(several.assignments[2].scope, Scope::kGlobal);
  // A scope keyword carries on to the assignments after it, as in MySQL.
  EXPECT_EQ(several.assignments[3].scope, Scope::kGlobal);
  EXPECT_EQ(several.assignments[3].kind, Value::kDefault);
  EXPECT_EQ(several.assignments[4].kind, Value::kNull);
  EXPECT_EQ(several.assignments[5].scope, Scope::kGlobal);
  EXPECT_EQ(several.assignments[5].value, "-5");

  auto expression = classify_statement("SET sql_mode = CONCAT(@@sql_mode, ',ANSI'), @n = 1 + 2");
  ASSERT_EQ(expression.assignments.size(), 2u);
  EXPECT_EQ(expression.assignments[0].kind, Value::kOther);
  EXPECT_EQ(expression.assignments[0].value, "CONCAT(@@sql_mode, ',ANSI')");
  EXPECT_EQ(expression.assignments[1].kind, Value::kOther);
  EXPECT_EQ(expression.assignments[1].value, "1 + 2");

  auto isolation =
      classify_statement("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE");
  ASSERT_EQ(isolation.kind, FrontKind::kSet);
  ASSERT_EQ(isolation.assignments.size(), 1u);
  EXPECT_EQ(isolation.assignments[0].name, "transaction_isolation");
  EXPECT_EQ(isolation.assignments[0].value, "READ-COMMITTED");

  EXPECT_EQ(classify_statement("SET x").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("SET = 1").kind, FrontKind::kSql);
}

TEST(MysqlSqliteCommands, WhereStatementsEnd) {
  std::string_view text = "SET autocommit=0; SELECT 1";
  auto set = classify_statement(text);
  EXPECT_EQ(set.length, std::string_view("SET autocommit=0;").size());
  auto next = classify_statement(text.substr(set.length));
  EXPECT_EQ(next.kind, FrontKind::kSql);
  EXPECT_EQ(next.begin, 1u);
  // A semicolon inside quotes or comments does not end a statement.
  auto quoted = classify_statement("SET @a = ';' /* ; */ ; x");
  EXPECT_EQ(quoted.length, std::string_view("SET @a = ';' /* ; */ ;").size());
  EXPECT_EQ(quoted.assignments[0].value, ";");
  // An unterminated quote is SQLite's to report.
  EXPECT_EQ(classify_statement("SET @a = 'open").kind, FrontKind::kSql);
}

TEST(MysqlSqliteCommands, UseAndShow) {
  auto use = classify_statement("USE `my db`");
  EXPECT_EQ(use.kind, FrontKind::kUse);
  EXPECT_EQ(use.name, "my db");
  EXPECT_EQ(classify_statement("use test;").name, "test");

  EXPECT_EQ(classify_statement("SHOW DATABASES").kind, FrontKind::kShowDatabases);
  EXPECT_EQ(classify_statement("show schemas like 'a%'").like, "a%");

  auto tables = classify_statement("SHOW FULL TABLES FROM app LIKE 'user\\_%'");
  EXPECT_EQ(tables.kind, FrontKind::kShowTables);
  EXPECT_TRUE(tables.full);
  EXPECT_EQ(tables.name, "app");
  EXPECT_EQ(tables.like, "user\\_%");
  EXPECT_EQ(classify_statement("SHOW TABLES").kind, FrontKind::kShowTables);

  auto columns = classify_statement("SHOW COLUMNS FROM app.users FROM app LIKE 'id'");
  EXPECT_EQ(columns.kind, FrontKind::kShowColumns);
  EXPECT_EQ(columns.name, "users");
  EXPECT_EQ(columns.like, "id");
  EXPECT_TRUE(classify_statement("show full fields in `t`").full);

  auto describe = classify_statement("DESCRIBE users");
  EXPECT_EQ(describe.kind, FrontKind::kShowColumns);
  EXPECT_EQ(describe.name, "users");
  EXPECT_FALSE(describe.like);
  EXPECT_EQ(classify_statement("desc db.users name").like, "name");
  EXPECT_EQ(classify_statement("EXPLAIN users").kind, FrontKind::kShowColumns);
  EXPECT_EQ(classify_statement("EXPLAIN SELECT 1").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("EXPLAIN QUERY PLAN SELECT 1").kind, FrontKind::kSql);

  auto create = classify_statement("SHOW CREATE TABLE `users`");
  EXPECT_EQ(create.kind, FrontKind::kShowCreateTable);
  EXPECT_EQ(create.name, "users");

  EXPECT_EQ(classify_statement("SHOW WARNINGS LIMIT 10").kind, FrontKind::kShowWarnings);
  EXPECT_EQ(classify_statement("SHOW ERRORS").kind, FrontKind::kShowWarnings);
  EXPECT_EQ(classify_statement("SHOW SESSION STATUS LIKE 'Up%'").kind, FrontKind::kShowStatus);
  EXPECT_EQ(classify_statement("SHOW ENGINES").kind, FrontKind::kSql);
}

TEST(MysqlSqliteCommands, ShowVariablesFilters) {
  auto like = classify_statement("SHOW GLOBAL VARIABLES LIKE 'max%'");
  EXPECT_EQ(like.kind, FrontKind::kShowVariables);
  EXPECT_EQ(like.like, "max%");
  auto where = classify_statement(
      "SHOW VARIABLES WHERE Variable_name = 'language' OR Variable_name = 'Net_Write_Timeout'");
  EXPECT_EQ(where.kind, FrontKind::kShowVariables);
  EXPECT_EQ(where.where_names, (std::vector<std::string>{"language", "net_write_timeout"}));
  auto in = classify_statement("SHOW VARIABLES WHERE variable_name IN ('a', 'b')");
  EXPECT_EQ(in.where_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(classify_statement("SHOW VARIABLES WHERE Value = 1").kind, FrontKind::kSql);
}

TEST(MysqlSqliteCommands, SelectsOfVariablesAndSessionFunctions) {
  auto comment = classify_statement("select @@version_comment limit 1");
  ASSERT_EQ(comment.kind, FrontKind::kSelectValues);
  ASSERT_EQ(comment.items.size(), 1u);
  EXPECT_EQ(comment.items[0].kind, SelectItem::Kind::kSystemVariable);
  EXPECT_EQ(comment.items[0].name, "version_comment");
  EXPECT_EQ(comment.items[0].label, "@@version_comment");
  EXPECT_EQ(comment.limit, 1u);

  auto connector = classify_statement(
      "SELECT  @@session.auto_increment_increment AS auto_increment_increment, "
      "@@character_set_client AS character_set_client, @@GLOBAL.Max_Allowed_Packet `packet`");
  ASSERT_EQ(connector.kind, FrontKind::kSelectValues);
  ASSERT_EQ(connector.items.size(), 3u);
  EXPECT_EQ(connector.items[0].name, "auto_increment_increment");
  EXPECT_EQ(connector.items[0].label, "auto_increment_increment");
  EXPECT_EQ(connector.items[2].name, "max_allowed_packet");
  EXPECT_EQ(connector.items[2].label, "packet");

  auto functions =
      classify_statement("SELECT DATABASE(), version(), CURRENT_USER, @x, LAST_INSERT_ID()");
  ASSERT_EQ(functions.kind, FrontKind::kSelectValues);
  ASSERT_EQ(functions.items.size(), 5u);
  EXPECT_EQ(functions.items[0].name, "DATABASE");
  EXPECT_EQ(functions.items[0].label, "DATABASE()");
  EXPECT_EQ(functions.items[1].label, "version()");
  EXPECT_EQ(functions.items[2].name, "CURRENT_USER");
  EXPECT_EQ(functions.items[3].kind, SelectItem::Kind::kUserVariable);
  EXPECT_EQ(functions.items[3].name, "x");
  EXPECT_EQ(functions.items[4].name, "LAST_INSERT_ID");
  EXPECT_EQ(classify_statement("SELECT SCHEMA() FROM DUAL").items[0].name, "DATABASE");

  // Anything else in the list is SQLite's.
  EXPECT_EQ(classify_statement("SELECT 1").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("SELECT @@version, 1").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("SELECT DATABASE() FROM t").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("SELECT @ @version").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("SELECT LAST_INSERT_ID(5)").kind, FrontKind::kSql);
}

TEST(MysqlSqliteCommands, KillAndLocks) {
  auto query = classify_statement("KILL QUERY 42");
  EXPECT_EQ(query.kind, FrontKind::kKill);
  EXPECT_EQ(query.kill_id, 42u);
  EXPECT_TRUE(query.kill_query);
  auto connection = classify_statement("kill connection 7;");
  EXPECT_EQ(connection.kill_id, 7u);
  EXPECT_FALSE(connection.kill_query);
  EXPECT_EQ(classify_statement("KILL 9").kill_id, 9u);
  EXPECT_EQ(classify_statement("KILL x").kind, FrontKind::kSql);
  EXPECT_EQ(classify_statement("LOCK TABLES t WRITE").kind, FrontKind::kAccepted);
  EXPECT_EQ(classify_statement("UNLOCK TABLES").kind, FrontKind::kAccepted);
}

}  // namespace
}  // namespace plexi::mysql::embedded
