// Tests of how a MySQL auth_query gets the client's user name: every `?` outside quoted text
// and comments, and only those.
#include "routing/mysql_auth_query.h"

#include <gtest/gtest.h>

namespace plexi::routing {
namespace {

TEST(MysqlAuthQueryBind, ReplacesPlaceholders) {
  EXPECT_EQ(bind_parameter("SELECT User, authentication_string FROM mysql.user WHERE User = ?",
                           "'alice'"),
            "SELECT User, authentication_string FROM mysql.user WHERE User = 'alice'");
  EXPECT_EQ(bind_parameter("SELECT ?, x FROM t WHERE a = ? OR b=?", "'u'"),
            "SELECT 'u', x FROM t WHERE a = 'u' OR b='u'");
  EXPECT_EQ(bind_parameter("SELECT 1", "'u'"), "SELECT 1");
  // The literal itself is not read again: a '?' in a user's name stays.
  EXPECT_EQ(bind_parameter("WHERE User = ?", "'wh?o'"), "WHERE User = 'wh?o'");
}

TEST(MysqlAuthQueryBind, LeavesQuotedTextAndCommentsAlone) {
  EXPECT_EQ(bind_parameter("SELECT '?', \"?\", `?` FROM t WHERE u = ?", "'u'"),
            "SELECT '?', \"?\", `?` FROM t WHERE u = 'u'");
  // Escaped and doubled quotes do not end the text.
  EXPECT_EQ(bind_parameter(R"(SELECT 'it\'s ?', 'a''?' , ?)", "'u'"),
            R"(SELECT 'it\'s ?', 'a''?' , 'u')");
  EXPECT_EQ(bind_parameter("SELECT ? /* why? */ # who?\n, ? -- what?\n", "'u'"),
            "SELECT 'u' /* why? */ # who?\n, 'u' -- what?\n");
  // Unterminated text or comments run to the end.
  EXPECT_EQ(bind_parameter("SELECT '?", "'u'"), "SELECT '?");
  EXPECT_EQ(bind_parameter("SELECT ? /* ?", "'u'"), "SELECT 'u' /* ?");
}

TEST(MysqlAuthQueryBind, DefaultQueryTakesTheUserOnce) {
  std::string bound = bind_parameter(config::AuthQuery::kMysqlQuery, "'alice'");
  EXPECT_NE(bound.find("WHERE User = 'alice' AND"), std::string::npos);
  EXPECT_EQ(bound.find('?'), std::string::npos);
  EXPECT_NE(bound.find(R"(Host LIKE '%\%%')"), std::string::npos);
}

}  // namespace
}  // namespace plexi::routing
