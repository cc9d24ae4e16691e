// Encoding PostgreSQL protocol messages: each function appends one message to `out`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "protocol/pg/messages.h"

namespace plexi::pg {

// Builds one typed message in place: the type byte, a length patched by finish(), the body.
class MessageWriter {
 public:
  MessageWriter(ByteVector& out, char type);
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;
  ~MessageWriter() { finish(); }

  MessageWriter& u8(std::uint8_t v);
  MessageWriter& i16(std::int16_t v);
  MessageWriter& i32(std::int32_t v);
  MessageWriter& cstr(std::string_view text);  // text and its NUL
  MessageWriter& raw(Bytes bytes);
  MessageWriter& raw(std::string_view text) { return raw(as_bytes(text)); }
  void finish();

 private:
  ByteVector& out_;
  std::size_t start_;
  bool finished_ = false;
};

// --- what a server (or the proxy acting as one) sends -----------------------------------
void encode_authentication_ok(ByteVector& out);
void encode_authentication_cleartext(ByteVector& out);
void encode_authentication_md5(ByteVector& out, std::span<const std::byte, 4> salt);
void encode_authentication_sasl(ByteVector& out, std::span<const std::string_view> mechanisms);
void encode_authentication_sasl_continue(ByteVector& out, std::string_view data);
void encode_authentication_sasl_final(ByteVector& out, std::string_view data);
void encode_parameter_status(ByteVector& out, std::string_view name, std::string_view value);
void encode_backend_key_data(ByteVector& out, std::int32_t pid, std::int32_t secret);
void encode_ready_for_query(ByteVector& out, TxStatus status);
void encode_error_response(ByteVector& out, const ErrorFields& error);
void encode_notice_response(ByteVector& out, const ErrorFields& notice);
// The usual proxy-side error: severity, SQLSTATE and message.
void encode_error(ByteVector& out, std::string_view severity, std::string_view sqlstate,
                  std::string_view message);
void encode_row_description(ByteVector& out, std::span<const FieldDescription> fields);
void encode_data_row(ByteVector& out, std::span<const std::optional<Bytes>> values);
void encode_command_complete(ByteVector& out, std::string_view tag);
void encode_empty_query_response(ByteVector& out);
void encode_parse_complete(ByteVector& out);
void encode_bind_complete(ByteVector& out);
void encode_close_complete(ByteVector& out);
void encode_no_data(ByteVector& out);
void encode_portal_suspended(ByteVector& out);
void encode_parameter_description(ByteVector& out, std::span<const std::uint32_t> types);
void encode_notification(ByteVector& out, std::int32_t pid, std::string_view channel,
                         std::string_view payload);
void encode_copy_in_response(ByteVector& out, std::int8_t format,
                             std::span<const std::int16_t> column_formats);
void encode_copy_out_response(ByteVector& out, std::int8_t format,
                              std::span<const std::int16_t> column_formats);
void encode_copy_data(ByteVector& out, Bytes data);
void encode_copy_done(ByteVector& out);

// --- what a client (or the proxy acting as one) sends -----------------------------------
void encode_startup_message(ByteVector& out,
                            std::span<const std::pair<std::string_view, std::string_view>> params);
void encode_ssl_request(ByteVector& out);
void encode_cancel_request(ByteVector& out, std::int32_t pid, std::int32_t secret);
void encode_password_message(ByteVector& out, std::string_view password);
void encode_sasl_initial_response(ByteVector& out, std::string_view mechanism,
                                  std::string_view data);
void encode_sasl_response(ByteVector& out, std::string_view data);
void encode_query(ByteVector& out, std::string_view sql);
void encode_parse(ByteVector& out, std::string_view statement, std::string_view query,
                  std::span<const std::uint32_t> parameter_types);
// A Bind whose statement name is replaced, the rest of the original message copied as is.
void encode_bind_renamed(ByteVector& out, std::string_view portal, std::string_view statement,
                         Bytes rest);
void encode_bind(ByteVector& out, std::string_view portal, std::string_view statement,
                 std::span<const std::int16_t> parameter_formats,
                 std::span<const std::optional<Bytes>> parameters,
                 std::span<const std::int16_t> result_formats);
void encode_describe(ByteVector& out, char kind, std::string_view name);
void encode_close(ByteVector& out, char kind, std::string_view name);
void encode_execute(ByteVector& out, std::string_view portal, std::int32_t max_rows);
void encode_sync(ByteVector& out);
void encode_flush(ByteVector& out);
void encode_terminate(ByteVector& out);

}  // namespace plexi::pg
