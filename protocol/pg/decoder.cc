// Decodes PostgreSQL v3 frames and message bodies from byte spans, without throwing.
#include "protocol/pg/decoder.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace plexi::pg {
namespace {

// Reads fields front to back. A read past the end marks the reader failed and returns a
// zero value, so a parser reads straight through and checks `ok()` once at the end;
// every count is still checked against `remaining()` before anything is reserved for it.
class Reader {
 public:
  explicit Reader(Bytes input) : rest_(input) {}

  bool ok() const { return ok_; }
  // True when every byte was read and nothing was read past the end.
  bool finished() const { return ok_ && rest_.empty(); }
  std::size_t remaining() const { return rest_.size(); }
  void fail() { ok_ = false; }

  std::uint8_t u8() {
    auto b = take(1);
    return b.empty() ? 0 : std::to_integer<std::uint8_t>(b[0]);
  }
  // Counts in the protocol are unsigned 16-bit values: PostgreSQL reads Bind's and
  // Parse's counts with pq_getmsgint(.., 2) and libpq sends up to 65535 parameters, so a
  // count with the top bit set is large, not negative.
  std::uint16_t u16() {
    auto b = take(2);
    return b.empty() ? 0 : read_u16be(b.data());
  }
  std::int16_t i16() { return static_cast<std::int16_t>(u16()); }
  std::int32_t i32() {
    auto b = take(4);
    return b.empty() ? 0 : read_i32be(b.data());
  }
  std::uint32_t u32() { return static_cast<std::uint32_t>(i32()); }

  // A NUL-terminated string, without its NUL.
  std::string_view cstr() {
    if (!ok_) return {};
    const void* nul = std::memchr(rest_.data(), 0, rest_.size());
    if (nul == nullptr) {
      fail();
      return {};
    }
    auto length = static_cast<std::size_t>(static_cast<const std::byte*>(nul) - rest_.data());
    auto text = as_chars(rest_.first(length));
    rest_ = rest_.subspan(length + 1);
    return text;
  }

  Bytes take(std::size_t n) {
    if (!ok_ || n > rest_.size()) {
      fail();
      return {};
    }
    auto bytes = rest_.first(n);
    rest_ = rest_.subspan(n);
    return bytes;
  }
  Bytes take_rest() { return take(rest_.size()); }

  // A value prefixed by an int32 length, where -1 stands for SQL NULL. Any other negative
  // length, or one beyond the input, fails the reader.
  std::optional<Bytes> nullable_value() {
    std::int32_t length = i32();
    if (length == -1) return std::nullopt;
    if (length < 0) {
      fail();
      return Bytes{};
    }
    return take(static_cast<std::size_t>(length));
  }

 private:
  Bytes rest_;
  bool ok_ = true;
};

template <class T>
Decoded<T> need_more() {
  return {};
}

template <class T>
Decoded<T> error(std::string message) {
  Decoded<T> result;
  result.status = DecodeStatus::kError;
  result.error = std::move(message);
  return result;
}

// Protocol numbers are major << 16 | minor; the special request codes reuse the scheme
// with major 1234, which no real protocol version will ever have.
constexpr std::int32_t major_of(std::int32_t code) { return (code >> 16) & 0xffff; }
constexpr std::int32_t minor_of(std::int32_t code) { return code & 0xffff; }

// The length a packet with this code must have, or 0 when it has a variable length.
std::size_t fixed_length(std::int32_t code) {
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      return 8;
    case kCancelRequestCode:
      return 16;
    default:
      return 0;
  }
}

// key\0value\0 ... \0, the final NUL being the packet's last byte (as PostgreSQL checks).
bool parse_startup_parameters(Bytes body, StartupPacket& packet) {
  Reader reader(body);
  while (reader.ok() && reader.remaining() > 1) {
    std::string_view key = reader.cstr();
    std::string_view value = reader.cstr();
    if (!reader.ok() || key.empty()) return false;
    packet.parameters.emplace_back(key, value);
  }
  return reader.u8() == 0 && reader.finished();
}

