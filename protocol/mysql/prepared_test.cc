// Tests for the prepared-statement packets: COM_STMT_PREPARE's OK, COM_STMT_EXECUTE's header,
// statement ids and every parameter type, and binary result rows.
#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <string_view>

#include "protocol/mysql/packets.h"

namespace plexi::mysql {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

Bytes b(std::string_view s) { return as_bytes(s); }
std::string str(const ByteVector& bytes) { return std::string(as_chars(bytes)); }

std::string le(std::uint64_t v, int size) {
  std::string out;
  for (int i = 0; i < size; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

TEST(MysqlPrepareOk, KnownBytesAndRoundTrip) {
  std::string payload =
      "\x00"
      "\x01\x00\x00\x00"
      "\x02\x00"
      "\x03\x00"
      "\x00"
      "\x01\x00"s;
  auto ok = decode_prepare_ok(b(payload));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->statement_id, 1u);
  EXPECT_EQ(ok->columns, 2);
  EXPECT_EQ(ok->parameters, 3);
  EXPECT_EQ(ok->warnings, 1);
  EXPECT_EQ(str(encode_prepare_ok_payload(*ok)), payload);
  for (std::size_t cut = 0; cut < 9; ++cut) {
    EXPECT_FALSE(decode_prepare_ok(b(payload).first(cut))) << cut;
  }
  EXPECT_FALSE(decode_prepare_ok(b("\xff\x01\x00\x00\x00\x02\x00\x03\x00\x00\x01\x00"sv)));
}

TEST(MysqlExecute, HeaderAndStatementIds) {
  std::string payload =
      "\x17"
      "\x07\x00\x00\x00"
      "\x01"
      "\x01\x00\x00\x00"s;
  auto header = decode_execute_header(b(payload).subspan(1));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->statement_id, 7u);
  EXPECT_EQ(header->flags, 1);
  EXPECT_EQ(header->iterations, 1u);
  EXPECT_FALSE(decode_execute_header(b(payload).subspan(1, 8)));

  EXPECT_EQ(statement_id_of(b(payload)), 7u);
  std::span<std::byte> bytes(reinterpret_cast<std::byte*>(payload.data()), payload.size());
  set_statement_id(bytes, 0xa1b2c3d4);
  EXPECT_EQ(payload, "\x17\xd4\xc3\xb2\xa1\x01\x01\x00\x00\x00"s);
  EXPECT_EQ(statement_id_of(b(payload)), 0xa1b2c3d4u);

  std::string close = "\x19\x05\x00\x00"s;  // too short to hold an id
  set_statement_id({reinterpret_cast<std::byte*>(close.data()), close.size()}, 9);
  EXPECT_EQ(close, "\x19\x05\x00\x00"s);
  EXPECT_EQ(statement_id_of(b(close)), 0u);
}

struct Param {
  FieldType type;
  bool is_unsigned;
  std::string value;  // the bytes on the wire; empty for NULL
};

// One parameter of every kind the binary protocol has, as a client sends it.
const std::vector<Param>& every_kind() {
  static const std::vector<Param> params = {
      {FieldType::kTiny, false, "\xff"},
      {FieldType::kTiny, true, "\xff"},
      {FieldType::kShort, false, le(0x8000, 2)},
      {FieldType::kYear, true, le(2024, 2)},
      {FieldType::kLong, false, le(0xfffffffe, 4)},
      {FieldType::kInt24, false, le(0x123456, 4)},
      {FieldType::kLongLong, true, le(~0ull, 8)},
      {FieldType::kFloat, false, le(std::bit_cast<std::uint32_t>(1.5f), 4)},
      {FieldType::kDouble, false, le(std::bit_cast<std::uint64_t>(-0.25), 8)},
      {FieldType::kDate, false, "\x04" + le(2024, 2) + "\x02\x1d"},
      {FieldType::kDatetime, false, "\x07" + le(2024, 2) + "\x02\x1d\x0d\x05\x09"},
      {FieldType::kTimestamp, false, "\x0b" + le(2024, 2) + "\x02\x1d\x0d\x05\x09" + le(123, 4)},
      {FieldType::kDate, false, "\x00"s},
      {FieldType::kTime, false, "\x08\x01" + le(1, 4) + "\x02\x03\x04"},
      {FieldType::kTime, false, "\x0c\x00"s + le(0, 4) + "\x0a\x00\x00"s + le(500000, 4)},
      {FieldType::kTime, false, "\x00"s},
      {FieldType::kVarString, false, "\x06h\xc3\xa9llo"},
      {FieldType::kNewDecimal, false,
       "\x05"
       "12.50"},
      {FieldType::kBlob, false, "\xfc\x2c\x01" + std::string(300, 'b')},
      {FieldType::kVarString, false, ""},  // NULL in the bitmap
      {FieldType::kNull, false, ""},       // NULL by its type
  };
  return params;
}

std::string execute_payload(const std::vector<Param>& params, bool with_types) {
  std::string payload = le(7, 4) + "\x00"s + le(1, 4);
  std::string bitmap((params.size() + 7) / 8, '\0');
  std::string types, values;
  for (std::size_t i = 0; i < params.size(); ++i) {
    types += static_cast<char>(params[i].type);
    types += params[i].is_unsigned ? '\x80' : '\0';
    if (params[i].value.empty() && params[i].type != FieldType::kNull) {
      bitmap[i / 8] = static_cast<char>(bitmap[i / 8] | (1 << (i % 8)));
    }
    values += params[i].value;
  }
  return payload + bitmap + (with_types ? "\x01"s + types : "\x00"s) + values;
}

TEST(MysqlExecute, DecodesEveryParameterType) {
  std::string payload = execute_payload(every_kind(), true);
  auto decoded = decode_execute(b(payload), every_kind().size(), {});
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->header.statement_id, 7u);
  ASSERT_EQ(decoded->types.size(), every_kind().size());
  const auto& v = decoded->values;
  ASSERT_EQ(v.size(), every_kind().size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i].type, every_kind()[i].type) << i;
    EXPECT_EQ(v[i].is_unsigned, every_kind()[i].is_unsigned) << i;
    EXPECT_EQ(decoded->types[i], std::make_pair(every_kind()[i].type, every_kind()[i].is_unsigned));
    EXPECT_EQ(v[i].is_null, i >= 19) << i;
  }
  EXPECT_EQ(v[0].integer, -1);
  EXPECT_EQ(v[1].integer, 255);
  EXPECT_EQ(v[2].integer, -32768);
  EXPECT_EQ(v[3].integer, 2024);
  EXPECT_EQ(v[4].integer, -2);
  EXPECT_EQ(v[5].integer, 0x123456);
  EXPECT_EQ(static_cast<std::uint64_t>(v[6].integer), ~0ull);
  EXPECT_EQ(v[7].real, 1.5);
  EXPECT_EQ(v[8].real, -0.25);
  EXPECT_EQ(v[9].bytes, "2024-02-29");
  EXPECT_EQ(v[10].bytes, "2024-02-29 13:05:09");
  EXPECT_EQ(v[11].bytes, "2024-02-29 13:05:09.000123");
  EXPECT_EQ(v[12].bytes, "0000-00-00");
  EXPECT_EQ(v[13].bytes, "-26:03:04");
  EXPECT_EQ(v[14].bytes, "10:00:00.500000");
  EXPECT_EQ(v[15].bytes, "00:00:00");
  EXPECT_EQ(v[16].bytes, "h\xc3\xa9llo");
  EXPECT_EQ(v[17].bytes, "12.50");
  EXPECT_EQ(v[18].bytes, std::string(300, 'b'));

  // Every value is needed: any cut is malformed.
  for (std::size_t cut = 0; cut < payload.size(); ++cut) {
    EXPECT_FALSE(decode_execute(b(payload).first(cut), every_kind().size(), {})) << cut;
  }
}

