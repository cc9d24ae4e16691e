// Values of the embedded SQLite database as MySQL sends them: the column definitions its
// columns are described with, values as text-protocol strings or binary-protocol cells, and
// SQLite's failures as MySQL error numbers and SQLSTATEs. Pure: no executor, no sockets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "protocol/mysql/packets.h"

namespace plexi::mysql::embedded {

// How SQLite stored a value (mirrors sqlite::ValueKind, which this library cannot see).
enum class Storage : std::uint8_t { kNull, kInteger, kReal, kText, kBlob };

// What a result column is reported as, decided from SQLite's declared type or, for
// expression columns, from the values in the first rows.
enum class ColumnClass : std::uint8_t {
  kNull,     // no type and only NULLs: a string column
  kInteger,  // BIGINT
  kReal,     // DOUBLE
  kNumeric,  // DECIMAL
  kBoolean,  // BOOLEAN, which MySQL spells TINYINT(1)
  kText,     // VARCHAR in utf8mb4
  kBlob,     // BLOB
};

// The class of an expression column whose values are stored as `kind`.
ColumnClass class_of(Storage kind);

// A column definition as MySQL describes columns of that type. The binary protocol sends
// BOOLEAN as BIGINT (its rows encode numbers as 8-byte integers or doubles only).
ColumnDefinition column_definition(std::string_view name, ColumnClass type, bool binary);

// One value of a row, viewed in place.
struct Cell {
  Storage kind = Storage::kNull;
  std::int64_t integer = 0;
  double real = 0;
  std::string_view bytes;  // kText and kBlob
};

// Appends a text-protocol value (a length-encoded string, or 0xfb for NULL) as MySQL prints
// it for a column of `type`: integers in decimal, reals in shortest round-trip form
// (positional for DECIMAL), strings and blobs as their bytes.
void append_text_cell(ByteVector& out, const Cell& cell, ColumnClass type);

// A binary-protocol cell for a column of field type `type`, converting between storage
// kinds where the column's type requires (a stored string in a BIGINT column is read as a
// number, as SQLite's CAST would). Text that must be formatted is kept in `scratch`, which
// the cell points into.
BinaryCell binary_cell(const Cell& cell, FieldType type, ColumnClass column, std::string& scratch);

// A double as MySQL prints one: shortest digits that read back exactly, positional
// notation for exponents from -5 to 14 and "1.5e-7" / "1e300" outside, "inf", "-inf", "nan".
std::string format_double(double v);
// A double as DECIMAL text: positional notation, never an exponent.
std::string format_decimal(double v);

// A MySQL error number and SQLSTATE.
struct ErrorCode {
  std::uint16_t code = 1105;  // ER_UNKNOWN_ERROR
  std::string_view sqlstate = "HY000";
};

// What MySQL would answer for an executor failure, from the SQLSTATE the executor gave it
// (PostgreSQL's classes: 23505 unique violation, 42P01 undefined table, ...) and its message.
ErrorCode error_code(std::string_view executor_sqlstate, std::string_view message);

}  // namespace plexi::mysql::embedded