std::optional<TargetMessage> parse_target(Bytes body) {
  Reader reader(body);
  TargetMessage message;
  message.kind = static_cast<char>(reader.u8());
  message.name = reader.cstr();
  if (!reader.finished() || (message.kind != 'S' && message.kind != 'P')) return std::nullopt;
  return message;
}

// A body that is exactly one NUL-terminated string.
std::optional<std::string_view> parse_single_string(Bytes body) {
  Reader reader(body);
  std::string_view text = reader.cstr();
  if (!reader.finished()) return std::nullopt;
  return text;
}

}  // namespace

Decoded<StartupPacket> decode_startup(Bytes input, std::size_t max_size) {
  if (input.size() < 4) return need_more<StartupPacket>();
  std::uint32_t length = read_u32be(input.data());
  if (length < 8 || length > max_size) {
    return error<StartupPacket>("invalid length of startup packet");
  }
  if (input.size() < 8) return need_more<StartupPacket>();

  // The code decides the shape, so a wrong length is reported before the body arrives.
  std::int32_t code = read_i32be(input.data() + 4);
  std::size_t fixed = fixed_length(code);
  if (fixed != 0 && length != fixed) {
    return error<StartupPacket>(code == kCancelRequestCode ? "invalid length of cancel request"
                                                           : "invalid length of startup packet");
  }
  if (fixed == 0 && major_of(code) != 3) {
    return error<StartupPacket>("unsupported frontend protocol " + std::to_string(major_of(code)) +
                                "." + std::to_string(minor_of(code)) +
                                ": server supports 3.0 to 3.0");
  }
  if (input.size() < length) return need_more<StartupPacket>();

  Decoded<StartupPacket> result;
  result.consumed = length;
  StartupPacket& packet = result.message;
  switch (code) {
    case kSslRequestCode:
      packet.kind = StartupPacket::Kind::kSslRequest;
      break;
    case kGssEncRequestCode:
      packet.kind = StartupPacket::Kind::kGssEncRequest;
      break;
    case kCancelRequestCode:
      packet.kind = StartupPacket::Kind::kCancelRequest;
      packet.cancel_pid = read_i32be(input.data() + 8);
      packet.cancel_secret = read_i32be(input.data() + 12);
      break;
    default:
      // 3.0, or a later 3.x minor version: the parameter layout is the same, and the
      // session answers a minor version above 0 with NegotiateProtocolVersion.
      packet.kind = StartupPacket::Kind::kStartup;
      packet.protocol = code;
      if (!parse_startup_parameters(input.subspan(8, length - 8), packet)) {
        return error<StartupPacket>(
            "invalid startup packet layout: expected terminator as last byte");
      }
      break;
  }
  result.status = DecodeStatus::kOk;
  return result;
}

Decoded<Frame> decode_frame(Bytes input, std::size_t max_size) {
  if (input.size() < 5) return need_more<Frame>();
  std::uint32_t length = read_u32be(input.data() + 1);
  // Read unsigned, so a "negative" length such as 0x80000000 is simply too large.
  if (length < 4) return error<Frame>("invalid message length");
  if (length > max_size) return error<Frame>("message too large");
  std::size_t size = std::size_t{length} + 1;
  if (input.size() < size) return need_more<Frame>();

  Decoded<Frame> result;
  result.status = DecodeStatus::kOk;
  result.consumed = size;
  result.message.type = static_cast<char>(input[0]);
  result.message.body = input.subspan(5, length - 4);
  result.message.size = size;
  return result;
}

std::optional<std::string_view> parse_query(Bytes body) { return parse_single_string(body); }

std::optional<ParseMessage> parse_parse(Bytes body) {
  Reader reader(body);
  ParseMessage message;
  message.statement = reader.cstr();
  message.query = reader.cstr();
  std::size_t count = reader.u16();
  // Exactly the declared types must remain; checked before the vector is sized.
  if (!reader.ok() || reader.remaining() != count * 4) return std::nullopt;
  message.parameter_types.reserve(count);
  for (std::size_t i = 0; i < count; ++i) message.parameter_types.push_back(reader.u32());
  if (!reader.finished()) return std::nullopt;
  return message;
}

