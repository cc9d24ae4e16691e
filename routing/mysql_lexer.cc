// MySQL's tokenizer rules, as mysqld's lexer applies them to the statements clients send
// (with backslash escapes on, as without NO_BACKSLASH_ESCAPES, and "..." as a string, as
// without ANSI_QUOTES).
#include "routing/mysql_lexer.h"

namespace plexi::routing {
namespace {

// ASCII classes, inline; bytes from 0x80 are name characters, as in utf8mb4 names.
bool digit(char c) { return c >= '0' && c <= '9'; }
bool hex_digit(char c) {
  const char lower = static_cast<char>(c | 0x20);
  return digit(c) || (lower >= 'a' && lower <= 'f');
}
bool space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }
bool name_char(char c) {
  const char lower = static_cast<char>(c | 0x20);
  return digit(c) || (lower >= 'a' && lower <= 'z') || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}
char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// Operators of more than one character, longest first where one starts another.
constexpr std::string_view kOperators[] = {
    "<=>", "->>", "<=", ">=", "<>", "!=", "<<", ">>", "&&", "||", ":=", "->"};

}  // namespace

MysqlToken MysqlLexer::next() {
  skip_space_and_comments();
  MysqlToken token;
  token.begin = pos_;
  if (pos_ >= sql_.size()) {
    token.end = pos_;
    return token;
  }
  const char c = sql_[pos_];
  const char lower = static_cast<char>(c | 0x20);
  if (digit(c) || (c == '.' && digit(peek(1)) && !after_name())) {
    token.kind = number_or_word();
  } else if ((lower == 'x' || lower == 'b' || lower == 'n') && peek(1) == '\'') {
    ++pos_;  // X'0F', B'01', N'text'
    skip_quoted(token.begin, '\'', lower == 'n');
    token.kind = MysqlToken::Kind::kString;
  } else if (name_char(c)) {
    while (pos_ < sql_.size() && name_char(sql_[pos_])) ++pos_;
    token.kind = MysqlToken::Kind::kWord;
  } else if (c == '\'' || c == '"') {
    skip_quoted(token.begin, c, true);
    token.kind = MysqlToken::Kind::kString;
  } else if (c == '`') {
    skip_quoted(token.begin, '`', false);
    token.kind = MysqlToken::Kind::kQuoted;
  } else if (c == '@' && peek(1) == '@') {
    pos_ += 2;
    variable_name();
    token.kind = MysqlToken::Kind::kSystemVariable;
  } else if (c == '@' && !after_name() && name_char(peek(1))) {
    ++pos_;
    variable_name();
    token.kind = MysqlToken::Kind::kUserVariable;
  } else if (c == '@' && !after_name() && (peek(1) == '\'' || peek(1) == '"' || peek(1) == '`')) {
    ++pos_;
    skip_quoted(token.begin, sql_[pos_], sql_[pos_] != '`');
    token.kind = MysqlToken::Kind::kUserVariable;
  } else if (c == '?') {
    ++pos_;
    token.kind = MysqlToken::Kind::kPlaceholder;
  } else {
    // 'user'@'host' and a lone @ are symbols too.
    token.kind = MysqlToken::Kind::kSymbol;
    std::size_t length = 1;
    if (std::string_view("<>-!&|:").find(c) != std::string_view::npos) {
      for (std::string_view op : kOperators) {
        if (sql_.substr(pos_, op.size()) == op) {
          length = op.size();
          break;
        }
      }
    }
    pos_ += length;
  }
  token.end = pos_;
  token.text = sql_.substr(token.begin, token.end - token.begin);
  return token;
}

void MysqlLexer::variable_name() {
  while (pos_ < sql_.size() && (name_char(sql_[pos_]) || sql_[pos_] == '.')) ++pos_;
}

