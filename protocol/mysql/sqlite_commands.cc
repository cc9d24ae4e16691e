// Recognises the statements the embedded front handles itself, from the tokens of the first
// statement of a query string. Anything it does not recognise in full is left to SQLite,
// whose error then reaches the client as a syntax error.
#include "protocol/mysql/sqlite_commands.h"

#include <array>
#include <charconv>

namespace plexi::mysql::embedded {
namespace {

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
    "DATABASE",     "SCHEMA",      "VERSION",       "USER",           "CURRENT_USER",
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
  if (next != nullptr &&
      (next->type == Token::Type::kName || next->type == Token::Type::kString ||
       (next->type == Token::Type::kWord && next->value != "LIMIT" && next->value != "FROM"))) {
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
    auto [end, error] =
        std::from_chars(count->raw.data(), count->raw.data() + count->raw.size(), limit);
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
      "SELECT", "INSERT", "UPDATE",  "DELETE",   "REPLACE", "WITH",
      "QUERY",  "FORMAT", "ANALYZE", "EXTENDED", "TABLE",   "VALUES"};
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
  Tokens statement = first_statement(sql);
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

}  // namespace plexi::mysql::embedded