std::optional<BindMessage> parse_bind_names(Bytes body) {
  Reader reader(body);
  BindMessage message;
  message.portal = reader.cstr();
  message.statement = reader.cstr();
  message.rest = reader.take_rest();
  // The three counts at least; the rest is the server's to validate on the hot path.
  if (!reader.finished() || message.rest.size() < 6) return std::nullopt;
  return message;
}

std::optional<BindMessage> parse_bind(Bytes body) {
  auto names = parse_bind_names(body);
  if (!names) return std::nullopt;
  BindMessage& message = *names;
  Reader reader(message.rest);

  std::size_t format_count = reader.u16();
  if (format_count * 2 > reader.remaining()) return std::nullopt;
  message.parameter_formats.reserve(format_count);
  for (std::size_t i = 0; i < format_count; ++i) message.parameter_formats.push_back(reader.i16());

  std::size_t parameter_count = reader.u16();
  if (!reader.ok() || parameter_count * 4 > reader.remaining()) return std::nullopt;
  message.parameters.reserve(parameter_count);
  for (std::size_t i = 0; i < parameter_count && reader.ok(); ++i) {
    message.parameters.push_back(reader.nullable_value());
  }

  std::size_t result_count = reader.u16();
  if (!reader.ok() || result_count * 2 != reader.remaining()) return std::nullopt;
  message.result_formats.reserve(result_count);
  for (std::size_t i = 0; i < result_count; ++i) message.result_formats.push_back(reader.i16());
  if (!reader.finished()) return std::nullopt;
  return names;
}

std::optional<TargetMessage> parse_describe(Bytes body) { return parse_target(body); }
std::optional<TargetMessage> parse_close(Bytes body) { return parse_target(body); }

std::optional<ExecuteMessage> parse_execute(Bytes body) {
  Reader reader(body);
  ExecuteMessage message;
  message.portal = reader.cstr();
  // Zero or negative means "no limit" to the server, so every value is accepted.
  message.max_rows = reader.i32();
  if (!reader.finished()) return std::nullopt;
  return message;
}

std::optional<ErrorFields> parse_error_fields(Bytes body) {
  Reader reader(body);
  ErrorFields fields;
  bool have_untranslated = false;
  for (char code = static_cast<char>(reader.u8()); reader.ok() && code != 0;
       code = static_cast<char>(reader.u8())) {
    std::string_view value = reader.cstr();
    if (!reader.ok()) return std::nullopt;
    switch (code) {
      // 'V' is never localized, so when present it wins over 'S' for code that matches
      // on severity (FATAL, PANIC).
      case 'S':
        if (!have_untranslated) fields.severity = value;
        break;
      case 'V':
        fields.severity = value;
        have_untranslated = true;
        break;
      case 'C':
        fields.code = value;
        break;
      case 'M':
        fields.message = value;
        break;
      case 'D':
        fields.detail = value;
        break;
      case 'H':
        fields.hint = value;
        break;
      default:
        fields.other.emplace_back(code, std::string(value));
        break;
    }
  }
  if (!reader.finished()) return std::nullopt;
  return fields;
}

std::optional<std::pair<std::string_view, std::string_view>> parse_parameter_status(Bytes body) {
  Reader reader(body);
  std::string_view name = reader.cstr();
  std::string_view value = reader.cstr();
  if (!reader.finished()) return std::nullopt;
  return std::pair{name, value};
}

std::optional<std::pair<std::int32_t, std::int32_t>> parse_backend_key_data(Bytes body) {
  Reader reader(body);
  std::int32_t pid = reader.i32();
  std::int32_t secret = reader.i32();
  if (!reader.finished()) return std::nullopt;
  return std::pair{pid, secret};
}

