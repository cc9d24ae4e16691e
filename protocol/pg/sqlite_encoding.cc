// Encodes SQLite values in PostgreSQL's text and binary formats and decodes Bind parameters
// into SQLite values, following PostgreSQL's own output and input rules where they matter
// to drivers (float8 digits, bytea hex, bool letters, numeric's base-10000 binary form).
#include "protocol/pg/sqlite_encoding.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

namespace plexi::pg {
namespace {

// A finite double's shortest round-trip digits: value = 0.d1d2...dn × 10^(exponent + 1).
struct ShortestDigits {
  bool negative = false;
  std::string digits;  // no leading zeros except for zero itself ("0")
  int exponent = 0;    // of the first digit: 1.5 → 0, 0.015 → -2
};

ShortestDigits shortest_digits(double v) {
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::scientific);
  std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  ShortestDigits out;
  if (!text.empty() && text.front() == '-') {
    out.negative = true;
    text.remove_prefix(1);
  }
  auto e = text.find('e');
  for (char c : text.substr(0, e)) {
    if (c != '.') out.digits += c;
  }
  std::string_view exponent = text.substr(e + 1);
  if (!exponent.empty() && exponent.front() == '+') exponent.remove_prefix(1);
  std::from_chars(exponent.data(), exponent.data() + exponent.size(), out.exponent);
  return out;
}

// Digits placed around the decimal point, without an exponent.
std::string positional(const ShortestDigits& d) {
  std::string out = d.negative ? "-" : "";
  int point = d.exponent + 1;  // digits before the point
  int n = static_cast<int>(d.digits.size());
  if (point <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-point), '0');
    out += d.digits;
  } else if (point >= n) {
    out += d.digits;
    out.append(static_cast<std::size_t>(point - n), '0');
  } else {
    out.append(d.digits, 0, static_cast<std::size_t>(point));
    out += '.';
    out.append(d.digits, static_cast<std::size_t>(point));
  }
  return out;
}

std::string_view trim(std::string_view text) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::int64_t> parse_int64(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// PostgreSQL's boolean input: true/false, yes/no, on/off, 1/0 and unique prefixes.
std::optional<bool> parse_bool(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  auto prefix_of = [&](std::string_view word) {
    return text.size() <= word.size() && iequals(text, word.substr(0, text.size()));
  };
  if (prefix_of("true") || prefix_of("yes") || iequals(text, "on") || text == "1") return true;
  if (prefix_of("false") || prefix_of("no") || iequals(text, "off") || text == "0") return false;
  return std::nullopt;
}

// A decimal number's text: sign, digits with the point shifted by any exponent.
struct DecimalText {
  bool negative = false;
  std::string digits;  // without the point
  int point = 0;       // digits before the point (may be negative or beyond the digits)
  int scale = 0;       // digits after the point as written, for numeric's dscale
};

std::optional<DecimalText> parse_decimal(std::string_view text) {
  text = trim(text);
  DecimalText out;
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) out.negative = text[i++] == '-';
  bool any = false;
  bool after_point = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      out.digits += c;
      any = true;
      if (after_point) ++out.scale;
    } else if (c == '.' && !after_point) {
      after_point = true;
      out.point = static_cast<int>(out.digits.size());
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  if (!after_point) out.point = static_cast<int>(out.digits.size());
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    int exponent = 0;
    std::string_view rest = text.substr(i + 1);
    if (!rest.empty() && rest.front() == '+') rest.remove_prefix(1);
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), exponent);
    if (ec != std::errc() || end != rest.data() + rest.size() || std::abs(exponent) > 1000) {
      return std::nullopt;
    }
    out.point += exponent;
    out.scale = std::max(0, out.scale - exponent);
    i = text.size();
  }
  if (i != text.size()) return std::nullopt;
  return out;
}

