// The key word tables statement shapes use: hash tables built at compile time.
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

// clang-format off
// MySQL 8's reserved words as clients use them, and the non-reserved words that open or
// structure common statements (BEGIN, NAMES, TABLES, ...).
constexpr auto kMysqlKeyWords = std::to_array<std::string_view>({
    "ADD", "ALL", "ALTER", "ANALYZE", "AND", "AS", "ASC", "BEGIN", "BETWEEN", "BIGINT", "BINARY",
    "BLOB", "BOTH", "BY", "CALL", "CASCADE", "CASE", "CAST", "CHAIN", "CHANGE", "CHAR", "CHARACTER",
    "CHARSET", "CHECK", "COLLATE", "COLUMN", "COMMIT", "COMMITTED", "CONSISTENT", "CONSTRAINT",
    "CONVERT", "CREATE", "CROSS", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP",
    "CURRENT_USER", "DATABASE", "DATABASES", "DEALLOCATE", "DECIMAL", "DECLARE", "DEFAULT",
    "DELAYED", "DELETE", "DESC", "DESCRIBE", "DISTINCT", "DISTINCTROW", "DIV", "DO", "DOUBLE",
    "DROP", "DUAL", "DUPLICATE", "ELSE", "END", "ESCAPE", "EXCEPT", "EXECUTE", "EXISTS", "EXPLAIN",
    "FALSE", "FLOAT", "FLUSH", "FOR", "FORCE", "FOREIGN", "FROM", "FULLTEXT", "FUNCTION", "GLOBAL",
    "GRANT", "GROUP", "HANDLER", "HAVING", "HIGH_PRIORITY", "IF", "IGNORE", "IN", "INDEX", "INFILE",
    "INNER", "INSERT", "INT", "INTEGER", "INTERSECT", "INTERVAL", "INTO", "IS", "ISOLATION", "JOIN",
    "KEY", "KILL", "LEADING", "LEFT", "LIKE", "LIMIT", "LOAD", "LOCAL", "LOCK", "LOW_PRIORITY",
    "MATCH", "MOD", "NAMES", "NATURAL", "NOT", "NULL", "OFFSET", "ON", "ONLY", "OPTIMIZE", "OR",
    "ORDER", "OUTER", "OUTFILE", "PARTITION", "PREPARE", "PRIMARY", "PROCEDURE", "READ",
    "REFERENCES", "REGEXP", "RELEASE", "RENAME", "REPEATABLE", "REPLACE", "REVOKE", "RIGHT",
    "RLIKE", "ROLLBACK", "SAVEPOINT", "SCHEMA", "SELECT", "SEPARATOR", "SERIALIZABLE", "SESSION",
    "SET", "SHARE", "SHOW", "SIGNED", "SNAPSHOT", "SQL_CALC_FOUND_ROWS", "SQL_NO_CACHE", "START",
    "STRAIGHT_JOIN", "TABLE", "TABLES", "TEMPORARY", "THEN", "TO", "TRAILING", "TRANSACTION",
    "TRUE", "TRUNCATE", "UNCOMMITTED", "UNION", "UNIQUE", "UNLOCK", "UNSIGNED", "UPDATE", "USE",
    "USING", "VALUES", "VARCHAR", "VARIABLES", "VIEW", "WHEN", "WHERE", "WITH", "WORK", "WRITE",
    "XA", "XOR"
});
// clang-format on

static_assert(std::is_sorted(kKeyWords.begin(), kKeyWords.end()));  // easy to read and extend
static_assert(std::is_sorted(kMysqlKeyWords.begin(), kMysqlKeyWords.end()));

// An open-addressing hash table of the words, built at compile time: a lookup hashes the
// word once and usually compares one entry.
constexpr std::size_t kSlots = 1024;

template <std::size_t N>
constexpr std::size_t longest(const std::array<std::string_view, N>& words) {
  std::size_t size = 0;
  for (std::string_view word : words) size = std::max(size, word.size());
  return size;
}
constexpr std::size_t kLongest = std::max(longest(kKeyWords), longest(kMysqlKeyWords));

constexpr std::uint32_t hash_step(std::uint32_t hash, char c) {
  return (hash ^ static_cast<unsigned char>(c)) * 16777619u;
}
constexpr std::uint32_t kHashStart = 2166136261u;

using Table = std::array<std::string_view, kSlots>;

template <std::size_t N>
constexpr Table make_table(const std::array<std::string_view, N>& words) {
  Table slots{};
  for (std::string_view word : words) {
    std::uint32_t hash = kHashStart;
    for (char c : word) hash = hash_step(hash, c);
    std::size_t slot = hash % kSlots;
    while (!slots[slot].empty()) slot = (slot + 1) % kSlots;
    slots[slot] = word;
  }
  return slots;
}

constexpr Table kTable = make_table(kKeyWords);
constexpr Table kMysqlTable = make_table(kMysqlKeyWords);

bool find(const Table& table, std::string_view word) {
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
  for (std::size_t slot = hash % kSlots; !table[slot].empty(); slot = (slot + 1) % kSlots) {
    if (table[slot] == key) return true;
  }
  return false;
}

}  // namespace

bool is_key_word(std::string_view word) { return find(kTable, word); }

bool is_mysql_key_word(std::string_view word) { return find(kMysqlTable, word); }

bool ends_operand(std::string_view upper_key_word) {
  return upper_key_word == "NULL" || upper_key_word == "TRUE" || upper_key_word == "FALSE" ||
         upper_key_word == "END" || upper_key_word.starts_with("CURRENT_") ||
         upper_key_word.starts_with("LOCALTIME") || upper_key_word == "SESSION_USER" ||
         upper_key_word == "USER";
}

}  // namespace plexi::routing
