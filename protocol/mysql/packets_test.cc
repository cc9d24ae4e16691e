// Tests for MySQL framing, the payload Reader and writers, OK/ERR/EOF, column definitions and
// text rows: known bytes, round trips, every split point, and truncated input.
#include "protocol/mysql/packets.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <string_view>

namespace plexi::mysql {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

Bytes b(std::string_view s) { return as_bytes(s); }
std::string str(Bytes bytes) { return std::string(as_chars(bytes)); }
std::string str(const ByteVector& bytes) { return std::string(as_chars(bytes)); }

std::string wire_of(std::uint8_t first_sequence, std::initializer_list<std::string_view> payloads) {
  ByteVector out;
  std::uint8_t sequence = first_sequence;
  for (std::string_view payload : payloads) append_packet(out, sequence, b(payload));
  return str(out);
}

// Every prefix of `payload` shorter than `whole_from` must be refused by `decode`.
template <class Decode>
void expect_prefixes_rejected(const std::string& payload, std::size_t whole_from, Decode decode) {
  for (std::size_t cut = 0; cut < whole_from && cut < payload.size(); ++cut) {
    EXPECT_FALSE(decode(b(payload).first(cut))) << "prefix of " << cut << " bytes";
  }
}

// --- framing -----------------------------------------------------------------------------

TEST(MysqlFraming, HeaderIsLengthAndSequence) {
  std::string wire =
      "\x03\x00\x00\x05"
      "abc"
      "\x01\x00\x00\x06"
      "d"s;
  auto packet = next_packet(b(wire));
  ASSERT_TRUE(packet);
  EXPECT_EQ(packet->sequence, 5);
  EXPECT_EQ(str(packet->payload), "abc");
  EXPECT_EQ(packet->size(), 7u);
  EXPECT_EQ(packet->payload.data(), b(wire).data() + 4);  // a view, not a copy
  auto second = next_packet(b(wire).subspan(packet->size()));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->sequence, 6);
  EXPECT_EQ(str(second->payload), "d");
}

TEST(MysqlFraming, LengthIsLittleEndianTwentyFourBits) {
  std::string payload(0x010203, 'x');
  std::string wire = wire_of(0, {payload});
  EXPECT_EQ(wire.substr(0, 4), "\x03\x02\x01\x00"s);
  auto packet = next_packet(b(wire));
  ASSERT_TRUE(packet);
  EXPECT_EQ(packet->payload.size(), payload.size());
}

TEST(MysqlFraming, EveryPrefixOfAStreamWaitsForWholePackets) {
  const std::string long_payload(300, 'y');
  std::initializer_list<std::string_view> payloads = {"\x03select 1"sv, ""sv, "\x0e"sv,
                                                      long_payload};
  std::string wire = wire_of(0, payloads);
  std::vector<std::size_t> ends;  // where each packet ends on the wire
  for (std::string_view payload : payloads) {
    ends.push_back((ends.empty() ? 0 : ends.back()) + 4 + payload.size());
  }
  ASSERT_EQ(ends.back(), wire.size());
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    Bytes rest = b(wire).first(cut);
    std::size_t consumed = 0;
    std::size_t packets = 0;
    while (auto packet = next_packet(rest)) {
      EXPECT_EQ(packet->sequence, packets);
      consumed += packet->size();
      rest = rest.subspan(packet->size());
      ++packets;
    }
    std::size_t whole = 0;
    while (whole < ends.size() && ends[whole] <= cut) ++whole;
    EXPECT_EQ(packets, whole) << "prefix of " << cut << " bytes";
    EXPECT_EQ(consumed, whole == 0 ? 0 : ends[whole - 1]) << "prefix of " << cut << " bytes";
  }
}

// Reads the pieces of one logical packet and joins them.
std::string join_pieces(Bytes& wire, std::uint8_t& sequence, std::size_t& pieces) {
  std::string joined;
  pieces = 0;
  while (auto packet = next_packet(wire)) {
    EXPECT_EQ(packet->sequence, sequence);
    ++sequence;
    ++pieces;
    joined += as_chars(packet->payload);
    wire = wire.subspan(packet->size());
    if (packet->payload.size() < kMaxPayload) break;
  }
  return joined;
}

