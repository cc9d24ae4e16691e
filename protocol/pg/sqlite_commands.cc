// Recognises the PostgreSQL commands the embedded SQLite front answers itself and writes
// PostgreSQL's CommandComplete tags, with a tokenizer that skips comments and literals.
#include "protocol/pg/sqlite_commands.h"

#include "protocol/pg/sql_lexer.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace plexi::pg {
namespace {

bool ends_statement(const Token& token) {
  return token.kind == Token::Kind::kEnd || is_symbol(token, ';');
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// An identifier as PostgreSQL folds it: quoted ones as written, others lower-cased.
std::string identifier(const Token& token) {
  if (token.kind == Token::Kind::kQuoted) {
    std::string out;
    std::string_view inner = token.text.substr(1, token.text.size() - 2);
    for (std::size_t i = 0; i < inner.size(); ++i) {
      out += inner[i];
      if (inner[i] == '"' && i + 1 < inner.size() && inner[i + 1] == '"') ++i;
    }
    return out;
  }
  return lower(token.text);
}

// A string literal's content: '' and (in E'' strings) backslash escapes undone.
std::string string_content(std::string_view text) {
  bool escapes = text.front() == 'E' || text.front() == 'e';
  if (escapes) text.remove_prefix(1);
  if (text.front() == '$') {
    std::size_t tag = text.find('$', 1);
    return std::string(text.substr(tag + 1, text.size() - 2 * (tag + 1)));
  }
  std::string out;
  std::string_view inner = text.substr(1, text.size() >= 2 ? text.size() - 2 : 0);
  for (std::size_t i = 0; i < inner.size(); ++i) {
    char c = inner[i];
    if (c == '\'' && i + 1 < inner.size() && inner[i + 1] == '\'') {
      out += '\'';
      ++i;
    } else if (escapes && c == '\\' && i + 1 < inner.size()) {
      char e = inner[++i];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        default:
          out += e;
          break;
      }
    } else {
      out += c;
    }
  }
  return out;
}

// Consumes tokens to the end of the statement; returns the statement's length.
std::size_t finish(Lexer& lexer, Token token) {
  while (!ends_statement(token)) token = lexer.next();
  return token.end;
}

// A SET value: list elements separated by commas, each a literal, a number or a word.
std::string set_value(Lexer& lexer, Token token, std::size_t& length) {
  std::vector<std::string> elements;
  std::string current;
  bool have = false;
  auto push = [&]() {
    if (have) elements.push_back(current);
    current.clear();
    have = false;
  };
  for (; !ends_statement(token); token = lexer.next()) {
    if (is_symbol(token, ',')) {
      push();
      continue;
    }
    std::string piece = token.kind == Token::Kind::kString ? string_content(token.text)
                        : token.kind == Token::Kind::kWord &&
                                !std::isdigit(static_cast<unsigned char>(token.text[0]))
                            ? lower(token.text)
                        : token.kind == Token::Kind::kQuoted ? identifier(token)
                                                             : std::string(token.text);
    // Words of one element (INTERVAL '1' HOUR, -5) are kept together as written.
    if (have && !(current == "-" || current == "+")) current += ' ';
    current += piece;
    have = true;
  }
  push();
  length = token.end;
  std::string out;
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ", ";
    out += elements[i];
  }
  return out;
}

