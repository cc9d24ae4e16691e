// MySQL packet framing, the bounds-checked payload Reader, little-endian writers, and the
// packets that end a response (OK, ERR, EOF) or describe and carry text result sets.
#include "protocol/mysql/packets.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace plexi::mysql {
namespace {

std::uint8_t first_byte(Bytes payload) {
  return payload.empty() ? 0 : std::to_integer<std::uint8_t>(payload[0]);
}

void put_u24le(std::byte* p, std::uint32_t v) {
  p[0] = std::byte(v & 0xff);
  p[1] = std::byte((v >> 8) & 0xff);
  p[2] = std::byte((v >> 16) & 0xff);
}

// A 0xfe packet short enough to be an end-of-result packet rather than a row whose first
// value is longer than 16 MB (whose first piece is always exactly kMaxPayload bytes).
bool is_short_fe(Bytes payload) {
  return first_byte(payload) == 0xfe && payload.size() < kMaxPayload;
}

}  // namespace

// ---- framing ----

std::optional<Packet> next_packet(Bytes input) {
  if (input.size() < kHeaderSize) return std::nullopt;
  std::size_t length = std::to_integer<std::size_t>(input[0]) |
                       (std::to_integer<std::size_t>(input[1]) << 8) |
                       (std::to_integer<std::size_t>(input[2]) << 16);
  if (input.size() - kHeaderSize < length) return std::nullopt;
  return Packet{std::to_integer<std::uint8_t>(input[3]), input.subspan(kHeaderSize, length)};
}

void append_packet(ByteVector& out, std::uint8_t& sequence, Bytes payload) {
  // A piece of exactly kMaxPayload bytes tells the reader another piece follows, so a payload
  // that is a multiple of it (zero included) ends with an empty piece.
  while (true) {
    std::size_t piece = std::min(payload.size(), kMaxPayload);
    std::size_t offset = begin_packet(out);
    append_bytes(out, payload.first(piece));
    finish_packet(out, offset, sequence);
    payload = payload.subspan(piece);
    if (piece < kMaxPayload) return;
  }
}

std::size_t begin_packet(ByteVector& out) {
  std::size_t offset = out.size();
  out.resize(offset + kHeaderSize);
  return offset;
}

void finish_packet(ByteVector& out, std::size_t offset, std::uint8_t& sequence) {
  std::size_t length = out.size() - offset - kHeaderSize;
  if (length > kMaxPayload) {
    // The header cannot say this; only append_packet splits payloads.
    throw std::length_error("MySQL packet payload over 16 MB in finish_packet");
  }
  put_u24le(out.data() + offset, static_cast<std::uint32_t>(length));
  out[offset + 3] = std::byte{sequence++};
}

// ---- Reader ----

std::uint8_t Reader::u8() {
  auto bytes = fixed(1);
  return bytes.empty() ? 0 : static_cast<std::uint8_t>(bytes[0]);
}

namespace {
std::uint64_t little_endian(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) {
    value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  }
  return value;
}
}  // namespace

std::uint16_t Reader::u16() { return static_cast<std::uint16_t>(little_endian(fixed(2))); }
std::uint32_t Reader::u24() { return static_cast<std::uint32_t>(little_endian(fixed(3))); }
std::uint32_t Reader::u32() { return static_cast<std::uint32_t>(little_endian(fixed(4))); }
std::uint64_t Reader::u64() { return little_endian(fixed(8)); }

std::optional<std::uint64_t> Reader::lenenc() {
  std::uint8_t first = u8();
  if (failed_) return 0;
  switch (first) {
    case 0xfb:
      return std::nullopt;
    case 0xfc:
      return u16();
    case 0xfd:
      return u24();
    case 0xfe:
      return u64();
    case 0xff:  // not a length: an ERR header where a value was expected
      failed_ = true;
      return 0;
    default:
      return first;
  }
}

std::string_view Reader::lenenc_string() {
  auto length = lenenc();
  if (!length) failed_ = true;  // NULL where a string must be
  if (failed_ || *length > remaining()) {
    failed_ = true;
    return {};
  }
  return fixed(static_cast<std::size_t>(*length));
}

std::string_view Reader::null_terminated() {
  if (failed_) return {};
  auto rest = as_chars(data_.subspan(position_));
  auto nul = rest.find('\0');
  if (nul == std::string_view::npos) {
    failed_ = true;
    return {};
  }
  position_ += nul + 1;
  return rest.substr(0, nul);
}