TEST(MysqlFraming, LargePayloadsAreSplitAndJoined) {
  struct Case {
    std::size_t size;
    std::size_t pieces;
  };
  for (Case c : {Case{0, 1}, Case{kMaxPayload - 1, 1}, Case{kMaxPayload, 2},
                 Case{kMaxPayload + 10, 2}, Case{2 * kMaxPayload, 3}}) {
    std::string payload(c.size, '\0');
    for (std::size_t i = 0; i < payload.size(); i += 4093) payload[i] = static_cast<char>(i / 4093);
    ByteVector out;
    std::uint8_t sequence = 254;  // sequence ids wrap around
    append_packet(out, sequence, b(payload));
    EXPECT_EQ(sequence, static_cast<std::uint8_t>(254 + c.pieces)) << c.size;
    EXPECT_EQ(out.size(), payload.size() + 4 * c.pieces) << c.size;

    Bytes wire = out;
    std::uint8_t expected_sequence = 254;
    std::size_t pieces = 0;
    EXPECT_TRUE(join_pieces(wire, expected_sequence, pieces) == payload) << c.size;
    EXPECT_EQ(pieces, c.pieces) << c.size;
    EXPECT_TRUE(wire.empty()) << c.size;
  }
}

TEST(MysqlFraming, BeginAndFinishPacket) {
  ByteVector out;
  append_text(out, "before");
  std::uint8_t sequence = 7;
  std::size_t offset = begin_packet(out);
  append_text(out, "payload");
  finish_packet(out, offset, sequence);
  EXPECT_EQ(sequence, 8);
  EXPECT_EQ(str(out), "before\x07\x00\x00\x07payload"s);

  ByteVector big;
  offset = begin_packet(big);
  big.resize(big.size() + kMaxPayload + 1);
  EXPECT_THROW(finish_packet(big, offset, sequence), std::length_error);
}

// --- Reader and writers ------------------------------------------------------------------

TEST(MysqlReader, FixedWidthIntegersAreLittleEndian) {
  std::string payload = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12"s;
  Reader reader(b(payload));
  EXPECT_EQ(reader.u8(), 0x01);
  EXPECT_EQ(reader.u16(), 0x0302);
  EXPECT_EQ(reader.u24(), 0x060504u);
  EXPECT_EQ(reader.u32(), 0x0a090807u);
  EXPECT_EQ(reader.u64(), 0x1211100f0e0d0c0bull);
  EXPECT_FALSE(reader.failed());
  EXPECT_EQ(reader.remaining(), 0u);

  ByteVector out;
  append_u16le(out, 0x0201);
  append_u24le(out, 0x050403);
  append_u32le(out, 0x09080706);
  append_u64le(out, 0x11100f0e0d0c0b0aull);
  EXPECT_EQ(str(out), "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11"s);
}

TEST(MysqlReader, LengthEncodedIntegerBoundaries) {
  struct Case {
    std::uint64_t value;
    std::string encoded;
  };
  for (const Case& c :
       {Case{0, "\x00"s}, Case{250, "\xfa"s}, Case{251, "\xfc\xfb\x00"s},
        Case{0xffff, "\xfc\xff\xff"s}, Case{0x10000, "\xfd\x00\x00\x01"s},
        Case{0xffffff, "\xfd\xff\xff\xff"s},
        Case{0x1000000, "\xfe\x00\x00\x00\x01\x00\x00\x00\x00"s},
        Case{std::numeric_limits<std::uint64_t>::max(), "\xfe" + std::string(8, '\xff')}}) {
    ByteVector out;
    append_lenenc(out, c.value);
    EXPECT_EQ(str(out), c.encoded) << c.value;
    Reader reader(b(c.encoded));
    EXPECT_EQ(reader.lenenc(), c.value);
    EXPECT_FALSE(reader.failed());
    EXPECT_EQ(reader.remaining(), 0u);
    for (std::size_t cut = 0; cut < c.encoded.size(); ++cut) {
      Reader truncated(b(c.encoded).first(cut));
      truncated.lenenc();
      EXPECT_TRUE(truncated.failed()) << c.value << " cut at " << cut;
    }
  }
}