FrontStatement classify_set(Lexer& lexer) {
  FrontStatement out;
  out.tag = "SET";
  Token name = lexer.next();
  if (is_word(name, "SESSION")) {
    Token after = lexer.next();
    if (is_word(after, "AUTHORIZATION") || is_word(after, "CHARACTERISTICS")) {
      out.kind = FrontKind::kSetAccepted;
      out.length = finish(lexer, lexer.next());
      return out;
    }
    name = after;
  }
  if (is_word(name, "LOCAL") || is_word(name, "TRANSACTION") || is_word(name, "CONSTRAINTS") ||
      is_word(name, "ROLE")) {
    out.kind = FrontKind::kSetAccepted;
    out.length = finish(lexer, lexer.next());
    return out;
  }
  if (name.kind != Token::Kind::kWord && name.kind != Token::Kind::kQuoted) {
    out.kind = FrontKind::kSql;  // not a SET PostgreSQL knows: SQLite reports the error
    out.length = finish(lexer, name);
    return out;
  }
  Token op = lexer.next();
  Token value;
  if (is_word(name, "TIME") && is_word(op, "ZONE")) {
    out.name = "timezone";
    value = lexer.next();
  } else if (is_word(name, "NAMES")) {
    out.name = "client_encoding";
    value = op;
  } else if (is_word(name, "SCHEMA")) {
    out.name = "search_path";
    value = op;
  } else {
    out.name = identifier(name);
    if (!is_word(op, "TO") && !is_symbol(op, '=')) {
      // SET name FROM CURRENT, or something SQLite may know (it has no SET at all).
      out.kind = is_word(op, "FROM") ? FrontKind::kSetAccepted : FrontKind::kSql;
      out.length = finish(lexer, op);
      return out;
    }
    value = lexer.next();
  }
  if (is_word(value, "DEFAULT") || (out.name == "timezone" && is_word(value, "LOCAL"))) {
    out.kind = FrontKind::kSetDefault;
    out.length = finish(lexer, lexer.next());
    return out;
  }
  out.kind = FrontKind::kSet;
  out.value = set_value(lexer, value, out.length);
  return out;
}

FrontStatement classify_transaction(Lexer& lexer, const Token& first) {
  FrontStatement out;
  bool rollback = is_word(first, "ROLLBACK") || is_word(first, "ABORT");
  out.kind = rollback ? FrontKind::kRollback : FrontKind::kCommit;
  out.tag = rollback ? "ROLLBACK" : "COMMIT";
  Token token = lexer.next();
  if (is_word(token, "WORK") || is_word(token, "TRANSACTION")) token = lexer.next();
  if (is_word(first, "ROLLBACK") && is_word(token, "TO")) {
    out.kind = FrontKind::kRollbackTo;
  } else if (is_word(token, "PREPARED") || is_word(token, "AND")) {
    out.kind = FrontKind::kSql;  // two-phase commit and chained transactions: SQLite refuses
  }
  out.length = finish(lexer, token);
  return out;
}

// What a PostgreSQL cast becomes in SQLite.
enum class CastTarget { kDrop, kInteger, kReal, kNumeric, kText, kBlob, kBoolean, kDate };

CastTarget cast_target(std::string name, bool array) {
  if (array) return CastTarget::kDrop;
  if (name.starts_with("pg_catalog.")) name = name.substr(11);
  static const std::vector<std::pair<std::string_view, CastTarget>> kTypes = {
      {"smallint", CastTarget::kInteger},
      {"integer", CastTarget::kInteger},
      {"int", CastTarget::kInteger},
      {"int2", CastTarget::kInteger},
      {"int4", CastTarget::kInteger},
      {"int8", CastTarget::kInteger},
      {"bigint", CastTarget::kInteger},
      {"oid", CastTarget::kInteger},
      {"real", CastTarget::kReal},
      {"float", CastTarget::kReal},
      {"float4", CastTarget::kReal},
      {"float8", CastTarget::kReal},
      {"double precision", CastTarget::kReal},
      {"numeric", CastTarget::kNumeric},
      {"decimal", CastTarget::kNumeric},
      {"text", CastTarget::kText},
      {"varchar", CastTarget::kText},
      {"character varying", CastTarget::kText},
      {"char", CastTarget::kText},
      {"character", CastTarget::kText},
      {"bpchar", CastTarget::kText},
      {"name", CastTarget::kText},
      {"uuid", CastTarget::kText},
      {"json", CastTarget::kText},
      {"jsonb", CastTarget::kText},
      {"citext", CastTarget::kText},
      {"bytea", CastTarget::kBlob},
      {"bool", CastTarget::kBoolean},
      {"boolean", CastTarget::kBoolean},
      {"date", CastTarget::kDate},
  };
  for (const auto& [type, target] : kTypes) {
    if (type == name) return target;
  }
  return CastTarget::kDrop;  // timestamps, intervals, regclass, ...: SQLite keeps the value
}

