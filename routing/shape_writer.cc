// Canonical spacing and case for statement shapes, and the collapsing of placeholder lists.
// The rules are chosen so that the tokenizer reads a shape back as the same tokens.
#include "routing/shape_writer.h"

#include "routing/sql_keywords.h"

namespace plexi::routing {
namespace {

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

void ShapeWriter::word(std::string_view text) {
  // After a dot a word is a name (t.select is a column), never a key word.
  const bool key_word = !glued_ && last_ != Kind::kDot &&
                        (dialect_ == Dialect::kMysql ? is_mysql_key_word(text) : is_key_word(text));
  write(key_word ? Kind::kKeyWord : Kind::kWord, {});
  last_word_ = out_.size();
  for (char c : text) out_ += key_word ? upper(c) : lower(c);
  glued_ = !text.empty() && text.back() == '.';
}

void ShapeWriter::symbol(Kind kind, std::string_view text) {
  if (kind == Kind::kSemicolon && (last_ == Kind::kNone || last_ == Kind::kSemicolon)) {
    return;  // empty statements
  }
  const bool after_row = values_state_ == ValuesState::kAfterRow;
  write(kind, text);
  if (kind == Kind::kComma && after_row) values_state_ = ValuesState::kExpectRow;
}

void ShapeWriter::open(Kind kind) {
  ListKind list = ListKind::kOther;
  if (kind == Kind::kOpen) {
    if (last_key_word_is("IN")) list = ListKind::kIn;
    if (last_key_word_is("VALUES") || values_state_ == ValuesState::kExpectRow) {
      list = ListKind::kValues;
    }
  } else if (last_key_word_is("ARRAY")) {
    list = ListKind::kArray;
  }
  write(kind, kind == Kind::kOpen ? "(" : "[");
  if (depth_ < kTrackedDepth) groups_[depth_] = {out_.size() - 1, list, true, false};
  ++depth_;
}

void ShapeWriter::close(Kind kind) {
  const bool bracket = kind == Kind::kCloseBracket;
  if (depth_ == 0) return write(kind, bracket ? "]" : ")");
  --depth_;
  const bool tracked = depth_ < kTrackedDepth;
  const Group group = tracked ? groups_[depth_] : Group{};
  const bool matches = bracket ? group.kind == ListKind::kArray
                               : group.kind == ListKind::kIn || group.kind == ListKind::kValues;
  if (!tracked || !matches || !group.placeholders_only || !group.any ||
      out_[group.open] != (bracket ? '[' : '(')) {
    write(kind, bracket ? "]" : ")");
  } else {
    // One row of placeholders stands for any number: "(?, ?), (?, ?)" → "(...)".
    const bool repeat = group.kind == ListKind::kValues && last_row_end_ != std::string::npos &&
                        last_row_end_ >= 5 && last_row_end_ + 2 == group.open &&
                        std::string_view(out_).substr(last_row_end_ - 5, 7) == "(...), ";
    out_.resize(repeat ? last_row_end_ : group.open);
    if (!repeat) out_.append(bracket ? "[...]" : "(...)");
    if (group.kind == ListKind::kValues) last_row_end_ = out_.size();
    last_ = Kind::kCollapsed;
    glued_ = false;
  }
  values_state_ = group.kind == ListKind::kValues ? ValuesState::kAfterRow : ValuesState::kNone;
}

void ShapeWriter::tail(std::string_view raw) {
  if (!out_.empty()) out_ += ' ';
  out_.append(raw);
  last_ = Kind::kOther;
  glued_ = false;
}

void ShapeWriter::finish() {
  if (last_ == Kind::kSemicolon) out_.pop_back();
}

bool ShapeWriter::operand_ended() const {
  switch (last_) {
    case Kind::kWord:
    case Kind::kQuoted:
    case Kind::kUnicodeQuoted:
    case Kind::kPlaceholder:
    case Kind::kClose:
    case Kind::kCollapsed:
    case Kind::kCloseBracket:
      return true;
    case Kind::kKeyWord:
      return ends_operand(std::string_view(out_).substr(last_word_));
    default:
      return glued_;
  }
}

void ShapeWriter::write(Kind kind, std::string_view text) {
  if (depth_ > 0 && depth_ <= kTrackedDepth) {
    Group& group = groups_[depth_ - 1];
    if (kind == Kind::kPlaceholder) {
      group.any = true;
    } else if (kind != Kind::kComma) {
      group.placeholders_only = false;
    }
  }
  const bool space = space_before(kind);
  const bool joins_word = !space && (glued_ || last_ == Kind::kWord);
  if (space) out_ += ' ';
  out_.append(text);
  glued_ = kind == Kind::kDot && joins_word;  // "t" then "." reads back as the word "t."
  last_ = kind;
  values_state_ = ValuesState::kNone;
}

bool ShapeWriter::space_before(Kind next) const {
  if (last_ == Kind::kNone) return false;
  // "t." reads back as one word: names, operators and quoted names join it (t.x, t.*,
  // t."X"), as they would that word.
  if (glued_) {
    return next == Kind::kPlaceholder || next == Kind::kOther || next == Kind::kUnicodeQuoted;
  }
  switch (last_) {
    case Kind::kOpen:
    case Kind::kOpenBracket:
    case Kind::kDot:
    case Kind::kCast:
      return false;
    case Kind::kColon:
      // A lone ':' must not join what follows into "::" or ":=".
      return next == Kind::kColon || next == Kind::kCast || next == Kind::kOperator;
    case Kind::kWord:
    case Kind::kQuoted:
    case Kind::kUnicodeQuoted:
      if (next == Kind::kOpen) return false;  // f(x)
      break;
    case Kind::kKeyWord:
      if (next == Kind::kDot) return dialect_ == Dialect::kPostgres;  // "SELECT.x": one word
      break;
    default:
      break;
  }
  switch (next) {
    case Kind::kClose:
    case Kind::kCloseBracket:
    case Kind::kOpenBracket:
    case Kind::kComma:
    case Kind::kSemicolon:
    case Kind::kDot:
    case Kind::kCast:
    case Kind::kColon:
      return false;
    default:
      return true;
  }
}

bool ShapeWriter::last_key_word_is(std::string_view upper) const {
  return last_ == Kind::kKeyWord && std::string_view(out_).substr(last_word_) == upper;
}

}  // namespace plexi::routing
