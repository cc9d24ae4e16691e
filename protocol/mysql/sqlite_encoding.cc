// Column definitions, row values and error numbers for the embedded SQLite front, chosen to
// match what a MySQL 8.0 server sends for the nearest MySQL types, so drivers convert values
// to the same host types (PyMySQL: int, float, Decimal, str, bytes).
#include "protocol/mysql/sqlite_encoding.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace plexi::mysql::embedded {
namespace {

// Column lengths as MySQL reports its types: BIGINT's 20 digits, DOUBLE's 22 characters,
// DECIMAL(65, 30), TINYINT(1), and 65535 characters or bytes for strings and blobs.
constexpr std::uint32_t kBigintLength = 20;
constexpr std::uint32_t kDoubleLength = 22;
constexpr std::uint32_t kDecimalLength = 65;
constexpr std::uint32_t kTextLength = 65535 * 4;  // utf8mb4: four bytes a character
constexpr std::uint32_t kBlobLength = 65535;
// A DOUBLE's "decimals" when it has no fixed number of them.
constexpr std::uint8_t kNotFixedDecimals = 31;
constexpr std::uint8_t kDecimalDecimals = 30;

std::string_view to_chars_view(char* begin, char* end, std::int64_t v) {
  auto result = std::to_chars(begin, end, v);
  return {begin, static_cast<std::size_t>(result.ptr - begin)};
}

// The number a string starts with, as SQLite's CAST reads it (0 when there is none).
template <class T>
T leading_number(std::string_view text) {
  std::size_t at = text.find_first_not_of(" \t\n\r");
  if (at == std::string_view::npos) return 0;
  if (text[at] == '+') ++at;
  T value = 0;
  std::from_chars(text.data() + at, text.data() + text.size(), value);
  return value;
}

std::int64_t to_integer(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return std::numeric_limits<std::int64_t>::max();
  if (v <= -9.2233720368547758e18) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);  // truncated, as SQLite's CAST does
}

}  // namespace

ColumnClass class_of(Storage kind) {
  switch (kind) {
    case Storage::kNull:
      return ColumnClass::kNull;
    case Storage::kInteger:
      return ColumnClass::kInteger;
    case Storage::kReal:
      return ColumnClass::kReal;
    case Storage::kText:
      return ColumnClass::kText;
    case Storage::kBlob:
      return ColumnClass::kBlob;
  }
  return ColumnClass::kText;
}

ColumnDefinition column_definition(std::string_view name, ColumnClass type, bool binary) {
  ColumnDefinition column;
  column.name = std::string(name);
  column.org_name = column.name;
  // Numbers and blobs are binary (collation 63, which PyMySQL reads as "return bytes" for
  // blobs); strings are utf8mb4, the only encoding SQLite's text has here.
  column.collation = kCollationBinary;
  column.flags = field_flag::kBinary;
  switch (type) {
    case ColumnClass::kInteger:
      column.type = FieldType::kLongLong;
      column.length = kBigintLength;
      break;
    case ColumnClass::kReal:
      column.type = FieldType::kDouble;
      column.length = kDoubleLength;
      column.decimals = kNotFixedDecimals;
      break;
    case ColumnClass::kNumeric:
      column.type = FieldType::kNewDecimal;
      column.length = kDecimalLength;
      column.decimals = kDecimalDecimals;
      break;
    case ColumnClass::kBoolean:
      column.type = binary ? FieldType::kLongLong : FieldType::kTiny;
      column.length = 1;
      break;
    case ColumnClass::kBlob:
      column.type = FieldType::kBlob;
      column.length = kBlobLength;
      column.flags = field_flag::kBlob | field_flag::kBinary;
      break;
    case ColumnClass::kNull:
    case ColumnClass::kText:
      column.type = FieldType::kVarString;
      column.length = type == ColumnClass::kNull ? 0 : kTextLength;
      column.collation = kCollationUtf8mb4GeneralCi;
      column.flags = 0;
      break;
  }
  return column;
}

