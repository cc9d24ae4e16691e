// The output side of statement shaping: writes tokens with canonical case and spacing and
// collapses lists of placeholders, so that shaping a shape gives it back unchanged.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace plexi::routing {

class ShapeWriter {
 public:
  enum class Kind {
    kNone,
    kWord,           // an unquoted name, lower case
    kKeyWord,        // upper case
    kQuoted,         // "Name"
    kUnicodeQuoted,  // U&"Name"
    kPlaceholder,    // ?
    kOperator,       // =, ->>, ::=
    kOpen,           // (
    kClose,          // )
    kOpenBracket,    // [
    kCloseBracket,   // ]
    kCollapsed,      // (...) or [...]
    kComma,
    kSemicolon,
    kDot,
    kCast,   // ::
    kColon,  // the : of a[1:2]
    kOther,  // any other character
  };

  // The dialect decides the key words, and whether a key word may touch a following dot
  // (PostgreSQL's tokenizer would read "SELECT.x" as one word, MySQL's reads three tokens).
  enum class Dialect { kPostgres, kMysql };

  explicit ShapeWriter(std::string& out, Dialect dialect = Dialect::kPostgres)
      : out_(out), dialect_(dialect) {}

  // An unquoted word: upper case when a key word, else lower case. After a dot it is a name.
  void word(std::string_view text);
  void placeholder() { write(Kind::kPlaceholder, "?"); }
  void symbol(Kind kind, std::string_view text);  // anything but words, parentheses, brackets
  void open(Kind kind);                           // kOpen or kOpenBracket
  void close(Kind kind);                          // kClose or kCloseBracket
  // Text the server could not read (it ends inside a literal or comment), kept verbatim.
  void tail(std::string_view raw);
  void finish();  // drops a trailing ';'

  Kind last() const { return last_; }
  // Whether what was written last ends an operand, so that a following - is binary.
  bool operand_ended() const;

 private:
  enum class ListKind { kOther, kIn, kValues, kArray };
  enum class ValuesState { kNone, kAfterRow, kExpectRow };
  struct Group {
    std::size_t open = 0;  // offset of its '(' or '['
    ListKind kind = ListKind::kOther;
    bool placeholders_only = true;
    bool any = false;
  };
  static constexpr int kTrackedDepth = 32;

  void write(Kind kind, std::string_view text);
  bool space_before(Kind next) const;
  bool last_key_word_is(std::string_view upper) const;

  std::string& out_;
  Dialect dialect_;
  Kind last_ = Kind::kNone;
  std::size_t last_word_ = 0;  // where the last word starts in the output
  // The output ends in a name and a dot ("t." of t.*), which reads back as one word: what
  // follows must not join it differently on a second reading.
  bool glued_ = false;
  ValuesState values_state_ = ValuesState::kNone;
  std::size_t last_row_end_ = std::string::npos;  // after the last collapsed VALUES row
  Group groups_[kTrackedDepth];
  int depth_ = 0;
};

}  // namespace plexi::routing
