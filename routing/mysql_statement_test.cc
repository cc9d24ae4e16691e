// Tests of the MySQL statement analysis and shapes: reads and writes, transaction control,
// tracked settings, pins, USE / KILL / LOAD DATA LOCAL, MySQL's lexical rules, shapes, and
// robustness on text that is not SQL.
#include "routing/mysql_statement.h"

#include <gtest/gtest.h>

#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace plexi::routing {

// Names rather than bytes in failure messages.
void PrintTo(MysqlPin pin, std::ostream* out) { *out << to_string(pin); }

namespace {

using TC = TransactionControl;

struct ReadCase {
  const char* sql;
  bool read;
};

const ReadCase kReads[] = {
    // Reads.
    {"", true},
    {"  -- nothing\n # at all\n /* here */ ", true},
    {"SELECT * FROM users WHERE id = 42", true},
    {"select 1", true},
    {"WITH c AS (SELECT 1) SELECT * FROM c", true},
    {"WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT * FROM c",
     true},
    {"TABLE t", true},
    {"VALUES ROW(1, 2), ROW(3, 4)", true},
    {"(SELECT a FROM t) UNION (SELECT a FROM u) ORDER BY a", true},
    {"SELECT REPLACE(name, 'a', 'b'), INSERT(s, 1, 2, 'x') FROM t", true},
    {"SELECT t.update, t.`delete`, `into` FROM t", true},
    {"SELECT @@read_only, @@innodb_read_only, @@session.sql_mode", true},
    {"SELECT SLEEP(1), UUID(), NOW()", true},
    {"SHOW TABLES", true},
    {"SHOW SLAVE STATUS", true},
    {"SHOW FULL PROCESSLIST", true},
    {"DESCRIBE t", true},
    {"DESC t", true},
    {"EXPLAIN SELECT * FROM t", true},
    {"EXPLAIN FORMAT=JSON UPDATE t SET a = 1", true},  // explained, not run
    {"EXPLAIN ANALYZE SELECT * FROM t", true},
    {"EXPLAIN ANALYZE FORMAT = TREE SELECT * FROM t", true},
    {"ANALYZE FORMAT=JSON SELECT * FROM t", true},
    {"HELP 'contents'", true},
    {"DO 1 + 1", true},
    {"SELECT 1; SELECT 2;", true},
    {"SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", true},
    {"SELECT 1 # FOR UPDATE", true},
    {"SELECT 1 -- FOR UPDATE", true},
    {"SELECT 1 --\tFOR UPDATE", true},
    {"SELECT 1 /* FOR UPDATE */", true},
    {"SELECT ' FOR UPDATE', \" INTO \", 'it\\' FOR UPDATE' FROM t", true},
    {"SELECT 'a'' FOR UPDATE' FROM t", true},
    {"SELECT `a`` FOR UPDATE` FROM t", true},
    {"SELECT 1 /*!99999 */", true},
    {"SELECT a FROM t WHERE b = ? AND c IN (?, ?)", true},
    // Not reads.
    {"SELECT a FROM t FOR UPDATE", false},
    {"SELECT a FROM t FOR UPDATE SKIP LOCKED", false},
    {"SELECT a FROM t FOR SHARE", false},
    {"SELECT a FROM t LOCK IN SHARE MODE", false},
    {"SELECT a FROM (SELECT a FROM t FOR UPDATE) x", false},
    {"SELECT a INTO @x FROM t", false},
    {"SELECT a FROM t INTO OUTFILE '/tmp/a'", false},
    {"SELECT a FROM t INTO DUMPFILE '/tmp/a'", false},
    {"SELECT GET_LOCK('a', 10)", false},
    {"SELECT RELEASE_LOCK('a'), IS_FREE_LOCK('b')", false},
    {"SELECT LAST_INSERT_ID()", false},
    {"SELECT last_insert_id ()", false},
    {"SELECT ROW_COUNT()", false},
    {"SELECT FOUND_ROWS()", false},
    {"SELECT NEXTVAL(s)", false},
    {"SELECT NEXT VALUE FOR s", false},
    {"SELECT PREVIOUS VALUE FOR s", false},
    {"SELECT MASTER_GTID_WAIT('0-1-5', 1)", false},
    {"SELECT @x := 1", false},
    {"SELECT * FROM t WHERE a = @x", false},
    {"SELECT @@identity", false},
    {"SELECT 1 /*! FOR UPDATE */", false},
    {"SELECT 1 /*!50001 FOR UPDATE */", false},
    {"SELECT 1 /*M!100100 FOR UPDATE */", false},
    {"SELECT 1 --x\nFOR UPDATE", false},  // "--x" is minus minus x, not a comment
    {"SELECT 'a\\'' FOR UPDATE", false},
    {"WITH c AS (SELECT 1) DELETE FROM t WHERE id IN (SELECT * FROM c)", false},
    {"WITH c AS (SELECT 1) UPDATE t, c SET t.a = 1", false},
    {"DO GET_LOCK('x', 1)", false},
    {"DO RELEASE_ALL_LOCKS()", false},
    {"EXPLAIN ANALYZE UPDATE t SET a = 1", false},
    {"ANALYZE UPDATE t SET a = 1", false},
    {"ANALYZE TABLE t", false},
    {"SELECT 1; UPDATE t SET a = 1", false},
    {"INSERT INTO t VALUES (1)", false},
    {"REPLACE INTO t VALUES (1)", false},
    {"UPDATE t SET a = 1", false},
    {"DELETE FROM t", false},
    {"CALL p()", false},
    {"CREATE TABLE t (a INT)", false},
    {"LOAD DATA INFILE '/x' INTO TABLE t", false},
    {"LOCK TABLES t READ", false},
    {"SET GLOBAL max_connections = 10", false},
    {"BEGIN", false},
    {"COMMIT", false},
    {"SAVEPOINT s", false},
    {"KILL 5", false},
    {"FLUSH PRIVILEGES", false},
    {"BEGIN NOT ATOMIC SELECT 1; END", false},
    {"garbage", false},
    {"'text'", false},
};

TEST(MysqlStatement, ReadsAndWrites) {
  for (const ReadCase& c : kReads) EXPECT_EQ(analyze_mysql(c.sql).read, c.read) << c.sql;
}

struct TransactionCase {
  const char* sql;
  TC transaction;
  bool read_only;
  bool read;
};

const TransactionCase kTransactions[] = {
    {"BEGIN", TC::kBegin, false, false},
    {"begin work", TC::kBegin, false, false},
    {"START TRANSACTION", TC::kBegin, false, false},
    {"START TRANSACTION READ ONLY", TC::kBegin, true, true},
    {"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", TC::kBegin, true, true},
    {"START TRANSACTION READ ONLY, READ WRITE", TC::kBegin, false, false},
    {"START TRANSACTION READ WRITE", TC::kBegin, false, false},
    {"COMMIT", TC::kCommit, false, false},
    {"COMMIT WORK AND NO CHAIN NO RELEASE", TC::kCommit, false, false},
    {"ROLLBACK", TC::kRollback, false, false},
    {"ROLLBACK WORK", TC::kRollback, false, false},
    {"ROLLBACK TO SAVEPOINT s", TC::kNone, false, false},
    {"ROLLBACK WORK TO s", TC::kNone, false, false},
    {"RELEASE SAVEPOINT s", TC::kNone, false, false},
    {"XA START 'x'", TC::kBegin, false, false},
    {"XA BEGIN 'x'", TC::kBegin, false, false},
    {"XA END 'x'", TC::kNone, false, false},
    {"XA COMMIT 'x'", TC::kCommit, false, false},
    {"XA ROLLBACK 'x'", TC::kRollback, false, false},
    {"BEGIN NOT ATOMIC SELECT 1; END", TC::kNone, false, false},
    {"START SLAVE", TC::kNone, false, false},
    // What follows READ ONLY in the same string is a read until the transaction ends.
    {"START TRANSACTION READ ONLY; SELECT 1; COMMIT", TC::kCommit, false, true},
    {"START TRANSACTION READ ONLY; INSERT INTO t VALUES (1)", TC::kBegin, true, true},
    {"START TRANSACTION READ ONLY; COMMIT; INSERT INTO t VALUES (1)", TC::kCommit, false, false},
    {"START TRANSACTION READ ONLY; CREATE TABLE x (a INT)", TC::kBegin, true, false},
    {"START TRANSACTION READ ONLY; SELECT GET_LOCK('a', 1)", TC::kBegin, true, false},
    {"BEGIN; SELECT 1; COMMIT", TC::kCommit, false, false},
    {"SELECT 1; BEGIN", TC::kBegin, false, false},
};

TEST(MysqlStatement, TransactionControl) {
  for (const TransactionCase& c : kTransactions) {
    const MysqlStatement statement = analyze_mysql(c.sql);
    EXPECT_EQ(statement.transaction, c.transaction) << c.sql;
    EXPECT_EQ(statement.read_only, c.read_only) << c.sql;
    EXPECT_EQ(statement.read, c.read) << c.sql;
  }
}

TEST(MysqlStatement, ImplicitCommit) {
  for (const char* sql : {"CREATE TABLE t (a INT)",
                          "ALTER TABLE t ADD b INT",
                          "DROP TABLE t",
                          "RENAME TABLE a TO b",
                          "TRUNCATE TABLE t",
                          "CREATE INDEX i ON t (a)",
                          "CREATE USER 'u'@'h'",
                          "DROP DATABASE d",
                          "GRANT SELECT ON *.* TO 'u'@'h'",
                          "REVOKE ALL ON *.* FROM 'u'@'h'",
                          "LOCK TABLES t WRITE",
                          "LOCK TABLE t READ",
                          "FLUSH TABLES",
                          "ANALYZE TABLE t",
                          "OPTIMIZE TABLE t",
                          "SET PASSWORD = 'x'",
                          "START SLAVE",
                          "STOP REPLICA",
                          "INSTALL PLUGIN p SONAME 'p.so'",
                          "CREATE OR REPLACE VIEW v AS SELECT 1",
                          "LOCK TABLES t WRITE; UNLOCK TABLES"}) {
    EXPECT_TRUE(analyze_mysql(sql).implicit_commit) << sql;
  }
  for (const char* sql :
       {"SELECT 1", "INSERT INTO t VALUES (1)", "CREATE TEMPORARY TABLE t (a INT)",
        "CREATE OR REPLACE TEMPORARY TABLE t (a INT)", "DROP TEMPORARY TABLE t", "BEGIN", "COMMIT",
        "SET autocommit = 0", "UNLOCK TABLES", "DEALLOCATE PREPARE s",
        "LOAD DATA INFILE '/x' INTO TABLE t", "SELECT 'CREATE TABLE'"}) {
    EXPECT_FALSE(analyze_mysql(sql).implicit_commit) << sql;
  }
}

using Settings = std::vector<std::pair<std::string, std::string>>;

Settings settings_of(const MysqlStatement& statement) {
  Settings settings;
  for (const MysqlSetting& setting : statement.settings) {
    settings.emplace_back(setting.key, setting.sql);
  }
  return settings;
}

struct SettingCase {
  const char* sql;
  Settings settings;
  MysqlPin pin;
  bool read;
};

const SettingCase kSettings[] = {
    {"SET NAMES utf8mb4", {{"names", "NAMES utf8mb4"}}, MysqlPin::kNone, true},
    {"set names 'utf8mb4' collate 'utf8mb4_bin'",
     {{"names", "NAMES 'utf8mb4' collate 'utf8mb4_bin'"}},
     MysqlPin::kNone,
     true},
    {"SET NAMES DEFAULT", {{"names", "NAMES DEFAULT"}}, MysqlPin::kNone, true},
    {"SET CHARACTER SET latin1", {{"names", "CHARACTER SET latin1"}}, MysqlPin::kNone, true},
    {"SET CHARSET utf8", {{"names", "CHARACTER SET utf8"}}, MysqlPin::kNone, true},
    {"SET autocommit=0", {{"autocommit", "autocommit = 0"}}, MysqlPin::kNone, true},
    {"SET AUTOCOMMIT = ON", {{"autocommit", "autocommit = ON"}}, MysqlPin::kNone, true},
    {"SET SESSION sql_mode = 'ANSI_QUOTES'",
     {{"sql_mode", "sql_mode = 'ANSI_QUOTES'"}},
     MysqlPin::kNone,
     true},
    {"SET LOCAL time_zone := '+00:00'",
     {{"time_zone", "time_zone = '+00:00'"}},
     MysqlPin::kNone,
     true},
    {"SET @@session.time_zone = 'UTC', @@sql_select_limit = DEFAULT",
     {{"time_zone", "time_zone = 'UTC'"}, {"sql_select_limit", "sql_select_limit = DEFAULT"}},
     MysqlPin::kNone,
     true},
    {"SET @@local.sql_safe_updates = 1",
     {{"sql_safe_updates", "sql_safe_updates = 1"}},
     MysqlPin::kNone,
     true},
    {"SET sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')",
     {{"sql_mode", "sql_mode = CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')"}},
     MysqlPin::kNone,
     true},
    {"SET sql_mode=(SELECT REPLACE(@@sql_mode,'ONLY_FULL_GROUP_BY',''))",
     {{"sql_mode", "sql_mode = (SELECT REPLACE(@@sql_mode,'ONLY_FULL_GROUP_BY',''))"}},
     MysqlPin::kNone,
     true},
    {"SET tx_isolation = 'READ-COMMITTED'",
     {{"transaction_isolation", "tx_isolation = 'READ-COMMITTED'"}},
     MysqlPin::kNone,
     true},
    {"SET transaction_isolation = 'SERIALIZABLE', tx_read_only = 1",
     {{"transaction_isolation", "transaction_isolation = 'SERIALIZABLE'"},
      {"transaction_read_only", "tx_read_only = 1"}},
     MysqlPin::kNone,
     true},
    {"SET character_set_results = NULL, collation_connection = utf8mb4_bin",
     {{"character_set_results", "character_set_results = NULL"},
      {"collation_connection", "collation_connection = utf8mb4_bin"}},
     MysqlPin::kNone,
     true},
    {"SET NAMES utf8, autocommit = 1, max_execution_time = 1000",
     {{"names", "NAMES utf8"},
      {"autocommit", "autocommit = 1"},
      {"max_execution_time", "max_execution_time = 1000"}},
     MysqlPin::kNone,
     true},
    {"SET foreign_key_checks = 0 /* load */, unique_checks = 0",
     {{"foreign_key_checks", "foreign_key_checks = 0"}, {"unique_checks", "unique_checks = 0"}},
     MysqlPin::kNone,
     true},
    {"SET wait_timeout = 28800", {{"wait_timeout", "wait_timeout = 28800"}}, MysqlPin::kNone, true},
    {"SET `sql_mode` = ''", {{"sql_mode", "sql_mode = ''"}}, MysqlPin::kNone, true},
    {"/*!40101 SET NAMES utf8mb4 */;", {{"names", "NAMES utf8mb4"}}, MysqlPin::kNone, true},
    {"SET autocommit = 1 /*! + 0 */",
     {{"autocommit", "autocommit = 1 + 0"}},
     MysqlPin::kNone,
     true},
    {"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
     {{"transaction_isolation", "SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"}},
     MysqlPin::kNone,
     true},
    {"set session transaction isolation level repeatable read, read only",
     {{"transaction_isolation", "SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"},
      {"transaction_read_only", "SESSION TRANSACTION READ ONLY"}},
     MysqlPin::kNone,
     true},
    {"SET SESSION TRANSACTION READ WRITE",
     {{"transaction_read_only", "SESSION TRANSACTION READ WRITE"}},
     MysqlPin::kNone,
     true},
    {"SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
     {{"transaction_isolation", "SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"}},
     MysqlPin::kNone,
     true},
    // Not tracked: pinned, or writes.
    {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", {}, MysqlPin::kUnknownSetting, false},
    {"SET TRANSACTION READ ONLY", {}, MysqlPin::kUnknownSetting, false},
    {"SET SESSION TRANSACTION ISOLATION LEVEL SOMETIMES", {}, MysqlPin::kUnknownSetting, false},
    {"SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", {}, MysqlPin::kNone, false},
    {"SET @x = 1", {}, MysqlPin::kUserVariable, false},
    {"SET @x := 1, @y = 2", {}, MysqlPin::kUserVariable, false},
    {"SET @`odd name` = 1", {}, MysqlPin::kUserVariable, false},
    {"SET sql_mode = CONCAT(@x, 'a')", {}, MysqlPin::kUserVariable, false},
    {"SET autocommit = 0, @x = 1",
     {{"autocommit", "autocommit = 0"}},
     MysqlPin::kUserVariable,
     false},
    {"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
     {},
     MysqlPin::kUserVariable,
     false},
    {"SET GLOBAL max_connections = 10", {}, MysqlPin::kNone, false},
    {"SET PERSIST sql_mode = ''", {}, MysqlPin::kNone, false},
    {"SET @@global.sql_mode = ''", {}, MysqlPin::kNone, false},
    {"SET GLOBAL sql_mode = '', SESSION sql_mode = ''",
     {{"sql_mode", "sql_mode = ''"}},
     MysqlPin::kNone,
     false},
    {"SET foo = 1", {}, MysqlPin::kUnknownSetting, false},
    {"SET sql_log_bin = 0", {}, MysqlPin::kUnknownSetting, false},
    {"SET session_track_gtids = OWN_GTID", {}, MysqlPin::kUnknownSetting, false},
    {"SET timestamp = 1700000000", {}, MysqlPin::kUnknownSetting, false},
    {"SET plexiproxy_role = 'replica'", {}, MysqlPin::kUnknownSetting, false},
    {"SET ROLE ALL", {}, MysqlPin::kUnknownSetting, false},
    {"SET DEFAULT ROLE r TO u", {}, MysqlPin::kNone, false},
    {"SET PASSWORD = 'secret'", {}, MysqlPin::kNone, false},
    {"SET autocommit", {}, MysqlPin::kUnknownSetting, false},
    {"SET autocommit =", {}, MysqlPin::kNone, false},
    // MariaDB: settings for one statement, which decides.
    {"SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t", {}, MysqlPin::kNone, true},
    {"SET STATEMENT max_statement_time = 1 FOR UPDATE t SET a = 1", {}, MysqlPin::kNone, false},
};

TEST(MysqlStatement, Settings) {
  for (const SettingCase& c : kSettings) {
    const MysqlStatement statement = analyze_mysql(c.sql);
    EXPECT_EQ(settings_of(statement), c.settings) << c.sql;
    EXPECT_EQ(statement.pin, c.pin) << c.sql;
    EXPECT_EQ(statement.read, c.read) << c.sql;
  }
  // In order, each statement of a string.
  EXPECT_EQ(settings_of(analyze_mysql("SET NAMES latin1; SELECT 1; SET NAMES utf8mb4")),
            (Settings{{"names", "NAMES latin1"}, {"names", "NAMES utf8mb4"}}));
}

struct PinCase {
  const char* sql;
  MysqlPin pin;
  bool released;
};

const PinCase kPins[] = {
    {"SELECT 1", MysqlPin::kNone, false},
    {"SELECT @@session.autocommit", MysqlPin::kNone, false},
    {"SELECT @x", MysqlPin::kUserVariable, false},
    {"SELECT @x.y, @_z$", MysqlPin::kUserVariable, false},
    {"SELECT @'quoted var', @\"dq\", @`bq`", MysqlPin::kUserVariable, false},
    {"UPDATE t SET a = @x", MysqlPin::kUserVariable, false},
    {"CREATE USER 'u'@'localhost'", MysqlPin::kNone, false},  // user@host is no variable
    {"GRANT ALL ON *.* TO root@localhost", MysqlPin::kNone, false},
    {"SELECT '@x', `@y` FROM t -- @z", MysqlPin::kNone, false},
    {"CREATE TEMPORARY TABLE t (a INT)", MysqlPin::kTemporaryTable, false},
    {"CREATE TEMPORARY TABLE t AS SELECT @x", MysqlPin::kTemporaryTable, false},
    {"SELECT GET_LOCK('a', 1)", MysqlPin::kUserLock, false},
    {"SELECT get_lock('a', 1)", MysqlPin::kUserLock, false},
    {"SELECT IS_USED_LOCK('a')", MysqlPin::kUserLock, false},
    {"SELECT RELEASE_LOCK('a')", MysqlPin::kNone, false},
    {"SELECT RELEASE_ALL_LOCKS()", MysqlPin::kNone, true},
    {"SELECT t.get_lock(1) FROM t", MysqlPin::kNone, false},
    {"LOCK TABLES t READ, u WRITE", MysqlPin::kLockTables, false},
    {"LOCK TABLE t READ", MysqlPin::kLockTables, false},
    {"FLUSH TABLES WITH READ LOCK", MysqlPin::kLockTables, false},
    {"FLUSH TABLES t FOR EXPORT", MysqlPin::kLockTables, false},
    {"LOCK INSTANCE FOR BACKUP", MysqlPin::kLockTables, false},
    {"UNLOCK TABLES", MysqlPin::kNone, true},
    {"UNLOCK INSTANCE", MysqlPin::kNone, true},
    {"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", MysqlPin::kFoundRows, false},
    {"SELECT FOUND_ROWS()", MysqlPin::kFoundRows, false},
    {"SELECT LAST_INSERT_ID()", MysqlPin::kLastInsertId, false},
    {"INSERT INTO c (p) VALUES (LAST_INSERT_ID())", MysqlPin::kLastInsertId, false},
    {"SELECT @@IDENTITY", MysqlPin::kLastInsertId, false},
    {"SELECT @@session.last_insert_id", MysqlPin::kLastInsertId, false},
    {"PREPARE s FROM 'SELECT 1'", MysqlPin::kSqlPrepare, false},
    {"EXECUTE s USING @a, @b", MysqlPin::kSqlPrepare, false},
    {"DEALLOCATE PREPARE s", MysqlPin::kSqlPrepare, true},
    {"DROP PREPARE s", MysqlPin::kSqlPrepare, true},
    {"SET foo = 1", MysqlPin::kUnknownSetting, false},
    {"HANDLER t OPEN", MysqlPin::kHandler, false},
    {"HANDLER db.t OPEN AS h", MysqlPin::kHandler, false},
    {"HANDLER t READ FIRST", MysqlPin::kNone, false},
    {"HANDLER t CLOSE", MysqlPin::kNone, true},
    // The first reason found.
    {"SELECT @x, GET_LOCK('a', 1)", MysqlPin::kUserVariable, false},
    {"SELECT GET_LOCK('a', 1), @x", MysqlPin::kUserLock, false},
    {"SELECT 1; CREATE TEMPORARY TABLE t (a INT); SET @x = 1", MysqlPin::kTemporaryTable, false},
    // What EXPLAIN explains does not run.
    {"EXPLAIN SELECT * FROM t WHERE a = @x", MysqlPin::kNone, false},
    {"EXPLAIN ANALYZE SELECT * FROM t WHERE a = @x", MysqlPin::kUserVariable, false},
};

TEST(MysqlStatement, Pins) {
  for (const PinCase& c : kPins) {
    const MysqlStatement statement = analyze_mysql(c.sql);
    EXPECT_EQ(statement.pin, c.pin) << c.sql;
    EXPECT_EQ(statement.pin_released, c.released) << c.sql;
    // A pinned client keeps a connection it may write on.
    if (c.pin != MysqlPin::kNone) {
      EXPECT_FALSE(statement.read) << c.sql;
    }
  }
}

TEST(MysqlStatement, PinNames) {
  EXPECT_EQ(to_string(MysqlPin::kNone), "none");
  EXPECT_EQ(to_string(MysqlPin::kUserVariable), "user_variable");
  EXPECT_EQ(to_string(MysqlPin::kTemporaryTable), "temporary_table");
  EXPECT_EQ(to_string(MysqlPin::kUserLock), "user_lock");
  EXPECT_EQ(to_string(MysqlPin::kLockTables), "lock_tables");
  EXPECT_EQ(to_string(MysqlPin::kFoundRows), "found_rows");
  EXPECT_EQ(to_string(MysqlPin::kLastInsertId), "last_insert_id");
  EXPECT_EQ(to_string(MysqlPin::kSqlPrepare), "sql_prepare");
  EXPECT_EQ(to_string(MysqlPin::kUnknownSetting), "unknown_setting");
  EXPECT_EQ(to_string(MysqlPin::kHandler), "handler");
}

TEST(MysqlStatement, UseDatabase) {
  EXPECT_EQ(analyze_mysql("USE shop").use_database, "shop");
  EXPECT_EQ(analyze_mysql("use `my db`;").use_database, "my db");
  EXPECT_EQ(analyze_mysql("USE `a``b`").use_database, "a`b");
  EXPECT_EQ(analyze_mysql("USE a; SELECT 1; USE b").use_database, "b");
  EXPECT_EQ(analyze_mysql("/* x */ USE Shop -- y").use_database, "Shop");
  EXPECT_TRUE(analyze_mysql("USE shop").read);
  EXPECT_FALSE(analyze_mysql("USE").use_database);
  EXPECT_FALSE(analyze_mysql("USE a b").use_database);
  EXPECT_FALSE(analyze_mysql("SELECT 'USE a'").use_database);
}

TEST(MysqlStatement, Kill) {
  MysqlStatement kill = analyze_mysql("KILL 42");
  EXPECT_EQ(kill.kill_id, 42u);
  EXPECT_FALSE(kill.kill_query);
  kill = analyze_mysql("kill query 7;");
  EXPECT_EQ(kill.kill_id, 7u);
  EXPECT_TRUE(kill.kill_query);
  kill = analyze_mysql("KILL CONNECTION 18446744073709551615");
  EXPECT_EQ(kill.kill_id, 18446744073709551615u);
  EXPECT_FALSE(kill.kill_query);
  kill = analyze_mysql("KILL HARD QUERY 9");
  EXPECT_EQ(kill.kill_id, 9u);
  EXPECT_TRUE(kill.kill_query);
  EXPECT_FALSE(analyze_mysql("KILL 18446744073709551616").kill_id);  // too large
  EXPECT_FALSE(analyze_mysql("KILL QUERY ID 5").kill_id);            // MariaDB: a query id
  EXPECT_FALSE(analyze_mysql("KILL USER bob").kill_id);
  EXPECT_FALSE(analyze_mysql("KILL ?").kill_id);
  EXPECT_FALSE(analyze_mysql("KILL 1 + 1").kill_id);
  EXPECT_FALSE(analyze_mysql("KILL 0x10").kill_id);
  EXPECT_FALSE(analyze_mysql("SELECT 1").kill_id);
}

TEST(MysqlStatement, LoadDataLocal) {
  EXPECT_TRUE(analyze_mysql("LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t").load_data_local);
  EXPECT_TRUE(
      analyze_mysql("load data low_priority local infile 'x' into table t").load_data_local);
  EXPECT_TRUE(analyze_mysql("LOAD XML LOCAL INFILE 'x' INTO TABLE t").load_data_local);
  EXPECT_FALSE(analyze_mysql("LOAD DATA INFILE '/tmp/x' INTO TABLE t").load_data_local);
  EXPECT_FALSE(analyze_mysql("LOAD DATA INFILE 'LOCAL' INTO TABLE local").load_data_local);
  EXPECT_FALSE(analyze_mysql("SELECT 'LOAD DATA LOCAL INFILE'").load_data_local);
}

TEST(MysqlStatement, MultipleStatements) {
  EXPECT_FALSE(analyze_mysql("SELECT 1").multiple);
  EXPECT_FALSE(analyze_mysql("SELECT 1;").multiple);
  EXPECT_FALSE(analyze_mysql(";; SELECT 1 ;;").multiple);
  EXPECT_FALSE(analyze_mysql("SELECT ';'").multiple);
  EXPECT_FALSE(analyze_mysql("SELECT 1 -- ;\n").multiple);
  EXPECT_FALSE(analyze_mysql("SELECT `;`").multiple);
  EXPECT_TRUE(analyze_mysql("SELECT 1; SELECT 2").multiple);
  EXPECT_TRUE(analyze_mysql("SELECT 1 /*! ; SELECT 2 */").multiple);
  // A stored program's body is one statement, semicolons and all.
  const MysqlStatement program =
      analyze_mysql("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT @x; END");
  EXPECT_FALSE(program.multiple);
  EXPECT_TRUE(program.implicit_commit);
  EXPECT_EQ(program.pin, MysqlPin::kNone);  // the body runs when called, not here
  EXPECT_EQ(analyze_mysql("CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @n = @n + 1").pin,
            MysqlPin::kNone);
  // A statement that should hold another but ends first leaves the next one alone.
  const MysqlStatement cut = analyze_mysql("EXPLAIN ANALYZE; BEGIN");
  EXPECT_TRUE(cut.multiple);
  EXPECT_EQ(cut.transaction, TC::kBegin);
  EXPECT_TRUE(analyze_mysql("CREATE TABLE t (begin INT); SELECT 1").multiple);
}

TEST(MysqlStatement, Hint) {
  const MysqlStatement hinted = analyze_mysql("/* plexiproxy: role=replica */ SELECT 1");
  EXPECT_TRUE(hinted.hint.present());
  EXPECT_EQ(hinted.hint.role, config::Role::kReplica);
  EXPECT_EQ(analyze_mysql("/*plexiproxy:role=primary*/ SELECT 1").hint.role,
            config::Role::kPrimary);
  EXPECT_FALSE(analyze_mysql("SELECT 1 /* plexiproxy: role=replica */").hint.present());
  EXPECT_EQ(shape_mysql_statement("/* plexiproxy: role=analytics */ SELECT 1").hint.role,
            config::Role::kAnalytics);
}

struct ShapeCase {
  const char* sql;
  const char* shape;
};

const ShapeCase kShapes[] = {
    {"SELECT * FROM users WHERE id = 42", "SELECT * FROM users WHERE id = ?"},
    {"select *   from Users\n\twhere ID=?", "SELECT * FROM users WHERE id = ?"},
    {"SELECT 1e5, .5, 1.5, 1.5e-3, 1.e5, 3., 0x0F, 0b01, x'0f', X'0F', b'01', B'1'",
     "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"},
    {"SELECT 'it''s', 'a\\'b', \"dq\\\"\", N'nat', _utf8mb4'x', _binary 'y'",
     "SELECT ?, ?, ?, ?, ?, ?"},
    {"SELECT -3, +4, (-1), x = -5, 5 - -5, a*-1, a<=-1",
     "SELECT ?, ?, (?), x = ?, ? - ?, a * ?, a <= ?"},
    {"SELECT a-1, a -1, -x", "SELECT a - ?, a - ?, - x"},
    // Names: unquoted ones lower-cased, backquoted ones kept as written.
    {"SELECT `Name`, `a``b`, T.Col, t.`Select` FROM `My Table` T",
     "SELECT `Name`, `a``b`, t.col, t.`Select` FROM `My Table` t"},
    {"SELECT t.update, t.1col, 1abc, 0xzz FROM t", "SELECT t.update, t.1col, 1abc, 0xzz FROM t"},
    // Variables: user variables ignore case, quoted names keep theirs.
    {"SELECT @X, @@SESSION.SQL_MODE, @'Q v', @`B`", "SELECT @x, @@session.sql_mode, @'Q v', @`B`"},
    {"SET @a := 1", "SET @a := ?"},
    {"CREATE USER 'u'@'localhost'", "CREATE user ? @ ?"},
    // Lists of placeholders collapse.
    {"SELECT * FROM t WHERE id IN (1, 2, 3) AND k NOT IN ('a','b') OR j IN (?, ?)",
     "SELECT * FROM t WHERE id IN (...) AND k NOT IN (...) OR j IN (...)"},
    {"SELECT * FROM t WHERE a IN (1, b) OR c IN (SELECT id FROM s)",
     "SELECT * FROM t WHERE a IN (?, b) OR c IN (SELECT id FROM s)"},
    {"INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
     "INSERT INTO t(a, b) VALUES (...)"},
    {"INSERT INTO t VALUES (?, ?) ON DUPLICATE KEY UPDATE b = VALUES(b)",
     "INSERT INTO t VALUES (...) ON DUPLICATE KEY UPDATE b = VALUES (b)"},
    {"INSERT INTO t VALUES (1, NOW()), (2, NOW())", "INSERT INTO t VALUES (?, now()), (?, now())"},
    // Comments dropped; executable comments' content kept; hints dropped.
    {"/* plexiproxy: role=analytics */ SELECT count ( * ) FROM Orders -- tail",
     "SELECT count(*) FROM orders"},
    {"SELECT 1 # hash\n + 2 /* c */ , 3 -- dash", "SELECT ? + ?, ?"},
    {"/*!40101 SET NAMES utf8mb4 */;", "SET NAMES utf8mb4"},
    {"SELECT /*+ BKA(t) */ a FROM t /*!50001 FOR UPDATE */", "SELECT a FROM t FOR UPDATE"},
    {"SELECT 1 /*M!100100 , 2 */", "SELECT ?, ?"},
    {"SELECT 1 --x", "SELECT ? - - x"},
    // Operators and statements.
    {"SELECT a->>'$.k', a->'$.j', a<=>b, a<>b, a!=b, a||b, a&&b, a<<1, a:=1",
     "SELECT a ->> ?, a -> ?, a <=> b, a <> b, a != b, a || b, a && b, a << ?, a := ?"},
    {"SELECT 1; select 2;", "SELECT ?; SELECT ?"},
    {";;SELECT 1;;", "SELECT ?"},
    {"SELECT * FROM t LIMIT 10, 20 FOR UPDATE", "SELECT * FROM t LIMIT ?, ? FOR UPDATE"},
    {"", ""},
    {"  -- nothing\n # at all\n /* here */ ", ""},
    // Spacing that keeps the tokens: ".1a" would read as .1 and a, 0xb as a number.
    {"SELECT (x). 1abc, t. 1abc, `t`.1a", "SELECT (x) . 1abc, t.1abc, `t`.1a"},
    {"SELECT 0Xb, 0xz, a@.x, @x. 1a", "SELECT ?, 0xz, a @.x, @x.1a"},
    // What the server cannot read stays as written, so it never shares a complete shape.
    {"SELECT 'unterminated", "SELECT 'unterminated"},
    {"SELECT 1, 'ends in a backslash\\", "SELECT ?, 'ends in a backslash\\"},
    {"SELECT `open name", "SELECT `open name"},
    {"SELECT 1 /* open comment", "SELECT ? /* open comment"},
    {"SELECT 1 /*! 2 */ /* open", "SELECT ? ? /* open"},
};

TEST(MysqlShape, ReplacesLiteralsAndNormalises) {
  for (const ShapeCase& c : kShapes) {
    EXPECT_EQ(shape_mysql_statement(c.sql).text, c.shape) << c.sql;
    EXPECT_EQ(shape_mysql_statement(c.shape).text, c.shape) << "shaped again: " << c.sql;
  }
}

// One digest for the statements of one shape, whatever their literals, case and comments;
// the overload that fills a shape keeps its text's buffer.
TEST(MysqlShape, DigestOfTheShape) {
  StatementShape shape;
  shape_mysql_statement("select *\n from USERS where id IN (7, 8, 9) # by id", shape);
  const char* buffer = shape.text.data();
  const std::uint64_t digest = shape.digest;
  EXPECT_EQ(digest, shape_digest("SELECT * FROM users WHERE id IN (...)"));
  shape_mysql_statement("SELECT * FROM users WHERE id IN (?)", shape);
  EXPECT_EQ(shape.digest, digest);
  EXPECT_EQ(shape.text.data(), buffer);
  EXPECT_NE(shape_mysql_statement("SELECT * FROM users WHERE id = 1").digest, digest);
}

// ---- tables, for the result cache ----

using Names = std::vector<std::string>;

struct TablesCase {
  const char* sql;
  Names read;
  Names written;
};

const TablesCase kTables[] = {
    {"SELECT * FROM users WHERE id = 42", {"users"}, {}},
    {"SELECT * FROM Users u, `Orders` AS o WHERE u.id = o.user_id", {"Orders", "users"}, {}},
    {"SELECT * FROM shop.products JOIN `shop`.`Stock` s USING (id)",
     {"id", "shop.Stock", "shop.products"},
     {}},
    {"SELECT a FROM t1 LEFT OUTER JOIN t2 ON t1.x = t2.x, t3 NATURAL JOIN t4 STRAIGHT_JOIN t5",
     {"t1", "t2", "t3", "t4", "t5"},
     {}},
    {"SELECT * FROM (SELECT * FROM inner_t) AS d JOIN (t6 JOIN t7 ON a = b) ON c = d",
     {"inner_t", "t6", "t7"},
     {}},
    {"SELECT (SELECT MAX(x) FROM s1) FROM t WHERE a IN (SELECT b FROM s2) ORDER BY a, b",
     {"s1", "s2", "t"},
     {}},
    {"WITH c AS (SELECT * FROM base) SELECT * FROM c", {"base", "c"}, {}},
    {"(SELECT a FROM t) UNION (SELECT a FROM u)", {"t", "u"}, {}},
    {"TABLE t", {"t"}, {}},
    {"SELECT 1 FROM DUAL", {}, {}},
    {"SELECT * FROM t PARTITION (p0, p1) USE INDEX (i) WHERE x = 1", {"t"}, {}},
    {"SELECT * FROM t FORCE INDEX FOR JOIN (i), u", {"i", "t", "u"}, {}},
    {"SELECT * FROM t, JSON_TABLE(t.doc, '$[*]' COLUMNS (a INT PATH '$')) j", {"t"}, {}},
    {"SELECT update_count FROM `select`", {"select"}, {}},
    {"INSERT INTO t (a, b) VALUES (1, 2), (3, 4) ON DUPLICATE KEY UPDATE a = VALUES(a)", {}, {"t"}},
    {"INSERT LOW_PRIORITY IGNORE t VALUES (1)", {}, {"t"}},
    {"REPLACE INTO db.t SELECT * FROM s WHERE x = 1", {"s"}, {"db.t"}},
    {"INSERT INTO t TABLE s", {"s"}, {"t"}},
    {"UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = (SELECT MAX(b) FROM s) WHERE t2.c = 1",
     {"s"},
     {"t1", "t2"}},
    {"UPDATE LOW_PRIORITY t SET a = 1", {}, {"t"}},
    {"DELETE FROM t WHERE id IN (SELECT id FROM s)", {}, {"s", "t"}},
    {"DELETE QUICK t1, t2 FROM t1 INNER JOIN t2 WHERE t1.id = t2.id", {}, {"t1", "t2"}},
    {"DELETE FROM t1 USING t1 JOIN t3", {}, {"t1", "t3"}},
    {"TRUNCATE TABLE t", {}, {"t"}},
    {"truncate T", {}, {"t"}},
    {"ALTER TABLE t ADD COLUMN c INT", {}, {"t"}},
    {"ALTER TABLE t RENAME TO u", {}, {"t", "u"}},
    {"DROP TABLE IF EXISTS a, `B`", {}, {"B", "a"}},
    {"DROP TEMPORARY TABLE tmp", {}, {"tmp"}},
    {"CREATE TABLE IF NOT EXISTS t (a INT, KEY (a))", {}, {"t"}},
    {"CREATE TABLE t AS SELECT * FROM s", {"s"}, {"t"}},
    {"RENAME TABLE a TO b, c TO d", {}, {"a", "b", "c", "d"}},
    {"CREATE UNIQUE INDEX i ON t (c)", {}, {"t"}},
    {"DROP INDEX i ON t", {}, {"t"}},
    {"CREATE OR REPLACE VIEW v AS SELECT * FROM t", {"t"}, {"v"}},
    {"LOAD DATA INFILE '/x' INTO TABLE t", {}, {"t"}},
    {"WITH c AS (SELECT 1) DELETE FROM t WHERE id IN (SELECT * FROM c)", {}, {"c", "t"}},
    {"SET STATEMENT max_statement_time = 1 FOR UPDATE t SET a = 1", {}, {"t"}},
    {"SELECT * FROM a; UPDATE b SET x = 1; SELECT * FROM c", {"a", "c"}, {"b"}},
    {"BEGIN", {}, {}},
    {"SET NAMES utf8mb4", {}, {}},
};

TEST(MysqlTables, ReadAndWritten) {
  for (const TablesCase& c : kTables) {
    const MysqlTables tables = mysql_tables(c.sql);
    EXPECT_EQ(tables.read, c.read) << c.sql;
    EXPECT_EQ(tables.written, c.written) << c.sql;
    EXPECT_FALSE(tables.writes_unknown) << c.sql;
    EXPECT_FALSE(tables.incomplete) << c.sql;
  }
}

TEST(MysqlTables, WritesOfTablesNotNamed) {
  for (const char* sql :
       {"CALL refresh_totals()", "EXECUTE stmt", "DROP DATABASE shop",
        "CREATE FUNCTION f() RETURNS INT RETURN 1; SELECT 1",
        "CREATE DEFINER = CURRENT_USER PROCEDURE p() BEGIN UPDATE t SET a = 1; END",
        "DROP TRIGGER trg", "INSERT INTO", "DELETE FROM quick"}) {
    EXPECT_TRUE(mysql_tables(sql).writes_unknown) << sql;
  }
  for (const char* sql : {"SELECT * FROM t", "SELECT GET_LOCK('a', 1)", "SET @x = 1",
                          "DROP PREPARE s", "CREATE USER u", "COMMIT"}) {
    EXPECT_FALSE(mysql_tables(sql).writes_unknown) << sql;
  }
  std::string deep = "SELECT * FROM t WHERE a IN ";
  for (int i = 0; i < 40; ++i) deep += "(SELECT a FROM t WHERE a IN ";
  EXPECT_TRUE(mysql_tables(deep).incomplete);
}

TEST(MysqlTables, VolatileAnswers) {
  for (const char* sql : {
           "SELECT NOW()",
           "SELECT * FROM t WHERE d > now ()",
           "SELECT CURRENT_TIMESTAMP",
           "SELECT * FROM t WHERE d > CURRENT_DATE - INTERVAL 1 DAY",
           "SELECT SYSDATE(), CURDATE(), CURTIME()",
           "SELECT UNIX_TIMESTAMP()",
           "SELECT UTC_TIMESTAMP()",
           "SELECT UTC_DATE",
           "SELECT * FROM t ORDER BY RAND() LIMIT 1",
           "SELECT UUID()",
           "SELECT UUID_SHORT()",
           "SELECT CONNECTION_ID()",
           "SELECT LAST_INSERT_ID()",
           "SELECT ROW_COUNT()",
           "SELECT FOUND_ROWS()",
           "SELECT USER(), CURRENT_USER()",
           "SELECT CURRENT_USER",
           "SELECT DATABASE()",
           "SELECT NEXTVAL(s)",
           "SELECT LASTVAL(s)",
           "SELECT NEXT VALUE FOR s",
           "SELECT @@time_zone",
           "SELECT @x",
           "SELECT SLEEP(1)",
           "SELECT GET_LOCK('a', 1)",
           "SELECT BENCHMARK(10, MD5('a'))",
           "SELECT shop.discount(price) FROM products",
           "SELECT * FROM information_schema.processlist",
           "SELECT * FROM performance_schema.threads",
           "SELECT * FROM MYSQL.user",
           "SELECT 1; SELECT NOW()",
       }) {
    EXPECT_TRUE(mysql_tables(sql).volatile_answer) << sql;
  }
  for (const char* sql : {"SELECT * FROM t WHERE a = 1", "SELECT COUNT(*), MAX(a) FROM t",
                          "SELECT now_playing, t.rand FROM t", "SELECT DATE_FORMAT(d, '%Y') FROM t",
                          "SELECT 'NOW()'", "SELECT * FROM myschema.t"}) {
    EXPECT_FALSE(mysql_tables(sql).volatile_answer) << sql;
  }
}

TEST(MysqlTables, OnlyQueries) {
  for (const char* sql : {"SELECT 1", "SELECT * FROM t; SELECT * FROM u", "TABLE t",
                          "VALUES ROW(1)", "(SELECT 1) UNION (SELECT 2)",
                          "WITH c AS (SELECT 1) SELECT * FROM c", "/* plexiproxy: x */ SELECT 1"}) {
    EXPECT_TRUE(mysql_tables(sql).only_queries) << sql;
  }
  for (const char* sql :
       {"", "SHOW TABLES", "EXPLAIN SELECT * FROM t", "DESCRIBE t", "DO 1", "SET NAMES utf8",
        "USE db", "SELECT 1; SET @x = 1", "HELP 'x'", "UPDATE t SET a = 1", "ANALYZE TABLE t",
        "WITH c AS (SELECT 1) DELETE FROM t"}) {
    EXPECT_FALSE(mysql_tables(sql).only_queries) << sql;
  }
}

TEST(MysqlStatement, NeverFailsOnTextThatIsNotSql) {
  std::mt19937 random(11);
  const std::string alphabet =
      "abSELCTxXbBnN01.eE+-*/<>=!:@#`'\"?(),;$_ \n\\{}SETNAMES@@sessionFORUPDATE\x80";
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const std::size_t length = random() % 40;
    for (std::size_t j = 0; j < length; ++j) {
      text += (random() % 8 == 0) ? static_cast<char>(random() % 256)
                                  : alphabet[random() % alphabet.size()];
    }
    const MysqlStatement statement = analyze_mysql(text);
    if (statement.pin != MysqlPin::kNone) {
      EXPECT_FALSE(statement.read) << text;
    }
    const StatementShape shape = shape_mysql_statement(text);
    EXPECT_EQ(shape.digest, shape_digest(shape.text));
    EXPECT_LE(shape.text.size(), 2 * text.size() + 1) << text;
    EXPECT_EQ(shape_mysql_statement(shape.text).text, shape.text) << text;
    mysql_tables(text);
  }
  // Every prefix of a statement, as when a packet is cut short.
  const std::string sql =
      "SET NAMES 'a\\'b', @@session.x = `q``r`; SELECT /*! 1 */ x'0f' FROM t WHERE a IN (1, 2) "
      "/* c */ -- d";
  for (std::size_t n = 0; n <= sql.size(); ++n) {
    analyze_mysql(sql.substr(0, n));
    shape_mysql_statement(sql.substr(0, n));
    mysql_tables(sql.substr(0, n));
  }
}

}  // namespace
}  // namespace plexi::routing
