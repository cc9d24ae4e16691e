// Tests for the PostgreSQL encoder: exact bytes for reference messages, and every message
// decoded back (whole, split at every byte, and batched) to the values it was built from.
#include "protocol/pg/encoder.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>

#include "protocol/pg/decoder.h"

namespace plexi::pg {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

std::string str(Bytes bytes) { return std::string(as_chars(bytes)); }
std::string str(const ByteVector& bytes) { return str(Bytes(bytes)); }

// Decodes the one message `out` must hold, checking its type and that it fills `out`.
Bytes only_body(const ByteVector& out, char type) {
  auto frame = decode_frame(out);
  EXPECT_TRUE(frame.ok()) << frame.error;
  EXPECT_EQ(frame.consumed, out.size());
  EXPECT_EQ(frame.message.type, type);
  return frame.message.body;
}

// Every strict prefix of a batch needs more; decoding the whole batch message by message
// yields `count` messages and consumes it exactly.
void expect_frames_split_everywhere(const ByteVector& wire, std::size_t count) {
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    Bytes rest = Bytes(wire).first(cut);
    std::size_t decoded = 0;
    while (true) {
      auto frame = decode_frame(rest);
      ASSERT_NE(frame.status, DecodeStatus::kError) << frame.error;
      if (!frame.ok()) break;
      rest = rest.subspan(frame.consumed);
      ++decoded;
    }
    if (cut == wire.size()) {
      EXPECT_EQ(decoded, count);
      EXPECT_TRUE(rest.empty());
    } else {
      EXPECT_LT(decoded, count) << cut;
    }
  }
}

TEST(PgMessageWriter, PatchesLengthOnFinishAndDestruction) {
  ByteVector out;
  {
    MessageWriter w(out, 'Q');
    w.cstr("hi");
  }
  EXPECT_EQ(str(out), "Q\0\0\0\x07hi\0"sv);

  ByteVector twice;
  MessageWriter w(twice, 'd');
  w.u8(1).i16(-2).i32(0x01020304).raw("xy"sv);
  w.finish();
  w.finish();  // idempotent; the destructor will not patch again either
  EXPECT_EQ(str(twice), "d\0\0\0\x0d\x01\xff\xfe\x01\x02\x03\x04xy"sv);
}

TEST(PgMessageWriter, AppendsAfterExistingBytes) {
  ByteVector out;
  encode_sync(out);
  encode_query(out, "SELECT 1");
  EXPECT_EQ(str(out), "S\0\0\0\x04Q\0\0\0\x0dSELECT 1\0"sv);
}

TEST(PgEncode, StartupMessageBytesAndRoundTrip) {
  ByteVector out;
  std::array<std::pair<std::string_view, std::string_view>, 2> params{
      {{"user", "alice"}, {"database", "appdb"}}};
  encode_startup_message(out, params);
  std::string expected = "\0\0\0\x23\0\x03\0\0user\0alice\0database\0appdb\0\0"s;
  EXPECT_EQ(str(out), expected);
  auto decoded = decode_startup(out);
  ASSERT_TRUE(decoded.ok()) << decoded.error;
  EXPECT_EQ(decoded.consumed, out.size());
  EXPECT_EQ(decoded.message.protocol, kProtocolVersion3);
  EXPECT_EQ(*decoded.message.parameter("user"), "alice");
  EXPECT_EQ(*decoded.message.parameter("database"), "appdb");
}

TEST(PgEncode, SslAndCancelRequests) {
  ByteVector ssl;
  encode_ssl_request(ssl);
  EXPECT_EQ(str(ssl), "\0\0\0\x08\x04\xd2\x16\x2f"sv);
  EXPECT_EQ(decode_startup(ssl).message.kind, StartupPacket::Kind::kSslRequest);

  ByteVector cancel;
  encode_cancel_request(cancel, 1234, -5);
  auto decoded = decode_startup(cancel);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.consumed, 16u);
  EXPECT_EQ(decoded.message.kind, StartupPacket::Kind::kCancelRequest);
  EXPECT_EQ(decoded.message.cancel_pid, 1234);
  EXPECT_EQ(decoded.message.cancel_secret, -5);
}

