// Recognises the statements the embedded front handles itself, from the tokens of the first
// statement of a query string. Anything it does not recognise in full is left to SQLite,
// whose error then reaches the client as a syntax error.
#include "protocol/mysql/sqlite_commands.h"

#include <array>
#include <cctype>
#include <charconv>

namespace plexi::mysql::embedded {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_word_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}
char upper_char(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = upper_char(c);
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Position of the next token at or after `at`: whitespace and comments skipped. MySQL's
// "-- " comment needs the blank after the dashes; /*! ... */ is read as a comment, as
// SQLite reads it, so both agree on where statements are.
std::size_t skip_blank(std::string_view sql, std::size_t at) {
  while (at < sql.size()) {
    char c = sql[at];
    if (is_space(c)) {
      ++at;
    } else if (c == '#' || (sql.substr(at, 2) == "--" &&
                            (at + 2 == sql.size() || is_space(sql[at + 2])))) {
      std::size_t end = sql.find('\n', at);
      at = end == std::string_view::npos ? sql.size() : end + 1;
    } else if (sql.substr(at, 2) == "/*") {
      std::size_t end = sql.find("*/", at + 2);
      at = end == std::string_view::npos ? sql.size() : end + 2;
    } else {
      break;
    }
  }
  return at;
}

struct Token {
  enum class Type { kWord, kNumber, kString, kName, kPunct };
  Type type = Type::kPunct;
  std::string value;  // words upper-cased; strings and `names` unquoted; punctuation as is
  std::string raw;    // words and numbers as written
  std::size_t begin = 0;
  std::size_t end = 0;
};

// The end of a quoted token starting at `at` (quote doubled inside), or npos if unterminated.
std::size_t quoted_end(std::string_view sql, std::size_t at, std::string& value) {
  char quote = sql[at];
  for (std::size_t i = at + 1; i < sql.size(); ++i) {
    if (sql[i] != quote) {
      value += sql[i];
    } else if (i + 1 < sql.size() && sql[i + 1] == quote) {
      value += quote;
      ++i;
    } else {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

struct Statement {
  std::vector<Token> tokens;
  std::size_t begin = 0;
  std::size_t end = 0;  // just past its ';', or the text's end
  bool complete = true;  // false: an unterminated quote (SQLite will say so)
};

Statement first_statement(std::string_view sql) {
  Statement statement;
  std::size_t at = skip_blank(sql, 0);
  while (at < sql.size() && sql[at] == ';') at = skip_blank(sql, at + 1);
  statement.begin = at;
  while (at < sql.size()) {
    char c = sql[at];
    if (c == ';') {
      statement.end = at + 1;
      return statement;
    }
    Token token;
    token.begin = at;
    if (c == '\'' || c == '"' || c == '`') {
      std::size_t end = quoted_end(sql, at, token.value);
      if (end == std::string_view::npos) {
        statement.complete = false;
        break;
      }
      token.type = c == '`' ? Token::Type::kName : Token::Type::kString;
      at = end;
    } else if (is_word_char(c)) {
      while (at < sql.size() && (is_word_char(sql[at]) || (sql[at] == '.' && std::isdigit(
                                                                  static_cast<unsigned char>(c))))) {
        ++at;
      }
      token.raw = sql.substr(token.begin, at - token.begin);
      bool digits = std::isdigit(static_cast<unsigned char>(c)) != 0;
      token.type = digits ? Token::Type::kNumber : Token::Type::kWord;
      token.value = digits ? token.raw : upper(token.raw);
    } else {
      token.value = std::string(1, c);
      ++at;
      if (c == ':' && at < sql.size() && sql[at] == '=') {
        token.value = ":=";
        ++at;
      }
    }
    token.end = at;
    statement.tokens.push_back(std::move(token));
    at = skip_blank(sql, at);
  }
  statement.end = sql.size();
  return statement;
}

// Walks the tokens of one statement.
class Cursor {
 public:
  Cursor(const Statement& statement, std::string_view sql) : tokens_(statement.tokens), sql_(sql) {}

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
    if (token->type == Token::Type::kName ||
        (strings_too && token->type == Token::Type::kString)) {
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

// `db.table` or `table`: the table.
std::optional<std::string> table_name(Cursor& cursor) {
  auto name = cursor.name();
  if (name && cursor.accept(".")) name = cursor.name();
  return name;
}

bool accept_scope(Cursor& cursor, Assignment::Scope& scope) {
  if (cursor.accept("GLOBAL") || cursor.accept("PERSIST") || cursor.accept("PERSIST_ONLY")) {
    scope = Assignment::Scope::kGlobal;
    return true;
  }
  if (cursor.accept("SESSION") || cursor.accept("LOCAL")) {
    scope = Assignment::Scope::kSession;
    return true;
  }
  return false;
}

// A value up to the next ',' outside parentheses: a single literal is kept unquoted, an
// expression as written.
bool assignment_value(Cursor& cursor, Assignment& assignment) {
  std::size_t from = cursor.position();
  int depth = 0;
  while (const Token* token = cursor.peek()) {
    if (token->type == Token::Type::kPunct) {
      if (token->value == "," && depth == 0) break;
      if (token->value == "(") ++depth;
      if (token->value == ")") --depth;
    }
    cursor.take();
  }
  std::size_t to = cursor.position();
  if (from == to) return false;
  const Token& first = cursor.token(from);
  assignment.kind = Assignment::Value::kOther;
  assignment.value = std::string(cursor.text(from, to));
  if (to - from == 1) {
    switch (first.type) {
      case Token::Type::kString:
      case Token::Type::kName:
        assignment.kind = Assignment::Value::kLiteral;
        assignment.value = first.value;
        assignment.quoted = first.type == Token::Type::kString;
        break;
      case Token::Type::kNumber:
        assignment.kind = Assignment::Value::kLiteral;
        break;
      case Token::Type::kWord:
        assignment.kind = first.value == "NULL"      ? Assignment::Value::kNull
                          : first.value == "DEFAULT" ? Assignment::Value::kDefault
                                                     : Assignment::Value::kLiteral;
        break;
      case Token::Type::kPunct:
        break;
    }
  } else if (to - from == 2 && first.value == "-" &&
             cursor.token(from + 1).type == Token::Type::kNumber) {
    assignment.kind = Assignment::Value::kLiteral;
    assignment.value = "-" + cursor.token(from + 1).raw;
  }
  return true;
}

void add(std::vector<Assignment>& to, std::string name, std::string value) {
  Assignment assignment;
  assignment.name = std::move(name);
  assignment.value = std::move(value);
  to.push_back(std::move(assignment));
}

// SET NAMES, SET CHARACTER SET, SET TRANSACTION and variable assignments.
bool parse_set(Cursor& cursor, FrontStatement& out) {
  Assignment::Scope scope = Assignment::Scope::kSession;
  accept_scope(cursor, scope);
  if (cursor.accept("TRANSACTION")) {
    // ISOLATION LEVEL ..., READ ONLY | READ WRITE: SQLite's transactions are serializable,
    // so only what @@transaction_isolation shows changes.
    while (!cursor.done()) {
      if (cursor.accept("ISOLATION")) {
        if (!cursor.accept("LEVEL")) return false;
        std::string level;
        if (cursor.accept("SERIALIZABLE")) {
          level = "SERIALIZABLE";
        } else if (cursor.accept("REPEATABLE")) {
          if (!cursor.accept("READ")) return false;
          level = "REPEATABLE-READ";
        } else if (cursor.accept("READ")) {
          if (cursor.accept("COMMITTED")) {
            level = "READ-COMMITTED";
          } else if (cursor.accept("UNCOMMITTED")) {
            level = "READ-UNCOMMITTED";
          } else {
            return false;
          }
        } else {
          return false;
        }
        add(out.assignments, "transaction_isolation", level);
      } else if (cursor.accept("READ")) {
        if (!cursor.accept("ONLY") && !cursor.accept("WRITE")) return false;
      } else if (!cursor.accept(",")) {
        return false;
      }
    }
    out.kind = FrontKind::kSet;
    return true;
  }
  do {
    accept_scope(cursor, scope);
    if (cursor.accept("NAMES")) {
      auto charset = cursor.name(true);
      if (!charset) return false;
      for (const char* name :
           {"character_set_client", "character_set_connection", "character_set_results"}) {
        add(out.assignments, name, lower(*charset));
      }
      if (cursor.accept("COLLATE")) {
        auto collation = cursor.name(true);
        if (!collation) return false;
        add(out.assignments, "collation_connection", lower(*collation));
      }
      continue;
    }
    if (cursor.accept("CHARSET") || (cursor.accept("CHARACTER") && cursor.accept("SET"))) {
      auto charset = cursor.name(true);
      if (!charset) return false;
      add(out.assignments, "character_set_client", lower(*charset));
      add(out.assignments, "character_set_results", lower(*charset));
      continue;
    }
    Assignment assignment;
    assignment.scope = scope;
    if (cursor.accept("@")) {
      if (cursor.adjacent() && cursor.accept("@")) {
        if (!cursor.adjacent()) return false;
        auto first = cursor.name();
        if (!first) return false;
        std::string scope_word = upper(*first);
        if (cursor.accept(".")) {
          if (scope_word == "GLOBAL" || scope_word == "PERSIST" || scope_word == "PERSIST_ONLY") {
            assignment.scope = Assignment::Scope::kGlobal;
          } else if (scope_word == "SESSION" || scope_word == "LOCAL") {
            assignment.scope = Assignment::Scope::kSession;
          } else {
            return false;
          }
          first = cursor.name();
          if (!first) return false;
        }
        assignment.name = lower(*first);
      } else {
        if (!cursor.adjacent()) return false;
        auto name = cursor.name(true);
        if (!name) return false;
        assignment.scope = Assignment::Scope::kUser;
        assignment.name = *name;
      }
    } else {
      auto name = cursor.name();
      if (!name) return false;
      assignment.name = lower(*name);
    }
    if (!cursor.accept("=") && !cursor.accept(":=")) return false;
    if (!assignment_value(cursor, assignment)) return false;
    out.assignments.push_back(std::move(assignment));
  } while (cursor.accept(","));
  if (!cursor.done()) return false;
  out.kind = FrontKind::kSet;
  return true;
}

// [LIKE 'pattern'] at the end of a SHOW.
bool accept_like(Cursor& cursor, FrontStatement& out) {
  if (cursor.accept("LIKE")) {
    out.like = cursor.string();
    if (!out.like) return false;
  }
  return cursor.done();
}

// SHOW VARIABLES' WHERE: Variable_name = 'a' [OR ...], Variable_name IN (...), or LIKE.
bool accept_variables_filter(Cursor& cursor, FrontStatement& out) {
  if (!cursor.accept("WHERE")) return accept_like(cursor, out);
  do {
    auto column = cursor.name();
    if (!column || upper(*column) != "VARIABLE_NAME") return false;
    if (cursor.accept("LIKE")) {
      out.like = cursor.string();
      return out.like && cursor.done();
    }
    if (cursor.accept("IN")) {
      if (!cursor.accept("(")) return false;
      do {
        auto name = cursor.string();
        if (!name) return false;
        out.where_names.push_back(lower(*name));
      } while (cursor.accept(","));
      if (!cursor.accept(")")) return false;
    } else {
      if (!cursor.accept("=")) return false;
      auto name = cursor.string();
      if (!name) return false;
      out.where_names.push_back(lower(*name));
    }
  } while (cursor.accept("OR"));
  return cursor.done();
}

bool parse_show(Cursor& cursor, FrontStatement& out) {
  if (cursor.accept("DATABASES") || cursor.accept("SCHEMAS")) {
    out.kind = FrontKind::kShowDatabases;
    return accept_like(cursor, out);
  }
  if (cursor.accept("WARNINGS") || cursor.accept("ERRORS")) {
    out.kind = FrontKind::kShowWarnings;
    return true;  // LIMIT clauses do not matter: there is never a warning to show
  }
  if (cursor.accept("CREATE")) {
    if (!cursor.accept("TABLE")) return false;
    auto table = table_name(cursor);
    if (!table || !cursor.done()) return false;
    out.kind = FrontKind::kShowCreateTable;
    out.name = *table;
    return true;
  }
  Assignment::Scope scope;
  bool scoped = accept_scope(cursor, scope);
  if (cursor.accept("VARIABLES")) {
    out.kind = FrontKind::kShowVariables;
    return accept_variables_filter(cursor, out);
  }
  if (cursor.accept("STATUS")) {
    out.kind = FrontKind::kShowStatus;
    return accept_like(cursor, out);
  }
  if (scoped) return false;
  out.full = cursor.accept("FULL");
  if (cursor.accept("TABLES")) {
    if (cursor.accept("FROM") || cursor.accept("IN")) {
      auto database = cursor.name();
      if (!database) return false;
      out.name = *database;
    }
    out.kind = FrontKind::kShowTables;
    return accept_like(cursor, out);
  }
  if (cursor.accept("COLUMNS") || cursor.accept("FIELDS")) {
    if (!cursor.accept("FROM") && !cursor.accept("IN")) return false;
    auto table = table_name(cursor);
    if (!table) return false;
    if ((cursor.accept("FROM") || cursor.accept("IN")) && !cursor.name()) return false;
    out.kind = FrontKind::kShowColumns;
    out.name = *table;
    return accept_like(cursor, out);
  }
  return false;
}

// Functions whose value the session knows; CURRENT_USER may go without parentheses.
constexpr std::array<std::string_view, 10> kSessionFunctions = {
    "DATABASE", "SCHEMA",      "VERSION",       "USER",          "CURRENT_USER",
    "SESSION_USER", "SYSTEM_USER", "CONNECTION_ID", "LAST_INSERT_ID", "ROW_COUNT"};

bool select_item(Cursor& cursor, SelectItem& item) {
  std::size_t from = cursor.position();
  if (cursor.accept("@")) {
    if (cursor.adjacent() && cursor.accept("@")) {
      if (!cursor.adjacent()) return false;
      auto name = cursor.name();
      if (!name) return false;
      std::string scope = upper(*name);
      if ((scope == "SESSION" || scope == "GLOBAL" || scope == "LOCAL") && cursor.accept(".")) {
        name = cursor.name();
        if (!name) return false;
      }
      item.kind = SelectItem::Kind::kSystemVariable;
      item.name = lower(*name);
    } else {
      if (!cursor.adjacent()) return false;
      auto name = cursor.name(true);
      if (!name) return false;
      item.kind = SelectItem::Kind::kUserVariable;
      item.name = *name;
    }
  } else {
    const Token* token = cursor.peek();
    if (token == nullptr || token->type != Token::Type::kWord) return false;
    std::string function = token->value;
    bool known = false;
    for (auto name : kSessionFunctions) known = known || name == function;
    if (!known) return false;
    cursor.take();
    bool parentheses = cursor.accept("(");
    if (parentheses && !cursor.accept(")")) return false;
    if (!parentheses && function != "CURRENT_USER") return false;
    item.kind = SelectItem::Kind::kFunction;
    item.name = function == "SCHEMA" ? "DATABASE" : function;
  }
  item.label = std::string(cursor.text(from, cursor.position()));
  bool as = cursor.accept("AS");
  const Token* next = cursor.peek();
  if (next != nullptr && (next->type == Token::Type::kName || next->type == Token::Type::kString ||
                          (next->type == Token::Type::kWord && next->value != "LIMIT" &&
                           next->value != "FROM"))) {
    item.label = *cursor.name(true);
  } else if (as) {
    return false;
  }
  return true;
}

bool parse_select_values(Cursor& cursor, FrontStatement& out) {
  do {
    SelectItem item;
    if (!select_item(cursor, item)) return false;
    out.items.push_back(std::move(item));
  } while (cursor.accept(","));
  if (cursor.accept("FROM") && !cursor.accept("DUAL")) return false;
  if (cursor.accept("LIMIT")) {
    const Token* count = cursor.peek();
    if (count == nullptr || count->type != Token::Type::kNumber) return false;
    std::uint64_t limit = 0;
    auto [end, error] = std::from_chars(count->raw.data(), count->raw.data() + count->raw.size(),
                                        limit);
    if (error != std::errc() || end != count->raw.data() + count->raw.size()) return false;
    cursor.take();
    out.limit = limit;
  }
  if (!cursor.done()) return false;
  out.kind = FrontKind::kSelectValues;
  return true;
}

bool parse_kill(Cursor& cursor, FrontStatement& out) {
  out.kill_query = cursor.accept("QUERY");
  if (!out.kill_query) cursor.accept("CONNECTION");
  const Token* id = cursor.peek();
  if (id == nullptr || id->type != Token::Type::kNumber) return false;
  auto [end, error] = std::from_chars(id->raw.data(), id->raw.data() + id->raw.size(), out.kill_id);
  if (error != std::errc() || end != id->raw.data() + id->raw.size()) return false;
  cursor.take();
  out.kind = FrontKind::kKill;
  return cursor.done();
}

// The words that start a statement EXPLAIN explains, rather than a table it describes.
bool explains_statement(const Token& token) {
  static constexpr std::array<std::string_view, 12> kWords = {
      "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH",
      "QUERY",  "FORMAT", "ANALYZE", "EXTENDED", "TABLE", "VALUES"};
  if (token.type != Token::Type::kWord) return token.type != Token::Type::kName;
  for (auto word : kWords) {
    if (token.value == word) return true;
  }
  return false;
}

bool classify_words(Cursor& cursor, FrontStatement& out) {
  if (cursor.accept("BEGIN")) {
    // BEGIN [WORK], and SQLite's own BEGIN DEFERRED | IMMEDIATE | EXCLUSIVE [TRANSACTION].
    for (std::string_view mode : {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}) {
      if (cursor.accept(mode)) out.name = mode;
    }
    if (!cursor.accept("WORK")) cursor.accept("TRANSACTION");
    if (!cursor.done()) return false;
    out.kind = FrontKind::kBegin;
    return true;
  }
  if (cursor.accept("START")) {
    if (!cursor.accept("TRANSACTION")) return false;
    out.kind = FrontKind::kBegin;
    while (!cursor.done()) {
      if (cursor.accept("READ") && cursor.accept("ONLY")) out.read_only = true;
      if (!cursor.done()) cursor.take();
    }
    return true;
  }
  if (cursor.accept("COMMIT")) {
    out.kind = FrontKind::kCommit;
    return true;
  }
  if (cursor.accept("ROLLBACK")) {
    cursor.accept("WORK");
    if (cursor.accept("TO")) return false;  // ROLLBACK TO SAVEPOINT: SQLite's own
    out.kind = FrontKind::kRollback;
    return true;
  }
  if (cursor.accept("SET")) return parse_set(cursor, out);
  if (cursor.accept("USE")) {
    auto database = cursor.name();
    if (!database || !cursor.done()) return false;
    out.kind = FrontKind::kUse;
    out.name = *database;
    return true;
  }
  if (cursor.accept("SHOW")) return parse_show(cursor, out);
  if (cursor.accept("DESCRIBE") || cursor.accept("DESC") ||
      (cursor.peek() && cursor.peek()->value == "EXPLAIN" && cursor.peek(1) &&
       !explains_statement(*cursor.peek(1)) && cursor.accept("EXPLAIN"))) {
    auto table = table_name(cursor);
    if (!table) return false;
    if (!cursor.done()) {
      // DESCRIBE t column: that column only.
      auto column = cursor.name(true);
      if (!column || !cursor.done()) return false;
      out.like = *column;
    }
    out.kind = FrontKind::kShowColumns;
    out.name = *table;
    return true;
  }
  if (cursor.accept("SELECT")) return parse_select_values(cursor, out);
  if (cursor.accept("KILL")) return parse_kill(cursor, out);
  if (cursor.accept("LOCK") || cursor.accept("UNLOCK")) {
    if (!cursor.accept("TABLES") && !cursor.accept("TABLE")) return false;
    out.kind = FrontKind::kAccepted;
    return true;
  }
  return false;
}

}  // namespace

FrontStatement classify_statement(std::string_view sql) {
  Statement statement = first_statement(sql);
  FrontStatement out;
  out.begin = statement.begin;
  out.length = statement.end;
  if (statement.tokens.empty()) {
    out.kind = statement.complete ? FrontKind::kEmpty : FrontKind::kSql;
    return out;
  }
  Cursor cursor(statement, sql);
  FrontStatement recognised = out;
  if (statement.complete && classify_words(cursor, recognised)) return recognised;
  out.kind = FrontKind::kSql;
  return out;
}

bool answers_rows(FrontKind kind) {
  switch (kind) {
    case FrontKind::kShowDatabases:
    case FrontKind::kShowWarnings:
    case FrontKind::kShowVariables:
    case FrontKind::kShowStatus:
    case FrontKind::kSelectValues:
      return true;
    default:
      return false;
  }
}

bool is_blank(std::string_view sql) {
  std::size_t at = skip_blank(sql, 0);
  while (at < sql.size() && sql[at] == ';') at = skip_blank(sql, at + 1);
  return at == sql.size();
}

bool like_match(std::string_view text, std::string_view pattern) {
  // Iterative matching with one backtrack point for the last `%`.
  std::size_t t = 0, p = 0;
  std::size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '%') {
      star_p = ++p;
      star_t = t;
      continue;
    }
    if (p < pattern.size()) {
      char expected = pattern[p];
      std::size_t step = 1;
      bool any = expected == '_';
      if (expected == '\\' && p + 1 < pattern.size()) {
        expected = pattern[p + 1];
        step = 2;
        any = false;
      }
      if (any || upper_char(expected) == upper_char(text[t])) {
        p += step;
        ++t;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '%') ++p;
  return p == pattern.size();
}

bool commits_implicitly(std::string_view sql) {
  Statement statement = first_statement(sql);
  if (statement.tokens.empty()) return false;
  Cursor cursor(statement, sql);
  if (cursor.accept("ALTER") || cursor.accept("RENAME") || cursor.accept("TRUNCATE")) return true;
  if (cursor.accept("CREATE") || cursor.accept("DROP")) {
    return !cursor.accept("TEMPORARY") && !cursor.accept("TEMP");
  }
  return false;
}

std::string blob_literals_for_nul(std::string_view sql) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(sql.size() * 2);
  std::size_t at = 0;
  while (at < sql.size()) {
    std::size_t next = skip_blank(sql, at);
    out.append(sql.substr(at, next - at));
    at = next;
    if (at == sql.size()) break;
    char c = sql[at];
    if (c != '\'' && c != '"' && c != '`') {
      out += c;
      ++at;
      continue;
    }
    std::string value;
    std::size_t end = quoted_end(sql, at, value);
    if (end == std::string_view::npos) end = sql.size();
    if (c != '\'' || value.find('\0') == std::string::npos) {
      out.append(sql.substr(at, end - at));
    } else {
      out += "X'";
      for (char byte : value) {
        auto u = static_cast<unsigned char>(byte);
        out += kHex[u >> 4];
        out += kHex[u & 0xf];
      }
      out += '\'';
    }
    at = end;
  }
  return out;
}

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  out += '\'';
  return out;
}

}  // namespace plexi::mysql::embedded
