// PostgreSQL statements the embedded SQLite front must recognise before SQLite sees them
// (SET, SHOW, RESET, DISCARD, DEALLOCATE, COPY and transaction control), and the
// CommandComplete tags PostgreSQL writes for the statements SQLite runs. Pure text work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plexi::pg {

enum class FrontKind {
  kEmpty,          // only whitespace, comments and semicolons
  kSql,            // anything else: SQLite runs it
  kBegin,          // BEGIN / START TRANSACTION [options]
  kCommit,         // COMMIT / END [WORK | TRANSACTION]
  kRollback,       // ROLLBACK / ABORT [WORK | TRANSACTION]
  kRollbackTo,     // ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name
  kSavepoint,      // SAVEPOINT name
  kRelease,        // RELEASE [SAVEPOINT] name
  kSet,            // SET [SESSION] name TO|= value, SET TIME ZONE, SET NAMES, SET SCHEMA
  kSetDefault,     // SET name TO DEFAULT: the same as RESET name
  kSetAccepted,    // SET LOCAL, SET TRANSACTION, SET ROLE, ...: accepted, no effect here
  kReset,          // RESET name
  kResetAll,       // RESET ALL
  kShow,           // SHOW name
  kShowAll,        // SHOW ALL
  kDiscardAll,     // DISCARD ALL
  kDiscardOther,   // DISCARD PLANS | SEQUENCES | TEMP: nothing to do here
  kDeallocate,     // DEALLOCATE [PREPARE] name
  kDeallocateAll,  // DEALLOCATE [PREPARE] ALL
  kCopy,           // COPY: not supported by the embedded database
};

struct FrontStatement {
  FrontKind kind = FrontKind::kEmpty;
  // kSet, kSetDefault, kReset, kShow: the parameter, lower-cased unless it was quoted.
  // kDeallocate: the statement name.
  std::string name;
  // kSet: the value as PostgreSQL would store it: string literals unquoted, unquoted words
  // lower-cased, list elements joined by ", ".
  std::string value;
  // The CommandComplete tag for everything but kSql ("SET", "DISCARD ALL", "BEGIN", ...).
  std::string tag;
  // Where its first token starts (after whitespace, comments and stray semicolons).
  std::size_t begin = 0;
  // Bytes of the text the statement takes, with the semicolon that ends it (for CREATE
  // TRIGGER, whose body holds semicolons, the whole text: SQLite finds its end).
  std::size_t length = 0;
};

// The first statement of `sql`.
FrontStatement classify_statement(std::string_view sql);

// True when `sql` holds nothing but whitespace, comments and semicolons.
bool is_blank(std::string_view sql);

// The command words of a statement's tag: "INSERT", "SELECT", "CREATE TABLE", "ALTER TABLE",
// "BEGIN", ... (a WITH statement is tagged by its main statement).
std::string tag_command(std::string_view sql);

// The whole tag: "INSERT 0 <changes>", "UPDATE <changes>", "DELETE <changes>",
// "SELECT <rows>", otherwise the command words alone.
std::string complete_tag(std::string_view command, std::int64_t rows, std::int64_t changes);

// PostgreSQL's `value::type` casts in SQLite's terms, since SQLite has no `::` (psycopg's
// client-side binding writes '\x..'::bytea, 'Infinity'::float8, '2020-01-02'::date):
// CAST(value AS INTEGER | REAL | NUMERIC | TEXT | BLOB) for those families, blob literals for
// bytea strings, 9e999 for 'Infinity', 1/0 for boolean strings, date(value) for dates; a cast
// to a type SQLite cannot express is dropped, leaving the value. Text without "::" is
// returned unchanged, as is everything inside literals and comments.
std::string rewrite_casts(std::string_view sql);

// DateStyle as PostgreSQL normalises it ("iso, dmy" → "ISO, DMY"), keeping from `current`
// whatever part the new value leaves out; nullopt for an invalid value.
std::optional<std::string> normalize_datestyle(std::string_view value, std::string_view current);

}  // namespace plexi::pg
