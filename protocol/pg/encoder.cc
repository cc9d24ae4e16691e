// Encodes PostgreSQL v3 messages by appending them to a byte vector.
#include "protocol/pg/encoder.h"

namespace plexi::pg {

// Counts are written as 16-bit values; PostgreSQL reads them unsigned, so up to 65535 of
// anything fits, which no caller exceeds (parse_* never yields more).
namespace {
std::int16_t count16(std::size_t n) {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(n));
}
}  // namespace

MessageWriter::MessageWriter(ByteVector& out, char type) : out_(out) {
  out_.push_back(static_cast<std::byte>(type));
  start_ = out_.size();
  append_u32be(out_, 0);  // patched by finish()
}

MessageWriter& MessageWriter::u8(std::uint8_t v) {
  append_u8(out_, v);
  return *this;
}
MessageWriter& MessageWriter::i16(std::int16_t v) {
  append_u16be(out_, static_cast<std::uint16_t>(v));
  return *this;
}
MessageWriter& MessageWriter::i32(std::int32_t v) {
  append_u32be(out_, static_cast<std::uint32_t>(v));
  return *this;
}
MessageWriter& MessageWriter::cstr(std::string_view text) {
  append_text(out_, text);
  append_u8(out_, 0);
  return *this;
}
MessageWriter& MessageWriter::raw(Bytes bytes) {
  append_bytes(out_, bytes);
  return *this;
}

void MessageWriter::finish() {
  if (finished_) return;
  finished_ = true;
  // The length counts itself and the body, not the type byte.
  put_u32be(out_.data() + start_, static_cast<std::uint32_t>(out_.size() - start_));
}

// --- server side --------------------------------------------------------------------------

namespace {
void authentication(ByteVector& out, AuthCode code, Bytes data = {}) {
  MessageWriter(out, backend::kAuthentication).i32(static_cast<std::int32_t>(code)).raw(data);
}

void error_or_notice(ByteVector& out, char type, const ErrorFields& fields) {
  MessageWriter w(out, type);
  w.u8('S').cstr(fields.severity);
  w.u8('V').cstr(fields.severity);
  w.u8('C').cstr(fields.code);
  w.u8('M').cstr(fields.message);
  if (!fields.detail.empty()) w.u8('D').cstr(fields.detail);
  if (!fields.hint.empty()) w.u8('H').cstr(fields.hint);
  for (const auto& [code, value] : fields.other) w.u8(static_cast<std::uint8_t>(code)).cstr(value);
  w.u8(0);
}

// A message with no body: the type byte and a length of 4.
void empty_message(ByteVector& out, char type) { MessageWriter w(out, type); }

void copy_response(ByteVector& out, char type, std::int8_t format,
                   std::span<const std::int16_t> column_formats) {
  MessageWriter w(out, type);
  w.u8(static_cast<std::uint8_t>(format)).i16(count16(column_formats.size()));
  for (std::int16_t f : column_formats) w.i16(f);
}

void nullable_values(MessageWriter& w, std::span<const std::optional<Bytes>> values) {
  w.i16(count16(values.size()));
  for (const auto& value : values) {
    if (value) {
      w.i32(static_cast<std::int32_t>(value->size())).raw(*value);
    } else {
      w.i32(-1);
    }
  }
}
}  // namespace

void encode_authentication_ok(ByteVector& out) { authentication(out, AuthCode::kOk); }
void encode_authentication_cleartext(ByteVector& out) {
  authentication(out, AuthCode::kCleartextPassword);
}
void encode_authentication_md5(ByteVector& out, std::span<const std::byte, 4> salt) {
  authentication(out, AuthCode::kMd5Password, salt);
}
void encode_authentication_sasl(ByteVector& out, std::span<const std::string_view> mechanisms) {
  MessageWriter w(out, backend::kAuthentication);
  w.i32(static_cast<std::int32_t>(AuthCode::kSasl));
  for (std::string_view mechanism : mechanisms) w.cstr(mechanism);
  w.u8(0);
}
void encode_authentication_sasl_continue(ByteVector& out, std::string_view data) {
  authentication(out, AuthCode::kSaslContinue, as_bytes(data));
}
void encode_authentication_sasl_final(ByteVector& out, std::string_view data) {
  authentication(out, AuthCode::kSaslFinal, as_bytes(data));
}

