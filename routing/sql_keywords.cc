// The key word table statement shapes use: a hash table built at compile time.
#include "routing/sql_keywords.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace plexi::routing {
namespace {

// PostgreSQL's reserved words, the non-reserved ones that may name functions or types,
// and the words that open or structure the statements clients send most.
// clang-format off
constexpr auto kKeyWords = std::to_array<std::string_view>({
    "ABORT", "ALL", "ALTER", "ANALYSE", "ANALYZE", "AND", "ANY", "ARRAY", "AS", "ASC",
    "ASYMMETRIC", "AT", "AUTHORIZATION", "BEGIN", "BETWEEN", "BIGINT", "BINARY", "BIT",
    "BOOLEAN", "BOTH", "BY", "CALL", "CASCADE", "CASE", "CAST", "CHAR", "CHARACTER", "CHECK",
    "CLOSE", "CLUSTER", "COALESCE", "COLLATE", "COLLATION", "COLUMN", "COMMIT", "COMMITTED",
    "CONCURRENTLY", "CONFLICT", "CONSTRAINT", "COPY", "CREATE", "CROSS", "CURRENT",
    "CURRENT_CATALOG", "CURRENT_DATE", "CURRENT_ROLE", "CURRENT_SCHEMA", "CURRENT_TIME",
    "CURRENT_TIMESTAMP", "CURRENT_USER", "CURSOR", "DEALLOCATE", "DEC", "DECIMAL", "DECLARE",
    "DEFAULT", "DEFERRABLE", "DELETE", "DESC", "DISCARD", "DISTINCT", "DO", "DOUBLE", "DROP",
    "ELSE", "END", "ESCAPE", "EXCEPT", "EXECUTE", "EXISTS", "EXPLAIN", "EXTRACT", "FALSE",
    "FETCH", "FILTER", "FIRST", "FLOAT", "FOLLOWING", "FOR", "FOREIGN", "FREEZE", "FROM",
    "FULL", "GRANT", "GREATEST", "GROUP", "GROUPING", "HAVING", "HOLD", "IF", "ILIKE", "IN",
    "INDEX", "INITIALLY", "INNER", "INOUT", "INSERT", "INT", "INTEGER", "INTERSECT", "INTERVAL",
    "INTO", "IS", "ISNULL", "ISOLATION", "JOIN", "KEY", "LAST", "LATERAL", "LEADING", "LEAST",
    "LEFT", "LEVEL", "LIKE", "LIMIT", "LISTEN", "LOCAL", "LOCALTIME", "LOCALTIMESTAMP", "LOCK",
    "LOCKED", "MATERIALIZED", "MERGE", "NATIONAL", "NATURAL", "NCHAR", "NO", "NONE", "NOT",
    "NOTHING", "NOTIFY", "NOTNULL", "NOWAIT", "NULL", "NULLIF", "NULLS", "NUMERIC", "OF",
    "OFFSET", "ON", "ONLY", "OR", "ORDER", "ORDINALITY", "OUT", "OUTER", "OVER", "OVERLAPS",
    "OVERLAY", "PARTITION", "PLACING", "POSITION", "PRECEDING", "PRECISION", "PREPARE",
    "PRIMARY", "RANGE", "READ", "REAL", "RECURSIVE", "REFERENCES", "REFRESH", "REINDEX",
    "RELEASE", "REPEATABLE", "RESET", "RESTRICT", "RETURNING", "REVOKE", "RIGHT", "ROLLBACK",
    "ROW", "ROWS", "SAVEPOINT", "SCHEMA", "SELECT", "SEQUENCE", "SERIALIZABLE", "SESSION",
    "SESSION_USER", "SET", "SETOF", "SHARE", "SHOW", "SIMILAR", "SKIP", "SMALLINT", "SOME",
    "START", "SUBSTRING", "SYMMETRIC", "TABLE", "TABLESAMPLE", "TEMP", "TEMPORARY", "THEN",
    "TIME", "TIMESTAMP", "TO", "TRAILING", "TRANSACTION", "TREAT", "TRIM", "TRUE", "TRUNCATE",
    "UNBOUNDED", "UNCOMMITTED", "UNION", "UNIQUE", "UNLISTEN", "UPDATE", "USER", "USING",
    "VACUUM", "VALUES", "VARCHAR", "VARIADIC", "VARYING", "VERBOSE", "VIEW", "WHEN", "WHERE",
    "WINDOW", "WITH", "WITHIN", "WITHOUT", "WORK", "WRITE", "ZONE"
});
// clang-format on

constexpr std::size_t kLongest = 17;  // CURRENT_TIMESTAMP

static_assert(std::is_sorted(kKeyWords.begin(), kKeyWords.end()));  // easy to read and extend

// An open-addressing hash table of the words, built at compile time: a lookup hashes the
// word once and usually compares one entry.
constexpr std::size_t kSlots = 1024;

constexpr std::uint32_t hash_step(std::uint32_t hash, char c) {
  return (hash ^ static_cast<unsigned char>(c)) * 16777619u;
}
constexpr std::uint32_t kHashStart = 2166136261u;

constexpr auto kTable = [] {
  std::array<std::string_view, kSlots> slots{};
  for (std::string_view word : kKeyWords) {
    std::uint32_t hash = kHashStart;
    for (char c : word) hash = hash_step(hash, c);
    std::size_t slot = hash % kSlots;
    while (!slots[slot].empty()) slot = (slot + 1) % kSlots;
    slots[slot] = word;
  }
  return slots;
}();

}  // namespace

bool is_key_word(std::string_view word) {
  if (word.empty() || word.size() > kLongest) return false;
  char upper[kLongest];
  std::uint32_t hash = kHashStart;
  for (std::size_t i = 0; i < word.size(); ++i) {
    char c = word[i];
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    } else if ((c < 'A' || c > 'Z') && c != '_') {
      return false;  // key words are letters and '_'
    }
    upper[i] = c;
    hash = hash_step(hash, c);
  }
  const std::string_view key(upper, word.size());
  for (std::size_t slot = hash % kSlots; !kTable[slot].empty(); slot = (slot + 1) % kSlots) {
    if (kTable[slot] == key) return true;
  }
  return false;
}

bool ends_operand(std::string_view upper_key_word) {
  return upper_key_word == "NULL" || upper_key_word == "TRUE" || upper_key_word == "FALSE" ||
         upper_key_word == "END" || upper_key_word.starts_with("CURRENT_") ||
         upper_key_word.starts_with("LOCALTIME") || upper_key_word == "SESSION_USER" ||
         upper_key_word == "USER";
}

}  // namespace plexi::routing