// Reads the type name of a cast, from its first token; `after` is the token that follows.
bool read_cast_type(Lexer& lexer, const Token& first, CastTarget& target, std::size_t& end,
                    Token& after) {
  if (first.kind != Token::Kind::kWord && first.kind != Token::Kind::kQuoted) return false;
  std::string name = identifier(first);
  end = first.end;
  Token token = lexer.next();
  auto take = [&](std::string_view word) {
    if (!is_word(token, word)) return false;
    name += " " + lower(word);
    end = token.end;
    token = lexer.next();
    return true;
  };
  if (name == "double") {
    take("PRECISION");
  } else if (name == "character" || name == "char" || name == "bit") {
    take("VARYING");
  } else if (name == "timestamp" || name == "time") {
    if (take("WITH") || take("WITHOUT")) {
      take("TIME");
      take("ZONE");
    }
  }
  bool array = false;
  while (is_symbol(token, '(') || is_symbol(token, '[')) {
    char close = is_symbol(token, '(') ? ')' : ']';
    array = array || close == ']';
    while (token.kind != Token::Kind::kEnd && !is_symbol(token, close)) token = lexer.next();
    end = token.end;
    token = lexer.next();
  }
  target = cast_target(name, array);
  after = token;
  return true;
}

// Words after which a parenthesis opens a subexpression, not a function's arguments.
bool is_keyword(const Token& token) {
  static constexpr std::string_view kWords[] = {
      "SELECT", "WHERE", "AND",       "OR",      "NOT",      "IN",    "ON",    "WHEN",
      "THEN",   "ELSE",  "RETURNING", "VALUES",  "BY",       "AS",    "IS",    "LIKE",
      "CASE",   "FROM",  "SET",       "HAVING",  "EXISTS",   "JOIN",  "USING", "INTO",
      "ANY",    "ALL",   "SOME",      "BETWEEN", "DISTINCT", "LIMIT", "OFFSET"};
  for (auto word : kWords) {
    if (is_word(token, word)) return true;
  }
  return false;
}

// The SQLite literal for a cast of string literal `text`, or "" to cast normally.
std::string cast_literal(CastTarget target, const std::string& text) {
  std::string value = lower(text);
  switch (target) {
    case CastTarget::kBlob: {
      if (!text.starts_with("\\x")) return "";
      std::string hex = text.substr(2);
      bool valid = hex.size() % 2 == 0 && std::all_of(hex.begin(), hex.end(), [](unsigned char c) {
                     return std::isxdigit(c);
                   });
      return valid ? "x'" + hex + "'" : "";
    }
    case CastTarget::kReal:
    case CastTarget::kNumeric:
      // SQLite spells infinities as out-of-range numbers and has no NaN (it stores NULL).
      if (value == "infinity" || value == "+infinity" || value == "inf") return "9e999";
      if (value == "-infinity" || value == "-inf") return "-9e999";
      if (value == "nan") return "NULL";
      return "";
    case CastTarget::kBoolean:
      if (value == "t" || value == "true" || value == "yes" || value == "on" || value == "1") {
        return "1";
      }
      if (value == "f" || value == "false" || value == "no" || value == "off" || value == "0") {
        return "0";
      }
      return "";
    default:
      return "";
  }
}

FrontStatement classify_first(Lexer& lexer, const Token& first, std::string_view sql);

}  // namespace

FrontStatement classify_statement(std::string_view sql) {
  Lexer lexer(sql);
  Token first = lexer.next();
  while (is_symbol(first, ';')) first = lexer.next();
  FrontStatement out = classify_first(lexer, first, sql);
  out.begin = std::min(first.begin, sql.size());
  return out;
}

