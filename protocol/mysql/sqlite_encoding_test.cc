// Tests of how the MySQL embedded front describes and encodes SQLite's values, and of the
// MySQL error numbers its failures become.
#include "protocol/mysql/sqlite_encoding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace plexi::mysql::embedded {
namespace {

Cell null_cell() { return Cell{Storage::kNull, 0, 0, {}}; }
Cell integer(std::int64_t v) { return Cell{Storage::kInteger, v, 0, {}}; }
Cell real(double v) { return Cell{Storage::kReal, 0, v, {}}; }
Cell text(std::string_view v) { return Cell{Storage::kText, 0, 0, v}; }
Cell blob(std::string_view v) { return Cell{Storage::kBlob, 0, 0, v}; }

// The text-protocol value append_text_cell wrote: a length-encoded string or NULL.
std::optional<std::string> text_of(const Cell& cell, ColumnClass type) {
  ByteVector out;
  append_text_cell(out, cell, type);
  Reader reader(out);
  if (std::to_integer<std::uint8_t>(out[0]) == 0xfb) return std::nullopt;
  std::string value(reader.lenenc_string());
  EXPECT_FALSE(reader.failed());
  EXPECT_EQ(reader.remaining(), 0u);
  return value;
}

TEST(MysqlSqliteEncoding, ColumnDefinitionsMatchMysqlTypes) {
  auto integer = column_definition("id", ColumnClass::kInteger, false);
  EXPECT_EQ(integer.name, "id");
  EXPECT_EQ(integer.org_name, "id");
  EXPECT_EQ(integer.type, FieldType::kLongLong);
  EXPECT_EQ(integer.length, 20u);
  EXPECT_EQ(integer.collation, kCollationBinary);
  EXPECT_EQ(integer.flags & field_flag::kBinary, field_flag::kBinary);

  auto real = column_definition("r", ColumnClass::kReal, false);
  EXPECT_EQ(real.type, FieldType::kDouble);
  EXPECT_EQ(real.decimals, 31);

  auto text = column_definition("t", ColumnClass::kText, false);
  EXPECT_EQ(text.type, FieldType::kVarString);
  // Any collation but binary makes drivers decode strings rather than return bytes.
  EXPECT_EQ(text.collation, kCollationUtf8mb4GeneralCi);
  EXPECT_EQ(text.flags & field_flag::kBinary, 0);

  auto blob = column_definition("b", ColumnClass::kBlob, false);
  EXPECT_EQ(blob.type, FieldType::kBlob);
  EXPECT_EQ(blob.collation, kCollationBinary);
  EXPECT_EQ(blob.flags & field_flag::kBlob, field_flag::kBlob);

  auto nothing = column_definition("n", ColumnClass::kNull, false);
  EXPECT_EQ(nothing.type, FieldType::kVarString);
  EXPECT_EQ(nothing.collation, kCollationUtf8mb4GeneralCi);

  EXPECT_EQ(column_definition("d", ColumnClass::kNumeric, false).type, FieldType::kNewDecimal);
  EXPECT_EQ(column_definition("ok", ColumnClass::kBoolean, false).type, FieldType::kTiny);
  EXPECT_EQ(column_definition("ok", ColumnClass::kBoolean, false).length, 1u);
  // Binary rows only encode BIGINT and DOUBLE as numbers.
  EXPECT_EQ(column_definition("ok", ColumnClass::kBoolean, true).type, FieldType::kLongLong);

  EXPECT_EQ(class_of(Storage::kInteger), ColumnClass::kInteger);
  EXPECT_EQ(class_of(Storage::kNull), ColumnClass::kNull);
  EXPECT_EQ(class_of(Storage::kBlob), ColumnClass::kBlob);
}

TEST(MysqlSqliteEncoding, TextCells) {
  EXPECT_EQ(text_of(null_cell(), ColumnClass::kText), std::nullopt);
  EXPECT_EQ(text_of(integer(-(std::int64_t{1} << 40)), ColumnClass::kInteger), "-1099511627776");
  EXPECT_EQ(text_of(integer(std::numeric_limits<std::int64_t>::min()), ColumnClass::kInteger),
            "-9223372036854775808");
  EXPECT_EQ(text_of(real(1.5), ColumnClass::kReal), "1.5");
  EXPECT_EQ(text_of(real(1e300), ColumnClass::kReal), "1e300");
  EXPECT_EQ(text_of(real(0.1), ColumnClass::kNumeric), "0.1");
  EXPECT_EQ(text_of(text("héllo"), ColumnClass::kText), "héllo");
  std::string long_text(300, 'x');  // past 250 bytes the length takes three bytes
  EXPECT_EQ(text_of(blob(long_text), ColumnClass::kBlob), long_text);
  EXPECT_EQ(text_of(text(""), ColumnClass::kText), "");
}

TEST(MysqlSqliteEncoding, Doubles) {
  EXPECT_EQ(format_double(0), "0");
  EXPECT_EQ(format_double(-0.25), "-0.25");
  EXPECT_EQ(format_double(100000000), "100000000");
  EXPECT_EQ(format_double(123456789012345.0), "123456789012345");
  EXPECT_EQ(format_double(1e15), "1e15");
  EXPECT_EQ(format_double(0.00001), "0.00001");
  EXPECT_EQ(format_double(1.5e-7), "1.5e-7");
  EXPECT_EQ(format_double(-1.7976931348623157e308), "-1.7976931348623157e308");
  EXPECT_EQ(format_double(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_double(INFINITY), "inf");
  EXPECT_EQ(format_double(-INFINITY), "-inf");
  EXPECT_EQ(format_double(NAN), "nan");
  EXPECT_EQ(format_decimal(1e20), "100000000000000000000");
  EXPECT_EQ(format_decimal(1.5e-7), "0.00000015");
}

TEST(MysqlSqliteEncoding, BinaryCellsConvertToTheColumnType) {
  std::string scratch;
  auto seven = binary_cell(integer(7), FieldType::kLongLong, ColumnClass::kInteger, scratch);
  EXPECT_FALSE(seven.is_null);
  EXPECT_EQ(seven.integer, 7);
  // What SQLite's CAST gives: reals truncated, strings read up to their first non-digit.
  EXPECT_EQ(binary_cell(real(-2.9), FieldType::kLongLong, ColumnClass::kInteger, scratch).integer,
            -2);
  EXPECT_EQ(
      binary_cell(text(" 42abc"), FieldType::kLongLong, ColumnClass::kInteger, scratch).integer,
      42);
  EXPECT_EQ(binary_cell(real(1e30), FieldType::kLongLong, ColumnClass::kInteger, scratch).integer,
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(binary_cell(integer(3), FieldType::kDouble, ColumnClass::kReal, scratch).real, 3.0);
  EXPECT_EQ(binary_cell(text("2.5"), FieldType::kDouble, ColumnClass::kReal, scratch).real, 2.5);
  auto twelve = binary_cell(integer(12), FieldType::kVarString, ColumnClass::kText, scratch);
  EXPECT_EQ(twelve.bytes, "12");
  auto decimal = binary_cell(real(2.5), FieldType::kNewDecimal, ColumnClass::kNumeric, scratch);
  EXPECT_EQ(decimal.bytes, "2.5");
  auto bytes = binary_cell(blob("\x01\x02"), FieldType::kBlob, ColumnClass::kBlob, scratch);
  EXPECT_EQ(bytes.bytes, "\x01\x02");
  EXPECT_TRUE(
      binary_cell(null_cell(), FieldType::kLongLong, ColumnClass::kInteger, scratch).is_null);
}

TEST(MysqlSqliteEncoding, ErrorNumbers) {
  struct Case {
    std::string_view sqlstate;
    std::string_view message;
    std::uint16_t code;
    std::string_view mysql_sqlstate;
  };
  const Case cases[] = {
      {"23505", "UNIQUE constraint failed: t.v", 1062, "23000"},
      {"23502", "NOT NULL constraint failed: t.v", 1048, "23000"},
      {"23503", "FOREIGN KEY constraint failed", 1452, "23000"},
      {"23514", "CHECK constraint failed: v > 0", 3819, "HY000"},
      {"42P01", "no such table: missing", 1146, "42S02"},
      {"42703", "no such column: nope", 1054, "42S22"},
      {"42601", "near \"SELEC\": syntax error", 1064, "42000"},
      {"42P07", "table t already exists", 1050, "42S01"},
      {"42P07", "index i already exists", 1061, "42000"},
      {"42883", "no such function: frob", 1305, "42000"},
      {"55P03", "database is locked", 1205, "HY000"},
      {"57014", "interrupted", 1317, "70100"},
      {"25006", "cannot execute INSERT in a read-only transaction", 1792, "25006"},
      {"XX000", "something else", 1105, "HY000"},
      {"", "", 1105, "HY000"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    ErrorCode code = error_code(c.sqlstate, c.message);
    EXPECT_EQ(code.code, c.code);
    EXPECT_EQ(code.sqlstate, c.mysql_sqlstate);
  }
}

}  // namespace
}  // namespace plexi::mysql::embedded
