// Shapes a statement in one pass of the SQL tokenizer: literals become `?`, lists of them
// collapse, spacing and case become canonical.
#include "routing/statement_shape.h"

#include <algorithm>
#include <cctype>

#include "protocol/pg/sql_lexer.h"
#include "routing/shape_writer.h"

namespace plexi::routing {
namespace {

using pg::Lexer;
using pg::Token;

bool digit(char c) { return c >= '0' && c <= '9'; }
bool space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The characters PostgreSQL builds operators from.
bool operator_char(char c) {
  return c != '\0' && std::string_view("+-*/<>=~!@#%^&|`?").find(c) != std::string_view::npos;
}

// Length of the numeric literal at the start of `text` (digits, fraction, exponent), 0 when
// there is none. `open_exponent` is set when it ends in an `e` whose digits follow a sign
// in the next tokens (1e-5 arrives as "1e", "-", "5").
std::size_t number_length(std::string_view text, bool& open_exponent) {
  open_exponent = false;
  std::size_t i = 0;
  while (i < text.size() && (digit(text[i]) || (i > 0 && text[i] == '_'))) ++i;
  const bool whole = i > 0;
  if (i < text.size() && text[i] == '.' && (whole || (i + 1 < text.size() && digit(text[i + 1])))) {
    ++i;
    while (i < text.size() && digit(text[i])) ++i;
  }
  if (i == 0 || (i == 1 && text[0] == '.')) return 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    if (i + 1 < text.size() && digit(text[i + 1])) {
      i += 2;
      while (i < text.size() && digit(text[i])) ++i;
    } else if (i + 1 == text.size()) {
      open_exponent = true;
    }
  }
  return i;
}

// Reads tokens and decides what each is; the writer decides how it looks.
class Shaper {
 public:
  Shaper(std::string_view sql, std::string& out) : sql_(sql), lexer_(sql), writer_(out) {}

  void run() {
    while (true) {
      const Token token = lexer_.next();
      if (lexer_.unterminated()) return keep_tail();
      if (token.kind == Token::Kind::kEnd) break;
      handle(token);
      last_end_ = lexer_.position();  // past any tokens `handle` looked ahead at
    }
    writer_.finish();
  }

 private:
  using Kind = ShapeWriter::Kind;

  // The next token if it starts exactly where `after` ends (no space or comment between).
  static Token adjacent(const Token& after, Lexer& ahead) {
    Token next = ahead.next();
    return next.begin == after.end && !ahead.unterminated() ? next : Token{};
  }

  void handle(const Token& token) {
    switch (token.kind) {
      case Token::Kind::kWord:
        return word(token);
      case Token::Kind::kQuoted:
        return writer_.symbol(Kind::kQuoted, token.text);
      case Token::Kind::kString:
        return writer_.placeholder();
      case Token::Kind::kSymbol:
        return symbol(token);
      case Token::Kind::kEnd:
        return;
    }
  }

  void word(const Token& token) {
    if (token.text.size() == 1) {
      // B'0101', X'1F', N'text': one literal. U&'...' is one too, U&"..." one name.
      Lexer ahead = lexer_;
      const Token next = adjacent(token, ahead);
      const char c = lower(token.text[0]);
      if (next.kind == Token::Kind::kString && (c == 'b' || c == 'x' || c == 'n')) {
        lexer_ = ahead;
        return writer_.placeholder();
      }
      if (c == 'u' && pg::is_symbol(next, '&')) {
        const Token quoted = adjacent(next, ahead);
        if (quoted.kind == Token::Kind::kString) {
          lexer_ = ahead;
          return writer_.placeholder();
        }
        if (quoted.kind == Token::Kind::kQuoted) {
          lexer_ = ahead;
          return writer_.symbol(Kind::kUnicodeQuoted,
                                sql_.substr(token.begin, quoted.end - token.begin));
        }
      }
    }
    pieces(token, token.text);
  }

