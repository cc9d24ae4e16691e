// The MySQL client/server protocol's packets: framing (3-byte length, sequence id, 16 MB
// splits), length-encoded integers and strings, the handshake, OK/ERR/EOF, column
// definitions, text and binary rows, and the prepared-statement packets the proxy must
// read. Pure functions over bytes; nothing here touches a socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"

namespace plexi::mysql {

// Capability flags (the handshake's and the client's response).
namespace cap {
inline constexpr std::uint32_t kLongPassword = 1u << 0;
inline constexpr std::uint32_t kFoundRows = 1u << 1;
inline constexpr std::uint32_t kLongFlag = 1u << 2;
inline constexpr std::uint32_t kConnectWithDb = 1u << 3;
inline constexpr std::uint32_t kNoSchema = 1u << 4;
inline constexpr std::uint32_t kCompress = 1u << 5;
inline constexpr std::uint32_t kOdbc = 1u << 6;
inline constexpr std::uint32_t kLocalFiles = 1u << 7;
inline constexpr std::uint32_t kIgnoreSpace = 1u << 8;
inline constexpr std::uint32_t kProtocol41 = 1u << 9;
inline constexpr std::uint32_t kInteractive = 1u << 10;
inline constexpr std::uint32_t kSsl = 1u << 11;
inline constexpr std::uint32_t kIgnoreSigpipe = 1u << 12;
inline constexpr std::uint32_t kTransactions = 1u << 13;
inline constexpr std::uint32_t kReserved = 1u << 14;
inline constexpr std::uint32_t kSecureConnection = 1u << 15;
inline constexpr std::uint32_t kMultiStatements = 1u << 16;
inline constexpr std::uint32_t kMultiResults = 1u << 17;
inline constexpr std::uint32_t kPsMultiResults = 1u << 18;
inline constexpr std::uint32_t kPluginAuth = 1u << 19;
inline constexpr std::uint32_t kConnectAttrs = 1u << 20;
inline constexpr std::uint32_t kPluginAuthLenencData = 1u << 21;
inline constexpr std::uint32_t kCanHandleExpiredPasswords = 1u << 22;
inline constexpr std::uint32_t kSessionTrack = 1u << 23;
inline constexpr std::uint32_t kDeprecateEof = 1u << 24;
}  // namespace cap

// Server status flags (OK and EOF packets).
namespace status {
inline constexpr std::uint16_t kInTrans = 0x0001;
inline constexpr std::uint16_t kAutocommit = 0x0002;
inline constexpr std::uint16_t kMoreResultsExist = 0x0008;
inline constexpr std::uint16_t kNoGoodIndexUsed = 0x0010;
inline constexpr std::uint16_t kNoIndexUsed = 0x0020;
inline constexpr std::uint16_t kCursorExists = 0x0040;
inline constexpr std::uint16_t kLastRowSent = 0x0080;
inline constexpr std::uint16_t kDbDropped = 0x0100;
inline constexpr std::uint16_t kNoBackslashEscapes = 0x0200;
inline constexpr std::uint16_t kMetadataChanged = 0x0400;
inline constexpr std::uint16_t kQueryWasSlow = 0x0800;
inline constexpr std::uint16_t kPsOutParams = 0x1000;
inline constexpr std::uint16_t kInTransReadonly = 0x2000;
inline constexpr std::uint16_t kSessionStateChanged = 0x4000;
}  // namespace status

// Command bytes (the first byte of a client's request).
enum class Command : std::uint8_t {
  kSleep = 0x00,
  kQuit = 0x01,
  kInitDb = 0x02,
  kQuery = 0x03,
  kFieldList = 0x04,
  kCreateDb = 0x05,
  kDropDb = 0x06,
  kRefresh = 0x07,
  kShutdown = 0x08,
  kStatistics = 0x09,
  kProcessInfo = 0x0a,
  kConnect = 0x0b,
  kProcessKill = 0x0c,
  kDebug = 0x0d,
  kPing = 0x0e,
  kTime = 0x0f,
  kDelayedInsert = 0x10,
  kChangeUser = 0x11,
  kBinlogDump = 0x12,
  kTableDump = 0x13,
  kConnectOut = 0x14,
  kRegisterSlave = 0x15,
  kStmtPrepare = 0x16,
  kStmtExecute = 0x17,
  kStmtSendLongData = 0x18,
  kStmtClose = 0x19,
  kStmtReset = 0x1a,
  kSetOption = 0x1b,
  kStmtFetch = 0x1c,
  kDaemon = 0x1d,
  kBinlogDumpGtid = 0x1e,
  kResetConnection = 0x1f,
};

// Column types (column definitions and the binary protocol).
enum class FieldType : std::uint8_t {
  kDecimal = 0x00,
  kTiny = 0x01,
  kShort = 0x02,
  kLong = 0x03,
  kFloat = 0x04,
  kDouble = 0x05,
  kNull = 0x06,
  kTimestamp = 0x07,
  kLongLong = 0x08,
  kInt24 = 0x09,
  kDate = 0x0a,
  kTime = 0x0b,
  kDatetime = 0x0c,
  kYear = 0x0d,
  kVarchar = 0x0f,
  kBit = 0x10,
  kJson = 0xf5,
  kNewDecimal = 0xf6,
  kBlob = 0xfc,
  kVarString = 0xfd,
  kString = 0xfe,
  kGeometry = 0xff,
};

// Column definition flags.
namespace field_flag {
inline constexpr std::uint16_t kNotNull = 0x0001;
inline constexpr std::uint16_t kPrimaryKey = 0x0002;
inline constexpr std::uint16_t kBinary = 0x0080;
inline constexpr std::uint16_t kUnsigned = 0x0020;
inline constexpr std::uint16_t kBlob = 0x0010;
inline constexpr std::uint16_t kAutoIncrement = 0x0200;
}  // namespace field_flag

inline constexpr std::size_t kHeaderSize = 4;
// A payload of this size means the packet goes on in the next one.
inline constexpr std::size_t kMaxPayload = 0xffffff;
inline constexpr std::uint8_t kCollationUtf8mb4GeneralCi = 45;
inline constexpr std::uint8_t kCollationBinary = 63;

// ---- framing ----

// One packet as read off the wire: its sequence id and payload (a view into the buffer).
// A payload of exactly kMaxPayload bytes is only part of a logical packet; the caller
// joins the parts (or relays them as they are).
struct Packet {
  std::uint8_t sequence = 0;
  Bytes payload;
  std::size_t size() const { return kHeaderSize + payload.size(); }  // bytes on the wire
};

// The first whole packet at the front of `input`, or nullopt when more bytes are needed.
std::optional<Packet> next_packet(Bytes input);

// Appends one logical packet, split into kMaxPayload pieces as the protocol requires (with
// an empty last piece when the payload is a multiple of kMaxPayload). `sequence` is the
// first piece's id and is advanced past the last piece's.
void append_packet(ByteVector& out, std::uint8_t& sequence, Bytes payload);

// Starts a packet in `out` (a header to be filled in) and returns its offset; finish_packet
// writes the length and sequence id once the payload has been appended after it. The
// payload must not exceed kMaxPayload (results the proxy builds itself are far smaller).
std::size_t begin_packet(ByteVector& out);
void finish_packet(ByteVector& out, std::size_t offset, std::uint8_t& sequence);

// ---- reading payloads ----

// A cursor over a payload; every read checks bounds and sets `failed` instead of reading
// past the end (the value returned is then zero or empty).
class Reader {
 public:
  explicit Reader(Bytes payload) : data_(payload) {}
  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u24();
  std::uint32_t u32();
  std::uint64_t u64();
  // A length-encoded integer; nullopt for the NULL marker 0xfb (in rows).
  std::optional<std::uint64_t> lenenc();
  std::string_view lenenc_string();
  std::string_view null_terminated();
  std::string_view fixed(std::size_t n);
  std::string_view rest();
  std::size_t remaining() const { return failed_ ? 0 : data_.size() - position_; }
  std::size_t position() const { return position_; }
  bool failed() const { return failed_; }