// A number (digits with an optional fraction and exponent; 0x.. hexadecimal, 0b.. bits), or a
// name that starts with digits (1abc), as mysqld tells them apart.
MysqlToken::Kind MysqlLexer::number_or_word() {
  // MySQL reads 0X1F as a name; as a number here, so that lower-casing names in a shape
  // cannot turn one into a number.
  const char base = static_cast<char>(peek(1) | 0x20);
  if (sql_[pos_] == '0' && (base == 'x' || base == 'b')) {
    const bool hex = base == 'x';
    auto in_base = [hex](char d) { return hex ? hex_digit(d) : (d == '0' || d == '1'); };
    std::size_t end = pos_ + 2;
    while (end < sql_.size() && in_base(sql_[end])) ++end;
    if (end > pos_ + 2 && (end == sql_.size() || !name_char(sql_[end]))) {
      pos_ = end;
      return MysqlToken::Kind::kNumber;
    }
  }
  while (pos_ < sql_.size() && digit(sql_[pos_])) ++pos_;
  const bool fraction = pos_ < sql_.size() && sql_[pos_] == '.';
  if (fraction) {
    ++pos_;
    while (pos_ < sql_.size() && digit(sql_[pos_])) ++pos_;
  }
  if (pos_ < sql_.size() && (sql_[pos_] | 0x20) == 'e') {
    const std::size_t sign = (peek(1) == '+' || peek(1) == '-') ? 1 : 0;
    if (digit(peek(1 + sign))) {
      pos_ += 1 + sign;
      while (pos_ < sql_.size() && digit(sql_[pos_])) ++pos_;
      return MysqlToken::Kind::kNumber;
    }
  }
  if (!fraction && pos_ < sql_.size() && name_char(sql_[pos_])) {
    while (pos_ < sql_.size() && name_char(sql_[pos_])) ++pos_;
    return MysqlToken::Kind::kWord;
  }
  return MysqlToken::Kind::kNumber;
}

// From the opening quote at pos_ past its closing one; `quote` doubled stands for itself, and
// with `backslashes` a backslash escapes the next character.
void MysqlLexer::skip_quoted(std::size_t begin, char quote, bool backslashes) {
  ++pos_;
  while (pos_ < sql_.size()) {
    const char c = sql_[pos_];
    if (backslashes && c == '\\') {
      pos_ += 2;
    } else if (c == quote && peek(1) == quote) {
      pos_ += 2;
    } else if (c == quote) {
      ++pos_;
      return;
    } else {
      ++pos_;
    }
  }
  pos_ = sql_.size();
  unterminated_ = true;
  unterminated_begin_ = begin;
}

void MysqlLexer::skip_space_and_comments() {
  while (pos_ < sql_.size()) {
    const char c = sql_[pos_];
    if (space(c)) {
      ++pos_;
    } else if (c == '#' || (c == '-' && peek(1) == '-' &&
                            (pos_ + 2 >= sql_.size() || space(peek(2)) || control(peek(2))))) {
      while (pos_ < sql_.size() && sql_[pos_] != '\n') ++pos_;
    } else if (c == '/' && peek(1) == '*' &&
               (peek(2) == '!' || (peek(2) == 'M' && peek(3) == '!'))) {
      // Executable comment: the server runs its content (a version number may follow '!').
      pos_ += peek(2) == '!' ? 3 : 4;
      std::size_t digits = 0;
      while (digits < 6 && digit(peek(digits))) ++digits;
      if (digits >= 5) pos_ += digits;  // 50001 (MySQL 5.0.1), 100101 (MariaDB 10.1.1)
      executable_ = true;
    } else if (c == '/' && peek(1) == '*') {
      const std::size_t close = sql_.find("*/", pos_ + 2);
      if (close == std::string_view::npos) {
        unterminated_ = true;
        unterminated_begin_ = pos_;
        pos_ = sql_.size();
      } else {
        pos_ = close + 2;
      }
    } else if (executable_ && c == '*' && peek(1) == '/') {
      pos_ += 2;
      executable_ = false;
    } else {
      return;
    }
  }
}

bool mysql_name_end(char c) { return name_char(c) || c == '`' || c == '\'' || c == '"'; }

bool is_word(const MysqlToken& token, std::string_view upper_text) {
  if (token.kind != MysqlToken::Kind::kWord || token.text.size() != upper_text.size()) {
    return false;
  }
  for (std::size_t i = 0; i < upper_text.size(); ++i) {
    if (upper(token.text[i]) != upper_text[i]) return false;
  }
  return true;
}

bool is_symbol(const MysqlToken& token, std::string_view text) {
  return token.kind == MysqlToken::Kind::kSymbol && token.text == text;
}

}  // namespace plexi::routing
