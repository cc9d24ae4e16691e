// The tokenizer shared by the relay's statement analysis and the SQLite front.
#include "protocol/pg/sql_lexer.h"

#include <algorithm>
#include <cctype>

namespace plexi::pg {

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
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
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
}

// $tag$ ... $tag$; false (nothing consumed) when '$' does not open one ($1 parameters).
bool Lexer::dollar_quote() {
  std::size_t tag_end = pos_ + 1;
  while (tag_end < sql_.size() &&
         (std::isalnum(static_cast<unsigned char>(sql_[tag_end])) || sql_[tag_end] == '_')) {
    ++tag_end;
  }
  if (tag_end >= sql_.size() || sql_[tag_end] != '$' ||
      std::isdigit(static_cast<unsigned char>(peek(1)))) {
    return false;
  }
  std::string_view tag = sql_.substr(pos_, tag_end - pos_ + 1);
  std::size_t close = sql_.find(tag, tag_end + 1);
  pos_ = close == std::string_view::npos ? sql_.size() : close + tag.size();
  return true;
}

void Lexer::skip_space_and_comments() {
  while (pos_ < sql_.size()) {
    char c = sql_[pos_];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++pos_;
    } else if (c == '-' && peek(1) == '-') {
      while (pos_ < sql_.size() && sql_[pos_] != '\n') ++pos_;
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
      pos_ = std::min(pos_, sql_.size());
    } else {
      return;
    }
  }
}

bool is_word(const Token& token, std::string_view upper) {
  if (token.kind != Token::Kind::kWord || token.text.size() != upper.size()) return false;
  for (std::size_t i = 0; i < upper.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(token.text[i])) != upper[i]) return false;
  }
  return true;
}

bool is_symbol(const Token& token, char c) {
  return token.kind == Token::Kind::kSymbol && token.text.size() == 1 && token.text[0] == c;
}

}  // namespace plexi::pg
