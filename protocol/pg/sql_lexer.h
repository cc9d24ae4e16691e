// A single-pass SQL tokenizer for the few keywords the proxy reads in statements: words,
// quoted identifiers, string literals (standard, E'', dollar-quoted) and symbols, with
// comments and whitespace skipped. Pure; no allocation.
#pragma once

#include <cstddef>
#include <string_view>

namespace plexi::pg {

struct Token {
  enum class Kind { kWord, kQuoted, kString, kSymbol, kEnd };
  Kind kind = Kind::kEnd;
  std::string_view text;
  std::size_t begin = 0;  // offsets into the statement text
  std::size_t end = 0;
};

class Lexer {
 public:
  explicit Lexer(std::string_view sql) : sql_(sql) {}

  // The next token; kEnd at the end of the text (and for ever after).
  Token next();
  std::size_t position() const { return pos_; }
  // True once the text ended inside a string, quoted identifier, dollar quote or comment
  // (the server would reject it; a statement shape keeps such a tail verbatim).
  bool unterminated() const { return unterminated_; }

 private:
  static bool word_char(char c);
  char peek(std::size_t ahead) const {
    return pos_ + ahead < sql_.size() ? sql_[pos_ + ahead] : '\0';
  }
  void skip_quoted(char quote, bool backslashes);
  bool dollar_quote();
  void skip_space_and_comments();

  std::string_view sql_;
  std::size_t pos_ = 0;
  bool unterminated_ = false;
};

// True when `token` is the keyword `upper` (given in upper case), in any case.
bool is_word(const Token& token, std::string_view upper);
bool is_symbol(const Token& token, char c);

}  // namespace plexi::pg
