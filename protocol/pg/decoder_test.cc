// Tests for the PostgreSQL decoder: framing, startup packets, every body parser, and
// malformed input of every kind the wire can bring.
#include "protocol/pg/decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace plexi::pg {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string be16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }

// A typed message with a correct length.
std::string frame(char type, std::string_view body) {
  return std::string(1, type) + be32(static_cast<std::uint32_t>(body.size() + 4)) +
         std::string(body);
}
// An untyped first packet with a correct length.
std::string packet(std::int32_t code, std::string_view body) {
  return be32(static_cast<std::uint32_t>(body.size() + 8)) +
         be32(static_cast<std::uint32_t>(code)) + std::string(body);
}

Bytes b(const std::string& s) { return as_bytes(s); }
std::string str(Bytes bytes) { return std::string(as_chars(bytes)); }

// Every strict prefix needs more bytes; the whole input decodes and consumes all of it.
template <class Decode>
void expect_split_everywhere(const std::string& wire, Decode decode) {
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    auto prefix = decode(b(wire).first(cut));
    EXPECT_EQ(prefix.status, DecodeStatus::kNeedMore) << "prefix of " << cut << " bytes";
  }
  auto whole = decode(b(wire));
  ASSERT_EQ(whole.status, DecodeStatus::kOk) << whole.error;
  EXPECT_EQ(whole.consumed, wire.size());
}

// --- framing -----------------------------------------------------------------------------

TEST(PgDecodeFrame, QueryFrame) {
  std::string wire = frame('Q', "SELECT 1\0"sv);
  auto decoded = decode_frame(b(wire));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.consumed, 14u);
  EXPECT_EQ(decoded.message.type, 'Q');
  EXPECT_EQ(decoded.message.size, 14u);
  EXPECT_EQ(str(decoded.message.body), "SELECT 1\0"sv);
  EXPECT_EQ(decoded.message.body.data(), b(wire).data() + 5);  // a view, not a copy
}

TEST(PgDecodeFrame, EmptyBodyAndSplits) {
  expect_split_everywhere(frame('S', ""), [](Bytes in) { return decode_frame(in); });
  expect_split_everywhere(frame('Q', "select now()\0"sv),
                          [](Bytes in) { return decode_frame(in); });
  auto sync = decode_frame(b(frame('S', "")));
  ASSERT_TRUE(sync.ok());
  EXPECT_TRUE(sync.message.body.empty());
  EXPECT_EQ(sync.consumed, 5u);
}

TEST(PgDecodeFrame, LengthBelowFourIsError) {
  for (std::uint32_t length : {0u, 1u, 3u}) {
    std::string wire = "Q" + be32(length);
    auto decoded = decode_frame(b(wire));
    EXPECT_EQ(decoded.status, DecodeStatus::kError) << length;
    EXPECT_FALSE(decoded.error.empty());
  }
}

TEST(PgDecodeFrame, HugeLengthIsErrorBeforeBody) {
  // Only the header has arrived: the verdict must not wait for 2 GiB of body.
  for (std::uint32_t length : {0x80000000u, 0xffffffffu, 0x7fffffffu}) {
    std::string wire = "Q" + be32(length);
    EXPECT_EQ(decode_frame(b(wire)).status, DecodeStatus::kError) << length;
  }
}

TEST(PgDecodeFrame, MaxSizeIsInclusive) {
  std::string wire = frame('d', std::string(96, 'x'));  // length 100
  EXPECT_TRUE(decode_frame(b(wire), 100).ok());
  EXPECT_EQ(decode_frame(b(wire), 99).status, DecodeStatus::kError);
  EXPECT_EQ(decode_frame(b(wire).first(5), 99).status, DecodeStatus::kError);
}

