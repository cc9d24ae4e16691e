// Tests of the system variables the MySQL embedded front shows: defaults, SET's checks,
// aliases, DEFAULT, and SHOW VARIABLES' listing.
#include "protocol/mysql/sqlite_variables.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace plexi::mysql::embedded {
namespace {

using Kind = SystemVariables::Kind;

SystemVariables make() {
  return SystemVariables("8.0.36-plexiproxy-test", "plexiproxy embedded SQLite 3.40.1", 1024);
}

TEST(MysqlSqliteVariables, DefaultsDescribeTheEmbeddedDatabase) {
  auto variables = make();
  EXPECT_EQ(variables.find("version_comment")->text, "plexiproxy embedded SQLite 3.40.1");
  EXPECT_EQ(variables.find("version")->text, "8.0.36-plexiproxy-test");
  EXPECT_EQ(variables.find("max_allowed_packet")->text, "1024");
  EXPECT_EQ(variables.find("max_allowed_packet")->kind, Kind::kInteger);
  EXPECT_EQ(variables.find("autocommit")->text, "1");
  EXPECT_EQ(variables.find("autocommit")->kind, Kind::kBoolean);
  EXPECT_EQ(variables.find("sql_mode")->text, "NO_BACKSLASH_ESCAPES");
  EXPECT_EQ(variables.find("transaction_isolation")->text, "SERIALIZABLE");
  // The 5.7 name of the same variable.
  EXPECT_EQ(variables.find("tx_isolation")->text, "SERIALIZABLE");
  EXPECT_FALSE(variables.find("no_such_variable"));
}

TEST(MysqlSqliteVariables, SetChecksBooleansAndIntegers) {
  auto variables = make();
  for (const char* off : {"0", "OFF", "off", "false"}) {
    ASSERT_FALSE(variables.set("autocommit", off));
    EXPECT_EQ(variables.find("autocommit")->text, "0");
    ASSERT_FALSE(variables.set("autocommit", "On"));
    EXPECT_EQ(variables.find("autocommit")->text, "1");
  }
  auto failure = variables.set("autocommit", "maybe");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, 1231);
  EXPECT_EQ(failure->sqlstate, "42000");
  EXPECT_EQ(failure->message, "Variable 'autocommit' can't be set to the value of 'maybe'");
  EXPECT_EQ(variables.find("autocommit")->text, "1");

  EXPECT_FALSE(variables.set("wait_timeout", "60"));
  EXPECT_EQ(variables.find("wait_timeout")->text, "60");
  failure = variables.set("wait_timeout", "soon");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, 1232);

  EXPECT_FALSE(variables.set("tx_isolation", "READ-COMMITTED"));
  EXPECT_EQ(variables.find("transaction_isolation")->text, "READ-COMMITTED");
}

TEST(MysqlSqliteVariables, UnknownNamesAreKeptAndDefaultRestores) {
  auto variables = make();
  EXPECT_FALSE(variables.set("net_retry_count", "3"));
  EXPECT_EQ(variables.find("net_retry_count")->text, "3");
  EXPECT_FALSE(variables.set("time_zone", "+00:00"));
  variables.reset("time_zone");
  EXPECT_EQ(variables.find("time_zone")->text, "SYSTEM");
  variables.reset_all();
  EXPECT_FALSE(variables.find("net_retry_count"));
}

TEST(MysqlSqliteVariables, ShowVariablesListing) {
  auto variables = make();
  ASSERT_FALSE(variables.set("foreign_key_checks", "0"));
  auto all = variables.all();
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  auto value_of = [&all](std::string_view name) {
    auto it =
        std::find_if(all.begin(), all.end(), [name](const auto& e) { return e.first == name; });
    return it == all.end() ? std::string("<missing>") : it->second;
  };
  EXPECT_EQ(value_of("autocommit"), "ON");
  EXPECT_EQ(value_of("foreign_key_checks"), "OFF");
  EXPECT_EQ(value_of("lower_case_table_names"), "2");
  EXPECT_EQ(value_of("tx_isolation"), "<missing>");  // an alias, not listed twice
}

TEST(MysqlSqliteVariables, ParseBoolean) {
  EXPECT_EQ(parse_boolean("TRUE"), true);
  EXPECT_EQ(parse_boolean("0"), false);
  EXPECT_EQ(parse_boolean("2"), std::nullopt);
  EXPECT_EQ(parse_boolean(""), std::nullopt);
}

}  // namespace
}  // namespace plexi::mysql::embedded
