// A single-pass tokenizer with MySQL's lexical rules, for the statement analysis and shapes:
// backquoted names, '...' and "..." strings with backslash escapes, `#`, `-- ` and /* */
// comments, executable comments whose content is code, variables and literals. Pure; no
// allocation.
#pragma once

#include <cstddef>
#include <string_view>

namespace plexi::routing {

struct MysqlToken {
  enum class Kind {
    kWord,            // an unquoted name or key word: select, t1, 1abc, $x
    kQuoted,          // a backquoted name, quotes included: `my table`
    kString,          // '...', "...", N'...', X'0F', B'01'
    kNumber,          // 42, 1.5, .5e-3, 0x0F, 0b01 (no sign)
    kUserVariable,    // @x, @x.y, @'x', @`x`
    kSystemVariable,  // @@x, @@session.x
    kPlaceholder,     // ?
    kSymbol,          // punctuation or operator: ( ) , ; . = <=> := ->> ...
    kEnd,
  };
  Kind kind = Kind::kEnd;
  std::string_view text;
  std::size_t begin = 0;  // offsets into the statement text
  std::size_t end = 0;
};

// Whether `c`, right before a '.' or '@', ends a name or quoted literal: then the '.'
// separates a qualified name (t.1a is column 1a of t) and the '@' user from host ('u'@'h').
bool mysql_name_end(char c);

class MysqlLexer {
 public:
  explicit MysqlLexer(std::string_view sql) : sql_(sql) {}

  // The next token; kEnd at the end of the text (and for ever after). The markers of an
  // executable comment (/*! ... */, /*!50001 ... */, /*M! ... */) are skipped and its content
  // read as code; optimizer hints (/*+ ... */) are comments.
  MysqlToken next();
  std::size_t position() const { return pos_; }
  // True once the text ended inside a string, backquoted name or comment (the server would
  // reject it); unterminated_begin() is where that literal or comment starts.
  bool unterminated() const { return unterminated_; }
  std::size_t unterminated_begin() const { return unterminated_begin_; }

 private:
  char peek(std::size_t ahead) const {
    return pos_ + ahead < sql_.size() ? sql_[pos_ + ahead] : '\0';
  }
  void skip_space_and_comments();
  void skip_quoted(std::size_t begin, char quote, bool backslashes);
  MysqlToken::Kind number_or_word();
  void variable_name();
  bool after_name() const { return pos_ > 0 && mysql_name_end(sql_[pos_ - 1]); }

  std::string_view sql_;
  std::size_t pos_ = 0;
  bool executable_ = false;  // inside /*! ... */
  bool unterminated_ = false;
  std::size_t unterminated_begin_ = 0;
};

// True when `token` is the unquoted word `upper` (given in upper case), in any case.
bool is_word(const MysqlToken& token, std::string_view upper);
bool is_symbol(const MysqlToken& token, std::string_view text);

}  // namespace plexi::routing