TEST(MysqlReader, NullMarkerAndErrHeader) {
  Reader null_marker(b("\xfb\x01"sv));
  EXPECT_EQ(null_marker.lenenc(), std::nullopt);
  EXPECT_FALSE(null_marker.failed());
  EXPECT_EQ(null_marker.u8(), 1);

  Reader err(b("\xff"sv));
  err.lenenc();
  EXPECT_TRUE(err.failed());

  Reader null_string(b("\xfb"sv));
  EXPECT_EQ(null_string.lenenc_string(), "");
  EXPECT_TRUE(null_string.failed());
}

TEST(MysqlReader, StringsAndBounds) {
  std::string payload =
      "\x03"
      "abc"
      "name\0"
      "tail"s;
  Reader reader(b(payload));
  EXPECT_EQ(reader.lenenc_string(), "abc");
  EXPECT_EQ(reader.null_terminated(), "name");
  EXPECT_EQ(reader.position(), 9u);
  EXPECT_EQ(reader.fixed(2), "ta");
  EXPECT_EQ(reader.rest(), "il");
  EXPECT_EQ(reader.rest(), "");
  EXPECT_FALSE(reader.failed());

  ByteVector out;
  append_lenenc_string(out, "abc");
  append_null_terminated(out, "name");
  append_text(out, "tail");
  EXPECT_EQ(str(out), payload);
}

TEST(MysqlReader, ReadsPastTheEndFailAndStayFailed) {
  // A length far beyond the payload: refused before anything is taken.
  Reader huge(
      b("\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"
        "abc"sv));
  EXPECT_EQ(huge.lenenc_string(), "");
  EXPECT_TRUE(huge.failed());
  EXPECT_EQ(huge.remaining(), 0u);

  Reader no_nul(b("abc"sv));
  EXPECT_EQ(no_nul.null_terminated(), "");
  EXPECT_TRUE(no_nul.failed());
  EXPECT_EQ(no_nul.u8(), 0);  // later reads give zero values, not the bytes
  EXPECT_EQ(no_nul.rest(), "");

  Reader short_read(b("\x01\x02"sv));
  EXPECT_EQ(short_read.u32(), 0u);
  EXPECT_TRUE(short_read.failed());
  EXPECT_EQ(short_read.u8(), 0);
  EXPECT_EQ(short_read.fixed(1), "");
}

// --- OK / ERR / EOF ----------------------------------------------------------------------

TEST(MysqlOk, KnownBytes) {
  // affected 1, insert id 0x10000, autocommit + in transaction, 2 warnings.
  std::string payload = "\x00\x01\xfd\x00\x00\x01\x03\x00\x02\x00"s;
  EXPECT_TRUE(is_ok(b(payload)));
  auto ok = decode_ok(b(payload), cap::kProtocol41);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->affected_rows, 1u);
  EXPECT_EQ(ok->last_insert_id, 0x10000u);
  EXPECT_EQ(ok->status, status::kAutocommit | status::kInTrans);
  EXPECT_EQ(ok->warnings, 2);
  EXPECT_EQ(ok->info, "");
  EXPECT_EQ(str(encode_ok_payload(*ok, cap::kProtocol41)), payload);
  expect_prefixes_rejected(payload, payload.size(),
                           [](Bytes p) { return decode_ok(p, cap::kProtocol41); });
}

TEST(MysqlOk, InfoIsLengthEncodedAsServersSendIt) {
  Ok ok;
  ok.affected_rows = 3;
  ok.status = status::kAutocommit;
  ok.info = "Rows matched: 3  Changed: 3  Warnings: 0";
  for (std::uint32_t caps : {cap::kProtocol41, cap::kProtocol41 | cap::kSessionTrack}) {
    ByteVector wire = encode_ok_payload(ok, caps);
    EXPECT_EQ(str(wire), "\x00\x03\x00\x02\x00\x00\x00\x28"s + ok.info);
    auto decoded = decode_ok(wire, caps);
    ASSERT_TRUE(decoded);
    EXPECT_TRUE(*decoded == ok);
  }
  // A server writing the info bare, as the protocol documentation describes it.
  std::string bare = "\x00\x03\x00\x02\x00\x00\x00"s + ok.info;
  auto decoded = decode_ok(b(bare), cap::kProtocol41);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->info, ok.info);
}