void append_text_cell(ByteVector& out, const Cell& cell, ColumnClass type) {
  char buffer[32];
  switch (cell.kind) {
    case Storage::kNull:
      append_u8(out, 0xfb);
      return;
    case Storage::kInteger:
      append_lenenc_string(out, to_chars_view(buffer, buffer + sizeof buffer, cell.integer));
      return;
    case Storage::kReal:
      append_lenenc_string(out, type == ColumnClass::kNumeric ? format_decimal(cell.real)
                                                              : format_double(cell.real));
      return;
    case Storage::kText:
    case Storage::kBlob:
      append_lenenc_string(out, cell.bytes);
      return;
  }
}

BinaryCell binary_cell(const Cell& cell, FieldType type, ColumnClass column, std::string& scratch) {
  BinaryCell out;
  if (cell.kind == Storage::kNull) return out;
  out.is_null = false;
  bool text = cell.kind == Storage::kText || cell.kind == Storage::kBlob;
  switch (type) {
    case FieldType::kLongLong:
      out.integer = cell.kind == Storage::kInteger ? cell.integer
                    : cell.kind == Storage::kReal  ? to_integer(cell.real)
                                                   : leading_number<std::int64_t>(cell.bytes);
      return out;
    case FieldType::kDouble:
      out.real = cell.kind == Storage::kReal      ? cell.real
                 : cell.kind == Storage::kInteger ? static_cast<double>(cell.integer)
                                                  : leading_number<double>(cell.bytes);
      return out;
    default:
      break;
  }
  if (text) {
    out.bytes = cell.bytes;
  } else if (cell.kind == Storage::kInteger) {
    scratch = std::to_string(cell.integer);
    out.bytes = scratch;
  } else {
    scratch =
        column == ColumnClass::kNumeric ? format_decimal(cell.real) : format_double(cell.real);
    out.bytes = scratch;
  }
  return out;
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buffer[64];
  auto scientific = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::scientific);
  std::string_view digits(buffer, static_cast<std::size_t>(scientific.ptr - buffer));
  std::size_t e = digits.find('e');
  int exponent = 0;
  std::from_chars(digits.data() + e + (digits[e + 1] == '+' ? 2 : 1), digits.data() + digits.size(),
                  exponent);
  if (exponent >= -5 && exponent < 15) return format_decimal(v);
  return std::string(digits.substr(0, e)) + "e" + std::to_string(exponent);
}

std::string format_decimal(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buffer[400];  // the longest double in positional notation has 309 digits before the point
  auto fixed = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::fixed);
  return std::string(buffer, fixed.ptr);
}

ErrorCode error_code(std::string_view executor_sqlstate, std::string_view message) {
  auto has = [message](std::string_view part) {
    return message.find(part) != std::string_view::npos;
  };
  std::string_view s = executor_sqlstate;
  if (s == "23505") return {1062, "23000"};  // ER_DUP_ENTRY
  if (s == "23502") return {1048, "23000"};  // ER_BAD_NULL_ERROR
  if (s == "23503") return {1452, "23000"};  // ER_NO_REFERENCED_ROW_2
  if (s == "23514") return {3819, "HY000"};  // ER_CHECK_CONSTRAINT_VIOLATED
  if (s == "23000") return {1105, "23000"};  // a trigger's RAISE(ABORT) and the like
  if (s == "42P01") return {1146, "42S02"};  // ER_NO_SUCH_TABLE
  if (s == "42703") return {1054, "42S22"};  // ER_BAD_FIELD_ERROR
  if (s == "42601") return {1064, "42000"};  // ER_PARSE_ERROR
  if (s == "42883") return {1305, "42000"};  // ER_SP_DOES_NOT_EXIST (no such function)
  if (s == "42P07") {
    if (has("index")) return {1061, "42000"};  // ER_DUP_KEYNAME
    return {1050, "42S01"};                    // ER_TABLE_EXISTS_ERROR
  }
  if (s == "55P03") return {1205, "HY000"};  // ER_LOCK_WAIT_TIMEOUT (database busy or locked)
  if (s == "57014") return {1317, "70100"};  // ER_QUERY_INTERRUPTED
  if (s == "25006") return {1792, "25006"};  // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  if (s == "42804") return {1366, "HY000"};  // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
  if (s == "08P01") return {1210, "HY000"};  // ER_WRONG_ARGUMENTS
  if (s == "53100") return {1021, "HY000"};  // ER_DISK_FULL
  if (s == "42501") return {1142, "42000"};  // ER_TABLEACCESS_DENIED_ERROR
  return {};
}

}  // namespace plexi::mysql::embedded