 private:
  Bytes data_;
  std::size_t position_ = 0;
  bool failed_ = false;
};

// ---- writing payloads ----
void append_u16le(ByteVector& out, std::uint16_t v);
void append_u24le(ByteVector& out, std::uint32_t v);
void append_u32le(ByteVector& out, std::uint32_t v);
void append_u64le(ByteVector& out, std::uint64_t v);
void append_lenenc(ByteVector& out, std::uint64_t v);
void append_lenenc_string(ByteVector& out, std::string_view text);
void append_null_terminated(ByteVector& out, std::string_view text);

// ---- handshake ----

// Protocol::HandshakeV10, sent by the server first.
struct Handshake {
  std::uint8_t protocol_version = 10;
  std::string server_version;
  std::uint32_t connection_id = 0;
  std::string auth_data;  // the 20-byte scramble (both parts joined, without the trailing NUL)
  std::uint32_t capabilities = 0;
  std::uint8_t collation = kCollationUtf8mb4GeneralCi;
  std::uint16_t status = status::kAutocommit;
  std::string auth_plugin;  // with kPluginAuth
  bool operator==(const Handshake&) const = default;
};
ByteVector encode_handshake_payload(const Handshake& handshake);
std::optional<Handshake> decode_handshake(Bytes payload);

// Protocol::HandshakeResponse41 (and the 32-byte SSLRequest, which is its prefix: when
// `ssl_request` is set only capabilities, max_packet and collation were present).
struct HandshakeResponse {
  std::uint32_t capabilities = 0;
  std::uint32_t max_packet = 0;
  std::uint8_t collation = kCollationUtf8mb4GeneralCi;
  std::string user;
  std::string auth_response;                                    // raw bytes
  std::string database;                                         // with kConnectWithDb
  std::string auth_plugin;                                      // with kPluginAuth
  std::vector<std::pair<std::string, std::string>> attributes;  // with kConnectAttrs
  bool ssl_request = false;
  bool operator==(const HandshakeResponse&) const = default;
};
ByteVector encode_handshake_response_payload(const HandshakeResponse& response);
// Decodes with the capabilities the client itself announced. nullopt when malformed
// (including a client without kProtocol41, which the proxy does not serve).
std::optional<HandshakeResponse> decode_handshake_response(Bytes payload);

// AuthSwitchRequest (0xfe, plugin name, data) and AuthMoreData (0x01, data). The switch's
// data goes out NUL-terminated, as servers send the scramble there.
ByteVector encode_auth_switch_payload(std::string_view plugin, std::string_view data);
struct AuthSwitch {
  std::string plugin;
  std::string data;  // without a trailing NUL
  bool operator==(const AuthSwitch&) const = default;
};
std::optional<AuthSwitch> decode_auth_switch(Bytes payload);
ByteVector encode_auth_more_data_payload(std::string_view data);

// COM_CHANGE_USER's payload (after the command byte) with the client's capabilities.
struct ChangeUser {
  std::string user;
  std::string auth_response;
  std::string database;
  std::uint16_t collation = 0;  // 0: not given
  std::string auth_plugin;
  std::vector<std::pair<std::string, std::string>> attributes;
  bool operator==(const ChangeUser&) const = default;
};
std::optional<ChangeUser> decode_change_user(Bytes payload, std::uint32_t capabilities);
ByteVector encode_change_user_payload(const ChangeUser& change, std::uint32_t capabilities);

// ---- OK / ERR / EOF ----

// The packet kinds a response starts with or ends with, from the first payload byte and
// the payload's length (0xfe is an EOF, or an OK replacing it with kDeprecateEof, only when
// shorter than 0xffffff; otherwise it begins a length-encoded integer).
bool is_ok(Bytes payload);   // 0x00 header, at least 7 bytes
bool is_err(Bytes payload);  // 0xff header
bool is_eof(Bytes payload);  // 0xfe header, payload shorter than 9 bytes (classic EOF)
// 0xfe header that ends a result set: a classic EOF, or with kDeprecateEof an OK packet
// with the 0xfe header (shorter than kMaxPayload).
bool is_result_end(Bytes payload, std::uint32_t capabilities);

struct Ok {
  std::uint64_t affected_rows = 0;
  std::uint64_t last_insert_id = 0;
  std::uint16_t status = 0;
  std::uint16_t warnings = 0;
  // Length-encoded on the wire with or without kSessionTrack: that is what MySQL and MariaDB
  // send and what their clients read (the protocol documentation's "string<EOF>" is not).
  std::string info;
  // kSessionTrack with kSessionStateChanged: the raw session state information.
  std::string session_state;
  bool operator==(const Ok&) const = default;
};
// Reads an OK packet (0x00 or, with kDeprecateEof, 0xfe header) as `capabilities` shape it.
std::optional<Ok> decode_ok(Bytes payload, std::uint32_t capabilities);
// With `eof_header`, the 0xfe form that ends a result set under kDeprecateEof.
ByteVector encode_ok_payload(const Ok& ok, std::uint32_t capabilities, bool eof_header = false);

struct Err {
  std::uint16_t code = 0;
  std::string sqlstate = "HY000";  // 5 characters
  std::string message;
  bool operator==(const Err&) const = default;
};
std::optional<Err> decode_err(Bytes payload);
ByteVector encode_err_payload(const Err& err);

struct Eof {
  std::uint16_t warnings = 0;
  std::uint16_t status = 0;
  bool operator==(const Eof&) const = default;
};
std::optional<Eof> decode_eof(Bytes payload);
ByteVector encode_eof_payload(const Eof& eof);

// The status flags of a packet that ends a response (OK, EOF, or the 0xfe OK); nullopt
// for any other packet. Cheap: reads only what it needs.
std::optional<std::uint16_t> status_of(Bytes payload, std::uint32_t capabilities);

// ---- result sets ----

struct ColumnDefinition {
  std::string catalog = "def";
  std::string schema;
  std::string table;
  std::string org_table;
  std::string name;
  std::string org_name;
  std::uint16_t collation = kCollationUtf8mb4GeneralCi;
  std::uint32_t length = 0;
  FieldType type = FieldType::kVarString;
  std::uint16_t flags = 0;
  std::uint8_t decimals = 0;
  bool operator==(const ColumnDefinition&) const = default;
};
ByteVector encode_column_definition_payload(const ColumnDefinition& column);
std::optional<ColumnDefinition> decode_column_definition(Bytes payload);

// A text-protocol row: each value a length-encoded string, NULL as 0xfb.
void append_text_row_payload(ByteVector& out,
                             const std::vector<std::optional<std::string>>& values);

// COM_STMT_PREPARE's OK: statement id, columns and parameters that follow.
struct PrepareOk {
  std::uint32_t statement_id = 0;
  std::uint16_t columns = 0;
  std::uint16_t parameters = 0;
  std::uint16_t warnings = 0;
  bool operator==(const PrepareOk&) const = default;
};
std::optional<PrepareOk> decode_prepare_ok(Bytes payload);
ByteVector encode_prepare_ok_payload(const PrepareOk& ok);

// The fixed start of COM_STMT_EXECUTE (after the command byte): the statement id the
// proxy rewrites to the server's, and the cursor flags.
struct ExecuteHeader {
  std::uint32_t statement_id = 0;
  std::uint8_t flags = 0;  // CURSOR_TYPE_*
  std::uint32_t iterations = 1;
  bool operator==(const ExecuteHeader&) const = default;
};
std::optional<ExecuteHeader> decode_execute_header(Bytes payload);
// Overwrites the statement id of a COM_STMT_EXECUTE, _SEND_LONG_DATA, _CLOSE, _RESET or
// _FETCH payload (command byte included) in place.
void set_statement_id(std::span<std::byte> payload, std::uint32_t id);
// The statement id of such a payload (command byte included, as for set_statement_id); 0
// when too short.
std::uint32_t statement_id_of(Bytes payload);

// The parameters of a COM_STMT_EXECUTE, decoded with the number the statement takes and
// the types sent with the first execution (kept by the caller: later executions may omit
// them with new_params_bound_flag 0). For the SQLite executor and the fuzz target.
struct BinaryValue {
  FieldType type = FieldType::kNull;
  bool is_unsigned = false;
  bool is_null = true;
  std::int64_t integer = 0;
  double real = 0;
  std::string bytes;  // strings, decimals, blobs; dates and times as their text
};
struct ExecuteParameters {
  ExecuteHeader header;
  std::vector<BinaryValue> values;
  // The types as given by this execution, or empty when it reused the previous ones.
  std::vector<std::pair<FieldType, bool>> types;  // (type, unsigned)
};
// `payload` starts after the command byte, like decode_execute_header's. nullopt when
// malformed, or when the packet reuses types and `previous_types` does not hold
// `parameter_count` of them. `long_data`: values sent with COM_STMT_SEND_LONG_DATA, by
// parameter index (may be empty); a parameter that has one is not in the packet again.
std::optional<ExecuteParameters> decode_execute(
    Bytes payload, std::size_t parameter_count,
    const std::vector<std::pair<FieldType, bool>>& previous_types,
    const std::vector<std::optional<std::string>>& long_data = {});

// A binary-protocol row for the columns given: 0x00 header, NULL bitmap (offset 2), values.
struct BinaryCell {
  bool is_null = true;
  std::int64_t integer = 0;  // kLongLong columns
  double real = 0;           // kDouble columns
  std::string_view bytes;    // every other type, as a length-encoded string
};
void append_binary_row_payload(ByteVector& out, const std::vector<FieldType>& types,
                               const std::vector<BinaryCell>& cells);

}  // namespace plexi::mysql