TEST(MysqlOk, SessionStateWithSessionTrack) {
  Ok ok;
  ok.status = status::kAutocommit | status::kSessionStateChanged;
  ok.session_state =
      "\x00\x0f\x0a"
      "autocommit\x03OFF"s;
  std::uint32_t caps = cap::kProtocol41 | cap::kSessionTrack;
  ByteVector wire = encode_ok_payload(ok, caps);
  EXPECT_EQ(str(wire), "\x00\x00\x00\x02\x40\x00\x00\x00\x11"s + ok.session_state);
  auto decoded = decode_ok(wire, caps);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(*decoded == ok);
  // Cut inside the session state: malformed. (Without the state, as after 8 bytes, it is
  // an OK that changed nothing.)
  for (std::size_t cut = 9; cut < wire.size(); ++cut) {
    EXPECT_FALSE(decode_ok(Bytes(wire).first(cut), caps)) << cut;
  }
}

TEST(MysqlOk, EofHeaderFormNeedsDeprecateEof) {
  Ok ok;
  ok.status = status::kAutocommit | status::kMoreResultsExist;
  ok.warnings = 1;
  ok.info = "done";  // nine bytes or more: no classic EOF
  std::uint32_t caps = cap::kProtocol41 | cap::kDeprecateEof;
  ByteVector wire = encode_ok_payload(ok, caps, true);
  EXPECT_EQ(str(wire),
            "\xfe\x00\x00\x0a\x00\x01\x00\x04"
            "done"s);
  auto decoded = decode_ok(wire, caps);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(*decoded == ok);
  EXPECT_FALSE(decode_ok(wire, cap::kProtocol41));
  EXPECT_TRUE(is_result_end(wire, caps));
  EXPECT_FALSE(is_result_end(wire, cap::kProtocol41));
  EXPECT_EQ(status_of(wire, caps), ok.status);
  EXPECT_EQ(status_of(wire, cap::kProtocol41), std::nullopt);
}

TEST(MysqlErr, KnownBytesAndRoundTrip) {
  std::string payload = "\xff\x15\x04#28000Access denied for user 'u'"s;
  EXPECT_TRUE(is_err(b(payload)));
  auto err = decode_err(b(payload));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 1045);
  EXPECT_EQ(err->sqlstate, "28000");
  EXPECT_EQ(err->message, "Access denied for user 'u'");
  EXPECT_EQ(str(encode_err_payload(*err)), payload);
  expect_prefixes_rejected(payload, 3, [](Bytes p) { return decode_err(p); });
}

TEST(MysqlErr, WithoutSqlstateMarker) {
  // Sent before the client announced kProtocol41, e.g. "Too many connections".
  auto err = decode_err(b("\xff\x10\x04Too many connections"sv));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 1040);
  EXPECT_EQ(err->sqlstate, "HY000");
  EXPECT_EQ(err->message, "Too many connections");
  EXPECT_FALSE(decode_err(b("\x00\x10\x04"sv)));
}

TEST(MysqlEof, KnownBytesAndRoundTrip) {
  std::string payload = "\xfe\x01\x00\x22\x00"s;
  EXPECT_TRUE(is_eof(b(payload)));
  auto eof = decode_eof(b(payload));
  ASSERT_TRUE(eof);
  EXPECT_EQ(eof->warnings, 1);
  EXPECT_EQ(eof->status, status::kAutocommit | status::kNoIndexUsed);
  EXPECT_EQ(str(encode_eof_payload(*eof)), payload);
  EXPECT_EQ(status_of(b(payload), cap::kProtocol41), eof->status);
  EXPECT_TRUE(is_result_end(b(payload), cap::kProtocol41));
  expect_prefixes_rejected(payload, payload.size(), [](Bytes p) { return decode_eof(p); });
  // Nine bytes or more: a row starting with an 8-byte length, not an EOF.
  EXPECT_FALSE(is_eof(b("\xfe\x01\x00\x00\x00\x00\x00\x00\x00"sv)));
}