TEST(MysqlExecute, LaterExecutionsReuseTheTypes) {
  std::vector<std::pair<FieldType, bool>> previous;
  for (const Param& p : every_kind()) previous.emplace_back(p.type, p.is_unsigned);
  std::string payload = execute_payload(every_kind(), false);
  auto decoded = decode_execute(b(payload), every_kind().size(), previous);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(decoded->types.empty());
  EXPECT_EQ(decoded->values[13].bytes, "-26:03:04");
  EXPECT_EQ(decoded->values[18].bytes.size(), 300u);
  // Without types from an earlier execution there is no way to read the values.
  EXPECT_FALSE(decode_execute(b(payload), every_kind().size(), {}));
}

TEST(MysqlExecute, NoParametersAndTooMany) {
  std::string header = le(3, 4) + "\x00"s + le(1, 4);
  auto decoded = decode_execute(b(header), 0, {});
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(decoded->values.empty());
  EXPECT_FALSE(decode_execute(b(header + std::string(9000, '\0')), 70000, {}));
}

TEST(MysqlExecute, LongDataIsNotInThePacket) {
  std::string payload =
      le(1, 4) + "\x00"s + le(1, 4) + "\x00\x01"s + "\xfc\x00\x03\x00"s + le(7, 4);
  std::vector<std::optional<std::string>> long_data = {"a long text"s, std::nullopt};
  auto decoded = decode_execute(b(payload), 2, {}, long_data);
  ASSERT_TRUE(decoded);
  EXPECT_FALSE(decoded->values[0].is_null);
  EXPECT_EQ(decoded->values[0].bytes, "a long text");
  EXPECT_EQ(decoded->values[1].integer, 7);
}