TEST(PgDecodeFrame, ConcatenatedMessages) {
  std::string wire = frame('P', "s1\0select $1\0\0\0"sv) + frame('B', "\0s1\0\0\0\0\0\0\0"sv) +
                     frame('E', "\0\0\0\0\0"sv) + frame('S', "");
  std::string types;
  Bytes rest = b(wire);
  while (!rest.empty()) {
    auto decoded = decode_frame(rest);
    ASSERT_TRUE(decoded.ok());
    types += decoded.message.type;
    rest = rest.subspan(decoded.consumed);
  }
  EXPECT_EQ(types, "PBES");
  // A partial second message after a complete first one: the first still decodes.
  auto first = decode_frame(b(wire).first(wire.size() - 1));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.message.type, 'P');
}

// --- startup -----------------------------------------------------------------------------

TEST(PgDecodeStartup, V3WithParameters) {
  std::string wire = packet(kProtocolVersion3, "user\0alice\0database\0appdb\0\0"sv);
  auto decoded = decode_startup(b(wire));
  ASSERT_TRUE(decoded.ok()) << decoded.error;
  EXPECT_EQ(decoded.consumed, wire.size());
  const StartupPacket& p = decoded.message;
  EXPECT_EQ(p.kind, StartupPacket::Kind::kStartup);
  EXPECT_EQ(p.protocol, kProtocolVersion3);
  ASSERT_EQ(p.parameters.size(), 2u);
  ASSERT_NE(p.parameter("user"), nullptr);
  EXPECT_EQ(*p.parameter("user"), "alice");
  EXPECT_EQ(*p.parameter("database"), "appdb");
  EXPECT_EQ(p.parameter("options"), nullptr);
  expect_split_everywhere(wire, [](Bytes in) { return decode_startup(in); });
}

TEST(PgDecodeStartup, EmptyValueAndNoParameters) {
  auto decoded = decode_startup(b(packet(kProtocolVersion3, "options\0\0\0"sv)));
  ASSERT_TRUE(decoded.ok()) << decoded.error;
  ASSERT_EQ(decoded.message.parameters.size(), 1u);
  EXPECT_EQ(*decoded.message.parameter("options"), "");
  auto bare = decode_startup(b(packet(kProtocolVersion3, "\0"sv)));
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare.message.parameters.empty());
}

TEST(PgDecodeStartup, SpecialRequests) {
  std::string ssl = packet(kSslRequestCode, "");
  std::string gss = packet(kGssEncRequestCode, "");
  std::string cancel = packet(kCancelRequestCode, be32(4242) + be32(0xdeadbeef));
  auto decode = [](Bytes in) { return decode_startup(in); };
  expect_split_everywhere(ssl, decode);
  expect_split_everywhere(gss, decode);
  expect_split_everywhere(cancel, decode);
  EXPECT_EQ(decode_startup(b(ssl)).message.kind, StartupPacket::Kind::kSslRequest);
  EXPECT_EQ(decode_startup(b(gss)).message.kind, StartupPacket::Kind::kGssEncRequest);
  auto c = decode_startup(b(cancel));
  EXPECT_EQ(c.message.kind, StartupPacket::Kind::kCancelRequest);
  EXPECT_EQ(c.message.cancel_pid, 4242);
  EXPECT_EQ(c.message.cancel_secret, static_cast<std::int32_t>(0xdeadbeef));
}

TEST(PgDecodeStartup, StartupFollowedByMoreBytes) {
  std::string wire = packet(kSslRequestCode, "") + packet(kProtocolVersion3, "user\0u\0\0"sv);
  auto first = decode_startup(b(wire));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.consumed, 8u);
  auto second = decode_startup(b(wire).subspan(first.consumed));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second.message.parameter("user"), "u");
}