TEST(MysqlStatusOf, OnlyPacketsThatEndAResponse) {
  EXPECT_EQ(status_of(b("\x00\x00\x00\x03\x00\x00\x00"sv), 0),
            status::kAutocommit | status::kInTrans);
  EXPECT_EQ(status_of(b("\xff\x15\x04#28000x"sv), 0), std::nullopt);
  EXPECT_EQ(status_of(b("\x01\x31"sv), 0), std::nullopt);  // a one-column text row
  EXPECT_EQ(status_of(b("\x00\xfb\x00\x03\x00\x00\x00"sv), 0), std::nullopt);  // NULL count
  EXPECT_EQ(status_of(b(""sv), 0), std::nullopt);
}

TEST(MysqlStatusOf, FullSizedFePacketIsARowPiece) {
  // The first 16 MB piece of a row whose first value's length starts with 0xfe.
  std::string piece(kMaxPayload, '\0');
  piece[0] = '\xfe';
  std::uint32_t caps = cap::kProtocol41 | cap::kDeprecateEof;
  EXPECT_FALSE(is_result_end(b(piece), caps));
  EXPECT_FALSE(is_eof(b(piece)));
  EXPECT_EQ(status_of(b(piece), caps), std::nullopt);
  EXPECT_FALSE(decode_ok(b(piece), caps));
}

// --- result sets -------------------------------------------------------------------------

TEST(MysqlColumnDefinition, KnownBytesAndRoundTrip) {
  ColumnDefinition column;
  column.schema = "app";
  column.table = "t";
  column.org_table = "orders";
  column.name = "id";
  column.org_name = "order_id";
  column.collation = kCollationBinary;
  column.length = 20;
  column.type = FieldType::kLongLong;
  column.flags = field_flag::kNotNull | field_flag::kPrimaryKey | field_flag::kUnsigned;
  column.decimals = 0;
  // clang-format off
  std::string payload =
      "\x03" "def" "\x03" "app" "\x01" "t" "\x06" "orders" "\x02" "id" "\x08" "order_id"
      "\x0c" "\x3f\x00" "\x14\x00\x00\x00" "\x08" "\x23\x00" "\x00" "\x00\x00"s;
  // clang-format on
  EXPECT_EQ(str(encode_column_definition_payload(column)), payload);
  auto decoded = decode_column_definition(b(payload));
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(*decoded == column);
  expect_prefixes_rejected(payload, payload.size(),
                           [](Bytes p) { return decode_column_definition(p); });
}

TEST(MysqlColumnDefinition, FixedBlockTooShortIsRejected) {
  std::string payload =
      "\x03"
      "def"
      "\x00\x00\x00\x01"
      "a"
      "\x00"
      "\x09"s +
      std::string(12, '\0');
  EXPECT_FALSE(decode_column_definition(b(payload)));
}

TEST(MysqlTextRow, ValuesAndNull) {
  ByteVector out;
  append_text_row_payload(out, {"1"s, std::nullopt, ""s, std::string(300, 'z')});
  std::string expected =
      "\x01"
      "1"
      "\xfb"
      "\x00"
      "\xfc\x2c\x01"s +
      std::string(300, 'z');
  EXPECT_EQ(str(out), expected);
  Reader reader(out);
  EXPECT_EQ(reader.lenenc_string(), "1");
  EXPECT_EQ(reader.lenenc(), std::nullopt);
  EXPECT_EQ(reader.lenenc_string(), "");
  EXPECT_EQ(reader.lenenc_string().size(), 300u);
  EXPECT_FALSE(reader.failed());
  EXPECT_EQ(reader.remaining(), 0u);
}

}  // namespace
}  // namespace plexi::mysql