TEST(PgEncode, Authentication) {
  ByteVector ok;
  encode_authentication_ok(ok);
  EXPECT_EQ(str(ok), "R\0\0\0\x08\0\0\0\0"sv);

  ByteVector clear;
  encode_authentication_cleartext(clear);
  EXPECT_EQ(parse_authentication(only_body(clear, 'R'))->code, AuthCode::kCleartextPassword);

  ByteVector md5;
  std::array<std::byte, 4> salt{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  encode_authentication_md5(md5, salt);
  auto m = parse_authentication(only_body(md5, 'R'));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->code, AuthCode::kMd5Password);
  EXPECT_EQ(str(m->data), "\x01\x02\x03\x04"sv);

  ByteVector sasl;
  std::array<std::string_view, 2> mechanisms{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
  encode_authentication_sasl(sasl, mechanisms);
  auto s = parse_authentication(only_body(sasl, 'R'));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, AuthCode::kSasl);
  EXPECT_EQ(str(s->data), "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"sv);

  ByteVector cont;
  encode_authentication_sasl_continue(cont, "r=nonce,s=salt,i=4096");
  auto c = parse_authentication(only_body(cont, 'R'));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->code, AuthCode::kSaslContinue);
  EXPECT_EQ(str(c->data), "r=nonce,s=salt,i=4096");

  ByteVector final;
  encode_authentication_sasl_final(final, "v=proof");
  auto f = parse_authentication(only_body(final, 'R'));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->code, AuthCode::kSaslFinal);
  EXPECT_EQ(str(f->data), "v=proof");
}

TEST(PgEncode, SessionStateMessages) {
  ByteVector out;
  encode_parameter_status(out, "client_encoding", "UTF8");
  auto ps = parse_parameter_status(only_body(out, 'S'));
  ASSERT_TRUE(ps);
  EXPECT_EQ(ps->first, "client_encoding");
  EXPECT_EQ(ps->second, "UTF8");

  out.clear();
  encode_backend_key_data(out, 99, -123456);
  EXPECT_EQ(parse_backend_key_data(only_body(out, 'K')),
            (std::pair<std::int32_t, std::int32_t>{99, -123456}));

  for (TxStatus status : {TxStatus::kIdle, TxStatus::kInTransaction, TxStatus::kFailed}) {
    out.clear();
    encode_ready_for_query(out, status);
    EXPECT_EQ(out.size(), 6u);
    EXPECT_EQ(parse_ready_for_query(only_body(out, 'Z')), status);
  }

  out.clear();
  encode_command_complete(out, "SELECT 3");
  EXPECT_EQ(parse_command_complete(only_body(out, 'C')), "SELECT 3");
}

TEST(PgEncode, ErrorBytesAndRoundTrip) {
  ByteVector out;
  encode_error(out, "FATAL", "28P01", "password authentication failed");
  EXPECT_EQ(str(out),
            "E\0\0\0\x3a"
            "SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0"s);
  auto e = parse_error_fields(only_body(out, 'E'));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->severity, "FATAL");
  EXPECT_EQ(e->code, "28P01");
  EXPECT_EQ(e->message, "password authentication failed");
  EXPECT_TRUE(e->detail.empty());
  EXPECT_TRUE(e->other.empty());
}

TEST(PgEncode, ErrorResponseFieldOrderAndRoundTrip) {
  ErrorFields fields;
  fields.severity = "ERROR";
  fields.code = "42P01";
  fields.message = "relation \"t\" does not exist";
  fields.detail = "detail";
  fields.hint = "hint";
  fields.other = {{'P', "15"}, {'R', "parserOpenTable"}};
  ByteVector out;
  encode_error_response(out, fields);
  EXPECT_EQ(str(only_body(out, 'E')),
            "SERROR\0VERROR\0C42P01\0Mrelation \"t\" does not exist\0Ddetail\0Hhint\0"
            "P15\0RparserOpenTable\0\0"s);
  auto back = parse_error_fields(only_body(out, 'E'));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->severity, fields.severity);
  EXPECT_EQ(back->code, fields.code);
  EXPECT_EQ(back->message, fields.message);
  EXPECT_EQ(back->detail, fields.detail);
  EXPECT_EQ(back->hint, fields.hint);
  EXPECT_EQ(back->other, fields.other);

  ErrorFields notice;
  notice.severity = "NOTICE";
  notice.code = "00000";
  notice.message = "hello";
  out.clear();
  encode_notice_response(out, notice);
  EXPECT_EQ(str(only_body(out, 'N')), "SNOTICE\0VNOTICE\0C00000\0Mhello\0\0"sv);
}

