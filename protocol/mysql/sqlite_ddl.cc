// MySQL DDL in SQLite's terms, by edits to the statement's text at token positions, so
// everything the rewrite does not touch reaches SQLite exactly as the client wrote it.
#include "protocol/mysql/sqlite_ddl.h"

#include <algorithm>
#include <array>
#include <vector>

#include "protocol/mysql/sqlite_lexer.h"

namespace plexi::mysql::embedded {
namespace {

// A piece of the statement replaced: bytes [begin, end) become `text`.
struct Edit {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string text;
};

bool is_word(const Token& token, std::string_view word) {
  return token.type == Token::Type::kWord && token.value == word;
}
bool is_punct(const Token& token, std::string_view punct) {
  return token.type == Token::Type::kPunct && token.value == punct;
}

template <std::size_t N>
bool one_of(const Token& token, const std::array<std::string_view, N>& words) {
  return token.type == Token::Type::kWord &&
         std::find(words.begin(), words.end(), token.value) != words.end();
}

constexpr std::array<std::string_view, 6> kIntegerTypes = {"INT",       "INTEGER",  "BIGINT",
                                                           "MEDIUMINT", "SMALLINT", "TINYINT"};
constexpr std::array<std::string_view, 3> kSqliteCollations = {"BINARY", "NOCASE", "RTRIM"};
constexpr std::array<std::string_view, 18> kTableOptions = {"ENGINE",
                                                            "AUTO_INCREMENT",
                                                            "CHARSET",
                                                            "COLLATE",
                                                            "COMMENT",
                                                            "ROW_FORMAT",
                                                            "KEY_BLOCK_SIZE",
                                                            "AVG_ROW_LENGTH",
                                                            "MAX_ROWS",
                                                            "MIN_ROWS",
                                                            "PACK_KEYS",
                                                            "CHECKSUM",
                                                            "DELAY_KEY_WRITE",
                                                            "STATS_PERSISTENT",
                                                            "COMPRESSION",
                                                            "STATS_AUTO_RECALC",
                                                            "STATS_SAMPLE_PAGES",
                                                            "ENCRYPTION"};

class Rewriter {
 public:
  Rewriter(const Tokens& statement) : t_(statement.tokens) {}

  // One definition of the column list: tokens [first, last).
  void definition(std::size_t first, std::size_t last, std::size_t comma_before,
                  std::size_t comma_after) {
    if (first >= last) return;
    const Token& head = t_[first];
    if (is_word(head, "KEY") || is_word(head, "INDEX") || is_word(head, "FULLTEXT") ||
        is_word(head, "SPATIAL")) {
      // Dropped with one of its commas, so the list stays well formed.
      std::size_t from = comma_before != kNone ? t_[comma_before].begin : head.begin;
      std::size_t to =
          comma_before != kNone || comma_after == kNone ? t_[last - 1].end : t_[comma_after].end;
      edits_.push_back({from, to, ""});
      return;
    }
    if (is_word(head, "UNIQUE") && first + 1 < last &&
        (is_word(t_[first + 1], "KEY") || is_word(t_[first + 1], "INDEX"))) {
      // UNIQUE KEY [name] (columns): SQLite's table constraint is UNIQUE (columns).
      std::size_t open = first + 2;
      while (open < last && !is_punct(t_[open], "(")) ++open;
      if (open < last) edits_.push_back({t_[first + 1].begin, t_[open].begin, ""});
      return;
    }
    if (is_word(head, "PRIMARY") || is_word(head, "CONSTRAINT") || is_word(head, "CHECK") ||
        is_word(head, "FOREIGN")) {
      return;
    }
    column(first, last);
  }

  // Table options after the column list, from token `first` on.
  void options(std::size_t first) {
    std::size_t k = first;
    while (k < t_.size()) {
      std::size_t start = k;
      if (is_word(t_[k], "DEFAULT") && k + 1 < t_.size()) ++k;
      bool character_set =
          is_word(t_[k], "CHARACTER") && k + 1 < t_.size() && is_word(t_[k + 1], "SET");
      if (!character_set && !one_of(t_[k], kTableOptions)) {
        k = start + 1;  // kept: SQLite's own WITHOUT ROWID, STRICT, ...
        continue;
      }
      k += character_set ? 2 : 1;
      if (k < t_.size() && is_punct(t_[k], "=")) ++k;
      if (k < t_.size()) ++k;  // the value
      if (k < t_.size() && is_punct(t_[k], ",")) ++k;
      edits_.push_back({t_[start].begin, t_[k - 1].end, ""});
    }
  }

  const std::vector<Edit>& edits() const { return edits_; }

  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