// numeric's binary form: ndigits, weight, sign, dscale, then base-10000 digits.
void append_numeric_binary(ByteVector& out, const DecimalText& d) {
  std::string digits = d.digits;
  int point = d.point;
  // Pad so the point falls on a group boundary, then to whole groups.
  int pad = ((4 - point % 4) % 4 + 4) % 4;
  digits.insert(0, static_cast<std::size_t>(pad), '0');
  point += pad;
  digits.append((4 - digits.size() % 4) % 4, '0');
  std::vector<std::uint16_t> groups;
  for (std::size_t i = 0; i < digits.size(); i += 4) {
    groups.push_back(static_cast<std::uint16_t>(std::stoi(digits.substr(i, 4))));
  }
  int weight = point / 4 - 1;
  std::size_t first = 0;
  while (first < groups.size() && groups[first] == 0) {
    ++first;
    --weight;
  }
  std::size_t last = groups.size();
  while (last > first && groups[last - 1] == 0) --last;
  if (first == last) weight = 0;
  append_u16be(out, static_cast<std::uint16_t>(last - first));
  append_u16be(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(weight)));
  append_u16be(out, (d.negative && first != last) ? 0x4000 : 0x0000);
  append_u16be(out, static_cast<std::uint16_t>(std::max(0, d.scale)));
  for (std::size_t i = first; i < last; ++i) append_u16be(out, groups[i]);
}

void append_numeric_special(ByteVector& out, std::uint16_t sign) {
  append_u16be(out, 0);
  append_u16be(out, 0);
  append_u16be(out, sign);
  append_u16be(out, 0);
}

// The natural text of a value, whatever its column says.
void append_plain_text(ByteVector& out, const CellView& cell) {
  switch (cell.kind) {
    case StorageKind::kNull:
      return;
    case StorageKind::kInteger: {
      char buffer[24];
      auto result = std::to_chars(buffer, buffer + sizeof buffer, cell.integer);
      append_text(out, std::string_view(buffer, static_cast<std::size_t>(result.ptr - buffer)));
      return;
    }
    case StorageKind::kReal:
      append_text(out, format_float8(cell.real));
      return;
    case StorageKind::kText:
      append_text(out, cell.bytes);
      return;
    case StorageKind::kBlob:
      append_text(out, bytea_hex(cell.bytes));
      return;
  }
}

std::string plain_text(const CellView& cell) {
  ByteVector out;
  append_plain_text(out, cell);
  return std::string(as_chars(out));
}

std::string cannot_send(const CellView& cell, std::uint32_t type_oid) {
  std::string shown = cell.kind == StorageKind::kBlob ? "a blob" : "\"" + plain_text(cell) + "\"";
  return "invalid input syntax for type " + std::string(type_name(type_oid)) + ": " + shown;
}

// Days since 2000-01-01 as a proleptic Gregorian date (Howard Hinnant's civil_from_days).
std::string date_text(std::int64_t days_since_2000) {
  std::int64_t z = days_since_2000 + 10957 + 719468;  // to days since 0000-03-01
  std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d));
  return buffer;
}