TEST(PgDecodeStartup, WrongFixedLengthsAreErrorsOnceTheCodeArrives) {
  // A CancelRequest declaring 20 bytes is rejected with only its first 8 in hand.
  std::string long_cancel = be32(20) + be32(kCancelRequestCode);
  EXPECT_EQ(decode_startup(b(long_cancel)).status, DecodeStatus::kError);
  std::string short_cancel = packet(kCancelRequestCode, be32(1));
  EXPECT_EQ(decode_startup(b(short_cancel)).status, DecodeStatus::kError);
  std::string long_ssl = packet(kSslRequestCode, be32(0));
  EXPECT_EQ(decode_startup(b(long_ssl)).status, DecodeStatus::kError);
  std::string long_gss = packet(kGssEncRequestCode, "x");
  EXPECT_EQ(decode_startup(b(long_gss)).status, DecodeStatus::kError);
}

TEST(PgDecodeStartup, BadLengths) {
  EXPECT_EQ(decode_startup(b(be32(7))).status, DecodeStatus::kError);
  EXPECT_EQ(decode_startup(b(be32(0))).status, DecodeStatus::kError);
  EXPECT_EQ(decode_startup(b(be32(0x80000000u))).status, DecodeStatus::kError);
  EXPECT_EQ(decode_startup(b(be32(kMaxStartupPacket + 1))).status, DecodeStatus::kError);
  EXPECT_EQ(decode_startup(b(be32(kMaxStartupPacket))).status, DecodeStatus::kNeedMore);
  std::string wire = packet(kProtocolVersion3, "user\0bob\0\0"sv);
  EXPECT_EQ(decode_startup(b(wire), wire.size() - 1).status, DecodeStatus::kError);
  EXPECT_TRUE(decode_startup(b(wire), wire.size()).ok());
}

TEST(PgDecodeStartup, ProtocolVersions) {
  auto v2 = decode_startup(b(packet(2 << 16, "user\0u\0\0"sv)));
  ASSERT_EQ(v2.status, DecodeStatus::kError);
  EXPECT_NE(v2.error.find("unsupported frontend protocol 2.0"), std::string::npos) << v2.error;
  EXPECT_EQ(decode_startup(b(packet(4 << 16, "\0"sv))).status, DecodeStatus::kError);
  EXPECT_EQ(decode_startup(b(packet(1234 << 16 | 5681, "\0"sv))).status, DecodeStatus::kError);
  // A later 3.x minor version is accepted and reported, for NegotiateProtocolVersion.
  auto v32 = decode_startup(b(packet(3 << 16 | 2, "user\0u\0_pq_.x\0y\0\0"sv)));
  ASSERT_TRUE(v32.ok()) << v32.error;
  EXPECT_EQ(v32.message.protocol, 3 << 16 | 2);
  EXPECT_EQ(v32.message.parameters.size(), 2u);
}

TEST(PgDecodeStartup, MalformedParameterLists) {
  for (std::string_view body : {""sv,                     // no terminator at all
                                "user\0alice\0"sv,        // missing final terminator
                                "user\0alice"sv,          // value without NUL
                                "user\0"sv,               // key without value
                                "user\0alice\0\0\0"sv,    // bytes after the terminator
                                "user\0alice\0\0x"sv}) {  // garbage after the terminator
    auto decoded = decode_startup(b(packet(kProtocolVersion3, body)));
    EXPECT_EQ(decoded.status, DecodeStatus::kError) << body.size();
    EXPECT_FALSE(decoded.error.empty());
  }
}

// --- bodies ------------------------------------------------------------------------------

TEST(PgParseBodies, Query) {
  EXPECT_EQ(parse_query(b("SELECT 1\0"s)), "SELECT 1");
  EXPECT_EQ(parse_query(b("\0"s)), "");
  EXPECT_FALSE(parse_query(b("SELECT 1"s)));
  EXPECT_FALSE(parse_query(b("SELECT 1\0x"s)));
  EXPECT_FALSE(parse_query(b(""s)));
}