  // Text from inside one word token, split as PostgreSQL reads it: "1abc" is 1 and abc,
  // "1.2.3" is 1.2 and .3, "0$1" is 0 and $1. A word that starts with a letter stays whole.
  void pieces(const Token& token, std::string_view rest) {
    while (!rest.empty()) {
      bool open_exponent = false;
      if (const std::size_t length = number_length(rest, open_exponent); length > 0) {
        writer_.placeholder();
        rest.remove_prefix(length);
        if (open_exponent) rest = signed_exponent(token, rest);
      } else if (rest[0] == '.') {
        writer_.symbol(Kind::kDot, ".");
        rest.remove_prefix(1);
      } else if (rest[0] == '$') {
        std::size_t end = 1;
        while (end < rest.size() && digit(rest[end])) ++end;
        if (end > 1) {
          writer_.placeholder();  // $1
        } else {
          writer_.symbol(Kind::kOther, "$");
        }
        rest.remove_prefix(end);
      } else {
        return writer_.word(rest);
      }
    }
  }

  // After "1e" come "-5" or "+5" as separate tokens: consume them; returns what follows the
  // exponent's digits in their word (or `e_only` when no exponent follows).
  std::string_view signed_exponent(const Token& token, std::string_view e_only) {
    Lexer ahead = lexer_;
    const Token sign = adjacent(token, ahead);
    if (!pg::is_symbol(sign, '-') && !pg::is_symbol(sign, '+')) return e_only;
    const Token digits = adjacent(sign, ahead);
    if (digits.kind != Token::Kind::kWord || !digit(digits.text[0])) return e_only;
    lexer_ = ahead;
    std::size_t i = 0;
    while (i < digits.text.size() && digit(digits.text[i])) ++i;
    return digits.text.substr(i);
  }

  void symbol(const Token& token) {
    Lexer ahead = lexer_;
    switch (token.text[0]) {
      case '(':
        return writer_.open(Kind::kOpen);
      case '[':
        return writer_.open(Kind::kOpenBracket);
      case ')':
        return writer_.close(Kind::kClose);
      case ']':
        return writer_.close(Kind::kCloseBracket);
      case ',':
        return writer_.symbol(Kind::kComma, ",");
      case ';':
        return writer_.symbol(Kind::kSemicolon, ";");
      case '.':
      case '$': {
        // .5 and $1 continue in the next word: read them as one piece.
        const Token next = adjacent(token, ahead);
        if (next.kind == Token::Kind::kWord && digit(next.text[0]) && !operand_before(token)) {
          lexer_ = ahead;
          return pieces(next, sql_.substr(token.begin, next.end - token.begin));
        }
        return writer_.symbol(token.text[0] == '.' ? Kind::kDot : Kind::kOther, token.text);
      }
      case ':': {
        const Token next = adjacent(token, ahead);
        if (pg::is_symbol(next, ':')) {
          lexer_ = ahead;
          return writer_.symbol(Kind::kCast, "::");
        }
        if (pg::is_symbol(next, '=')) {
          lexer_ = ahead;
          return writer_.symbol(Kind::kOperator, ":=");
        }
        return writer_.symbol(Kind::kColon, ":");
      }
      default:
        if (operator_char(token.text[0])) return op(token);
        return writer_.symbol(Kind::kOther, token.text);
    }
  }

  // Whether the token before `token` touches it and ends an operand ("t".5 is no number).
  bool operand_before(const Token& token) const {
    const Kind last = writer_.last();
    return token.text[0] == '.' && last_end_ == token.begin &&
           (last == Kind::kWord || last == Kind::kQuoted || last == Kind::kUnicodeQuoted ||
            last == Kind::kClose || last == Kind::kCloseBracket || last == Kind::kPlaceholder);
  }

