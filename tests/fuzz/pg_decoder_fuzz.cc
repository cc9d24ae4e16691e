// libFuzzer target for the PostgreSQL codec: decodes arbitrary bytes as a client stream
// (startup packet, then typed messages), runs every body parser on every frame, and checks
// that what parses re-encodes to something that parses back to the same values.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "protocol/pg/decoder.h"
#include "protocol/pg/encoder.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace plexi;
using namespace plexi::pg;

using plexi::fuzz::check;

bool same_bytes(Bytes a, Bytes b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

bool same_values(const std::vector<std::optional<Bytes>>& a,
                 const std::vector<std::optional<Bytes>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].has_value() != b[i].has_value()) return false;
    if (a[i] && !same_bytes(*a[i], *b[i])) return false;
  }
  return true;
}

// Decodes `wire` as a single frame of `type` and returns its body (checked to be all of it).
Bytes reframe(const ByteVector& wire, char type) {
  auto frame = decode_frame(wire);
  check(frame.ok() && frame.consumed == wire.size() && frame.message.type == type,
        "re-encoded message frames");
  return frame.message.body;
}

void round_trip_parse(const ParseMessage& parse) {
  ByteVector wire;
  encode_parse(wire, parse.statement, parse.query, parse.parameter_types);
  auto again = parse_parse(reframe(wire, frontend::kParse));
  check(again && again->statement == parse.statement && again->query == parse.query &&
            again->parameter_types == parse.parameter_types,
        "Parse round trip");
}

void round_trip_bind(const BindMessage& bind, Bytes body) {
  ByteVector wire;
  encode_bind(wire, bind.portal, bind.statement, bind.parameter_formats, bind.parameters,
              bind.result_formats);
  // A well-formed Bind has one encoding, so the bytes themselves must come back.
  check(same_bytes(reframe(wire, frontend::kBind), body), "Bind re-encodes to its input");
  ByteVector renamed;
  encode_bind_renamed(renamed, bind.portal, "plexi_s", bind.rest);
  auto again = parse_bind(reframe(renamed, frontend::kBind));
  check(again && again->statement == "plexi_s" && same_values(again->parameters, bind.parameters) &&
            same_bytes(again->rest, bind.rest),
        "renamed Bind keeps its parameters");
}

void round_trip_error(const ErrorFields& fields) {
  ByteVector wire;
  encode_error_response(wire, fields);
  auto again = parse_error_fields(reframe(wire, backend::kErrorResponse));
  check(again && again->severity == fields.severity && again->code == fields.code &&
            again->message == fields.message && again->detail == fields.detail &&
            again->hint == fields.hint && again->other == fields.other,
        "ErrorResponse round trip");
}

void round_trip_rows(const std::vector<FieldDescription>& fields) {
  ByteVector wire;
  encode_row_description(wire, fields);
  auto again = parse_row_description(reframe(wire, backend::kRowDescription));
  check(again && again->size() == fields.size(), "RowDescription round trip");
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const FieldDescription& a = fields[i];
    const FieldDescription& b = (*again)[i];
    check(a.name == b.name && a.table_oid == b.table_oid && a.column == b.column &&
              a.type_oid == b.type_oid && a.type_size == b.type_size &&
              a.type_modifier == b.type_modifier && a.format == b.format,
          "RowDescription field round trip");
  }
}

// Every parser sees every body: the type byte does not stop a parser from being exercised.
void parse_body(Bytes body) {
  if (auto query = parse_query(body)) {
    ByteVector wire;
    encode_query(wire, *query);
    check(same_bytes(reframe(wire, frontend::kQuery), body), "Query round trip");
  }
  if (auto parse = parse_parse(body)) round_trip_parse(*parse);
  if (auto bind = parse_bind(body)) {
    check(parse_bind_names(body).has_value(), "full Bind implies its names parse");
    round_trip_bind(*bind, body);
  }
  if (auto names = parse_bind_names(body)) {
    check(names->parameters.empty(), "names-only Bind leaves parameters empty");
  }
  if (auto describe = parse_describe(body)) {
    ByteVector wire;
    encode_describe(wire, describe->kind, describe->name);
    check(same_bytes(reframe(wire, frontend::kDescribe), body), "Describe round trip");
  }
  (void)parse_close(body);
  if (auto execute = parse_execute(body)) {
    ByteVector wire;
    encode_execute(wire, execute->portal, execute->max_rows);
    check(same_bytes(reframe(wire, frontend::kExecute), body), "Execute round trip");
  }
  if (auto error = parse_error_fields(body)) round_trip_error(*error);
  (void)parse_parameter_status(body);
  (void)parse_backend_key_data(body);
  (void)parse_ready_for_query(body);
  (void)parse_command_complete(body);
  (void)parse_authentication(body);
  (void)parse_password(body);
  (void)parse_sasl_initial_response(body);
  if (auto fields = parse_row_description(body)) round_trip_rows(*fields);
  if (auto row = parse_data_row(body)) {
    ByteVector wire;
    encode_data_row(wire, *row);
    check(same_bytes(reframe(wire, backend::kDataRow), body), "DataRow round trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes input(reinterpret_cast<const std::byte*>(data), size);

  auto startup = decode_startup(input);
  if (startup.ok()) {
    check(startup.consumed >= 8 && startup.consumed <= input.size(), "startup consumed");
    if (startup.message.kind == StartupPacket::Kind::kStartup &&
        startup.message.protocol == kProtocolVersion3) {
      std::vector<std::pair<std::string_view, std::string_view>> params;
      for (const auto& [key, value] : startup.message.parameters) params.emplace_back(key, value);
      ByteVector wire;
      encode_startup_message(wire, params);
      check(same_bytes(wire, input.first(startup.consumed)), "startup round trip");
    }
    input = input.subspan(startup.consumed);
  }

  // A small maximum lets the fuzzer reach the size limit with short inputs too.
  const std::size_t max_size = size % 2 == 0 ? kDefaultMaxMessage : 64;
  while (!input.empty()) {
    auto frame = decode_frame(input, max_size);
    if (frame.status != DecodeStatus::kOk) {
      check(frame.status == DecodeStatus::kNeedMore || !frame.error.empty(), "error has text");
      break;
    }
    check(frame.consumed == frame.message.size && frame.consumed <= input.size() &&
              frame.message.body.size() + 5 == frame.consumed,
          "frame sizes agree");
    parse_body(frame.message.body);
    input = input.subspan(frame.consumed);
  }
  return 0;
}