std::string time_text(std::int64_t micros) {
  std::int64_t seconds = micros / 1000000;
  std::int64_t fraction = micros % 1000000;
  char buffer[80];
  int n = std::snprintf(
      buffer, sizeof buffer, "%02lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
      static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  std::string out(buffer, static_cast<std::size_t>(n));
  if (fraction != 0) {
    std::snprintf(buffer, sizeof buffer, ".%06lld", static_cast<long long>(fraction));
    std::string digits = buffer;
    while (digits.back() == '0') digits.pop_back();
    out += digits;
  }
  return out;
}

std::string timestamp_text(std::int64_t micros) {
  constexpr std::int64_t kDay = 86400LL * 1000000;
  std::int64_t days = micros / kDay;
  std::int64_t rest = micros % kDay;
  if (rest < 0) {
    rest += kDay;
    --days;
  }
  return date_text(days) + " " + time_text(rest);
}

std::string uuid_text(Bytes bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    auto b = std::to_integer<unsigned>(bytes[i]);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// numeric's binary form back to its decimal text.
std::optional<std::string> numeric_binary_text(Bytes raw) {
  if (raw.size() < 8) return std::nullopt;
  std::size_t ndigits = read_u16be(raw.data());
  int weight = read_i16be(raw.data() + 2);
  std::uint16_t sign = read_u16be(raw.data() + 4);
  int dscale = read_u16be(raw.data() + 6);
  if (raw.size() != 8 + 2 * ndigits) return std::nullopt;
  if (sign == 0xC000) return "NaN";
  if (sign == 0xD000) return "Infinity";
  if (sign == 0xF000) return "-Infinity";
  if (sign != 0 && sign != 0x4000) return std::nullopt;
  std::string integer_part;
  std::string fraction;
  // Walk groups from the highest weight down to the last one the scale shows.
  int fraction_groups = (dscale + 3) / 4;
  for (int w = std::max(weight, 0); w >= -fraction_groups; --w) {
    int index = weight - w;
    std::uint16_t value = (index >= 0 && static_cast<std::size_t>(index) < ndigits)
                              ? read_u16be(raw.data() + 8 + 2 * index)
                              : 0;
    if (value > 9999) return std::nullopt;
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "%04u", value);
    (w >= 0 ? integer_part : fraction) += buffer;
  }
  integer_part.erase(0, std::min(integer_part.find_first_not_of('0'), integer_part.size() - 1));
  if (integer_part.empty()) integer_part = "0";
  fraction.resize(static_cast<std::size_t>(dscale), '0');
  std::string out = sign == 0x4000 ? "-" : "";
  out += integer_part;
  if (dscale > 0) out += "." + fraction;
  return out;
}

template <class T>
T read_be(const std::byte* p) {
  if constexpr (sizeof(T) == 2) return static_cast<T>(read_u16be(p));
  if constexpr (sizeof(T) == 4) return static_cast<T>(read_u32be(p));
  if constexpr (sizeof(T) == 8) return static_cast<T>(read_u64be(p));
}

ParameterValue integer_value(std::int64_t v) {
  ParameterValue out;
  out.kind = StorageKind::kInteger;
  out.integer = v;
  return out;
}
ParameterValue real_value(double v) {
  ParameterValue out;
  out.kind = StorageKind::kReal;
  out.real = v;
  return out;
}
ParameterValue bytes_value(StorageKind kind, std::string_view bytes) {
  ParameterValue out;
  out.kind = kind;
  out.bytes = std::string(bytes);
  return out;
}

std::optional<std::string> decode_bytea_text(std::string_view text) {
  std::string out;
  if (text.starts_with("\\x")) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (std::size_t i = 2; i < text.size();) {
      if (std::isspace(static_cast<unsigned char>(text[i]))) {
        ++i;
        continue;
      }
      if (i + 1 >= text.size()) return std::nullopt;
      int high = hex(text[i]);
      int low = hex(text[i + 1]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
    return out;
  }
  // The escape format: \\ for a backslash, \nnn (octal) for any byte.
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
    } else if (i + 1 < text.size() && text[i + 1] == '\\') {
      out += '\\';
      ++i;
    } else if (i + 3 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '3' &&
               text[i + 2] >= '0' && text[i + 2] <= '7' && text[i + 3] >= '0' &&
               text[i + 3] <= '7') {
      out += static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                               (text[i + 3] - '0'));
      i += 3;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

ParameterError invalid_text(std::uint32_t type_oid, std::string_view text) {
  return {"22P02", "invalid input syntax for type " + std::string(type_name(type_oid)) + ": \"" +
                       std::string(text) + "\""};
}

std::optional<ParameterError> decode_text_parameter(std::string_view text, std::uint32_t type_oid,
                                                    ParameterValue& out) {
  switch (type_oid) {
    case oid::kInt2:
    case oid::kInt4:
    case oid::kInt8:
    case oid::kOid: {
      auto value = parse_int64(text);
      if (!value) return invalid_text(type_oid, text);
      std::int64_t low = type_oid == oid::kInt2   ? std::numeric_limits<std::int16_t>::min()
                         : type_oid == oid::kInt4 ? std::numeric_limits<std::int32_t>::min()
                         : type_oid == oid::kOid  ? 0
                                                  : std::numeric_limits<std::int64_t>::min();
      std::int64_t high = type_oid == oid::kInt2   ? std::numeric_limits<std::int16_t>::max()
                          : type_oid == oid::kInt4 ? std::numeric_limits<std::int32_t>::max()
                          : type_oid == oid::kOid  ? std::numeric_limits<std::uint32_t>::max()
                                                   : std::numeric_limits<std::int64_t>::max();
      if (*value < low || *value > high) {
        return ParameterError{"22003", "value \"" + std::string(text) +
                                           "\" is out of range for type " +
                                           std::string(type_name(type_oid))};
      }
      out = integer_value(*value);
      return std::nullopt;
    }
    case oid::kFloat4:
    case oid::kFloat8: {
      auto value = parse_double(text);
      if (!value) return invalid_text(type_oid, text);
      out = real_value(*value);
      return std::nullopt;
    }
    case oid::kBool: {
      auto value = parse_bool(text);
      if (!value) return invalid_text(type_oid, text);
      out = integer_value(*value ? 1 : 0);
      return std::nullopt;
    }
    case oid::kBytea: {
      auto value = decode_bytea_text(text);
      if (!value) return invalid_text(type_oid, text);
      out = bytes_value(StorageKind::kBlob, *value);
      return std::nullopt;
    }
    case oid::kNumeric: {
      // Integers bind as integers; fractions stay text so no digit is lost before SQLite's
      // NUMERIC affinity decides how to store them.
      if (auto value = parse_int64(text)) {
        out = integer_value(*value);
        return std::nullopt;
      }
      if (!parse_decimal(text) && !iequals(trim(text), "NaN")) return invalid_text(type_oid, text);
      out = bytes_value(StorageKind::kText, trim(text));
      return std::nullopt;
    }
    default:
      out = bytes_value(StorageKind::kText, text);
      return std::nullopt;
  }
}

std::optional<ParameterError> decode_binary_parameter(Bytes raw, std::uint32_t type_oid,
                                                      ParameterValue& out) {
  auto wrong_size = [&]() {
    return ParameterError{
        "22P03", "incorrect binary data format for type " + std::string(type_name(type_oid))};
  };
  auto need = [&](std::size_t n) { return raw.size() == n; };
  switch (type_oid) {
    case oid::kInt2:
      if (!need(2)) return wrong_size();
      out = integer_value(read_be<std::int16_t>(raw.data()));
      return std::nullopt;
    case oid::kInt4:
      if (!need(4)) return wrong_size();
      out = integer_value(read_be<std::int32_t>(raw.data()));
      return std::nullopt;
    case oid::kOid:
      if (!need(4)) return wrong_size();
      out = integer_value(read_u32be(raw.data()));
      return std::nullopt;
    case oid::kInt8:
      if (!need(8)) return wrong_size();
      out = integer_value(read_be<std::int64_t>(raw.data()));
      return std::nullopt;
    case oid::kFloat4:
      if (!need(4)) return wrong_size();
      out = real_value(std::bit_cast<float>(read_u32be(raw.data())));
      return std::nullopt;
    case oid::kFloat8:
      if (!need(8)) return wrong_size();
      out = real_value(std::bit_cast<double>(read_u64be(raw.data())));
      return std::nullopt;
    case oid::kBool:
      if (!need(1)) return wrong_size();
      out = integer_value(raw[0] != std::byte{0} ? 1 : 0);
      return std::nullopt;
    case oid::kNumeric: {
      auto text = numeric_binary_text(raw);
      if (!text) return wrong_size();
      return decode_text_parameter(*text, oid::kNumeric, out);
    }
    case oid::kUuid:
      if (!need(16)) return wrong_size();
      out = bytes_value(StorageKind::kText, uuid_text(raw));
      return std::nullopt;
    case oid::kJsonb:
      if (raw.empty() || raw[0] != std::byte{1}) return wrong_size();
      out = bytes_value(StorageKind::kText, as_chars(raw.subspan(1)));
      return std::nullopt;
    case oid::kDate: {
      if (!need(4)) return wrong_size();
      std::int32_t days = read_be<std::int32_t>(raw.data());
      if (days == std::numeric_limits<std::int32_t>::max()) {
        out = bytes_value(StorageKind::kText, "infinity");
      } else if (days == std::numeric_limits<std::int32_t>::min()) {
        out = bytes_value(StorageKind::kText, "-infinity");
      } else {
        out = bytes_value(StorageKind::kText, date_text(days));
      }
      return std::nullopt;
    }
    case oid::kTime:
      if (!need(8)) return wrong_size();
      out = bytes_value(StorageKind::kText, time_text(read_be<std::int64_t>(raw.data())));
      return std::nullopt;
    case oid::kTimestamp:
    case oid::kTimestamptz: {
      if (!need(8)) return wrong_size();
      std::int64_t micros = read_be<std::int64_t>(raw.data());
      std::string text;
      if (micros == std::numeric_limits<std::int64_t>::max()) {
        text = "infinity";
      } else if (micros == std::numeric_limits<std::int64_t>::min()) {
        text = "-infinity";
      } else {
        // SQLite's date functions read "+00:00", not PostgreSQL's shorter "+00".
        text = timestamp_text(micros) + (type_oid == oid::kTimestamptz ? "+00:00" : "");
      }
      out = bytes_value(StorageKind::kText, text);
      return std::nullopt;
    }
    case oid::kText:
    case oid::kVarchar:
    case oid::kBpchar:
    case oid::kName:
    case oid::kJson:
    case oid::kUnknown:
      out = bytes_value(StorageKind::kText, as_chars(raw));
      return std::nullopt;
    default:
      out = bytes_value(StorageKind::kBlob, as_chars(raw));
      return std::nullopt;
  }
}

}  // namespace

WireType wire_type(DeclaredKind declared, StorageKind first_value) {
  switch (declared) {
    case DeclaredKind::kInteger:
      return {oid::kInt8, 8};
    case DeclaredKind::kReal:
      return {oid::kFloat8, 8};
    case DeclaredKind::kText:
      return {oid::kText, -1};
    case DeclaredKind::kBlob:
      return {oid::kBytea, -1};
    case DeclaredKind::kBoolean:
      return {oid::kBool, 1};
    case DeclaredKind::kNumeric:
      return {oid::kNumeric, -1};
    case DeclaredKind::kNone:
      break;
  }
  switch (first_value) {
    case StorageKind::kInteger:
      return {oid::kInt8, 8};
    case StorageKind::kReal:
      return {oid::kFloat8, 8};
    case StorageKind::kBlob:
      return {oid::kBytea, -1};
    case StorageKind::kText:
    case StorageKind::kNull:
      break;
  }
  return {oid::kText, -1};
}

std::string_view type_name(std::uint32_t type_oid) {
  switch (type_oid) {
    case oid::kBool:
      return "boolean";
    case oid::kBytea:
      return "bytea";
    case oid::kName:
      return "name";
    case oid::kInt8:
      return "bigint";
    case oid::kInt2:
      return "smallint";
    case oid::kInt4:
      return "integer";
    case oid::kText:
      return "text";
    case oid::kOid:
      return "oid";
    case oid::kJson:
      return "json";
    case oid::kFloat4:
      return "real";
    case oid::kFloat8:
      return "double precision";
    case oid::kBpchar:
      return "character";
    case oid::kVarchar:
      return "character varying";
    case oid::kDate:
      return "date";
    case oid::kTime:
      return "time without time zone";
    case oid::kTimestamp:
      return "timestamp without time zone";
    case oid::kTimestamptz:
      return "timestamp with time zone";
    case oid::kNumeric:
      return "numeric";
    case oid::kUuid:
      return "uuid";
    case oid::kJsonb:
      return "jsonb";
    default:
      return "unknown";
  }
}

std::string format_float8(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  ShortestDigits d = shortest_digits(v);
  // PostgreSQL (like printf's %g) switches to an exponent outside 1e-4 <= |v| < 1e15.
  if (d.exponent >= -4 && d.exponent < 15) return positional(d);
  std::string out = d.negative ? "-" : "";
  out += d.digits[0];
  if (d.digits.size() > 1) {
    out += '.';
    out.append(d.digits, 1);
  }
  char exponent[16];
  std::snprintf(exponent, sizeof exponent, "e%c%02d", d.exponent < 0 ? '-' : '+',
                std::abs(d.exponent));
  return out + exponent;
}

std::string format_numeric(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  ShortestDigits d = shortest_digits(v);
  if (d.digits == "0") return "0";
  return positional(d);
}

std::string bytea_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

void append_text_value(ByteVector& out, const CellView& cell, std::uint32_t type_oid) {
  switch (type_oid) {
    case oid::kBool:
      if (cell.kind == StorageKind::kInteger || cell.kind == StorageKind::kReal) {
        bool truth = cell.kind == StorageKind::kInteger ? cell.integer != 0 : cell.real != 0;
        append_text(out, truth ? "t" : "f");
        return;
      }
      if (cell.kind == StorageKind::kText) {
        if (auto truth = parse_bool(cell.bytes)) {
          append_text(out, *truth ? "t" : "f");
          return;
        }
      }
      break;
    case oid::kNumeric:
      if (cell.kind == StorageKind::kReal) {
        append_text(out, format_numeric(cell.real));
        return;
      }
      break;
    case oid::kBytea:
      // Whatever SQLite stored in a BLOB column reaches the client as bytes.
      if (cell.kind != StorageKind::kBlob) {
        append_text(out, bytea_hex(plain_text(cell)));
        return;
      }
      break;
    default:
      break;
  }
  append_plain_text(out, cell);
}

bool append_binary_value(ByteVector& out, const CellView& cell, std::uint32_t type_oid,
                         std::string& error) {
  switch (type_oid) {
    case oid::kBool: {
      std::optional<bool> truth;
      if (cell.kind == StorageKind::kInteger) truth = cell.integer != 0;
      if (cell.kind == StorageKind::kReal) truth = cell.real != 0;
      if (cell.kind == StorageKind::kText) truth = parse_bool(cell.bytes);
      if (!truth) break;
      append_u8(out, *truth ? 1 : 0);
      return true;
    }
    case oid::kInt8: {
      std::optional<std::int64_t> value;
      if (cell.kind == StorageKind::kInteger) value = cell.integer;
      if (cell.kind == StorageKind::kReal && std::trunc(cell.real) == cell.real &&
          std::abs(cell.real) < 9.2e18) {
        value = static_cast<std::int64_t>(cell.real);
      }
      if (cell.kind == StorageKind::kText) value = parse_int64(cell.bytes);
      if (!value) break;
      append_u64be(out, static_cast<std::uint64_t>(*value));
      return true;
    }
    case oid::kFloat8: {
      std::optional<double> value;
      if (cell.kind == StorageKind::kInteger) value = static_cast<double>(cell.integer);
      if (cell.kind == StorageKind::kReal) value = cell.real;
      if (cell.kind == StorageKind::kText) value = parse_double(cell.bytes);
      if (!value) break;
      append_u64be(out, std::bit_cast<std::uint64_t>(*value));
      return true;
    }
    case oid::kNumeric: {
      std::string text;
      if (cell.kind == StorageKind::kInteger || cell.kind == StorageKind::kText) {
        text = plain_text(cell);
      } else if (cell.kind == StorageKind::kReal) {
        text = format_numeric(cell.real);
      } else {
        break;
      }
      std::string_view trimmed = trim(text);
      if (iequals(trimmed, "NaN")) {
        append_numeric_special(out, 0xC000);
        return true;
      }
      if (iequals(trimmed, "Infinity") || iequals(trimmed, "-Infinity")) {
        append_numeric_special(out, trimmed.front() == '-' ? 0xF000 : 0xD000);
        return true;
      }
      auto decimal = parse_decimal(trimmed);
      if (!decimal) break;
      append_numeric_binary(out, *decimal);
      return true;
    }
    default:
      // text, bytea and anything else: the bytes themselves (a number as its text).
      if (cell.kind == StorageKind::kText || cell.kind == StorageKind::kBlob) {
        append_text(out, cell.bytes);
      } else {
        append_plain_text(out, cell);
      }
      return true;
  }
  error = cannot_send(cell, type_oid);
  return false;
}

bool encode_cells_row(ByteVector& out, std::span<const CellView> cells,
                      std::span<const WireType> types, std::span<const std::int16_t> formats,
                      std::string& error) {
  std::size_t start = out.size();
  out.push_back(std::byte{'D'});
  append_u32be(out, 0);
  append_u16be(out, static_cast<std::uint16_t>(cells.size()));
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const CellView& cell = cells[i];
    if (cell.kind == StorageKind::kNull) {
      append_u32be(out, 0xffffffffu);
      continue;
    }
    std::size_t length_at = out.size();
    append_u32be(out, 0);
    std::uint32_t type_oid = i < types.size() ? types[i].oid : oid::kText;
    bool binary = i < formats.size() && formats[i] == 1;
    if (binary) {
      if (!append_binary_value(out, cell, type_oid, error)) {
        out.resize(start);
        return false;
      }
    } else {
      append_text_value(out, cell, type_oid);
    }
    put_u32be(out.data() + length_at, static_cast<std::uint32_t>(out.size() - length_at - 4));
  }
  put_u32be(out.data() + start + 1, static_cast<std::uint32_t>(out.size() - start - 1));
  return true;
}

std::optional<ParameterError> decode_parameter(const std::optional<Bytes>& raw, std::int16_t format,
                                               std::uint32_t type_oid, ParameterValue& out) {
  if (!raw) {
    out = ParameterValue{};
    return std::nullopt;
  }
  if (format == 0) return decode_text_parameter(as_chars(*raw), type_oid, out);
  if (format == 1) return decode_binary_parameter(*raw, type_oid, out);
  return ParameterError{"08P01", "unsupported format code: " + std::to_string(format)};
}

}  // namespace plexi::pg
