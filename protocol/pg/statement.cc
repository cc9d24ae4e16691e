// A small SQL tokenizer: splits on top-level semicolons and reads the keywords that matter
// for pooling, skipping string literals, quoted identifiers, dollar quotes and comments.
#include "protocol/pg/statement.h"

#include "protocol/pg/sql_lexer.h"

#include <algorithm>
#include <cctype>

namespace plexi::pg {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string setting_name(const Token& token) {
  if (token.kind == Token::Kind::kQuoted) {
    return std::string(token.text.substr(1, token.text.size() - 2));
  }
  return lower(token.text);
}

bool contains_case_insensitive(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                        });
  return it != haystack.end();
}

// The text between `start` and `end` without the terminating semicolon and outer spaces.
std::string value_text(std::string_view sql, std::size_t start, std::size_t end) {
  std::string_view text = sql.substr(start, std::min(end, sql.size()) - start);
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && (text.back() == ';' || space(text.back()))) text.remove_suffix(1);
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  return std::string(text);
}

// Reads one statement's effects; the lexer is left after its terminating semicolon.
void analyze_one(Lexer& lexer, std::string_view sql, StatementEffects& effects) {
  std::size_t start = lexer.position();
  Token first = lexer.next();
  auto skip_rest = [&](Token token) {
    while (token.kind != Token::Kind::kEnd && !is_symbol(token, ';')) token = lexer.next();
  };
  auto pin = [&](PinReason reason) {
    if (effects.pin == PinReason::kNone) effects.pin = reason;
  };

  if (is_word(first, "SET")) {
    Token name = lexer.next();
    if (is_word(name, "LOCAL") || is_word(name, "TRANSACTION") || is_word(name, "CONSTRAINTS")) {
      return skip_rest(lexer.next());
    }
    if (is_word(name, "SESSION")) {
      name = lexer.next();
      if (is_word(name, "AUTHORIZATION") || is_word(name, "CHARACTERISTICS")) {
        pin(PinReason::kRoleChange);
        return skip_rest(lexer.next());
      }
    }
    if (is_word(name, "ROLE")) {
      pin(PinReason::kRoleChange);
      return skip_rest(lexer.next());
    }
    if (name.kind != Token::Kind::kWord && name.kind != Token::Kind::kQuoted) {
      return skip_rest(name);
    }
    SettingChange change;
    change.name = setting_name(name);
    Token op = lexer.next();
    if (is_word(name, "TIME") && is_word(op, "ZONE")) {
      change.name = "timezone";
    } else if (is_word(name, "NAMES")) {
      change.name = "client_encoding";
      std::size_t value_start = lexer.position();
      Token value = lexer.next();
      skip_rest(value);
      change.value = value_text(sql, value_start, lexer.position());
      effects.settings.push_back(std::move(change));
      return;
    } else if (!is_word(op, "TO") && !is_symbol(op, '=')) {
      return skip_rest(op);
    }
    std::size_t value_start = lexer.position();
    Token value = lexer.next();
    if (is_word(value, "DEFAULT")) {
      change.kind = SettingChange::Kind::kReset;
      skip_rest(lexer.next());
    } else {
      skip_rest(value);
      change.value = value_text(sql, value_start, lexer.position());
    }
    if (change.name.starts_with("plexiproxy.")) return;  // hints for the proxy itself
    effects.settings.push_back(std::move(change));
    return;
  }
  if (is_word(first, "RESET")) {
    Token name = lexer.next();
    SettingChange change;
    if (is_word(name, "ALL")) {
      change.kind = SettingChange::Kind::kResetAll;
    } else if (is_word(name, "ROLE") || is_word(name, "SESSION")) {
      return skip_rest(lexer.next());
    } else {
      change.kind = SettingChange::Kind::kReset;
      change.name = setting_name(name);
      if (is_word(name, "TIME")) change.name = "timezone";
    }
    effects.settings.push_back(std::move(change));
    return skip_rest(lexer.next());
  }
  if (is_word(first, "DISCARD")) {
    Token what = lexer.next();
    if (is_word(what, "ALL")) {
      effects.discard_all = true;
      effects.discards_prepared = true;
      effects.settings.push_back({SettingChange::Kind::kResetAll, {}, {}});
    }
    return skip_rest(lexer.next());
  }
  if (is_word(first, "DEALLOCATE")) {
    Token what = lexer.next();
    if (is_word(what, "PREPARE")) what = lexer.next();
    if (is_word(what, "ALL")) effects.discards_prepared = true;
    return skip_rest(lexer.next());
  }
  if (is_word(first, "LISTEN")) pin(PinReason::kListen);
  if (is_word(first, "PREPARE")) pin(PinReason::kSqlPrepare);
  if (is_word(first, "LOAD")) pin(PinReason::kLoad);
  Token token = first;
  if (is_word(first, "CREATE")) {
    token = lexer.next();
    if (is_word(token, "GLOBAL") || is_word(token, "LOCAL")) token = lexer.next();
    if (is_word(token, "TEMP") || is_word(token, "TEMPORARY")) pin(PinReason::kTemporaryTable);
  }
  bool declare = is_word(first, "DECLARE");
  Token previous;
  while (token.kind != Token::Kind::kEnd && !is_symbol(token, ';')) {
    if (declare && is_word(previous, "WITH") && is_word(token, "HOLD")) pin(PinReason::kHoldCursor);
    previous = token;
    token = lexer.next();
  }
  std::string_view text = sql.substr(start, std::min(lexer.position(), sql.size()) - start);
  // Session-level advisory locks survive the transaction; the _xact_ forms do not.
  if (contains_case_insensitive(text, "advisory_lock")) pin(PinReason::kAdvisoryLock);
}

}  // namespace

std::string_view to_string(PinReason reason) {
  switch (reason) {
    case PinReason::kNone: return "none";
    case PinReason::kListen: return "listen";
    case PinReason::kAdvisoryLock: return "advisory_lock";
    case PinReason::kTemporaryTable: return "temporary_table";
    case PinReason::kHoldCursor: return "hold_cursor";
    case PinReason::kSqlPrepare: return "sql_prepare";
    case PinReason::kRoleChange: return "role_change";
    case PinReason::kLoad: return "load";
  }
  return "unknown";
}

StatementEffects analyze_statements(std::string_view sql) {
  StatementEffects effects;
  Lexer lexer(sql);
  while (lexer.position() < sql.size()) {
    std::size_t before = lexer.position();
    analyze_one(lexer, sql, effects);
    if (lexer.position() == before) break;
  }
  return effects;
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace plexi::pg
