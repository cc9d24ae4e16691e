// The tokenizer shared by the relay's statement analysis and the SQLite front.
#include "protocol/pg/sql_lexer.h"

#include <algorithm>

namespace plexi::pg {
namespace {

// ASCII classes, inline: the <cctype> calls cost more than the rest of a token, and SQL's
// own syntax is ASCII (bytes from 0x80 are word characters, whatever the locale).
bool ascii_alnum(char c) {
  const char lower = static_cast<char>(c | 0x20);
  return (c >= '0' && c <= '9') || (lower >= 'a' && lower <= 'z');
}
bool ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

}  // namespace

Token Lexer::next() {
  skip_space_and_comments();
  Token token;
  token.begin = pos_;
  if (pos_ >= sql_.size()) {
    token.end = pos_;
    return token;
  }
  char c = sql_[pos_];
  if (word_char(c) && c != '$') {  // '$' continues a word, never starts one
    token.kind = Token::Kind::kWord;
    if ((c == 'E' || c == 'e') && peek(1) == '\'') {
      ++pos_;
      skip_quoted('\'', true);
      token.kind = Token::Kind::kString;
    } else {
      while (pos_ < sql_.size() && (word_char(sql_[pos_]) || sql_[pos_] == '.')) ++pos_;
    }
  } else if (c == '"') {
    skip_quoted('"', false);
    token.kind = Token::Kind::kQuoted;
  } else if (c == '\'') {
    skip_quoted('\'', false);
    token.kind = Token::Kind::kString;
  } else if (c == '$' && dollar_quote()) {
    token.kind = Token::Kind::kString;
  } else {
    ++pos_;
    token.kind = Token::Kind::kSymbol;
  }
  token.end = pos_;
  token.text = sql_.substr(token.begin, token.end - token.begin);
  return token;
}

bool Lexer::word_char(char c) {
  return ascii_alnum(c) || c == '_' || c == '$' || static_cast<unsigned char>(c) >= 0x80;
}

void Lexer::skip_quoted(char quote, bool backslashes) {
  ++pos_;
  while (pos_ < sql_.size()) {
    if (backslashes && sql_[pos_] == '\\') {
      pos_ += 2;
      continue;
    }
    if (sql_[pos_] == quote) {
      if (peek(1) == quote) {
        pos_ += 2;
        continue;
      }
      ++pos_;
      return;
    }
    ++pos_;
  }
  pos_ = sql_.size();
  unterminated_ = true;
}

// $tag$ ... $tag$; false (nothing consumed) when '$' does not open one ($1 parameters).
bool Lexer::dollar_quote() {
  std::size_t tag_end = pos_ + 1;
  // Tag characters as PostgreSQL has them: letters (also bytes from 0x80), digits, '_'.
  while (tag_end < sql_.size() && (ascii_alnum(sql_[tag_end]) || sql_[tag_end] == '_' ||
                                   static_cast<unsigned char>(sql_[tag_end]) >= 0x80)) {
    ++tag_end;
  }
  if (tag_end >= sql_.size() || sql_[tag_end] != '$' || ascii_digit(peek(1))) {
    return false;
  }
  std::string_view tag = sql_.substr(pos_, tag_end - pos_ + 1);
  std::size_t close = sql_.find(tag, tag_end + 1);
  if (close == std::string_view::npos) {
    pos_ = sql_.size();
    unterminated_ = true;
  } else {
    pos_ = close + tag.size();
  }
  return true;
}

void Lexer::skip_space_and_comments() {
  while (pos_ < sql_.size()) {
    char c = sql_[pos_];
    if (ascii_space(c)) {
      ++pos_;
    } else if (c == '-' && peek(1) == '-') {
      // PostgreSQL ends a line comment at a carriage return too.
      while (pos_ < sql_.size() && sql_[pos_] != '\n' && sql_[pos_] != '\r') ++pos_;
    } else if (c == '/' && peek(1) == '*') {
      int depth = 0;
      do {
        if (sql_[pos_] == '/' && peek(1) == '*') {
          ++depth;
          pos_ += 2;
        } else if (sql_[pos_] == '*' && peek(1) == '/') {
          --depth;
          pos_ += 2;
        } else {
          ++pos_;
        }
      } while (depth > 0 && pos_ < sql_.size());
      if (depth > 0) unterminated_ = true;
      pos_ = std::min(pos_, sql_.size());
    } else {
      return;
    }
  }
}

bool is_word(const Token& token, std::string_view upper) {
  if (token.kind != Token::Kind::kWord || token.text.size() != upper.size()) return false;
  for (std::size_t i = 0; i < upper.size(); ++i) {
    if (ascii_upper(token.text[i]) != upper[i]) return false;
  }
  return true;
}

bool is_symbol(const Token& token, char c) {
  return token.kind == Token::Kind::kSymbol && token.text.size() == 1 && token.text[0] == c;
}

}  // namespace plexi::pg