namespace {

FrontStatement classify_first(Lexer& lexer, const Token& first, std::string_view sql) {
  FrontStatement out;
  if (first.kind == Token::Kind::kEnd) {
    out.kind = FrontKind::kEmpty;
    out.length = sql.size();
    return out;
  }
  if (is_word(first, "SET")) return classify_set(lexer);
  if (is_word(first, "BEGIN") || is_word(first, "START")) {
    out.kind = FrontKind::kBegin;
    out.tag = is_word(first, "BEGIN") ? "BEGIN" : "START TRANSACTION";
    Token next = lexer.next();
    if (is_word(first, "START") && !is_word(next, "TRANSACTION")) out.kind = FrontKind::kSql;
    out.length = finish(lexer, next);
    return out;
  }
  if (is_word(first, "COMMIT") || is_word(first, "END") || is_word(first, "ROLLBACK") ||
      is_word(first, "ABORT")) {
    return classify_transaction(lexer, first);
  }
  if (is_word(first, "SAVEPOINT") || is_word(first, "RELEASE")) {
    out.kind = is_word(first, "SAVEPOINT") ? FrontKind::kSavepoint : FrontKind::kRelease;
    out.tag = upper(first.text);
    out.length = finish(lexer, lexer.next());
    return out;
  }
  if (is_word(first, "RESET")) {
    out.tag = "RESET";
    Token name = lexer.next();
    if (is_word(name, "ALL")) {
      out.kind = FrontKind::kResetAll;
    } else if (is_word(name, "TIME")) {
      out.kind = FrontKind::kReset;
      out.name = "timezone";
      name = lexer.next();  // ZONE
    } else if (is_word(name, "SESSION")) {
      out.kind = FrontKind::kReset;
      out.name = "session_authorization";
      name = lexer.next();  // AUTHORIZATION
    } else if (name.kind == Token::Kind::kWord || name.kind == Token::Kind::kQuoted) {
      out.kind = FrontKind::kReset;
      out.name = identifier(name);
    } else {
      out.kind = FrontKind::kSql;
      out.length = finish(lexer, name);
      return out;
    }
    out.length = finish(lexer, lexer.next());
    return out;
  }
  if (is_word(first, "SHOW")) {
    out.tag = "SHOW";
    Token name = lexer.next();
    if (is_word(name, "ALL")) {
      out.kind = FrontKind::kShowAll;
    } else if (name.kind == Token::Kind::kWord || name.kind == Token::Kind::kQuoted) {
      out.kind = FrontKind::kShow;
      out.name = identifier(name);
      Token more = lexer.next();
      if (is_word(name, "TIME") && is_word(more, "ZONE")) {
        out.name = "timezone";
        more = lexer.next();
      } else if (is_word(name, "TRANSACTION") && is_word(more, "ISOLATION")) {
        out.name = "transaction_isolation";
        more = lexer.next();  // LEVEL
        if (is_word(more, "LEVEL")) more = lexer.next();
      } else if (is_word(name, "SESSION") && is_word(more, "AUTHORIZATION")) {
        out.name = "session_authorization";
        more = lexer.next();
      }
      out.length = finish(lexer, more);
      return out;
    } else {
      out.kind = FrontKind::kSql;
      out.length = finish(lexer, name);
      return out;
    }
    out.length = finish(lexer, lexer.next());
    return out;
  }
  if (is_word(first, "DISCARD")) {
    Token what = lexer.next();
    out.kind = is_word(what, "ALL") ? FrontKind::kDiscardAll : FrontKind::kDiscardOther;
    out.tag = "DISCARD " + upper(what.text);
    if (is_word(what, "TEMPORARY")) out.tag = "DISCARD TEMP";
    out.length = finish(lexer, what);
    return out;
  }
  if (is_word(first, "DEALLOCATE")) {
    Token what = lexer.next();
    if (is_word(what, "PREPARE")) what = lexer.next();
    if (is_word(what, "ALL")) {
      out.kind = FrontKind::kDeallocateAll;
      out.tag = "DEALLOCATE ALL";
    } else {
      out.kind = FrontKind::kDeallocate;
      out.tag = "DEALLOCATE";
      out.name = identifier(what);
    }
    out.length = finish(lexer, what);
    return out;
  }
  if (is_word(first, "COPY")) {
    out.kind = FrontKind::kCopy;
    out.tag = "COPY";
    out.length = finish(lexer, lexer.next());
    return out;
  }
  out.kind = FrontKind::kSql;
  if (is_word(first, "CREATE")) {
    Token what = lexer.next();
    if (is_word(what, "TEMP") || is_word(what, "TEMPORARY")) what = lexer.next();
    if (is_word(what, "TRIGGER")) {
      // A trigger body holds semicolons of its own: only SQLite knows where it ends.
      out.length = sql.size();
      return out;
    }
    out.length = finish(lexer, what);
    return out;
  }
  out.length = finish(lexer, first);
  return out;
}

}  // namespace

bool is_blank(std::string_view sql) { return classify_statement(sql).kind == FrontKind::kEmpty; }

