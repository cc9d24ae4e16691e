// Decoding PostgreSQL protocol messages from bytes: framing first, bodies on demand.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "protocol/pg/messages.h"

namespace plexi::pg {

enum class DecodeStatus { kOk, kNeedMore, kError };

template <class T>
struct Decoded {
  DecodeStatus status = DecodeStatus::kNeedMore;
  T message{};
  std::size_t consumed = 0;  // kOk: bytes the message took
  std::string error;         // kError: what was wrong, for the protocol error sent back

  bool ok() const { return status == DecodeStatus::kOk; }
};

// Limits checked against the declared length before anything is allocated.
inline constexpr std::size_t kMaxStartupPacket = 10000;
inline constexpr std::size_t kDefaultMaxMessage = 64 * 1024 * 1024;

// The untyped first packet of a connection (StartupMessage, SSLRequest, GSSENCRequest,
// CancelRequest). Malformed: a length below 8 or above max_size, an unknown code, a
// parameter list without its terminators, a CancelRequest of the wrong size.
Decoded<StartupPacket> decode_startup(Bytes input, std::size_t max_size = kMaxStartupPacket);

// One typed message's framing. The body is a view into `input`. A declared length below
// 4 or above max_size is an error, reported before any of the body has arrived.
Decoded<Frame> decode_frame(Bytes input, std::size_t max_size = kDefaultMaxMessage);

// Bodies. Each returns nullopt when the body does not hold exactly that message.
std::optional<std::string_view> parse_query(Bytes body);
std::optional<ParseMessage> parse_parse(Bytes body);
std::optional<BindMessage> parse_bind(Bytes body);
// Only the portal and statement names of a Bind, which is all a relay needs on the hot
// path; `rest` is filled, the parameter vectors are left empty.
std::optional<BindMessage> parse_bind_names(Bytes body);
std::optional<TargetMessage> parse_describe(Bytes body);
std::optional<TargetMessage> parse_close(Bytes body);
std::optional<ExecuteMessage> parse_execute(Bytes body);
std::optional<ErrorFields> parse_error_fields(Bytes body);
std::optional<std::pair<std::string_view, std::string_view>> parse_parameter_status(Bytes body);
std::optional<std::pair<std::int32_t, std::int32_t>> parse_backend_key_data(Bytes body);
std::optional<TxStatus> parse_ready_for_query(Bytes body);
std::optional<std::string_view> parse_command_complete(Bytes body);
// The rows a command tag reports ("SELECT 5", "INSERT 0 5", "UPDATE 3", "COPY 7", ...);
// none for a command that reports none ("BEGIN", "SET", "CREATE TABLE").
std::optional<std::int64_t> rows_in_command_tag(std::string_view tag);
std::optional<AuthenticationMessage> parse_authentication(Bytes body);
// A password message's text ('p' in answer to cleartext or md5 requests).
std::optional<std::string_view> parse_password(Bytes body);
// SASLInitialResponse: mechanism, then the client-first message (absent when length -1).
std::optional<std::pair<std::string_view, Bytes>> parse_sasl_initial_response(Bytes body);
std::optional<std::vector<FieldDescription>> parse_row_description(Bytes body);
std::optional<std::vector<std::optional<Bytes>>> parse_data_row(Bytes body);

}  // namespace plexi::pg
