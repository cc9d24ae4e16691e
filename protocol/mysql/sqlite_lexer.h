// MySQL's lexical rules as the embedded SQLite front reads statement text: `#` and `-- `
// comments, /* */ comments (the executable /*! */ kind too, as SQLite reads them), '...'
// and "..." strings with doubled quotes, `backquoted` names. Backslashes are not escapes:
// the front tells clients so (NO_BACKSLASH_ESCAPES), as SQLite keeps them as they are.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexi::mysql::embedded {

std::string upper(std::string_view text);
std::string lower(std::string_view text);

// Position of the next token at or after `at`: whitespace and comments skipped.
std::size_t skip_blank(std::string_view sql, std::size_t at);

struct Token {
  enum class Type { kWord, kNumber, kString, kName, kPunct };
  Type type = Type::kPunct;
  std::string value;  // words upper-cased; strings and `names` unquoted; punctuation as is
  std::string raw;    // words and numbers as written
  std::size_t begin = 0;
  std::size_t end = 0;
};

// The end of a quoted token starting at `at` (quote doubled inside), or npos if unterminated;
// its unquoted text is appended to `value`.
std::size_t quoted_end(std::string_view sql, std::size_t at, std::string& value);

// The tokens of the first statement of a text, up to its ';'.
struct Tokens {
  std::vector<Token> tokens;
  std::size_t begin = 0;
  std::size_t end = 0;   // just past its ';', or the text's end
  bool complete = true;  // false: an unterminated quote (SQLite will say so)
};
Tokens first_statement(std::string_view sql);

// Walks the tokens of one statement.
class Cursor {
 public:
  Cursor(const Tokens& statement, std::string_view sql) : tokens_(statement.tokens), sql_(sql) {}

  bool done() const { return at_ == tokens_.size(); }
  const Token* peek(std::size_t ahead = 0) const {
    return at_ + ahead < tokens_.size() ? &tokens_[at_ + ahead] : nullptr;
  }
  const Token& take() { return tokens_[at_++]; }
  const Token& token(std::size_t index) const { return tokens_[index]; }
  bool accept(std::string_view word) {
    const Token* token = peek();
    if (token == nullptr || token->value != word ||
        (token->type != Token::Type::kWord && token->type != Token::Type::kPunct)) {
      return false;
    }
    ++at_;
    return true;
  }
  // A name: a word, a `quoted name` or, where MySQL allows it, a string.
  std::optional<std::string> name(bool strings_too = false) {
    const Token* token = peek();
    if (token == nullptr) return std::nullopt;
    if (token->type == Token::Type::kWord || token->type == Token::Type::kNumber) {
      ++at_;
      return token->raw;
    }
    if (token->type == Token::Type::kName || (strings_too && token->type == Token::Type::kString)) {
      ++at_;
      return token->value;
    }
    return std::nullopt;
  }
  std::optional<std::string> string() {
    const Token* token = peek();
    if (token == nullptr || token->type != Token::Type::kString) return std::nullopt;
    ++at_;
    return token->value;
  }
  // True when the next token starts right where the previous one ended (`@@name`).
  bool adjacent() const {
    return at_ > 0 && at_ < tokens_.size() && tokens_[at_ - 1].end == tokens_[at_].begin;
  }
  std::size_t position() const { return at_; }
  std::string_view text(std::size_t from, std::size_t to) const {
    std::size_t begin = tokens_[from].begin;
    return sql_.substr(begin, tokens_[to - 1].end - begin);
  }

 private:
  const std::vector<Token>& tokens_;
  std::string_view sql_;
  std::size_t at_ = 0;
};

// True when `sql` holds nothing but whitespace, comments and semicolons.
bool is_blank(std::string_view sql);

// MySQL's LIKE: `%` any run, `_` one character, backslash escapes the next; ASCII letters
// compare case-insensitively, as under MySQL's default collations.
bool like_match(std::string_view text, std::string_view pattern);

// `sql` with its '...' string literals that hold NUL bytes written as X'...' blob literals.
// SQLite reads statement text only up to a NUL, and clients that know backslashes are not
// escapes here (PyMySQL) send bytes values raw between quotes.
std::string blob_literals_for_nul(std::string_view sql);

// `text` between `quote`s, inner quotes doubled: an SQL string literal with '\'', a quoted
// name with '"'.
std::string quoted(std::string_view text, char quote = '\'');

}  // namespace plexi::mysql::embedded
