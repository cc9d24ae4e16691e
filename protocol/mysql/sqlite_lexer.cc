// The tokenizer of the MySQL embedded front and the text helpers built on it.
#include "protocol/mysql/sqlite_lexer.h"

#include <cctype>

namespace plexi::mysql::embedded {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_word_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}
char upper_char(char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }

}  // namespace

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

// MySQL's "-- " comment needs the blank after the dashes; /*! ... */ is read as a comment,
// as SQLite reads it, so both agree on where statements are.
std::size_t skip_blank(std::string_view sql, std::size_t at) {
  while (at < sql.size()) {
    char c = sql[at];
    if (is_space(c)) {
      ++at;
    } else if (c == '#' ||
               (sql.substr(at, 2) == "--" && (at + 2 == sql.size() || is_space(sql[at + 2])))) {
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

Tokens first_statement(std::string_view sql) {
  Tokens statement;
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
      while (at < sql.size() && (is_word_char(sql[at]) ||
                                 (sql[at] == '.' && std::isdigit(static_cast<unsigned char>(c))))) {
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

std::string quoted(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    out += c;
    if (c == quote) out += quote;
  }
  out += quote;
  return out;
}

}  // namespace plexi::mysql::embedded
