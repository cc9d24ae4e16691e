// Reads the few things the executor needs from statement text with a small tokenizer that
// knows SQL comments, so no statement is ever parsed twice in full.
#include "pools/sqlite/statement_text.h"

#include <cctype>
#include <vector>

namespace plexi::sqlite {
namespace {

bool is_word_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string upper(std::string_view word) {
  std::string out(word);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Position of the next token at or after `at`: whitespace and comments skipped. An
// unterminated block comment runs to the end, as SQLite reads it.
std::size_t skip_blank(std::string_view sql, std::size_t at) {
  while (at < sql.size()) {
    if (std::isspace(static_cast<unsigned char>(sql[at]))) {
      ++at;
    } else if (sql.substr(at, 2) == "--") {
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

// The tokens of the first statement: upper-cased words and single punctuation characters,
// up to and including its ';'. Quoted text never matters to a transaction command, so a
// quote simply ends the scan as an unknown token.
struct Tokens {
  std::vector<std::string> words;
  std::size_t end = 0;  // just past the statement's ';', or the text's end
};

Tokens first_statement(std::string_view sql) {
  Tokens tokens;
  std::size_t at = skip_blank(sql, 0);
  while (at < sql.size()) {
    if (sql[at] == ';') {
      tokens.end = at + 1;
      return tokens;
    }
    if (is_word_start(sql[at])) {
      std::size_t start = at;
      while (at < sql.size() && is_word_char(sql[at])) ++at;
      tokens.words.push_back(upper(sql.substr(start, at - start)));
    } else {
      tokens.words.emplace_back(1, sql[at]);
      ++at;
    }
    at = skip_blank(sql, at);
  }
  tokens.end = sql.size();
  return tokens;
}

// Walks the tokens of one command.
class Cursor {
 public:
  explicit Cursor(const std::vector<std::string>& words) : words_(words) {}
  bool done() const { return at_ == words_.size(); }
  bool accept(std::string_view word) {
    if (done() || words_[at_] != word) return false;
    ++at_;
    return true;
  }

 private:
  const std::vector<std::string>& words_;
  std::size_t at_ = 0;
};

// PostgreSQL's transaction modes: ISOLATION LEVEL ..., READ WRITE | READ ONLY,
// [NOT] DEFERRABLE, separated by optional commas. SQLite has one isolation level
// (serializable), so all of them are accepted and dropped.
bool accept_modes(Cursor& cursor, bool& read_only) {
  bool first = true;
  while (!cursor.done()) {
    if (!first) cursor.accept(",");
    first = false;
    if (cursor.accept("ISOLATION")) {
      if (!cursor.accept("LEVEL")) return false;
      if (cursor.accept("SERIALIZABLE")) continue;
      if (cursor.accept("REPEATABLE")) {
        if (!cursor.accept("READ")) return false;
        continue;
      }
      if (!cursor.accept("READ")) return false;
      if (!cursor.accept("COMMITTED") && !cursor.accept("UNCOMMITTED")) return false;
    } else if (cursor.accept("READ")) {
      if (cursor.accept("ONLY")) {
        read_only = true;
      } else if (cursor.accept("WRITE")) {
        read_only = false;
      } else {
        return false;
      }
    } else if (cursor.accept("NOT")) {
      if (!cursor.accept("DEFERRABLE")) return false;
    } else if (!cursor.accept("DEFERRABLE")) {
      return false;
    }
  }
  return true;
}

// [AND NO CHAIN] at the end of COMMIT/ROLLBACK; AND CHAIN has no SQLite equivalent.
bool accept_chain_end(Cursor& cursor) {
  if (cursor.accept("AND")) {
    if (!cursor.accept("NO") || !cursor.accept("CHAIN")) return false;
  }
  return cursor.done();
}

}  // namespace

std::string leading_verb(std::string_view sql) {
  std::size_t at = skip_blank(sql, 0);
  while (at < sql.size() && sql[at] == ';') at = skip_blank(sql, at + 1);
  std::size_t start = at;
  while (at < sql.size() && is_word_char(sql[at])) ++at;
  if (start == at || !is_word_start(sql[start])) return {};
  return upper(sql.substr(start, at - start));
}

std::optional<TransactionRewrite> rewrite_transaction(std::string_view sql) {
  Tokens tokens = first_statement(sql);
  Cursor cursor(tokens.words);
  TransactionRewrite out;
  out.consumed = tokens.end;
  if (cursor.accept("BEGIN")) {
    // SQLite's own BEGIN DEFERRED/IMMEDIATE/EXCLUSIVE says what the client wants already.
    if (cursor.accept("DEFERRED") || cursor.accept("IMMEDIATE") || cursor.accept("EXCLUSIVE")) {
      return std::nullopt;
    }
    if (!cursor.accept("WORK")) cursor.accept("TRANSACTION");
  } else if (cursor.accept("START")) {
    if (!cursor.accept("TRANSACTION")) return std::nullopt;
  } else if (cursor.accept("COMMIT") || cursor.accept("END")) {
    if (!cursor.accept("WORK")) cursor.accept("TRANSACTION");
    if (!accept_chain_end(cursor)) return std::nullopt;
    out.sql = "COMMIT";
    return out;
  } else if (cursor.accept("ROLLBACK") || cursor.accept("ABORT")) {
    if (!cursor.accept("WORK")) cursor.accept("TRANSACTION");
    if (!accept_chain_end(cursor)) return std::nullopt;  // ROLLBACK TO stays SQLite's
    out.sql = "ROLLBACK";
    return out;
  } else {
    return std::nullopt;
  }
  if (!accept_modes(cursor, out.read_only)) return std::nullopt;
  // A writing transaction takes the write lock at BEGIN: a deferred one that reads and
  // then writes can fail with SQLITE_BUSY_SNAPSHOT mid-transaction, which no retry fixes.
  out.sql = out.read_only ? "BEGIN" : "BEGIN IMMEDIATE";
  return out;
}

DeclaredType declared_type(const char* declaration) {
  if (declaration == nullptr) return DeclaredType::kNone;
  std::string type = upper(declaration);
  auto has = [&type](std::string_view part) { return type.find(part) != std::string::npos; };
  if (type.empty()) return DeclaredType::kNone;
  if (has("BOOL")) return DeclaredType::kBoolean;
  if (has("NUMERIC") || has("DECIMAL")) return DeclaredType::kNumeric;
  if (has("INT")) return DeclaredType::kInteger;
  if (has("CHAR") || has("CLOB") || has("TEXT")) return DeclaredType::kText;
  if (has("BLOB")) return DeclaredType::kBlob;
  if (has("REAL") || has("FLOA") || has("DOUB")) return DeclaredType::kReal;
  // SQLite gives these NUMERIC affinity, but DATE, TIMESTAMP, JSON or UUID columns hold
  // text in practice; reporting them by their values keeps clients from misparsing them.
  return DeclaredType::kNone;
}

bool reports_changes(std::string_view verb, bool read_only) {
  if (verb == "INSERT" || verb == "UPDATE" || verb == "DELETE" || verb == "REPLACE") return true;
  return verb == "WITH" && !read_only;
}

}  // namespace plexi::sqlite