void encode_parameter_status(ByteVector& out, std::string_view name, std::string_view value) {
  MessageWriter(out, backend::kParameterStatus).cstr(name).cstr(value);
}
void encode_backend_key_data(ByteVector& out, std::int32_t pid, std::int32_t secret) {
  MessageWriter(out, backend::kBackendKeyData).i32(pid).i32(secret);
}
void encode_ready_for_query(ByteVector& out, TxStatus status) {
  MessageWriter(out, backend::kReadyForQuery).u8(static_cast<std::uint8_t>(status));
}

void encode_error_response(ByteVector& out, const ErrorFields& error) {
  error_or_notice(out, backend::kErrorResponse, error);
}
void encode_notice_response(ByteVector& out, const ErrorFields& notice) {
  error_or_notice(out, backend::kNoticeResponse, notice);
}
void encode_error(ByteVector& out, std::string_view severity, std::string_view sqlstate,
                  std::string_view message) {
  MessageWriter w(out, backend::kErrorResponse);
  w.u8('S').cstr(severity).u8('V').cstr(severity);
  w.u8('C').cstr(sqlstate).u8('M').cstr(message).u8(0);
}

void encode_row_description(ByteVector& out, std::span<const FieldDescription> fields) {
  MessageWriter w(out, backend::kRowDescription);
  w.i16(count16(fields.size()));
  for (const FieldDescription& f : fields) {
    w.cstr(f.name).i32(static_cast<std::int32_t>(f.table_oid)).i16(f.column);
    w.i32(static_cast<std::int32_t>(f.type_oid)).i16(f.type_size).i32(f.type_modifier);
    w.i16(f.format);
  }
}
void encode_data_row(ByteVector& out, std::span<const std::optional<Bytes>> values) {
  MessageWriter w(out, backend::kDataRow);
  nullable_values(w, values);
}
void encode_command_complete(ByteVector& out, std::string_view tag) {
  MessageWriter(out, backend::kCommandComplete).cstr(tag);
}
void encode_empty_query_response(ByteVector& out) {
  empty_message(out, backend::kEmptyQueryResponse);
}
void encode_parse_complete(ByteVector& out) { empty_message(out, backend::kParseComplete); }
void encode_bind_complete(ByteVector& out) { empty_message(out, backend::kBindComplete); }
void encode_close_complete(ByteVector& out) { empty_message(out, backend::kCloseComplete); }
void encode_no_data(ByteVector& out) { empty_message(out, backend::kNoData); }
void encode_portal_suspended(ByteVector& out) { empty_message(out, backend::kPortalSuspended); }

void encode_parameter_description(ByteVector& out, std::span<const std::uint32_t> types) {
  MessageWriter w(out, backend::kParameterDescription);
  w.i16(count16(types.size()));
  for (std::uint32_t type : types) w.i32(static_cast<std::int32_t>(type));
}
void encode_notification(ByteVector& out, std::int32_t pid, std::string_view channel,
                         std::string_view payload) {
  MessageWriter(out, backend::kNotificationResponse).i32(pid).cstr(channel).cstr(payload);
}
void encode_copy_in_response(ByteVector& out, std::int8_t format,
                             std::span<const std::int16_t> column_formats) {
  copy_response(out, backend::kCopyInResponse, format, column_formats);
}
void encode_copy_out_response(ByteVector& out, std::int8_t format,
                              std::span<const std::int16_t> column_formats) {
  copy_response(out, backend::kCopyOutResponse, format, column_formats);
}
void encode_copy_data(ByteVector& out, Bytes data) {
  MessageWriter(out, backend::kCopyData).raw(data);
}
void encode_copy_done(ByteVector& out) { empty_message(out, backend::kCopyDone); }