TEST(PgParseBodies, Parse) {
  std::string two = "s1\0select $1, $2\0"s + be16(2) + be32(23) + be32(25);
  auto p = parse_parse(b(two));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->statement, "s1");
  EXPECT_EQ(p->query, "select $1, $2");
  EXPECT_EQ(p->parameter_types, (std::vector<std::uint32_t>{23, 25}));
  std::string none = "\0select 1\0"s + be16(0);
  auto unnamed = parse_parse(b(none));
  ASSERT_TRUE(unnamed);
  EXPECT_EQ(unnamed->statement, "");
  EXPECT_TRUE(unnamed->parameter_types.empty());

  EXPECT_FALSE(parse_parse(b("s1\0select 1\0"s + be16(1))));                 // count > body
  EXPECT_FALSE(parse_parse(b("s1\0select 1\0"s + be16(0xffff) + be32(1))));  // "negative"
  EXPECT_FALSE(parse_parse(b("s1\0select 1\0"s + be16(0) + "x")));           // trailing
  EXPECT_FALSE(parse_parse(b("s1\0select 1"s)));                             // no NUL
  EXPECT_FALSE(parse_parse(b("s1\0select 1\0\0"s)));                         // half a count
}

std::string bind_body() {
  return "p1\0s1\0"s + be16(1) + be16(1) +              // one format: binary
         be16(3) + be32(2) + "ab" + be32(0xffffffff) +  // "ab", NULL,
         be32(0) +                                      // ""
         be16(2) + be16(0) + be16(1);                   // two result formats
}

TEST(PgParseBodies, Bind) {
  std::string body = bind_body();
  auto bind = parse_bind(b(body));
  ASSERT_TRUE(bind);
  EXPECT_EQ(bind->portal, "p1");
  EXPECT_EQ(bind->statement, "s1");
  EXPECT_EQ(bind->parameter_formats, (std::vector<std::int16_t>{1}));
  ASSERT_EQ(bind->parameters.size(), 3u);
  ASSERT_TRUE(bind->parameters[0]);
  EXPECT_EQ(str(*bind->parameters[0]), "ab");
  EXPECT_FALSE(bind->parameters[1]);
  ASSERT_TRUE(bind->parameters[2]);
  EXPECT_TRUE(bind->parameters[2]->empty());
  EXPECT_EQ(bind->result_formats, (std::vector<std::int16_t>{0, 1}));
  EXPECT_EQ(str(bind->rest), body.substr(6));

  auto names = parse_bind_names(b(body));
  ASSERT_TRUE(names);
  EXPECT_EQ(names->portal, "p1");
  EXPECT_EQ(names->statement, "s1");
  EXPECT_EQ(str(names->rest), body.substr(6));
  EXPECT_TRUE(names->parameters.empty());
  EXPECT_TRUE(names->parameter_formats.empty());
}

TEST(PgParseBodies, MalformedBind) {
  std::string names = "\0\0"s;
  // Truncated parameter value: declares 5 bytes, has 2.
  EXPECT_FALSE(parse_bind(b(names + be16(0) + be16(1) + be32(5) + "ab" + be16(0))));
  // Every cut of a valid Bind is malformed.
  std::string body = bind_body();
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(parse_bind(b(body.substr(0, cut)))) << cut;
  }
  // A length of -2 is neither a value nor NULL.
  EXPECT_FALSE(parse_bind(b(names + be16(0) + be16(1) + be32(0xfffffffe) + be16(0))));
  // Counts beyond the body ("negative" when read as int16).
  EXPECT_FALSE(parse_bind(b(names + be16(0xffff) + be16(0) + be16(0))));
  EXPECT_FALSE(parse_bind(b(names + be16(0) + be16(0x8000) + be16(0))));
  EXPECT_FALSE(parse_bind(b(names + be16(0) + be16(0) + be16(0xffff))));
  // Trailing bytes after the result formats.
  EXPECT_FALSE(parse_bind(b(names + be16(0) + be16(0) + be16(0) + "x")));
  // Names without their NULs; a body too short for the counts.
  EXPECT_FALSE(parse_bind_names(b("portal"s)));
  EXPECT_FALSE(parse_bind_names(b("\0s1"s)));
  EXPECT_FALSE(parse_bind_names(b(names + be16(0) + be16(0))));
  ASSERT_TRUE(parse_bind(b(names + be16(0) + be16(0) + be16(0))));
}

