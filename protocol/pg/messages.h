// PostgreSQL v3 protocol: message type codes, special startup codes and decoded messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"

namespace plexi::pg {

inline constexpr std::int32_t kProtocolVersion3 = 196608;  // 3.0
inline constexpr std::int32_t kCancelRequestCode = 80877102;
inline constexpr std::int32_t kSslRequestCode = 80877103;
inline constexpr std::int32_t kGssEncRequestCode = 80877104;

// Messages a client (frontend) sends.
namespace frontend {
inline constexpr char kQuery = 'Q';
inline constexpr char kParse = 'P';
inline constexpr char kBind = 'B';
inline constexpr char kDescribe = 'D';
inline constexpr char kExecute = 'E';
inline constexpr char kClose = 'C';
inline constexpr char kSync = 'S';
inline constexpr char kFlush = 'H';
inline constexpr char kTerminate = 'X';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kCopyFail = 'f';
inline constexpr char kPassword = 'p';  // also SASLInitialResponse and SASLResponse
inline constexpr char kFunctionCall = 'F';
}  // namespace frontend

// Messages a server (backend) sends.
namespace backend {
inline constexpr char kAuthentication = 'R';
inline constexpr char kParameterStatus = 'S';
inline constexpr char kBackendKeyData = 'K';
inline constexpr char kReadyForQuery = 'Z';
inline constexpr char kRowDescription = 'T';
inline constexpr char kDataRow = 'D';
inline constexpr char kCommandComplete = 'C';
inline constexpr char kErrorResponse = 'E';
inline constexpr char kNoticeResponse = 'N';
inline constexpr char kEmptyQueryResponse = 'I';
inline constexpr char kParseComplete = '1';
inline constexpr char kBindComplete = '2';
inline constexpr char kCloseComplete = '3';
inline constexpr char kNoData = 'n';
inline constexpr char kParameterDescription = 't';
inline constexpr char kPortalSuspended = 's';
inline constexpr char kCopyInResponse = 'G';
inline constexpr char kCopyOutResponse = 'H';
inline constexpr char kCopyBothResponse = 'W';
inline constexpr char kCopyData = 'd';
inline constexpr char kCopyDone = 'c';
inline constexpr char kNotificationResponse = 'A';
inline constexpr char kFunctionCallResponse = 'V';
inline constexpr char kNegotiateProtocolVersion = 'v';
}  // namespace backend

// Authentication request codes inside an 'R' message.
enum class AuthCode : std::int32_t {
  kOk = 0,
  kCleartextPassword = 3,
  kMd5Password = 5,
  kSasl = 10,
  kSaslContinue = 11,
  kSaslFinal = 12,
};

// Transaction status carried by ReadyForQuery.
enum class TxStatus : char { kIdle = 'I', kInTransaction = 'T', kFailed = 'E' };

// The first packet of a connection, which has no type byte.
struct StartupPacket {
  enum class Kind { kStartup, kSslRequest, kGssEncRequest, kCancelRequest };
  Kind kind = Kind::kStartup;
  std::int32_t protocol = 0;  // kStartup: the requested version
  std::vector<std::pair<std::string, std::string>> parameters;  // kStartup
  std::int32_t cancel_pid = 0;                                  // kCancelRequest
  std::int32_t cancel_secret = 0;                               // kCancelRequest

  // The value of a startup parameter, or nullptr.
  const std::string* parameter(std::string_view name) const {
    for (const auto& [key, value] : parameters) {
      if (key == name) return &value;
    }
    return nullptr;
  }
};

// One typed message: the type byte, then a length that counts itself, then the body.
struct Frame {
  char type = 0;
  Bytes body;             // without the type byte and the length
  std::size_t size = 0;   // bytes the whole message takes in the input
};

struct ParseMessage {
  std::string_view statement;
  std::string_view query;
  std::vector<std::uint32_t> parameter_types;
};

struct BindMessage {
  std::string_view portal;
  std::string_view statement;
  // The bytes after the statement name (formats, values, result formats), kept whole so a
  // relay can rewrite the statement name without decoding the parameters.
  Bytes rest;
  std::vector<std::int16_t> parameter_formats;
  std::vector<std::optional<Bytes>> parameters;  // nullopt: SQL NULL
  std::vector<std::int16_t> result_formats;
};

// Describe and Close share this shape: 'S' (statement) or 'P' (portal), then a name.
struct TargetMessage {
  char kind = 'S';
  std::string_view name;
};

struct ExecuteMessage {
  std::string_view portal;
  std::int32_t max_rows = 0;
};

// ErrorResponse and NoticeResponse fields, by their one-letter codes.
struct ErrorFields {
  std::string severity = "ERROR";  // 'S' (and 'V', the untranslated severity)
  std::string code;                // 'C' SQLSTATE
  std::string message;             // 'M'
  std::string detail;              // 'D'
  std::string hint;                // 'H'
  // Every other field, in the order received.
  std::vector<std::pair<char, std::string>> other;
};

struct FieldDescription {
  std::string name;
  std::uint32_t table_oid = 0;
  std::int16_t column = 0;
  std::uint32_t type_oid = 25;  // text
  std::int16_t type_size = -1;
  std::int32_t type_modifier = -1;
  std::int16_t format = 0;  // 0 text, 1 binary
};

struct AuthenticationMessage {
  AuthCode code = AuthCode::kOk;
  Bytes data;  // md5: the 4-byte salt; SASL: mechanisms or exchange data
};

}  // namespace plexi::pg