std::string_view Reader::fixed(std::size_t n) {
  if (failed_ || n > data_.size() - position_) {
    failed_ = true;
    return {};
  }
  auto bytes = as_chars(data_.subspan(position_, n));
  position_ += n;
  return bytes;
}

std::string_view Reader::rest() { return fixed(remaining()); }

// ---- writing ----

void append_u16le(ByteVector& out, std::uint16_t v) {
  out.push_back(std::byte(v & 0xff));
  out.push_back(std::byte(v >> 8));
}
void append_u24le(ByteVector& out, std::uint32_t v) {
  out.resize(out.size() + 3);
  put_u24le(out.data() + out.size() - 3, v);
}
void append_u32le(ByteVector& out, std::uint32_t v) {
  append_u16le(out, static_cast<std::uint16_t>(v & 0xffff));
  append_u16le(out, static_cast<std::uint16_t>(v >> 16));
}
void append_u64le(ByteVector& out, std::uint64_t v) {
  append_u32le(out, static_cast<std::uint32_t>(v & 0xffffffff));
  append_u32le(out, static_cast<std::uint32_t>(v >> 32));
}

void append_lenenc(ByteVector& out, std::uint64_t v) {
  if (v < 0xfb) {
    append_u8(out, static_cast<std::uint8_t>(v));
  } else if (v <= 0xffff) {
    append_u8(out, 0xfc);
    append_u16le(out, static_cast<std::uint16_t>(v));
  } else if (v <= 0xffffff) {
    append_u8(out, 0xfd);
    append_u24le(out, static_cast<std::uint32_t>(v));
  } else {
    append_u8(out, 0xfe);
    append_u64le(out, v);
  }
}

void append_lenenc_string(ByteVector& out, std::string_view text) {
  append_lenenc(out, text.size());
  append_text(out, text);
}

void append_null_terminated(ByteVector& out, std::string_view text) {
  append_text(out, text);
  append_u8(out, 0);
}

// ---- OK / ERR / EOF ----

bool is_ok(Bytes payload) { return first_byte(payload) == 0x00 && payload.size() >= 7; }
bool is_err(Bytes payload) { return first_byte(payload) == 0xff; }
bool is_eof(Bytes payload) { return first_byte(payload) == 0xfe && payload.size() < 9; }

bool is_result_end(Bytes payload, std::uint32_t capabilities) {
  return is_eof(payload) || ((capabilities & cap::kDeprecateEof) && is_short_fe(payload));
}

std::optional<Ok> decode_ok(Bytes payload, std::uint32_t capabilities) {
  std::uint8_t header = first_byte(payload);
  bool eof_form = header == 0xfe && (capabilities & cap::kDeprecateEof) && is_short_fe(payload);
  if (payload.empty() || (header != 0x00 && !eof_form)) return std::nullopt;
  Reader reader(payload.subspan(1));
  Ok ok;
  auto affected = reader.lenenc();
  auto insert_id = reader.lenenc();
  if (!affected || !insert_id) return std::nullopt;
  ok.affected_rows = *affected;
  ok.last_insert_id = *insert_id;
  ok.status = reader.u16();
  ok.warnings = reader.u16();
  if (reader.failed()) return std::nullopt;
  if (capabilities & cap::kSessionTrack) {
    if (reader.remaining() > 0) ok.info = reader.lenenc_string();
    if ((ok.status & status::kSessionStateChanged) && reader.remaining() > 0) {
      ok.session_state = reader.lenenc_string();
    }
    if (reader.failed()) return std::nullopt;
  } else if (reader.remaining() > 0) {
    // MySQL and MariaDB write the info length-encoded here too, and their clients read it
    // so; a server that sends it bare (as the protocol documentation has it) still works
    // when its text does not happen to parse as exactly one length-encoded string.
    std::string_view rest = reader.rest();
    Reader info(as_bytes(rest));
    std::string_view text = info.lenenc_string();
    ok.info = !info.failed() && info.remaining() == 0 ? text : rest;
  }
  return ok;
}

