// libFuzzer target for the MySQL codec: frames arbitrary bytes into packets, runs every
// decoder (under several capability sets) and the Reader on every payload, and checks that
// what decodes re-encodes to something that decodes back to the same values.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "protocol/mysql/packets.h"

namespace {

using namespace plexi;
using namespace plexi::mysql;

// A broken invariant is a bug for the fuzzer to report, so it aborts with the reason.
void check(bool condition, const char* what) {
  if (!condition) {
    fprintf(stderr, "invariant failed: %s\n", what);
    std::abort();
  }
}

// What a client without extras, a typical modern client, and one with every option send.
constexpr std::uint32_t kCapabilitySets[] = {
    cap::kProtocol41,
    cap::kProtocol41 | cap::kSecureConnection | cap::kPluginAuth | cap::kTransactions,
    cap::kProtocol41 | cap::kSecureConnection | cap::kPluginAuth | cap::kPluginAuthLenencData |
        cap::kConnectWithDb | cap::kConnectAttrs | cap::kSessionTrack | cap::kDeprecateEof,
};

// What a session would remember between packets: the parameter count of the last prepared
// statement, the types its last execution sent, and values sent as long data.
struct StreamState {
  std::size_t parameters = 0;
  std::vector<std::pair<FieldType, bool>> types;
  std::vector<std::optional<std::string>> long_data;
};

void connection_phase(Bytes payload) {
  if (auto handshake = decode_handshake(payload)) {
    auto again = decode_handshake(encode_handshake_payload(*handshake));
    check(again && *again == *handshake, "handshake round trip");
  }
  if (auto response = decode_handshake_response(payload)) {
    auto again = decode_handshake_response(encode_handshake_response_payload(*response));
    check(again && *again == *response, "handshake response round trip");
  }
  if (auto change = decode_auth_switch(payload)) {
    auto again = decode_auth_switch(encode_auth_switch_payload(change->plugin, change->data));
    check(again && *again == *change, "auth switch round trip");
  }
}

void responses(Bytes payload, std::uint32_t caps) {
  if (auto ok = decode_ok(payload, caps)) {
    bool eof_form = std::to_integer<std::uint8_t>(payload[0]) == 0xfe;
    auto again = decode_ok(encode_ok_payload(*ok, caps, eof_form), caps);
    check(again && *again == *ok, "OK round trip");
    check(status_of(payload, caps) == ok->status, "status_of agrees with decode_ok");
    check(eof_form ? is_result_end(payload, caps) : is_ok(payload), "OK is classified as one");
  }
  if (auto change = decode_change_user(payload, caps)) {
    auto again = decode_change_user(encode_change_user_payload(*change, caps), caps);
    check(again && *again == *change, "COM_CHANGE_USER round trip");
  }
  (void)is_result_end(payload, caps);
}

void result_packets(Bytes payload) {
  if (auto err = decode_err(payload)) {
    auto again = decode_err(encode_err_payload(*err));
    check(again && *again == *err, "ERR round trip");
  }
  if (auto eof = decode_eof(payload)) {
    auto again = decode_eof(encode_eof_payload(*eof));
    check(again && *again == *eof, "EOF round trip");
    check(status_of(payload, 0) == eof->status, "status_of agrees with decode_eof");
  }
  if (auto column = decode_column_definition(payload)) {
    auto again = decode_column_definition(encode_column_definition_payload(*column));
    check(again && *again == *column, "column definition round trip");
  }
  if (auto ok = decode_prepare_ok(payload)) {
    auto again = decode_prepare_ok(encode_prepare_ok_payload(*ok));
    check(again && *again == *ok, "prepare OK round trip");
  }
}

// The payload as a text row: values up to its end, re-encoded and read back.
void text_row(Bytes payload) {
  Reader reader(payload);
  std::vector<std::optional<std::string>> values;
  while (reader.remaining() > 0 && values.size() < 4096) {
    if (std::to_integer<std::uint8_t>(payload[reader.position()]) == 0xfb) {
      reader.u8();
      values.emplace_back();
    } else {
      values.emplace_back(std::string(reader.lenenc_string()));
    }
  }
  if (reader.failed()) return;
  ByteVector wire;
  append_text_row_payload(wire, values);
  Reader again(wire);
  for (const auto& value : values) {
    auto length = again.lenenc();
    check(!again.failed() && length.has_value() == value.has_value(), "text row NULLs");
    if (value) check(again.fixed(static_cast<std::size_t>(*length)) == *value, "text row value");
  }
  check(!again.failed() && again.remaining() == 0, "text row length");

  // The same values as a binary row of LONGLONG, DOUBLE and string columns, read back.
  std::vector<FieldType> types;
  std::vector<BinaryCell> cells;
  for (std::size_t i = 0; i < values.size(); ++i) {
    static constexpr FieldType kTypes[] = {FieldType::kLongLong, FieldType::kDouble,
                                           FieldType::kVarString};
    types.push_back(kTypes[i % 3]);
    BinaryCell cell;
    cell.is_null = !values[i];
    if (values[i]) {
      cell.integer = static_cast<std::int64_t>(values[i]->size()) - 3;
      cell.real = static_cast<double>(values[i]->size()) / 4;
      cell.bytes = *values[i];
    }
    cells.push_back(cell);
  }
  ByteVector row;
  append_binary_row_payload(row, types, cells);
  Reader binary(row);
  check(binary.u8() == 0x00, "binary row header");
  std::string_view bitmap = binary.fixed((types.size() + 9) / 8);
  for (std::size_t i = 0; i < types.size(); ++i) {
    bool is_null = (static_cast<std::uint8_t>(bitmap[(i + 2) / 8]) >> ((i + 2) % 8)) & 1;
    check(is_null == cells[i].is_null, "binary row NULL bitmap");
    if (is_null) continue;
    if (types[i] == FieldType::kLongLong) {
      check(static_cast<std::int64_t>(binary.u64()) == cells[i].integer, "binary LONGLONG");
    } else if (types[i] == FieldType::kDouble) {
      std::uint64_t bits = binary.u64();
      double real;
      std::memcpy(&real, &bits, sizeof real);
      check(real == cells[i].real, "binary DOUBLE");
    } else {
      check(binary.lenenc_string() == cells[i].bytes, "binary string");
    }
  }
  check(!binary.failed() && binary.remaining() == 0, "binary row length");
}

// Commands as a client sends them, with the state a session keeps between them.
void command(Bytes payload, StreamState& state) {
  if (payload.empty()) return;
  auto command = static_cast<Command>(std::to_integer<std::uint8_t>(payload[0]));
  Bytes body = payload.subspan(1);
  if (command == Command::kStmtSendLongData && body.size() >= 6) {
    Reader reader(body);
    reader.u32();
    std::size_t index = reader.u16();
    if (index < 64) {
      if (state.long_data.size() <= index) state.long_data.resize(index + 1);
      state.long_data[index] = std::string(reader.rest());
    }
  }
  ByteVector copy(payload.begin(), payload.end());
  set_statement_id(copy, 0x01020304);
  check(payload.size() < 5 || statement_id_of(copy) == 0x01020304, "statement id rewrite");
  if (auto header = decode_execute_header(body)) {
    check(statement_id_of(payload) == header->statement_id, "statement id agrees");
  }
  // The remembered count, and one the input chooses, so executes decode without a prepare.
  for (std::size_t count : {state.parameters, std::to_integer<std::size_t>(payload.back()) % 24}) {
    auto execute = decode_execute(body, count, state.types, state.long_data);
    if (!execute) continue;
    check(execute->values.size() == count, "one value per parameter");
    check(execute->types.empty() || execute->types.size() == count, "one type per parameter");
    if (!execute->types.empty()) state.types = execute->types;
  }
  if (auto ok = decode_prepare_ok(payload)) {
    state.parameters = ok->parameters;
    state.types.clear();
    state.long_data.clear();
  }
}

// The Reader driven by the payload's own bytes: each byte picks the next read.
void reader_walk(Bytes payload) {
  Reader reader(payload);
  while (reader.remaining() > 0) {
    std::size_t before = reader.position();
    switch (reader.u8() % 9) {
      case 0:
        (void)reader.u16();
        break;
      case 1:
        (void)reader.u24();
        break;
      case 2:
        (void)reader.u32();
        break;
      case 3:
        (void)reader.u64();
        break;
      case 4:
        (void)reader.lenenc();
        break;
      case 5:
        (void)reader.lenenc_string();
        break;
      case 6:
        (void)reader.null_terminated();
        break;
      case 7:
        (void)reader.fixed(reader.u8() % 16);
        break;
      default:
        (void)reader.rest();
        break;
    }
    check(reader.position() <= payload.size() && reader.position() > before, "reader moves");
    if (reader.failed()) {
      check(reader.remaining() == 0 && reader.u8() == 0 && reader.rest().empty(),
            "a failed reader stays failed");
      break;
    }
    check(reader.remaining() == payload.size() - reader.position(), "reader remaining");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes input(reinterpret_cast<const std::byte*>(data), size);
  StreamState state;
  while (auto packet = next_packet(input)) {
    check(packet->size() == packet->payload.size() + kHeaderSize && packet->size() <= input.size(),
          "packet sizes agree");
    Bytes payload = packet->payload;
    ByteVector reframed;
    std::uint8_t sequence = packet->sequence;
    append_packet(reframed, sequence, payload);
    auto again = next_packet(reframed);
    check(again && again->sequence == packet->sequence && again->payload.size() == payload.size() &&
              (payload.empty() ||
               std::memcmp(again->payload.data(), payload.data(), payload.size()) == 0),
          "packet re-frames");

    connection_phase(payload);
    for (std::uint32_t caps : kCapabilitySets) responses(payload, caps);
    result_packets(payload);
    text_row(payload);
    command(payload, state);
    reader_walk(payload);
    input = input.subspan(packet->size());
  }
  return 0;
}
