// Finds the hint comment before a statement and reads its key=value pairs.
#include "routing/hint.h"

#include <cctype>

namespace plexi::routing {
namespace {

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool separator(char c) { return space(c) || c == ',' || c == ';'; }

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

// The pairs of a comment's text when it is a hint ("plexiproxy:" first), else empty.
std::string_view hint_pairs(std::string_view comment) {
  constexpr std::string_view kPrefix = "plexiproxy";
  comment = trim(comment);
  if (comment.size() < kPrefix.size() ||
      !equal_ignoring_case(comment.substr(0, kPrefix.size()), kPrefix)) {
    return {};
  }
  comment = trim(comment.substr(kPrefix.size()));
  if (comment.empty() || comment.front() != ':') return {};
  return trim(comment.substr(1));
}

std::optional<config::Role> parse_role(std::string_view value) {
  if (equal_ignoring_case(value, "primary")) return config::Role::kPrimary;
  if (equal_ignoring_case(value, "replica")) return config::Role::kReplica;
  if (equal_ignoring_case(value, "analytics")) return config::Role::kAnalytics;
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> Hint::value(std::string_view key) const {
  std::string_view rest = pairs;
  while (!rest.empty()) {
    while (!rest.empty() && separator(rest.front())) rest.remove_prefix(1);
    std::size_t i = 0;
    while (i < rest.size() && !separator(rest[i]) && rest[i] != '=') ++i;
    const std::string_view name = rest.substr(0, i);
    rest.remove_prefix(i);
    std::size_t j = 0;
    while (j < rest.size() && space(rest[j])) ++j;
    std::string_view found;
    if (j < rest.size() && rest[j] == '=') {
      rest.remove_prefix(j + 1);
      while (!rest.empty() && space(rest.front())) rest.remove_prefix(1);
      std::size_t k = 0;
      while (k < rest.size() && !separator(rest[k])) ++k;
      found = rest.substr(0, k);
      rest.remove_prefix(k);
    }
    if (!name.empty() && equal_ignoring_case(name, key)) return found;
  }
  return std::nullopt;
}

Hint read_hint(std::string_view sql) {
  Hint hint;
  std::size_t i = 0;
  while (i < sql.size()) {
    std::string_view comment;
    if (space(sql[i])) {
      ++i;
      continue;
    }
    if (sql.compare(i, 2, "--") == 0) {
      std::size_t end = sql.find_first_of("\r\n", i);
      if (end == std::string_view::npos) end = sql.size();
      comment = sql.substr(i + 2, end - i - 2);
      i = end;
    } else if (sql.compare(i, 2, "/*") == 0) {
      // Comments nest in PostgreSQL; an unterminated one hides the whole statement.
      std::size_t j = i + 2;
      int depth = 1;
      while (j < sql.size() && depth > 0) {
        if (sql.compare(j, 2, "/*") == 0) {
          ++depth;
          j += 2;
        } else if (sql.compare(j, 2, "*/") == 0) {
          --depth;
          j += 2;
        } else {
          ++j;
        }
      }
      if (depth > 0) return hint;
      comment = sql.substr(i + 2, j - i - 4);
      i = j;
    } else {
      break;
    }
    hint.pairs = hint_pairs(comment);
    if (hint.present()) {
      if (auto role = hint.value("role")) hint.role = parse_role(*role);
      return hint;
    }
  }
  return hint;
}

}  // namespace plexi::routing