 private:
  void column(std::size_t first, std::size_t last) {
    std::size_t type_end = first + 1;  // past the type's tokens
    if (type_end < last && t_[type_end].type == Token::Type::kWord) ++type_end;
    if (type_end < last && is_punct(t_[type_end], "(")) {
      while (type_end < last && !is_punct(t_[type_end], ")")) ++type_end;
      if (type_end < last) ++type_end;
    }
    while (type_end < last &&
           (is_word(t_[type_end], "UNSIGNED") || is_word(t_[type_end], "SIGNED") ||
            is_word(t_[type_end], "ZEROFILL"))) {
      ++type_end;
    }
    bool auto_increment = false;
    for (std::size_t k = type_end; k < last; ++k) {
      const Token& token = t_[k];
      if (is_word(token, "AUTO_INCREMENT")) {
        auto_increment = true;
        edits_.push_back({token.begin, token.end, ""});
      } else if (is_word(token, "COMMENT") && k + 1 < last) {
        edits_.push_back({token.begin, t_[++k].end, ""});
      } else if ((is_word(token, "CHARSET") || is_word(token, "COLLATE")) && k + 1 < last) {
        if (is_word(token, "COLLATE") && one_of(t_[k + 1], kSqliteCollations)) {
          ++k;
          continue;
        }
        edits_.push_back({token.begin, t_[++k].end, ""});
      } else if (is_word(token, "CHARACTER") && k + 2 < last && is_word(t_[k + 1], "SET")) {
        edits_.push_back({token.begin, t_[k + 2].end, ""});
        k += 2;
      } else if (is_word(token, "ON") && k + 2 < last && is_word(t_[k + 1], "UPDATE")) {
        std::size_t end = k + 2;
        if (end + 1 < last && is_punct(t_[end + 1], "(")) {
          while (end < last && !is_punct(t_[end], ")")) ++end;
        }
        edits_.push_back({token.begin, t_[std::min(end, last - 1)].end, ""});
        k = end;
      }
    }
    if (auto_increment && first + 1 < last && one_of(t_[first + 1], kIntegerTypes)) {
      edits_.push_back({t_[first + 1].begin, t_[type_end - 1].end, "INTEGER"});
    }
  }

  const std::vector<Token>& t_;
  std::vector<Edit> edits_;
};

}  // namespace

bool commits_implicitly(std::string_view sql) {
  Tokens statement = first_statement(sql);
  if (statement.tokens.empty()) return false;
  Cursor cursor(statement, sql);
  if (cursor.accept("ALTER") || cursor.accept("RENAME") || cursor.accept("TRUNCATE")) return true;
  if (cursor.accept("CREATE") || cursor.accept("DROP")) {
    return !cursor.accept("TEMPORARY") && !cursor.accept("TEMP");
  }
  return false;
}

std::optional<std::string> rewrite_create_table(std::string_view sql) {
  Tokens statement = first_statement(sql);
  if (!statement.complete) return std::nullopt;
  Cursor cursor(statement, sql);
  if (!cursor.accept("CREATE")) return std::nullopt;
  if (!cursor.accept("TEMPORARY")) cursor.accept("TEMP");
  if (!cursor.accept("TABLE")) return std::nullopt;
  const auto& tokens = statement.tokens;
  // The column list: the first '(' (CREATE TABLE ... AS SELECT and ... LIKE have none first).
  std::size_t open = cursor.position();
  while (open < tokens.size() && !is_punct(tokens[open], "(")) {
    if (is_word(tokens[open], "AS") || is_word(tokens[open], "LIKE") ||
        is_word(tokens[open], "SELECT")) {
      return std::nullopt;
    }
    ++open;
  }
  if (open == tokens.size()) return std::nullopt;

  Rewriter rewriter(statement);
  int depth = 1;
  std::size_t first = open + 1;
  std::size_t comma_before = Rewriter::kNone;
  std::size_t k = open + 1;
  for (; k < tokens.size() && depth > 0; ++k) {
    if (is_punct(tokens[k], "(")) {
      ++depth;
    } else if (is_punct(tokens[k], ")")) {
      if (--depth == 0) rewriter.definition(first, k, comma_before, Rewriter::kNone);
    } else if (depth == 1 && is_punct(tokens[k], ",")) {
      rewriter.definition(first, k, comma_before, k);
      comma_before = k;
      first = k + 1;
    }
  }
  if (depth > 0) return std::nullopt;
  rewriter.options(k);

  std::vector<Edit> edits = rewriter.edits();
  if (edits.empty()) return std::nullopt;
  std::sort(edits.begin(), edits.end(),
            [](const Edit& a, const Edit& b) { return a.begin > b.begin; });
  std::string out(sql.substr(0, statement.end));
  for (const Edit& edit : edits) out.replace(edit.begin, edit.end - edit.begin, edit.text);
  return out;
}

}  // namespace plexi::mysql::embedded
