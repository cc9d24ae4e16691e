// Tests of the MySQL embedded front's text helpers: blank text, LIKE patterns, and NUL bytes
// in string literals.
#include "protocol/mysql/sqlite_lexer.h"

#include <gtest/gtest.h>

namespace plexi::mysql::embedded {
namespace {

TEST(MysqlSqliteLexer, LikeMatch) {
  EXPECT_TRUE(like_match("max_allowed_packet", "max%"));
  EXPECT_TRUE(like_match("MAX_allowed_packet", "max\\_allowed%packet"));
  EXPECT_FALSE(like_match("maxiallowed", "max\\_%"));
  EXPECT_TRUE(like_match("abc", "a_c"));
  EXPECT_TRUE(like_match("abc", "%"));
  EXPECT_TRUE(like_match("", "%"));
  EXPECT_FALSE(like_match("abc", "ab"));
  EXPECT_TRUE(like_match("abcbc", "%bc"));
  EXPECT_FALSE(like_match("abcbd", "%bc"));
}

TEST(MysqlSqliteLexer, NulBytesBecomeBlobLiterals) {
  using namespace std::string_literals;
  EXPECT_EQ(blob_literals_for_nul("INSERT INTO t VALUES ('a\0b''', 'plain', \"x\0\")"s),
            "INSERT INTO t VALUES (X'61006227', 'plain', \"x\0\")"s);
  EXPECT_EQ(blob_literals_for_nul("SELECT '\0' -- 'not\0 a string'\n"s),
            "SELECT X'00' -- 'not\0 a string'\n"s);
  EXPECT_EQ(quoted("it's"), "'it''s'");
  EXPECT_EQ(quoted("a\"b", '"'), "\"a\"\"b\"");
}

}  // namespace
}  // namespace plexi::mysql::embedded