// --- client side --------------------------------------------------------------------------

void encode_startup_message(ByteVector& out,
                            std::span<const std::pair<std::string_view, std::string_view>> params) {
  // The first packet has no type byte, so MessageWriter does not fit it.
  std::size_t start = out.size();
  append_u32be(out, 0);
  append_u32be(out, static_cast<std::uint32_t>(kProtocolVersion3));
  for (const auto& [key, value] : params) {
    append_text(out, key);
    append_u8(out, 0);
    append_text(out, value);
    append_u8(out, 0);
  }
  append_u8(out, 0);
  put_u32be(out.data() + start, static_cast<std::uint32_t>(out.size() - start));
}
void encode_ssl_request(ByteVector& out) {
  append_u32be(out, 8);
  append_u32be(out, static_cast<std::uint32_t>(kSslRequestCode));
}
void encode_cancel_request(ByteVector& out, std::int32_t pid, std::int32_t secret) {
  append_u32be(out, 16);
  append_u32be(out, static_cast<std::uint32_t>(kCancelRequestCode));
  append_u32be(out, static_cast<std::uint32_t>(pid));
  append_u32be(out, static_cast<std::uint32_t>(secret));
}

void encode_password_message(ByteVector& out, std::string_view password) {
  MessageWriter(out, frontend::kPassword).cstr(password);
}
void encode_sasl_initial_response(ByteVector& out, std::string_view mechanism,
                                  std::string_view data) {
  MessageWriter(out, frontend::kPassword)
      .cstr(mechanism)
      .i32(static_cast<std::int32_t>(data.size()))
      .raw(data);
}
void encode_sasl_response(ByteVector& out, std::string_view data) {
  MessageWriter(out, frontend::kPassword).raw(data);
}
void encode_query(ByteVector& out, std::string_view sql) {
  MessageWriter(out, frontend::kQuery).cstr(sql);
}
void encode_parse(ByteVector& out, std::string_view statement, std::string_view query,
                  std::span<const std::uint32_t> parameter_types) {
  MessageWriter w(out, frontend::kParse);
  w.cstr(statement).cstr(query).i16(count16(parameter_types.size()));
  for (std::uint32_t type : parameter_types) w.i32(static_cast<std::int32_t>(type));
}
void encode_bind_renamed(ByteVector& out, std::string_view portal, std::string_view statement,
                         Bytes rest) {
  MessageWriter(out, frontend::kBind).cstr(portal).cstr(statement).raw(rest);
}
void encode_bind(ByteVector& out, std::string_view portal, std::string_view statement,
                 std::span<const std::int16_t> parameter_formats,
                 std::span<const std::optional<Bytes>> parameters,
                 std::span<const std::int16_t> result_formats) {
  MessageWriter w(out, frontend::kBind);
  w.cstr(portal).cstr(statement).i16(count16(parameter_formats.size()));
  for (std::int16_t f : parameter_formats) w.i16(f);
  nullable_values(w, parameters);
  w.i16(count16(result_formats.size()));
  for (std::int16_t f : result_formats) w.i16(f);
}
void encode_describe(ByteVector& out, char kind, std::string_view name) {
  MessageWriter(out, frontend::kDescribe).u8(static_cast<std::uint8_t>(kind)).cstr(name);
}
void encode_close(ByteVector& out, char kind, std::string_view name) {
  MessageWriter(out, frontend::kClose).u8(static_cast<std::uint8_t>(kind)).cstr(name);
}
void encode_execute(ByteVector& out, std::string_view portal, std::int32_t max_rows) {
  MessageWriter(out, frontend::kExecute).cstr(portal).i32(max_rows);
}
void encode_sync(ByteVector& out) { empty_message(out, frontend::kSync); }
void encode_flush(ByteVector& out) { empty_message(out, frontend::kFlush); }
void encode_terminate(ByteVector& out) { empty_message(out, frontend::kTerminate); }

}  // namespace plexi::pg
