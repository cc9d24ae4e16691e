// Shapes a MySQL statement in one pass of its tokenizer, through the writer PostgreSQL shapes
// use: literals become `?`, lists of them collapse, spacing and case become canonical.
#include <algorithm>

#include "routing/mysql_lexer.h"
#include "routing/mysql_statement.h"
#include "routing/shape_writer.h"

namespace plexi::routing {
namespace {

using TokenKind = MysqlToken::Kind;

bool operator_symbol(std::string_view text) {
  return text.size() > 1 ||  // <=>, :=, ->> ...
         std::string_view("=<>!~+-*/%^&|").find(text[0]) != std::string_view::npos;
}

class MysqlShaper {
 public:
  MysqlShaper(std::string_view sql, std::string& out)
      : sql_(sql), out_(out), lexer_(sql), writer_(out, ShapeWriter::Dialect::kMysql) {}

  void run() {
    while (true) {
      const MysqlToken token = lexer_.next();
      if (lexer_.unterminated()) return keep_tail();
      if (token.kind == TokenKind::kEnd) break;
      handle(token);
    }
    writer_.finish();
  }

 private:
  using Kind = ShapeWriter::Kind;

  void handle(const MysqlToken& token) {
    switch (token.kind) {
      case TokenKind::kWord:
        return word(token);
      case TokenKind::kQuoted:
        return writer_.symbol(Kind::kQuoted, token.text);  // as written: names are not folded
      case TokenKind::kString:
      case TokenKind::kNumber:
      case TokenKind::kPlaceholder:
        return writer_.placeholder();
      case TokenKind::kUserVariable:
        // @x is @X (variable names ignore case); @'x' keeps its quotes.
        if (token.text.size() > 1 &&
            (token.text[1] == '\'' || token.text[1] == '"' || token.text[1] == '`')) {
          return writer_.symbol(Kind::kQuoted, token.text);
        }
        return writer_.word(token.text);
      case TokenKind::kSystemVariable:
        return writer_.word(token.text);
      case TokenKind::kSymbol:
        return symbol(token);
      case TokenKind::kEnd:
        return;
    }
  }

  void word(const MysqlToken& token) {
    // A character set introducer and its string are one literal: _utf8mb4'text'.
    if (token.text[0] == '_') {
      MysqlLexer ahead = lexer_;
      const MysqlToken next = ahead.next();
      if (next.kind == TokenKind::kString && !ahead.unterminated()) {
        lexer_ = ahead;
        return writer_.placeholder();
      }
    }
    writer_.word(token.text);
  }

  void symbol(const MysqlToken& token) {
    const std::string_view text = token.text;
    switch (text.size() == 1 ? text[0] : '\0') {
      case '(':
        return writer_.open(Kind::kOpen);
      case ')':
        return writer_.close(Kind::kClose);
      case '[':
        return writer_.open(Kind::kOpenBracket);
      case ']':
        return writer_.close(Kind::kCloseBracket);
      case ',':
        return writer_.symbol(Kind::kComma, text);
      case ';':
        return writer_.symbol(Kind::kSemicolon, text);
      case '.':
        return writer_.symbol(dot_stands_apart() ? Kind::kOther : Kind::kDot, text);
      case ':':
        return writer_.symbol(Kind::kColon, text);
      case '-':
      case '+':
        if (!writer_.operand_ended() && number_follows()) return;  // the number's sign
        break;
      default:
        break;
    }
    writer_.symbol(operator_symbol(text) ? Kind::kOperator : Kind::kOther, text);
  }

  // ".1a" would read back as the number .1 and the name a, unless the dot follows a name
  // (t.1a): before such a name, a dot that follows anything else is written apart.
  bool dot_stands_apart() const {
    MysqlLexer ahead = lexer_;
    const MysqlToken next = ahead.next();
    const bool digit_name =
        next.kind == TokenKind::kWord && next.text[0] >= '0' && next.text[0] <= '9';
    return digit_name && (out_.empty() || !mysql_name_end(out_.back()));
  }

  bool number_follows() const {
    MysqlLexer ahead = lexer_;
    const MysqlToken next = ahead.next();
    return next.kind == TokenKind::kNumber && !ahead.unterminated();
  }

  // The text ran out inside a literal, quoted name or comment: the server will refuse it, so
  // keep it as written rather than let it share a shape with a complete statement.
  void keep_tail() {
    writer_.tail(sql_.substr(std::min(lexer_.unterminated_begin(), sql_.size())));
  }

  std::string_view sql_;
  const std::string& out_;
  MysqlLexer lexer_;
  ShapeWriter writer_;
};

}  // namespace

void shape_mysql_statement(std::string_view sql, StatementShape& out) {
  out.text.clear();
  out.text.reserve(std::min<std::size_t>(sql.size() + 16, 64 * 1024));  // usually no more
  MysqlShaper(sql, out.text).run();
  out.digest = shape_digest(out.text);
  out.hint = read_hint(sql);
}

StatementShape shape_mysql_statement(std::string_view sql) {
  StatementShape shape;
  shape_mysql_statement(sql, shape);
  return shape;
}

}  // namespace plexi::routing