TEST(MysqlExecute, RejectsMalformedTemporalValues) {
  for (const std::string& value :
       {"\x05" + std::string(5, '\x01'),                                     // DATE length
        "\x0b" + le(2024, 2) + "\x01\x01\x00\x00\x00"s + le(1000000, 4)}) {  // microseconds
    std::string payload = execute_payload({{FieldType::kDatetime, false, value}}, true);
    EXPECT_FALSE(decode_execute(b(payload), 1, {}));
  }
  std::string time =
      execute_payload({{FieldType::kTime, false, "\x07" + std::string(7, '\0')}}, true);
  EXPECT_FALSE(decode_execute(b(time), 1, {}));
}

TEST(MysqlBinaryRow, KnownBytes) {
  ByteVector out;
  std::vector<FieldType> types = {FieldType::kLongLong, FieldType::kDouble, FieldType::kVarString,
                                  FieldType::kLongLong};
  std::vector<BinaryCell> cells(4);
  cells[0] = {false, 5, 0, {}};
  cells[1] = {false, 0, 2.5, {}};
  cells[2] = {false, 0, 0, "ab"};
  cells[3] = {true, 0, 0, {}};
  append_binary_row_payload(out, types, cells);
  // NULL bitmap: column 3 is bit 3 + 2.
  EXPECT_EQ(str(out),
            "\x00"
            "\x20"
            "\x05\x00\x00\x00\x00\x00\x00\x00"
            "\x00\x00\x00\x00\x00\x00\x04\x40"
            "\x02"
            "ab"s);
}

TEST(MysqlBinaryRow, BitmapSpansBytes) {
  ByteVector out;
  std::vector<FieldType> types(7, FieldType::kVarString);
  std::vector<BinaryCell> cells(7);  // all NULL
  cells[0] = {false, 0, 0, "x"};
  append_binary_row_payload(out, types, cells);
  // Columns 1-5 are bits 3-7 of the first byte, column 6 is bit 0 of the second.
  EXPECT_EQ(str(out), "\x00\xf8\x01\x01x"s);
}

}  // namespace
}  // namespace plexi::mysql
