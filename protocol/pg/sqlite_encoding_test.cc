// Tests of the embedded database's value encodings: type OIDs, PostgreSQL's text output
// (float8 digits, bytea hex, bool letters), binary output and Bind parameter decoding.
#include "protocol/pg/sqlite_encoding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "protocol/pg/decoder.h"

namespace plexi::pg {
namespace {

CellView integer(std::int64_t v) { return {StorageKind::kInteger, v, 0, {}}; }
CellView real(double v) { return {StorageKind::kReal, 0, v, {}}; }
CellView text(std::string_view v) { return {StorageKind::kText, 0, 0, v}; }
CellView blob(std::string_view v) { return {StorageKind::kBlob, 0, 0, v}; }

std::string as_text(const CellView& cell, std::uint32_t type) {
  ByteVector out;
  append_text_value(out, cell, type);
  return std::string(as_chars(out));
}

ByteVector as_binary(const CellView& cell, std::uint32_t type) {
  ByteVector out;
  std::string error;
  EXPECT_TRUE(append_binary_value(out, cell, type, error)) << error;
  return out;
}

ByteVector bytes(std::initializer_list<int> values) {
  ByteVector out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(SqliteEncoding, DeclaredTypesDecide) {
  EXPECT_EQ(wire_type(DeclaredKind::kInteger, StorageKind::kText).oid, oid::kInt8);
  EXPECT_EQ(wire_type(DeclaredKind::kInteger, StorageKind::kNull).size, 8);
  EXPECT_EQ(wire_type(DeclaredKind::kReal, StorageKind::kNull).oid, oid::kFloat8);
  EXPECT_EQ(wire_type(DeclaredKind::kText, StorageKind::kInteger).oid, oid::kText);
  EXPECT_EQ(wire_type(DeclaredKind::kBlob, StorageKind::kNull).oid, oid::kBytea);
  EXPECT_EQ(wire_type(DeclaredKind::kBoolean, StorageKind::kNull).oid, oid::kBool);
  EXPECT_EQ(wire_type(DeclaredKind::kBoolean, StorageKind::kNull).size, 1);
  EXPECT_EQ(wire_type(DeclaredKind::kNumeric, StorageKind::kReal).oid, oid::kNumeric);
}

TEST(SqliteEncoding, ExpressionColumnsTakeTheFirstValuesKind) {
  EXPECT_EQ(wire_type(DeclaredKind::kNone, StorageKind::kInteger).oid, oid::kInt8);
  EXPECT_EQ(wire_type(DeclaredKind::kNone, StorageKind::kReal).oid, oid::kFloat8);
  EXPECT_EQ(wire_type(DeclaredKind::kNone, StorageKind::kBlob).oid, oid::kBytea);
  EXPECT_EQ(wire_type(DeclaredKind::kNone, StorageKind::kText).oid, oid::kText);
  EXPECT_EQ(wire_type(DeclaredKind::kNone, StorageKind::kNull).oid, oid::kText);
}

TEST(SqliteEncoding, Float8LikePostgres) {
  EXPECT_EQ(format_float8(1.5), "1.5");
  EXPECT_EQ(format_float8(0.1), "0.1");
  EXPECT_EQ(format_float8(100), "100");
  EXPECT_EQ(format_float8(1000000), "1000000");
  EXPECT_EQ(format_float8(123456789012345.0), "123456789012345");
  EXPECT_EQ(format_float8(1e15), "1e+15");
  EXPECT_EQ(format_float8(1e20), "1e+20");
  EXPECT_EQ(format_float8(1.5e300), "1.5e+300");
  EXPECT_EQ(format_float8(0.0001), "0.0001");
  EXPECT_EQ(format_float8(0.00001), "1e-05");
  EXPECT_EQ(format_float8(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(format_float8(-2.5), "-2.5");
  EXPECT_EQ(format_float8(0.0), "0");
  EXPECT_EQ(format_float8(-0.0), "-0");
  EXPECT_EQ(format_float8(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(format_float8(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(format_float8(std::nan("")), "NaN");
}

TEST(SqliteEncoding, NumericNeverUsesAnExponent) {
  EXPECT_EQ(format_numeric(1e20), "100000000000000000000");
  EXPECT_EQ(format_numeric(1.5e-7), "0.00000015");
  EXPECT_EQ(format_numeric(12.34), "12.34");
  EXPECT_EQ(format_numeric(0.0), "0");
  EXPECT_EQ(format_numeric(-3.0), "-3");
}

TEST(SqliteEncoding, TextValues) {
  EXPECT_EQ(as_text(integer(-42), oid::kInt8), "-42");
  EXPECT_EQ(as_text(real(2.5), oid::kFloat8), "2.5");
  EXPECT_EQ(as_text(integer(3), oid::kFloat8), "3");
  EXPECT_EQ(as_text(text("héllo"), oid::kText), "héllo");
  EXPECT_EQ(as_text(blob(std::string("\x00\x01\xff", 3)), oid::kBytea), "\\x0001ff");
  EXPECT_EQ(as_text(integer(1), oid::kBool), "t");
  EXPECT_EQ(as_text(integer(0), oid::kBool), "f");
  EXPECT_EQ(as_text(text("true"), oid::kBool), "t");
  EXPECT_EQ(as_text(real(1e20), oid::kNumeric), "100000000000000000000");
  EXPECT_EQ(as_text(integer(7), oid::kNumeric), "7");
}

TEST(SqliteEncoding, MismatchedValuesStillReadSensibly) {
  EXPECT_EQ(as_text(text("abc"), oid::kInt8), "abc");  // text in an INTEGER column
  EXPECT_EQ(as_text(real(1.5), oid::kInt8), "1.5");
  EXPECT_EQ(as_text(text("maybe"), oid::kBool), "maybe");
  EXPECT_EQ(as_text(blob("\x01"), oid::kText), "\\x01");   // never raw bytes in a text column
  EXPECT_EQ(as_text(text("ab"), oid::kBytea), "\\x6162");  // text in a BLOB column: its bytes
}

TEST(SqliteEncoding, BinaryValues) {
  EXPECT_EQ(as_binary(integer(258), oid::kInt8), bytes({0, 0, 0, 0, 0, 0, 1, 2}));
  EXPECT_EQ(as_binary(integer(-1), oid::kInt8),
            bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(as_binary(real(1.0), oid::kFloat8), bytes({0x3f, 0xf0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(as_binary(integer(2), oid::kFloat8), bytes({0x40, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(as_binary(integer(1), oid::kBool), bytes({1}));
  EXPECT_EQ(as_binary(text("f"), oid::kBool), bytes({0}));
  EXPECT_EQ(as_binary(blob("\x01\x02"), oid::kBytea), bytes({1, 2}));
  EXPECT_EQ(as_binary(text("hi"), oid::kText), bytes({'h', 'i'}));
  EXPECT_EQ(as_binary(integer(12), oid::kText), bytes({'1', '2'}));
  EXPECT_EQ(as_binary(real(3.0), oid::kInt8), bytes({0, 0, 0, 0, 0, 0, 0, 3}));
  EXPECT_EQ(as_binary(text("17"), oid::kInt8), bytes({0, 0, 0, 0, 0, 0, 0, 17}));
}

TEST(SqliteEncoding, NumericBinary) {
  // 12.34: ndigits 2, weight 0, positive, dscale 2, digits 12 and 3400.
  EXPECT_EQ(as_binary(text("12.34"), oid::kNumeric),
            bytes({0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x0d, 0x48}));
  // 123456: ndigits 2, weight 1, digits 12 and 3456.
  EXPECT_EQ(as_binary(integer(123456), oid::kNumeric),
            bytes({0, 2, 0, 1, 0, 0, 0, 0, 0, 12, 0x0d, 0x80}));
  // -0.0005: one digit 5 at weight -1, negative, dscale 4.
  EXPECT_EQ(as_binary(text("-0.0005"), oid::kNumeric),
            bytes({0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0, 5}));
  EXPECT_EQ(as_binary(integer(0), oid::kNumeric), bytes({0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(as_binary(real(std::nan("")), oid::kNumeric), bytes({0, 0, 0, 0, 0xc0, 0, 0, 0}));
  // 10000: one digit 1 at weight 1 (trailing zero groups dropped).
  EXPECT_EQ(as_binary(integer(10000), oid::kNumeric), bytes({0, 1, 0, 1, 0, 0, 0, 0, 0, 1}));
}

TEST(SqliteEncoding, BinaryRefusesWhatTheTypeCannotHold) {
  ByteVector out;
  std::string error;
  EXPECT_FALSE(append_binary_value(out, text("abc"), oid::kInt8, error));
  EXPECT_EQ(error, "invalid input syntax for type bigint: \"abc\"");
  EXPECT_FALSE(append_binary_value(out, real(1.5), oid::kInt8, error));
  EXPECT_FALSE(append_binary_value(out, blob("x"), oid::kFloat8, error));
  EXPECT_TRUE(out.empty());
}

TEST(SqliteEncoding, DataRowWithNullsAndFormats) {
  ByteVector out;
  std::string error;
  CellView cells[] = {integer(5), CellView{}, text("x")};
  WireType types[] = {{oid::kInt8, 8}, {oid::kText, -1}, {oid::kText, -1}};
  std::int16_t formats[] = {1, 0, 0};
  ASSERT_TRUE(encode_cells_row(out, cells, types, formats, error));
  auto frame = decode_frame(out);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame.message.type, 'D');
  EXPECT_EQ(frame.consumed, out.size());
  auto row = parse_data_row(frame.message.body);
  ASSERT_TRUE(row);
  ASSERT_EQ(row->size(), 3u);
  EXPECT_EQ(ByteVector((*row)[0]->begin(), (*row)[0]->end()), bytes({0, 0, 0, 0, 0, 0, 0, 5}));
  EXPECT_FALSE((*row)[1]);
  EXPECT_EQ(as_chars(*(*row)[2]), "x");
}

TEST(SqliteEncoding, FailedRowLeavesNothingBehind) {
  ByteVector out = bytes({9});
  std::string error;
  CellView cells[] = {integer(1), text("nope")};
  WireType types[] = {{oid::kInt8, 8}, {oid::kInt8, 8}};
  std::int16_t formats[] = {1, 1};
  EXPECT_FALSE(encode_cells_row(out, cells, types, formats, error));
  EXPECT_EQ(out, bytes({9}));
}

ParameterValue decode_ok(std::optional<std::string> raw, std::int16_t format, std::uint32_t type) {
  ParameterValue value;
  std::optional<Bytes> input;
  if (raw) input = as_bytes(*raw);
  auto failure = decode_parameter(input, format, type, value);
  EXPECT_FALSE(failure) << (failure ? failure->message : "");
  return value;
}

std::string raw(ByteVector v) { return std::string(as_chars(v)); }

TEST(SqliteEncoding, TextParameters) {
  auto v = decode_ok("42", 0, oid::kInt4);
  EXPECT_EQ(v.kind, StorageKind::kInteger);
  EXPECT_EQ(v.integer, 42);
  v = decode_ok(" -7 ", 0, oid::kInt8);
  EXPECT_EQ(v.integer, -7);
  v = decode_ok("2.5", 0, oid::kFloat8);
  EXPECT_EQ(v.kind, StorageKind::kReal);
  EXPECT_EQ(v.real, 2.5);
  v = decode_ok("Infinity", 0, oid::kFloat8);
  EXPECT_TRUE(std::isinf(v.real));
  v = decode_ok("t", 0, oid::kBool);
  EXPECT_EQ(v.integer, 1);
  v = decode_ok("off", 0, oid::kBool);
  EXPECT_EQ(v.integer, 0);
  v = decode_ok("\\x00ff", 0, oid::kBytea);
  EXPECT_EQ(v.kind, StorageKind::kBlob);
  EXPECT_EQ(v.bytes, std::string("\x00\xff", 2));
  v = decode_ok("a\\\\b\\001", 0, oid::kBytea);
  EXPECT_EQ(v.bytes, std::string("a\\b\x01", 4));
  v = decode_ok("12.50", 0, oid::kNumeric);
  EXPECT_EQ(v.kind, StorageKind::kText);
  EXPECT_EQ(v.bytes, "12.50");
  v = decode_ok("12", 0, oid::kNumeric);
  EXPECT_EQ(v.kind, StorageKind::kInteger);
  v = decode_ok("hello", 0, oid::kUnspecified);
  EXPECT_EQ(v.kind, StorageKind::kText);
  EXPECT_EQ(v.bytes, "hello");
  v = decode_ok(std::nullopt, 0, oid::kInt4);
  EXPECT_EQ(v.kind, StorageKind::kNull);
}

TEST(SqliteEncoding, BadTextParameters) {
  ParameterValue value;
  std::string text = "abc";
  auto failure = decode_parameter(as_bytes(text), 0, oid::kInt4, value);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->sqlstate, "22P02");
  EXPECT_EQ(failure->message, "invalid input syntax for type integer: \"abc\"");
  text = "70000";
  failure = decode_parameter(as_bytes(text), 0, oid::kInt2, value);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->sqlstate, "22003");
  text = "\\xzz";
  EXPECT_TRUE(decode_parameter(as_bytes(text), 0, oid::kBytea, value));
}

TEST(SqliteEncoding, BinaryParameters) {
  EXPECT_EQ(decode_ok(raw(bytes({0xff, 0xfe})), 1, oid::kInt2).integer, -2);
  EXPECT_EQ(decode_ok(raw(bytes({0, 0, 1, 0})), 1, oid::kInt4).integer, 256);
  EXPECT_EQ(decode_ok(raw(bytes({0, 0, 0, 1, 0, 0, 0, 0})), 1, oid::kInt8).integer,
            std::int64_t{1} << 32);
  EXPECT_EQ(decode_ok(raw(bytes({0x3f, 0xc0, 0, 0})), 1, oid::kFloat4).real, 1.5);
  EXPECT_EQ(decode_ok(raw(bytes({0x40, 0x04, 0, 0, 0, 0, 0, 0})), 1, oid::kFloat8).real, 2.5);
  EXPECT_EQ(decode_ok(raw(bytes({1})), 1, oid::kBool).integer, 1);
  auto blob_value = decode_ok(raw(bytes({0, 1, 2})), 1, oid::kBytea);
  EXPECT_EQ(blob_value.kind, StorageKind::kBlob);
  EXPECT_EQ(blob_value.bytes, std::string("\x00\x01\x02", 3));
  auto text_value = decode_ok("héllo", 1, oid::kText);
  EXPECT_EQ(text_value.kind, StorageKind::kText);
  EXPECT_EQ(text_value.bytes, "héllo");
  // numeric 12.34 in binary reads back as its decimal text.
  auto numeric =
      decode_ok(raw(bytes({0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x0d, 0x48})), 1, oid::kNumeric);
  EXPECT_EQ(numeric.kind, StorageKind::kText);
  EXPECT_EQ(numeric.bytes, "12.34");
  numeric = decode_ok(raw(bytes({0, 1, 0, 1, 0, 0, 0, 0, 0, 1})), 1, oid::kNumeric);
  EXPECT_EQ(numeric.kind, StorageKind::kInteger);
  EXPECT_EQ(numeric.integer, 10000);
  // date 2000-01-02 is day 1; timestamps count microseconds from 2000-01-01.
  EXPECT_EQ(decode_ok(raw(bytes({0, 0, 0, 1})), 1, oid::kDate).bytes, "2000-01-02");
  EXPECT_EQ(decode_ok(raw(bytes({0xff, 0xff, 0xff, 0xff})), 1, oid::kDate).bytes, "1999-12-31");
  EXPECT_EQ(decode_ok(raw(bytes({0, 0, 0, 0, 0x05, 0xf5, 0xe1, 0x00})), 1, oid::kTimestamp).bytes,
            "2000-01-01 00:01:40");
  EXPECT_EQ(decode_ok(raw(bytes({0, 0, 0, 0, 0, 0, 0, 5})), 1, oid::kTimestamptz).bytes,
            "2000-01-01 00:00:00.000005+00:00");
  EXPECT_EQ(decode_ok(raw(bytes({0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45,
                                 0x67, 0x89, 0xab, 0xcd, 0xef})),
                      1, oid::kUuid)
                .bytes,
            "12345678-9abc-def0-0123-456789abcdef");
}

TEST(SqliteEncoding, BadBinaryParameters) {
  ParameterValue value;
  ByteVector three = bytes({0, 0, 1});
  auto failure = decode_parameter(Bytes(three), 1, oid::kInt4, value);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->sqlstate, "22P03");
  failure = decode_parameter(Bytes(three), 2, oid::kInt4, value);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->sqlstate, "08P01");
}

}  // namespace
}  // namespace plexi::pg