ByteVector encode_ok_payload(const Ok& ok, std::uint32_t capabilities, bool eof_header) {
  ByteVector out;
  append_u8(out, eof_header ? 0xfe : 0x00);
  append_lenenc(out, ok.affected_rows);
  append_lenenc(out, ok.last_insert_id);
  append_u16le(out, ok.status);
  append_u16le(out, ok.warnings);
  bool state_changed =
      (capabilities & cap::kSessionTrack) && (ok.status & status::kSessionStateChanged);
  if (state_changed || !ok.info.empty()) append_lenenc_string(out, ok.info);
  if (state_changed) append_lenenc_string(out, ok.session_state);
  return out;
}

std::optional<Err> decode_err(Bytes payload) {
  if (!is_err(payload)) return std::nullopt;
  Reader reader(payload.subspan(1));
  Err err;
  err.code = reader.u16();
  if (reader.failed()) return std::nullopt;
  // The SQLSTATE marker is there once the client said kProtocol41; an error sent before
  // that (a refused connection, before the handshake) has none.
  if (reader.remaining() >= 6 && as_chars(payload)[3] == '#') {
    reader.u8();
    err.sqlstate = reader.fixed(5);
  }
  err.message = reader.rest();
  return err;
}

ByteVector encode_err_payload(const Err& err) {
  ByteVector out;
  append_u8(out, 0xff);
  append_u16le(out, err.code);
  append_u8(out, '#');
  std::string sqlstate = err.sqlstate.substr(0, 5);
  sqlstate.resize(5, '0');
  append_text(out, sqlstate);
  append_text(out, err.message);
  return out;
}

std::optional<Eof> decode_eof(Bytes payload) {
  if (!is_eof(payload) || payload.size() < 5) return std::nullopt;
  Reader reader(payload.subspan(1));
  Eof eof;
  eof.warnings = reader.u16();
  eof.status = reader.u16();
  return eof;
}

ByteVector encode_eof_payload(const Eof& eof) {
  ByteVector out;
  append_u8(out, 0xfe);
  append_u16le(out, eof.warnings);
  append_u16le(out, eof.status);
  return out;
}

std::optional<std::uint16_t> status_of(Bytes payload, std::uint32_t capabilities) {
  if (is_eof(payload) && payload.size() >= 5) {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(payload[3]) |
                                      (std::to_integer<unsigned>(payload[4]) << 8));
  }
  bool ok_form = is_ok(payload) || ((capabilities & cap::kDeprecateEof) && is_short_fe(payload));
  if (!ok_form) return std::nullopt;
  Reader reader(payload.subspan(1));
  auto affected = reader.lenenc();
  auto insert_id = reader.lenenc();
  std::uint16_t flags = reader.u16();
  if (!affected || !insert_id || reader.failed()) return std::nullopt;
  return flags;
}

// ---- result sets ----

ByteVector encode_column_definition_payload(const ColumnDefinition& column) {
  ByteVector out;
  for (const std::string* text : {&column.catalog, &column.schema, &column.table, &column.org_table,
                                  &column.name, &column.org_name}) {
    append_lenenc_string(out, *text);
  }
  append_lenenc(out, 0x0c);  // the length of the fixed fields that follow
  append_u16le(out, column.collation);
  append_u32le(out, column.length);
  append_u8(out, static_cast<std::uint8_t>(column.type));
  append_u16le(out, column.flags);
  append_u8(out, column.decimals);
  append_u16le(out, 0);  // filler
  return out;
}

std::optional<ColumnDefinition> decode_column_definition(Bytes payload) {
  Reader reader(payload);
  ColumnDefinition column;
  for (std::string* text : {&column.catalog, &column.schema, &column.table, &column.org_table,
                            &column.name, &column.org_name}) {
    *text = reader.lenenc_string();
  }
  // Always 0x0c today; a longer block is read up to what this code knows and skipped.
  auto fixed_length = reader.lenenc();
  if (reader.failed() || !fixed_length || *fixed_length < 10 ||
      *fixed_length > reader.remaining()) {
    return std::nullopt;
  }
  column.collation = reader.u16();
  column.length = reader.u32();
  column.type = static_cast<FieldType>(reader.u8());
  column.flags = reader.u16();
  column.decimals = reader.u8();
  reader.fixed(static_cast<std::size_t>(*fixed_length - 10));
  if (reader.failed()) return std::nullopt;
  return column;
}

void append_text_row_payload(ByteVector& out,
                             const std::vector<std::optional<std::string>>& values) {
  for (const auto& value : values) {
    if (value) {
      append_lenenc_string(out, *value);
    } else {
      append_u8(out, 0xfb);
    }
  }
}

}  // namespace plexi::mysql
