// Tests of the SQL tokenizer: token kinds, and text that ends inside a literal or comment.
#include "protocol/pg/sql_lexer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace plexi::pg {
namespace {

std::vector<std::string> tokens(std::string_view sql) {
  std::vector<std::string> out;
  Lexer lexer(sql);
  for (Token token = lexer.next(); token.kind != Token::Kind::kEnd; token = lexer.next()) {
    out.emplace_back(token.text);
  }
  return out;
}

bool runs_off_the_end(std::string_view sql) {
  Lexer lexer(sql);
  while (lexer.next().kind != Token::Kind::kEnd) {
  }
  return lexer.unterminated();
}

TEST(SqlLexer, SplitsWordsLiteralsAndSymbols) {
  EXPECT_EQ(tokens("SELECT a.b, 'x''y' FROM \"T\" -- c\n/* d */ WHERE $1 = E'\\''"),
            (std::vector<std::string>{"SELECT", "a.b", ",", "'x''y'", "FROM", "\"T\"", "WHERE", "$",
                                      "1", "=", "E'\\''"}));
  EXPECT_EQ(tokens("$q$ a $ b $q$::text"),
            (std::vector<std::string>{"$q$ a $ b $q$", ":", ":", "text"}));
  EXPECT_EQ(tokens("café\xc3\xa9 1e5"), (std::vector<std::string>{"café\xc3\xa9", "1e5"}));
}

// Where PostgreSQL's own scanner would read the text differently, a statement could hide
// behind what the proxy takes for a comment or a literal.
TEST(SqlLexer, ReadsCommentsAndDollarQuotesAsPostgresDoes) {
  EXPECT_EQ(tokens("SELECT 1 -- note\rDELETE"),
            (std::vector<std::string>{"SELECT", "1", "DELETE"}));
  EXPECT_EQ(tokens("SELECT $\xc3\xa9$'$\xc3\xa9$; DELETE"),
            (std::vector<std::string>{"SELECT", "$\xc3\xa9$'$\xc3\xa9$", ";", "DELETE"}));
  EXPECT_EQ(tokens("SELECT $_1$x$_1$, $1"),
            (std::vector<std::string>{"SELECT", "$_1$x$_1$", ",", "$", "1"}));
}

TEST(SqlLexer, ReportsTextEndingInsideALiteralOrComment) {
  EXPECT_FALSE(runs_off_the_end("SELECT 'a', \"b\", $$c$$ /* d */ -- e"));
  EXPECT_TRUE(runs_off_the_end("SELECT 'a"));
  EXPECT_TRUE(runs_off_the_end("SELECT 'a''"));
  EXPECT_TRUE(runs_off_the_end("SELECT E'a\\"));
  EXPECT_TRUE(runs_off_the_end("SELECT \"a"));
  EXPECT_TRUE(runs_off_the_end("SELECT $t$ a $t"));
  EXPECT_TRUE(runs_off_the_end("SELECT 1 /* a /* b */"));
  EXPECT_TRUE(runs_off_the_end("/*"));
}

}  // namespace
}  // namespace plexi::pg