std::optional<TxStatus> parse_ready_for_query(Bytes body) {
  if (body.size() != 1) return std::nullopt;
  auto status = static_cast<char>(body[0]);
  if (status != 'I' && status != 'T' && status != 'E') return std::nullopt;
  return static_cast<TxStatus>(status);
}

std::optional<std::string_view> parse_command_complete(Bytes body) {
  return parse_single_string(body);
}

std::optional<std::int64_t> rows_in_command_tag(std::string_view tag) {
  static constexpr std::string_view kCounting[] = {"SELECT", "INSERT", "UPDATE", "DELETE",
                                                   "MERGE",  "FETCH",  "MOVE",   "COPY"};
  auto space = tag.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view command = tag.substr(0, space);
  if (std::find(std::begin(kCounting), std::end(kCounting), command) == std::end(kCounting)) {
    return std::nullopt;
  }
  std::string_view count = tag.substr(tag.rfind(' ') + 1);
  std::int64_t rows = 0;
  auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), rows);
  if (error != std::errc() || end != count.data() + count.size()) return std::nullopt;
  return rows;
}

std::optional<AuthenticationMessage> parse_authentication(Bytes body) {
  Reader reader(body);
  AuthenticationMessage message;
  std::int32_t code = reader.i32();
  message.code = static_cast<AuthCode>(code);
  message.data = reader.take_rest();
  if (!reader.finished()) return std::nullopt;
  switch (code) {
    case 0:  // Ok
    case 2:  // KerberosV5
    case 3:  // CleartextPassword
    case 6:  // SCMCredential
    case 7:  // GSS
    case 9:  // SSPI
      return message.data.empty() ? std::optional{message} : std::nullopt;
    case 5:  // MD5Password: a 4-byte salt
      return message.data.size() == 4 ? std::optional{message} : std::nullopt;
    case 8:   // GSSContinue
    case 11:  // SASLContinue
    case 12:  // SASLFinal
      return message;
    case 10: {  // SASL: non-empty mechanism names, then an empty one
      Reader names(message.data);
      bool more = true;
      while (more) more = !names.cstr().empty();  // a failed read also yields ""
      return names.finished() ? std::optional{message} : std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::string_view> parse_password(Bytes body) { return parse_single_string(body); }

std::optional<std::pair<std::string_view, Bytes>> parse_sasl_initial_response(Bytes body) {
  Reader reader(body);
  std::string_view mechanism = reader.cstr();
  std::optional<Bytes> data = reader.nullable_value();
  if (!reader.finished()) return std::nullopt;
  return std::pair{mechanism, data.value_or(Bytes{})};
}

std::optional<std::vector<FieldDescription>> parse_row_description(Bytes body) {
  // Each field takes at least its name's NUL and 18 bytes of numbers.
  constexpr std::size_t kMinFieldSize = 19;
  Reader reader(body);
  std::size_t count = reader.u16();
  if (!reader.ok() || count * kMinFieldSize > reader.remaining()) return std::nullopt;
  std::vector<FieldDescription> fields;
  fields.reserve(count);
  for (std::size_t i = 0; i < count && reader.ok(); ++i) {
    FieldDescription& field = fields.emplace_back();
    field.name = reader.cstr();
    field.table_oid = reader.u32();
    field.column = reader.i16();
    field.type_oid = reader.u32();
    field.type_size = reader.i16();
    field.type_modifier = reader.i32();
    field.format = reader.i16();
  }
  if (!reader.finished()) return std::nullopt;
  return fields;
}

std::optional<std::vector<std::optional<Bytes>>> parse_data_row(Bytes body) {
  Reader reader(body);
  std::size_t count = reader.u16();
  if (!reader.ok() || count * 4 > reader.remaining()) return std::nullopt;
  std::vector<std::optional<Bytes>> values;
  values.reserve(count);
  for (std::size_t i = 0; i < count && reader.ok(); ++i) values.push_back(reader.nullable_value());
  if (!reader.finished()) return std::nullopt;
  return values;
}

}  // namespace plexi::pg