  // An operator: the longest run of operator characters, cut like PostgreSQL's lexer cuts
  // it (no "--" or "/*" inside; a trailing + or - only after one of ~!@#%^&|`?).
  void op(const Token& token) {
    std::size_t end = token.begin;
    while (end < sql_.size() && operator_char(sql_[end])) {
      if (end + 1 < sql_.size() && ((sql_[end] == '-' && sql_[end + 1] == '-') ||
                                    (sql_[end] == '/' && sql_[end + 1] == '*'))) {
        break;
      }
      ++end;
    }
    std::string_view text = sql_.substr(token.begin, std::max(end, token.end) - token.begin);
    if (text.size() > 1 && text.find_first_of("~!@#%^&|`?") == std::string_view::npos) {
      while (text.size() > 1 && (text.back() == '+' || text.back() == '-')) text.remove_suffix(1);
    }
    for (std::size_t i = 1; i < text.size(); ++i) lexer_.next();
    if (text == "?") return writer_.placeholder();
    if ((text == "-" || text == "+") && !writer_.operand_ended() && number_follows()) {
      return;  // the sign of the number that follows
    }
    writer_.symbol(Kind::kOperator, text);
  }

  bool number_follows() const {
    Lexer ahead = lexer_;
    const Token next = ahead.next();
    bool number = next.kind == Token::Kind::kWord && digit(next.text[0]);
    if (!number && pg::is_symbol(next, '.')) {
      const Token fraction = adjacent(next, ahead);
      number = fraction.kind == Token::Kind::kWord && digit(fraction.text[0]);
    }
    return number && !ahead.unterminated();
  }

  // The text ran out inside a literal, quoted name or comment: the server will refuse it,
  // so keep it as written rather than let it share a shape with a complete statement.
  void keep_tail() {
    std::string_view tail = sql_.substr(std::min(last_end_, sql_.size()));
    while (!tail.empty() && space(tail.front())) tail.remove_prefix(1);
    writer_.tail(tail);
  }

  std::string_view sql_;
  Lexer lexer_;
  ShapeWriter writer_;
  std::size_t last_end_ = 0;  // where the last token handled ended in `sql_`
};

}  // namespace

void shape_statement(std::string_view sql, StatementShape& out) {
  out.text.clear();
  out.text.reserve(std::min<std::size_t>(sql.size() + 16, 64 * 1024));  // usually no more
  Shaper(sql, out.text).run();
  out.digest = shape_digest(out.text);
  out.hint = read_hint(sql);
}

StatementShape shape_statement(std::string_view sql) {
  StatementShape shape;
  shape_statement(sql, shape);
  return shape;
}

// Eight bytes at a time (little-endian, whatever the host), each block multiplied in, then
// a final mix; a byte-at-a-time hash costs more than the whole shape pass.
std::uint64_t shape_digest(std::string_view shape) {
  constexpr std::uint64_t kMultiplier = 0x9e3779b97f4a7c15ull;
  auto mix = [](std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
  };
  std::uint64_t hash = 0x2545f4914f6cdd1dull ^ (shape.size() * kMultiplier);
  std::size_t i = 0;
  for (; i + 8 <= shape.size(); i += 8) {
    std::uint64_t block = 0;
    for (int b = 7; b >= 0; --b) block = block << 8 | static_cast<unsigned char>(shape[i + b]);
    hash = (hash ^ block) * kMultiplier;
    hash ^= hash >> 29;
  }
  std::uint64_t tail = 0;
  for (std::size_t b = shape.size(); b > i; --b) {
    tail = tail << 8 | static_cast<unsigned char>(shape[b - 1]);
  }
  return mix((hash ^ tail) * kMultiplier);
}

std::string format_digest(std::uint64_t digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, digest >>= 4) out[i] = kHex[digest & 0xf];
  return out;
}

std::optional<std::uint64_t> parse_digest(std::string_view text) {
  if (text.size() != 16) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                              : -1;
    if (d < 0) return std::nullopt;
    value = value << 4 | static_cast<std::uint64_t>(d);
  }
  return value;
}

}  // namespace plexi::routing