TEST(PgParseBodies, DescribeCloseExecute) {
  std::string describe = "Sstmt\0"s;
  auto d = parse_describe(b(describe));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, 'S');
  EXPECT_EQ(d->name, "stmt");
  std::string close = "P\0"s;
  auto c = parse_close(b(close));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, 'P');
  EXPECT_EQ(c->name, "");
  EXPECT_FALSE(parse_describe(b("Xstmt\0"s)));
  EXPECT_FALSE(parse_close(b("Sstmt"s)));
  EXPECT_FALSE(parse_close(b(""s)));
  EXPECT_FALSE(parse_describe(b("Sa\0b"s)));

  std::string execute = "portal\0"s + be32(100);
  auto e = parse_execute(b(execute));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->portal, "portal");
  EXPECT_EQ(e->max_rows, 100);
  EXPECT_EQ(parse_execute(b("\0"s + be32(0xffffffff)))->max_rows, -1);
  EXPECT_FALSE(parse_execute(b("\0\0\0\0"s)));
  EXPECT_FALSE(parse_execute(b("\0"s + be32(1) + "x")));
}

TEST(PgParseBodies, RowsInCommandTags) {
  EXPECT_EQ(rows_in_command_tag("SELECT 5"), 5);
  EXPECT_EQ(rows_in_command_tag("INSERT 0 12"), 12);
  EXPECT_EQ(rows_in_command_tag("UPDATE 0"), 0);
  EXPECT_EQ(rows_in_command_tag("COPY 7"), 7);
  EXPECT_EQ(rows_in_command_tag("BEGIN"), std::nullopt);
  EXPECT_EQ(rows_in_command_tag("CREATE TABLE"), std::nullopt);
  EXPECT_EQ(rows_in_command_tag("SELECT x"), std::nullopt);
  EXPECT_EQ(rows_in_command_tag(""), std::nullopt);
}

TEST(PgParseBodies, ErrorFields) {
  auto e =
      parse_error_fields(b("SFEHLER\0VERROR\0C42P01\0Mno such table\0Ddetail\0Hhint\0"
                           "Ptable.c\0F12\0\0"s));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->severity, "ERROR");  // the untranslated V wins over S
  EXPECT_EQ(e->code, "42P01");
  EXPECT_EQ(e->message, "no such table");
  EXPECT_EQ(e->detail, "detail");
  EXPECT_EQ(e->hint, "hint");
  ASSERT_EQ(e->other.size(), 2u);
  EXPECT_EQ(e->other[0], (std::pair<char, std::string>{'P', "table.c"}));
  EXPECT_EQ(e->other[1], (std::pair<char, std::string>{'F', "12"}));

  auto fatal = parse_error_fields(b("SFATAL\0C57P01\0Mbye\0\0"s));
  ASSERT_TRUE(fatal);
  EXPECT_EQ(fatal->severity, "FATAL");
  EXPECT_TRUE(fatal->detail.empty());
  EXPECT_TRUE(fatal->other.empty());

  EXPECT_FALSE(parse_error_fields(b("SERROR\0"s)));     // no terminator
  EXPECT_FALSE(parse_error_fields(b("SERROR\0\0x"s)));  // bytes after it
  EXPECT_FALSE(parse_error_fields(b("SERROR"s)));       // value without NUL
  EXPECT_FALSE(parse_error_fields(b(""s)));
}

