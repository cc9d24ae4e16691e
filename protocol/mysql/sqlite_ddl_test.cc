// Tests of MySQL DDL in SQLite's terms: implicit commits, and CREATE TABLE as MySQL users
// and mysqldump write it, rewritten so SQLite accepts it.
#include "protocol/mysql/sqlite_ddl.h"

#include <gtest/gtest.h>

namespace plexi::mysql::embedded {
namespace {

TEST(MysqlSqliteDdl, ImplicitCommits) {
  EXPECT_TRUE(commits_implicitly("CREATE TABLE t (a INTEGER)"));
  EXPECT_TRUE(commits_implicitly(" drop table t"));
  EXPECT_TRUE(commits_implicitly("ALTER TABLE t ADD b TEXT"));
  EXPECT_TRUE(commits_implicitly("TRUNCATE t"));
  EXPECT_FALSE(commits_implicitly("CREATE TEMPORARY TABLE t (a)"));
  EXPECT_FALSE(commits_implicitly("DROP TEMPORARY TABLE t"));
  EXPECT_FALSE(commits_implicitly("INSERT INTO t VALUES (1)"));
  EXPECT_FALSE(commits_implicitly(""));
}

TEST(MysqlSqliteDdl, SqliteSpellingsAreLeftAlone) {
  EXPECT_FALSE(rewrite_create_table("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"));
  EXPECT_FALSE(rewrite_create_table("CREATE TABLE t (a TEXT COLLATE NOCASE) WITHOUT ROWID"));
  EXPECT_FALSE(rewrite_create_table("CREATE TABLE t AS SELECT 1 AS a"));
  EXPECT_FALSE(rewrite_create_table("CREATE INDEX i ON t (a)"));
  EXPECT_FALSE(rewrite_create_table("SELECT 1"));
}

TEST(MysqlSqliteDdl, AutoIncrementColumns) {
  EXPECT_EQ(
      rewrite_create_table("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))"),
      "CREATE TABLE t (id INTEGER  PRIMARY KEY, name VARCHAR(20))");
  EXPECT_EQ(rewrite_create_table(
                "create table t (id bigint(20) unsigned NOT NULL auto_increment, PRIMARY KEY (id));"
                " SELECT 1"),
            "create table t (id INTEGER NOT NULL , PRIMARY KEY (id));");
}

TEST(MysqlSqliteDdl, WhatMysqldumpWrites) {
  auto rewritten = rewrite_create_table(
      "CREATE TABLE `users` (\n"
      "  `id` int NOT NULL AUTO_INCREMENT,\n"
      "  `email` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'login',\n"
      "  `updated` datetime DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n"
      "  PRIMARY KEY (`id`),\n"
      "  UNIQUE KEY `email_unique` (`email`),\n"
      "  KEY `updated_index` (`updated`)\n"
      ") ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;");
  ASSERT_TRUE(rewritten);
  EXPECT_EQ(*rewritten,
            "CREATE TABLE `users` (\n"
            "  `id` INTEGER NOT NULL ,\n"
            "  `email` varchar(100)   NOT NULL ,\n"
            "  `updated` datetime DEFAULT CURRENT_TIMESTAMP ,\n"
            "  PRIMARY KEY (`id`),\n"
            "  UNIQUE (`email`)\n"
            ")    ;");
}

TEST(MysqlSqliteDdl, TableOptionsBesideSqlitesOwn) {
  EXPECT_EQ(rewrite_create_table("CREATE TABLE t (a INTEGER) ENGINE = MyISAM, STRICT"),
            "CREATE TABLE t (a INTEGER)  STRICT");
  EXPECT_EQ(rewrite_create_table("CREATE TABLE t (a TEXT) DEFAULT CHARACTER SET latin1"),
            "CREATE TABLE t (a TEXT) ");
}

}  // namespace
}  // namespace plexi::mysql::embedded