TEST(PgEncode, RowsRoundTrip) {
  std::array<FieldDescription, 2> fields{};
  fields[0].name = "id";
  fields[0].table_oid = 16384;
  fields[0].column = 1;
  fields[0].type_oid = 23;
  fields[0].type_size = 4;
  fields[1].name = "payload";
  fields[1].type_oid = 17;
  fields[1].format = 1;
  ByteVector out;
  encode_row_description(out, fields);
  auto back = parse_row_description(only_body(out, 'T'));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2u);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    EXPECT_EQ((*back)[i].name, fields[i].name);
    EXPECT_EQ((*back)[i].table_oid, fields[i].table_oid);
    EXPECT_EQ((*back)[i].column, fields[i].column);
    EXPECT_EQ((*back)[i].type_oid, fields[i].type_oid);
    EXPECT_EQ((*back)[i].type_size, fields[i].type_size);
    EXPECT_EQ((*back)[i].type_modifier, fields[i].type_modifier);
    EXPECT_EQ((*back)[i].format, fields[i].format);
  }

  std::string binary = "\0\x01\xff"s;
  std::array<std::optional<Bytes>, 4> values{as_bytes("42"), std::nullopt, as_bytes(""),
                                             as_bytes(binary)};
  out.clear();
  encode_data_row(out, values);
  EXPECT_EQ(str(only_body(out, 'D')),
            "\0\x04\0\0\0\x02"
            "42\xff\xff\xff\xff\0\0\0\0\0\0\0\x03\0\x01\xff"s);
  auto row = parse_data_row(only_body(out, 'D'));
  ASSERT_TRUE(row);
  ASSERT_EQ(row->size(), 4u);
  EXPECT_EQ(str(*(*row)[0]), "42");
  EXPECT_FALSE((*row)[1]);
  EXPECT_TRUE((*row)[2]->empty());
  EXPECT_EQ(str(*(*row)[3]), binary);
}

TEST(PgEncode, BodylessAndUnparsedServerMessages) {
  struct Case {
    void (*encode)(ByteVector&);
    std::string_view bytes;
  };
  for (const Case& c :
       {Case{encode_empty_query_response, "I\0\0\0\x04"sv},
        Case{encode_parse_complete, "1\0\0\0\x04"sv}, Case{encode_bind_complete, "2\0\0\0\x04"sv},
        Case{encode_close_complete, "3\0\0\0\x04"sv}, Case{encode_no_data, "n\0\0\0\x04"sv},
        Case{encode_portal_suspended, "s\0\0\0\x04"sv}, Case{encode_copy_done, "c\0\0\0\x04"sv},
        Case{encode_sync, "S\0\0\0\x04"sv}, Case{encode_flush, "H\0\0\0\x04"sv},
        Case{encode_terminate, "X\0\0\0\x04"sv}}) {
    ByteVector out;
    c.encode(out);
    EXPECT_EQ(str(out), c.bytes);
  }

  ByteVector out;
  std::array<std::uint32_t, 2> types{23, 0xfffffffe};
  encode_parameter_description(out, types);
  EXPECT_EQ(str(only_body(out, 't')), "\0\x02\0\0\0\x17\xff\xff\xff\xfe"sv);

  out.clear();
  encode_notification(out, 7, "jobs", "42");
  EXPECT_EQ(str(only_body(out, 'A')),
            "\0\0\0\x07jobs\0"
            "42\0"sv);

  std::array<std::int16_t, 2> formats{0, 1};
  out.clear();
  encode_copy_in_response(out, 1, formats);
  EXPECT_EQ(str(only_body(out, 'G')), "\x01\0\x02\0\0\0\x01"sv);
  out.clear();
  encode_copy_out_response(out, 0, formats);
  EXPECT_EQ(str(only_body(out, 'H')), "\0\0\x02\0\0\0\x01"sv);

  out.clear();
  encode_copy_data(out, as_bytes("1\tx\n"));
  EXPECT_EQ(str(only_body(out, 'd')), "1\tx\n");
}