std::string tag_command(std::string_view sql) {
  Lexer lexer(sql);
  Token first = lexer.next();
  while (is_symbol(first, ';')) first = lexer.next();
  if (first.kind != Token::Kind::kWord) return "";
  if (is_word(first, "WITH")) {
    // The main statement follows the CTEs, whose bodies are all in parentheses.
    int depth = 0;
    for (Token token = lexer.next(); !ends_statement(token); token = lexer.next()) {
      if (is_symbol(token, '(')) ++depth;
      if (is_symbol(token, ')')) --depth;
      if (depth != 0) continue;
      if (is_word(token, "INSERT") || is_word(token, "REPLACE")) return "INSERT";
      if (is_word(token, "UPDATE")) return "UPDATE";
      if (is_word(token, "DELETE")) return "DELETE";
      if (is_word(token, "SELECT") || is_word(token, "VALUES")) return "SELECT";
    }
    return "SELECT";
  }
  if (is_word(first, "SELECT") || is_word(first, "VALUES") || is_word(first, "TABLE")) {
    return "SELECT";
  }
  if (is_word(first, "INSERT") || is_word(first, "REPLACE")) return "INSERT";
  if (is_word(first, "START")) return "START TRANSACTION";
  if (is_word(first, "END")) return "COMMIT";
  if (is_word(first, "ABORT")) return "ROLLBACK";
  if (is_word(first, "CREATE")) {
    Token token = lexer.next();
    while (is_word(token, "OR") || is_word(token, "REPLACE") || is_word(token, "TEMP") ||
           is_word(token, "TEMPORARY") || is_word(token, "UNIQUE") || is_word(token, "VIRTUAL") ||
           is_word(token, "GLOBAL") || is_word(token, "LOCAL") || is_word(token, "UNLOGGED")) {
      token = lexer.next();
    }
    if (token.kind != Token::Kind::kWord) return "CREATE";
    if (is_word(token, "MATERIALIZED")) return "CREATE MATERIALIZED VIEW";
    if (is_word(token, "TABLE")) {
      // CREATE TABLE [IF NOT EXISTS] name AS SELECT ...
      Token name = lexer.next();
      if (is_word(name, "IF")) {
        lexer.next();
        lexer.next();
        name = lexer.next();
      }
      if (is_word(lexer.next(), "AS")) return "CREATE TABLE AS";
      return "CREATE TABLE";
    }
    return "CREATE " + upper(token.text);
  }
  if (is_word(first, "DROP") || is_word(first, "ALTER")) {
    Token object = lexer.next();
    if (object.kind != Token::Kind::kWord) return upper(first.text);
    if (is_word(object, "MATERIALIZED")) return upper(first.text) + " MATERIALIZED VIEW";
    return upper(first.text) + " " + upper(object.text);
  }
  return upper(first.text);
}

std::string complete_tag(std::string_view command, std::int64_t rows, std::int64_t changes) {
  if (command == "INSERT") return "INSERT 0 " + std::to_string(changes);
  if (command == "UPDATE" || command == "DELETE") {
    return std::string(command) + " " + std::to_string(changes);
  }
  if (command == "SELECT") return "SELECT " + std::to_string(rows);
  return std::string(command);
}

