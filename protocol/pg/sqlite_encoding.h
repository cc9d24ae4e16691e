// Values of the embedded SQLite database in PostgreSQL's wire formats: the type OIDs its
// columns are reported as, text and binary encodings of its values, and Bind parameters
// decoded back into SQLite values. Pure: no executor, no sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace plexi::pg {

// PostgreSQL type OIDs (pg_type.oid) that the embedded database sends or accepts.
namespace oid {
inline constexpr std::uint32_t kUnspecified = 0;
inline constexpr std::uint32_t kBool = 16;
inline constexpr std::uint32_t kBytea = 17;
inline constexpr std::uint32_t kName = 19;
inline constexpr std::uint32_t kInt8 = 20;
inline constexpr std::uint32_t kInt2 = 21;
inline constexpr std::uint32_t kInt4 = 23;
inline constexpr std::uint32_t kText = 25;
inline constexpr std::uint32_t kOid = 26;
inline constexpr std::uint32_t kJson = 114;
inline constexpr std::uint32_t kFloat4 = 700;
inline constexpr std::uint32_t kFloat8 = 701;
inline constexpr std::uint32_t kUnknown = 705;
inline constexpr std::uint32_t kBpchar = 1042;
inline constexpr std::uint32_t kVarchar = 1043;
inline constexpr std::uint32_t kDate = 1082;
inline constexpr std::uint32_t kTime = 1083;
inline constexpr std::uint32_t kTimestamp = 1114;
inline constexpr std::uint32_t kTimestamptz = 1184;
inline constexpr std::uint32_t kNumeric = 1700;
inline constexpr std::uint32_t kUuid = 2950;
inline constexpr std::uint32_t kJsonb = 3802;
}  // namespace oid

// How SQLite stored a value (mirrors sqlite::ValueKind, which this library cannot see).
enum class StorageKind : std::uint8_t { kNull, kInteger, kReal, kText, kBlob };

// What a column's declared type says (mirrors sqlite::DeclaredType).
enum class DeclaredKind : std::uint8_t { kNone, kInteger, kReal, kText, kBlob, kBoolean, kNumeric };

// One value of a result row, viewed in place.
struct CellView {
  StorageKind kind = StorageKind::kNull;
  std::int64_t integer = 0;
  double real = 0;
  std::string_view bytes;  // kText and kBlob
};

// How a column is described in RowDescription.
struct WireType {
  std::uint32_t oid = oid::kText;
  std::int16_t size = -1;
};

// The declared type decides; an expression column (kNone) takes the storage kind of its first
// value, and text when there is none.
WireType wire_type(DeclaredKind declared, StorageKind first_value);

// The PostgreSQL name of a type, for messages ("bigint", "double precision", ...).
std::string_view type_name(std::uint32_t type_oid);

// float8 output as PostgreSQL writes it: shortest round-trip digits, exponent form below
// 1e-4 and from 1e15, "Infinity", "-Infinity", "NaN".
std::string format_float8(double v);
// A real as numeric output: positional notation, never an exponent.
std::string format_numeric(double v);
// bytea's text output: "\x" and two hex digits per byte.
std::string bytea_hex(std::string_view bytes);

// Appends one value in text format, as PostgreSQL would print it for a column of `type_oid`.
// A value whose storage kind does not match the column still gets its natural text (a blob
// always as bytea hex, so non-UTF-8 bytes never reach a text decoder).
void append_text_value(ByteVector& out, const CellView& cell, std::uint32_t type_oid);
// Appends one value in binary format for a column of `type_oid`, converting between storage
// kinds where that is exact. False, with `error`, when the value cannot be sent as that type.
bool append_binary_value(ByteVector& out, const CellView& cell, std::uint32_t type_oid,
                         std::string& error);

// One DataRow. `formats` holds one format code per column. On a binary conversion error
// nothing is appended and `error` (SQLSTATE 22P02 class) says why.
bool encode_cells_row(ByteVector& out, std::span<const CellView> cells,
                      std::span<const WireType> types, std::span<const std::int16_t> formats,
                      std::string& error);

// A Bind parameter as SQLite will bind it.
struct ParameterValue {
  StorageKind kind = StorageKind::kNull;
  std::int64_t integer = 0;
  double real = 0;
  std::string bytes;  // kText and kBlob
};

struct ParameterError {
  std::string sqlstate;
  std::string message;
};

// Decodes one Bind parameter by its format (0 text, 1 binary) and the type the client gave
// for it. Text values of integer, float and bool types become SQLite numbers (so `SELECT $1`
// returns a number, not text); bytea '\x..' becomes a blob; other text stays text and SQLite's
// column affinity converts it. Binary values are read by type; unknown binary types are blobs.
std::optional<ParameterError> decode_parameter(const std::optional<Bytes>& raw, std::int16_t format,
                                               std::uint32_t type_oid, ParameterValue& out);

}  // namespace plexi::pg