TEST(PgEncode, PasswordsRoundTrip) {
  ByteVector out;
  encode_password_message(out, "md5abcdef");
  EXPECT_EQ(parse_password(only_body(out, 'p')), "md5abcdef");

  out.clear();
  encode_sasl_initial_response(out, "SCRAM-SHA-256", "n,,n=,r=nonce");
  auto initial = parse_sasl_initial_response(only_body(out, 'p'));
  ASSERT_TRUE(initial);
  EXPECT_EQ(initial->first, "SCRAM-SHA-256");
  EXPECT_EQ(str(initial->second), "n,,n=,r=nonce");

  out.clear();
  encode_sasl_response(out, "c=biws,r=nonce,p=proof");
  EXPECT_EQ(str(only_body(out, 'p')), "c=biws,r=nonce,p=proof");
}

TEST(PgEncode, ExtendedQueryRoundTrip) {
  ByteVector out;
  encode_query(out, "SELECT 1");
  EXPECT_EQ(parse_query(only_body(out, 'Q')), "SELECT 1");

  out.clear();
  std::array<std::uint32_t, 2> types{23, 0};
  encode_parse(out, "s1", "select $1, $2", types);
  auto parse = parse_parse(only_body(out, 'P'));
  ASSERT_TRUE(parse);
  EXPECT_EQ(parse->statement, "s1");
  EXPECT_EQ(parse->query, "select $1, $2");
  EXPECT_EQ(parse->parameter_types, (std::vector<std::uint32_t>{23, 0}));

  out.clear();
  std::array<std::int16_t, 1> parameter_formats{1};
  std::array<std::optional<Bytes>, 3> parameters{as_bytes("\0\0\0\x2a"sv), std::nullopt,
                                                 as_bytes("")};
  std::array<std::int16_t, 2> result_formats{1, 0};
  encode_bind(out, "p1", "s1", parameter_formats, parameters, result_formats);
  auto bind = parse_bind(only_body(out, 'B'));
  ASSERT_TRUE(bind);
  EXPECT_EQ(bind->portal, "p1");
  EXPECT_EQ(bind->statement, "s1");
  EXPECT_EQ(bind->parameter_formats, (std::vector<std::int16_t>{1}));
  ASSERT_EQ(bind->parameters.size(), 3u);
  EXPECT_EQ(str(*bind->parameters[0]), "\0\0\0\x2a"sv);
  EXPECT_FALSE(bind->parameters[1]);
  EXPECT_TRUE(bind->parameters[2]->empty());
  EXPECT_EQ(bind->result_formats, (std::vector<std::int16_t>{1, 0}));

  // Renaming keeps everything after the names byte for byte.
  ByteVector renamed;
  encode_bind_renamed(renamed, "p1", "plexi_7", bind->rest);
  auto again = parse_bind(only_body(renamed, 'B'));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->statement, "plexi_7");
  EXPECT_EQ(str(again->rest), str(bind->rest));
  EXPECT_EQ(again->parameters.size(), 3u);
  EXPECT_EQ(renamed.size(), out.size() + 5);

  out.clear();
  encode_describe(out, 'S', "s1");
  auto describe = parse_describe(only_body(out, 'D'));
  ASSERT_TRUE(describe);
  EXPECT_EQ(describe->kind, 'S');
  EXPECT_EQ(describe->name, "s1");
  out.clear();
  encode_close(out, 'P', "p1");
  auto close = parse_close(only_body(out, 'C'));
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind, 'P');
  EXPECT_EQ(close->name, "p1");
  out.clear();
  encode_execute(out, "p1", 500);
  auto execute = parse_execute(only_body(out, 'E'));
  ASSERT_TRUE(execute);
  EXPECT_EQ(execute->portal, "p1");
  EXPECT_EQ(execute->max_rows, 500);
}

TEST(PgEncode, BatchDecodesAtEverySplit) {
  ByteVector wire;
  std::array<std::uint32_t, 1> types{23};
  std::array<std::optional<Bytes>, 1> parameters{as_bytes("7")};
  encode_parse(wire, "s", "select $1", types);
  encode_bind(wire, "", "s", {}, parameters, {});
  encode_describe(wire, 'P', "");
  encode_execute(wire, "", 0);
  encode_sync(wire);
  expect_frames_split_everywhere(wire, 5);

  ByteVector replies;
  encode_parse_complete(replies);
  encode_bind_complete(replies);
  std::array<FieldDescription, 1> fields{};
  fields[0].name = "x";
  encode_row_description(replies, fields);
  encode_data_row(replies, parameters);
  encode_command_complete(replies, "SELECT 1");
  encode_ready_for_query(replies, TxStatus::kIdle);
  expect_frames_split_everywhere(replies, 6);
}

}  // namespace
}  // namespace plexi::pg