std::string rewrite_casts(std::string_view sql) {
  if (sql.find("::") == std::string_view::npos) return std::string(sql);
  struct Edit {
    std::size_t begin;
    std::size_t end;
    std::string text;
    int order;
  };
  std::vector<Edit> edits;
  // The expression that ends at the current token: where it begins, and its last token.
  struct Operand {
    bool valid = false;
    std::size_t begin = 0;
    Token last;
  } operand;
  std::vector<std::size_t> open;  // where each unclosed '(' (or the function before it) begins
  Lexer lexer(sql);
  Token previous;
  Token token = lexer.next();
  int order = 0;
  while (token.kind != Token::Kind::kEnd) {
    bool cast = is_symbol(token, ':') && token.end < sql.size() && sql[token.end] == ':';
    if (cast && operand.valid) {
      lexer.next();  // the second ':'
      CastTarget target;
      std::size_t end = 0;
      Token after;
      if (read_cast_type(lexer, lexer.next(), target, end, after)) {
        bool literal =
            operand.last.kind == Token::Kind::kString && operand.begin == operand.last.begin;
        std::string replacement =
            literal ? cast_literal(target, string_content(operand.last.text)) : "";
        if (!replacement.empty()) {
          edits.push_back({operand.begin, end, replacement, order++});
        } else if (target == CastTarget::kDrop || (target == CastTarget::kBoolean) ||
                   (target == CastTarget::kDate && literal)) {
          edits.push_back({token.begin, end, "", order++});
        } else if (target == CastTarget::kDate) {
          edits.push_back({operand.begin, operand.begin, "date(", order++});
          edits.push_back({token.begin, end, ")", order++});
        } else {
          std::string_view affinity = target == CastTarget::kInteger   ? "INTEGER"
                                      : target == CastTarget::kReal    ? "REAL"
                                      : target == CastTarget::kNumeric ? "NUMERIC"
                                      : target == CastTarget::kBlob    ? "BLOB"
                                                                       : "TEXT";
          edits.push_back({operand.begin, operand.begin, "CAST(", order++});
          edits.push_back({token.begin, end, " AS " + std::string(affinity) + ")", order++});
        }
        // The cast is itself an operand, for a chain like x::int::text.
        operand.last = Token{Token::Kind::kSymbol, {}, end, end};
        previous = operand.last;
        token = after;
        continue;
      }
    }
    if (is_symbol(token, '(')) {
      bool function = operand.valid && previous.kind == Token::Kind::kWord &&
                      operand.last.begin == previous.begin && !is_keyword(previous);
      open.push_back(function ? operand.begin : token.begin);
      operand.valid = false;
    } else if (is_symbol(token, ')')) {
      operand.valid = !open.empty();
      if (!open.empty()) {
        operand.begin = open.back();
        open.pop_back();
      }
      operand.last = token;
    } else if (token.kind == Token::Kind::kWord && is_symbol(previous, '$') &&
               previous.end == token.begin) {
      operand = {true, previous.begin, token};  // a $n parameter
    } else if (token.kind == Token::Kind::kWord || token.kind == Token::Kind::kQuoted ||
               token.kind == Token::Kind::kString) {
      operand = {true, token.begin, token};
    } else {
      operand.valid = false;
    }
    previous = token;
    token = lexer.next();
  }
  // Insertions before replacements at one position; of two insertions, the outer (later) cast
  // first.
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    bool a_insert = a.begin == a.end;
    bool b_insert = b.begin == b.end;
    if (a_insert != b_insert) return a_insert;
    return a.order > b.order;
  });
  std::string out;
  std::size_t position = 0;
  for (const auto& edit : edits) {
    if (edit.begin < position) continue;  // overlaps an edit already applied
    out.append(sql.substr(position, edit.begin - position));
    out += edit.text;
    position = edit.end;
  }
  out.append(sql.substr(position));
  return out;
}

std::optional<std::string> normalize_datestyle(std::string_view value, std::string_view current) {
  std::string style;
  std::string order;
  auto take = [&](std::string_view text, bool from_current) -> bool {
    std::string word;
    auto flush = [&]() -> bool {
      if (word.empty()) return true;
      std::string w = upper(word);
      word.clear();
      if (w == "ISO" || w == "SQL" || w == "POSTGRES" || w == "GERMAN") {
        if (!from_current || style.empty()) {
          style = w == "ISO" ? "ISO" : w == "SQL" ? "SQL" : w == "POSTGRES" ? "Postgres" : "German";
        }
        return true;
      }
      if (w == "DMY" || w == "EURO" || w == "EUROPEAN") {
        if (!from_current || order.empty()) order = "DMY";
        return true;
      }
      if (w == "MDY" || w == "US" || w == "NONEURO" || w == "NONEUROPEAN") {
        if (!from_current || order.empty()) order = "MDY";
        return true;
      }
      if (w == "YMD") {
        if (!from_current || order.empty()) order = "YMD";
        return true;
      }
      if (w == "DEFAULT") return true;
      return false;
    };
    for (char c : text) {
      if (c == ',' || c == ' ' || c == '\t') {
        if (!flush()) return false;
      } else {
        word += c;
      }
    }
    return flush();
  };
  if (!take(value, false)) return std::nullopt;
  take(current, true);
  if (style.empty()) style = "ISO";
  if (order.empty()) order = "MDY";
  return style + ", " + order;
}

}  // namespace plexi::pg