TEST(PgParseBodies, SmallBackendMessages) {
  std::string status = "TimeZone\0UTC\0"s;
  auto ps = parse_parameter_status(b(status));
  ASSERT_TRUE(ps);
  EXPECT_EQ(ps->first, "TimeZone");
  EXPECT_EQ(ps->second, "UTC");
  EXPECT_FALSE(parse_parameter_status(b("TimeZone\0UTC"s)));
  EXPECT_FALSE(parse_parameter_status(b("TimeZone\0UTC\0\0"s)));

  auto key = parse_backend_key_data(b(be32(77) + be32(0x80000001)));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->first, 77);
  EXPECT_EQ(key->second, static_cast<std::int32_t>(0x80000001));
  EXPECT_FALSE(parse_backend_key_data(b(be32(77))));
  EXPECT_FALSE(parse_backend_key_data(b(be32(77) + be32(1) + "x")));

  EXPECT_EQ(parse_ready_for_query(b("I"s)), TxStatus::kIdle);
  EXPECT_EQ(parse_ready_for_query(b("T"s)), TxStatus::kInTransaction);
  EXPECT_EQ(parse_ready_for_query(b("E"s)), TxStatus::kFailed);
  EXPECT_FALSE(parse_ready_for_query(b("X"s)));
  EXPECT_FALSE(parse_ready_for_query(b("II"s)));
  EXPECT_FALSE(parse_ready_for_query(b(""s)));

  EXPECT_EQ(parse_command_complete(b("INSERT 0 1\0"s)), "INSERT 0 1");
  EXPECT_FALSE(parse_command_complete(b("INSERT 0 1"s)));
}

TEST(PgParseBodies, Authentication) {
  auto ok = parse_authentication(b(be32(0)));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->code, AuthCode::kOk);
  EXPECT_TRUE(ok->data.empty());
  EXPECT_EQ(parse_authentication(b(be32(3)))->code, AuthCode::kCleartextPassword);
  std::string salt = be32(5) + "salt";
  auto md5 = parse_authentication(b(salt));
  ASSERT_TRUE(md5);
  EXPECT_EQ(md5->code, AuthCode::kMd5Password);
  EXPECT_EQ(str(md5->data), "salt");
  std::string mechanisms = be32(10) + "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s;
  auto sasl = parse_authentication(b(mechanisms));
  ASSERT_TRUE(sasl);
  EXPECT_EQ(sasl->code, AuthCode::kSasl);
  EXPECT_EQ(str(sasl->data), "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"sv);
  std::string server_first = be32(11) + "r=abc,s=xyz,i=4096";
  auto cont = parse_authentication(b(server_first));
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->code, AuthCode::kSaslContinue);
  EXPECT_EQ(str(cont->data), "r=abc,s=xyz,i=4096");
  EXPECT_EQ(parse_authentication(b(be32(12) + "v=xx"))->code, AuthCode::kSaslFinal);

  EXPECT_FALSE(parse_authentication(b(be32(0) + "x")));                  // Ok carries nothing
  EXPECT_FALSE(parse_authentication(b(be32(5) + "sal")));                // salt of 3 bytes
  EXPECT_FALSE(parse_authentication(b(be32(5) + "salty")));              // salt of 5 bytes
  EXPECT_FALSE(parse_authentication(b(be32(10) + "SCRAM-SHA-256\0"s)));  // no final NUL
  EXPECT_FALSE(parse_authentication(b(be32(10) + "SCRAM-SHA-256"s)));
  EXPECT_FALSE(parse_authentication(b(be32(10) + "A\0\0B"s)));  // bytes after the list
  EXPECT_FALSE(parse_authentication(b(be32(99))));              // unknown request
  EXPECT_FALSE(parse_authentication(b("\0\0"s)));
}

