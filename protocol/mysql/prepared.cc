// The prepared-statement packets: COM_STMT_PREPARE's OK, COM_STMT_EXECUTE's header and its
// binary-encoded parameters, statement ids rewritten in place, and binary result rows.
#include "protocol/mysql/packets.h"

#include <bit>
#include <cstdio>

namespace plexi::mysql {
namespace {

constexpr std::size_t kExecuteHeaderSize = 9;   // statement id, flags, iteration count
constexpr std::uint8_t kUnsignedFlag = 0x80;    // in a parameter type's second byte
constexpr std::size_t kMaxParameters = 0xffff;  // COM_STMT_PREPARE's OK counts them in 16 bits

// DATE, DATETIME and TIMESTAMP: a length byte (0, 4, 7 or 11), then the year, month and
// day, the time of day, the microseconds; rendered as MySQL prints them.
bool read_datetime(Reader& reader, std::string& text) {
  std::uint8_t length = reader.u8();
  if (length != 0 && length != 4 && length != 7 && length != 11) return false;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  std::uint32_t micros = 0;
  if (length >= 4) {
    year = reader.u16();
    month = reader.u8();
    day = reader.u8();
  }
  if (length >= 7) {
    hour = reader.u8();
    minute = reader.u8();
    second = reader.u8();
  }
  if (length == 11) micros = reader.u32();
  if (reader.failed() || micros > 999999) return false;
  char buffer[48];
  int n = std::snprintf(buffer, sizeof buffer, "%04u-%02u-%02u", year, month, day);
  if (length >= 7) {
    n += std::snprintf(buffer + n, sizeof buffer - n, " %02u:%02u:%02u", hour, minute, second);
  }
  if (length == 11)
    std::snprintf(buffer + n, sizeof buffer - n, ".%06u", static_cast<unsigned>(micros));
  text = buffer;
  return true;
}

// TIME: a length byte (0, 8 or 12), the sign, days, hours, minutes, seconds and
// microseconds; the days are folded into the hours, as MySQL prints an interval.
bool read_time(Reader& reader, std::string& text) {
  std::uint8_t length = reader.u8();
  if (length != 0 && length != 8 && length != 12) return false;
  bool negative = false;
  unsigned long long hours = 0;
  unsigned minute = 0, second = 0;
  std::uint32_t micros = 0;
  if (length >= 8) {
    negative = reader.u8() != 0;
    std::uint32_t days = reader.u32();
    hours = days * 24ull + reader.u8();
    minute = reader.u8();
    second = reader.u8();
  }
  if (length == 12) micros = reader.u32();
  if (reader.failed() || micros > 999999) return false;
  char buffer[48];
  int n = std::snprintf(buffer, sizeof buffer, "%s%02llu:%02u:%02u", negative ? "-" : "", hours,
                        minute, second);
  if (length == 12)
    std::snprintf(buffer + n, sizeof buffer - n, ".%06u", static_cast<unsigned>(micros));
  text = buffer;
  return true;
}

template <class Signed, class Unsigned>
std::int64_t widen(Unsigned raw, bool is_unsigned) {
  return is_unsigned ? static_cast<std::int64_t>(raw)
                     : static_cast<std::int64_t>(static_cast<Signed>(raw));
}

// One non-NULL parameter value of `value.type`.
bool read_value(Reader& reader, BinaryValue& value) {
  value.is_null = false;
  switch (value.type) {
    case FieldType::kTiny:
      value.integer = widen<std::int8_t>(reader.u8(), value.is_unsigned);
      break;
    case FieldType::kShort:
    case FieldType::kYear:
      value.integer = widen<std::int16_t>(reader.u16(), value.is_unsigned);
      break;
    case FieldType::kLong:
    case FieldType::kInt24:
      value.integer = widen<std::int32_t>(reader.u32(), value.is_unsigned);
      break;
    case FieldType::kLongLong:
      // Unsigned values above INT64_MAX keep their bits; is_unsigned says how to read them.
      value.integer = static_cast<std::int64_t>(reader.u64());
      break;
    case FieldType::kFloat:
      value.real = std::bit_cast<float>(reader.u32());
      break;
    case FieldType::kDouble:
      value.real = std::bit_cast<double>(reader.u64());
      break;
    case FieldType::kDate:
    case FieldType::kDatetime:
    case FieldType::kTimestamp:
      return read_datetime(reader, value.bytes);
    case FieldType::kTime:
      return read_time(reader, value.bytes);
    case FieldType::kNull:
      value.is_null = true;  // the type itself says NULL: no bytes follow
      break;
    default:
      value.bytes = reader.lenenc_string();
      break;
  }
  return !reader.failed();
}

}  // namespace

std::optional<PrepareOk> decode_prepare_ok(Bytes payload) {
  if (payload.empty() || std::to_integer<std::uint8_t>(payload[0]) != 0x00) return std::nullopt;
  Reader reader(payload.subspan(1));
  PrepareOk ok;
  ok.statement_id = reader.u32();
  ok.columns = reader.u16();
  ok.parameters = reader.u16();
  if (reader.failed()) return std::nullopt;
  if (reader.remaining() >= 3) {
    reader.u8();  // filler
    ok.warnings = reader.u16();
  }
  return ok;
}

ByteVector encode_prepare_ok_payload(const PrepareOk& ok) {
  ByteVector out;
  append_u8(out, 0x00);
  append_u32le(out, ok.statement_id);
  append_u16le(out, ok.columns);
  append_u16le(out, ok.parameters);
  append_u8(out, 0);  // filler
  append_u16le(out, ok.warnings);
  return out;
}

std::optional<ExecuteHeader> decode_execute_header(Bytes payload) {
  Reader reader(payload);
  ExecuteHeader header;
  header.statement_id = reader.u32();
  header.flags = reader.u8();
  header.iterations = reader.u32();
  if (reader.failed()) return std::nullopt;
  return header;
}

void set_statement_id(std::span<std::byte> payload, std::uint32_t id) {
  if (payload.size() < 5) return;
  for (std::size_t i = 0; i < 4; ++i) payload[1 + i] = std::byte((id >> (8 * i)) & 0xff);
}

std::uint32_t statement_id_of(Bytes payload) {
  if (payload.size() < 5) return 0;
  return Reader(payload.subspan(1)).u32();
}

std::optional<ExecuteParameters> decode_execute(
    Bytes payload, std::size_t parameter_count,
    const std::vector<std::pair<FieldType, bool>>& previous_types,
    const std::vector<std::optional<std::string>>& long_data) {
  auto header = decode_execute_header(payload);
  if (!header || parameter_count > kMaxParameters) return std::nullopt;
  ExecuteParameters parameters;
  parameters.header = *header;
  if (parameter_count == 0) return parameters;
  Reader reader(payload.subspan(kExecuteHeaderSize));
  std::string_view null_bitmap = reader.fixed((parameter_count + 7) / 8);
  bool types_follow = reader.u8() != 0;  // new_params_bound_flag
  if (reader.failed()) return std::nullopt;
  const std::vector<std::pair<FieldType, bool>>* types = &previous_types;
  if (types_follow) {
    if (reader.remaining() / 2 < parameter_count) return std::nullopt;
    parameters.types.reserve(parameter_count);
    for (std::size_t i = 0; i < parameter_count; ++i) {
      auto type = static_cast<FieldType>(reader.u8());
      bool is_unsigned = (reader.u8() & kUnsignedFlag) != 0;
      parameters.types.emplace_back(type, is_unsigned);
    }
    types = &parameters.types;
  }
  if (types->size() != parameter_count) return std::nullopt;  // no types sent yet

  parameters.values.resize(parameter_count);
  for (std::size_t i = 0; i < parameter_count; ++i) {
    BinaryValue& value = parameters.values[i];
    value.type = (*types)[i].first;
    value.is_unsigned = (*types)[i].second;
    bool is_null = (static_cast<std::uint8_t>(null_bitmap[i / 8]) >> (i % 8)) & 1;
    if (is_null) continue;
    // A value sent ahead with COM_STMT_SEND_LONG_DATA is not repeated in the packet.
    if (i < long_data.size() && long_data[i]) {
      value.is_null = false;
      value.bytes = *long_data[i];
      continue;
    }
    if (!read_value(reader, value)) return std::nullopt;
  }
  return parameters;
}

void append_binary_row_payload(ByteVector& out, const std::vector<FieldType>& types,
                               const std::vector<BinaryCell>& cells) {
  append_u8(out, 0x00);
  // The row's NULL bitmap starts at bit 2 (bits 0 and 1 are unused in rows).
  std::size_t bitmap = out.size();
  out.resize(out.size() + (types.size() + 7 + 2) / 8);
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (i < cells.size() && !cells[i].is_null) continue;
    out[bitmap + (i + 2) / 8] |= std::byte(1u << ((i + 2) % 8));
  }
  for (std::size_t i = 0; i < types.size() && i < cells.size(); ++i) {
    const BinaryCell& cell = cells[i];
    if (cell.is_null) continue;
    switch (types[i]) {
      case FieldType::kLongLong:
        append_u64le(out, static_cast<std::uint64_t>(cell.integer));
        break;
      case FieldType::kDouble:
        append_u64le(out, std::bit_cast<std::uint64_t>(cell.real));
        break;
      default:
        append_lenenc_string(out, cell.bytes);
        break;
    }
  }
}

}  // namespace plexi::mysql