TEST(PgParseBodies, PasswordAndSasl) {
  EXPECT_EQ(parse_password(b("md5abc\0"s)), "md5abc");
  EXPECT_FALSE(parse_password(b("md5abc"s)));

  std::string client_first = "SCRAM-SHA-256\0"s + be32(8) + "n,,n=,r=";
  auto initial = parse_sasl_initial_response(b(client_first));
  ASSERT_TRUE(initial);
  EXPECT_EQ(initial->first, "SCRAM-SHA-256");
  EXPECT_EQ(str(initial->second), "n,,n=,r=");
  std::string no_data = "SCRAM-SHA-256\0"s + be32(0xffffffff);
  auto absent = parse_sasl_initial_response(b(no_data));
  ASSERT_TRUE(absent);
  EXPECT_TRUE(absent->second.empty());
  EXPECT_FALSE(parse_sasl_initial_response(b("SCRAM-SHA-256\0"s + be32(9) + "n,,n=,r=")));
  EXPECT_FALSE(parse_sasl_initial_response(b("SCRAM-SHA-256\0"s + be32(0xfffffffe))));
  EXPECT_FALSE(parse_sasl_initial_response(b("SCRAM-SHA-256\0"s + be32(1) + "ab")));
  EXPECT_FALSE(parse_sasl_initial_response(b("SCRAM-SHA-256\0"s)));
}

std::string field_wire(std::string_view name, std::uint32_t table, std::uint16_t column,
                       std::uint32_t type, std::uint16_t size, std::uint32_t modifier,
                       std::uint16_t format) {
  return std::string(name) + '\0' + be32(table) + be16(column) + be32(type) + be16(size) +
         be32(modifier) + be16(format);
}

TEST(PgParseBodies, RowDescription) {
  std::string body = be16(2) + field_wire("id", 16384, 1, 23, 4, 0xffffffff, 0) +
                     field_wire("blob", 16384, 2, 17, 0xffff, 0xffffffff, 1);
  auto fields = parse_row_description(b(body));
  ASSERT_TRUE(fields);
  ASSERT_EQ(fields->size(), 2u);
  const FieldDescription& id = (*fields)[0];
  EXPECT_EQ(id.name, "id");
  EXPECT_EQ(id.table_oid, 16384u);
  EXPECT_EQ(id.column, 1);
  EXPECT_EQ(id.type_oid, 23u);
  EXPECT_EQ(id.type_size, 4);
  EXPECT_EQ(id.type_modifier, -1);
  EXPECT_EQ(id.format, 0);
  EXPECT_EQ((*fields)[1].name, "blob");
  EXPECT_EQ((*fields)[1].type_size, -1);
  EXPECT_EQ((*fields)[1].format, 1);
  EXPECT_EQ(parse_row_description(b(be16(0)))->size(), 0u);

  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(parse_row_description(b(body.substr(0, cut)))) << cut;
  }
  EXPECT_FALSE(parse_row_description(b(body + "x")));
  EXPECT_FALSE(parse_row_description(b(be16(0xffff) + field_wire("a", 0, 0, 0, 0, 0, 0))));
}

TEST(PgParseBodies, DataRow) {
  std::string body = be16(3) + be32(1) + "7" + be32(0xffffffff) + be32(0);
  auto row = parse_data_row(b(body));
  ASSERT_TRUE(row);
  ASSERT_EQ(row->size(), 3u);
  EXPECT_EQ(str(*(*row)[0]), "7");
  EXPECT_FALSE((*row)[1]);
  EXPECT_TRUE((*row)[2]->empty());
  EXPECT_EQ(parse_data_row(b(be16(0)))->size(), 0u);

  EXPECT_FALSE(parse_data_row(b(be16(1) + be32(4) + "abc")));          // truncated value
  EXPECT_FALSE(parse_data_row(b(be16(1) + be32(0xfffffffe))));         // length -2
  EXPECT_FALSE(parse_data_row(b(be16(1) + be32(0x80000000) + "ab")));  // length -2^31
  EXPECT_FALSE(parse_data_row(b(be16(0xffff) + be32(0))));             // count > body
  EXPECT_FALSE(parse_data_row(b(be16(1) + be32(1) + "ab")));           // trailing byte
  EXPECT_FALSE(parse_data_row(b(""s)));
}

}  // namespace
}  // namespace plexi::pg
