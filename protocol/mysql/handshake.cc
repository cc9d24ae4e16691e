// The MySQL connection phase's packets: the server's HandshakeV10, the client's
// HandshakeResponse41 (and SSLRequest), the authentication switch and extra-data packets,
// and COM_CHANGE_USER, which repeats the login on an open connection.
#include "protocol/mysql/packets.h"

#include <algorithm>

namespace plexi::mysql {
namespace {

constexpr std::size_t kScramblePart1 = 8;
constexpr std::size_t kMinScramblePart2 = 13;  // with its trailing NUL
constexpr std::size_t kReservedBytes = 10;     // in the handshake, after the scramble length
constexpr std::size_t kResponseFiller = 23;    // in the handshake response, after the collation
constexpr std::size_t kSslRequestSize = 32;

using Attributes = std::vector<std::pair<std::string, std::string>>;

// Connection attributes: their total length, then length-encoded keys and values. The
// total bounds the pairs, so a pair cannot run into whatever follows.
bool read_attributes(Reader& reader, Attributes& attributes) {
  auto total = reader.lenenc();
  if (reader.failed() || !total || *total > reader.remaining()) return false;
  Reader pairs(as_bytes(reader.fixed(static_cast<std::size_t>(*total))));
  while (pairs.remaining() > 0) {
    std::string key(pairs.lenenc_string());
    std::string value(pairs.lenenc_string());
    if (pairs.failed()) return false;
    attributes.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

void append_attributes(ByteVector& out, const Attributes& attributes) {
  ByteVector pairs;
  for (const auto& [key, value] : attributes) {
    append_lenenc_string(pairs, key);
    append_lenenc_string(pairs, value);
  }
  append_lenenc(out, pairs.size());
  append_bytes(out, pairs);
}

// An authentication response as HandshakeResponse41 or COM_CHANGE_USER carries it for the
// client's capabilities. `lenenc_allowed` is false for COM_CHANGE_USER, which has only the
// one-byte length form.
std::string_view read_auth_response(Reader& reader, std::uint32_t capabilities,
                                    bool lenenc_allowed) {
  if (lenenc_allowed && (capabilities & cap::kPluginAuthLenencData)) return reader.lenenc_string();
  if (capabilities & cap::kSecureConnection) return reader.fixed(reader.u8());
  return reader.null_terminated();
}

void append_auth_response(ByteVector& out, std::string_view response, std::uint32_t capabilities,
                          bool lenenc_allowed) {
  if (lenenc_allowed && (capabilities & cap::kPluginAuthLenencData)) {
    append_lenenc_string(out, response);
  } else if (capabilities & cap::kSecureConnection) {
    // One length byte: responses are hashes of 20 or 32 bytes, or a short cleartext.
    response = response.substr(0, 0xff);
    append_u8(out, static_cast<std::uint8_t>(response.size()));
    append_text(out, response);
  } else {
    append_null_terminated(out, response);
  }
}

// A NUL-terminated field that a client may leave off the end of the packet.
std::string_view optional_string(Reader& reader) {
  return reader.remaining() > 0 ? reader.null_terminated() : std::string_view{};
}

}  // namespace

// ---- handshake ----

ByteVector encode_handshake_payload(const Handshake& handshake) {
  ByteVector out;
  append_u8(out, handshake.protocol_version);
  append_null_terminated(out, handshake.server_version);
  append_u32le(out, handshake.connection_id);
  std::string part1 = handshake.auth_data.substr(0, kScramblePart1);
  part1.resize(kScramblePart1, '\0');
  append_text(out, part1);
  append_u8(out, 0);  // filler
  append_u16le(out, static_cast<std::uint16_t>(handshake.capabilities & 0xffff));
  append_u8(out, handshake.collation);
  append_u16le(out, handshake.status);
  append_u16le(out, static_cast<std::uint16_t>(handshake.capabilities >> 16));
  // Part 2 is the rest of the scramble and a NUL, at least 13 bytes; the length byte counts
  // both parts with that NUL. Without kPluginAuth the length is 0 and part 2 exactly 13.
  std::string part2 = handshake.auth_data.size() > kScramblePart1
                          ? handshake.auth_data.substr(kScramblePart1)
                          : std::string();
  bool plugin_auth = (handshake.capabilities & cap::kPluginAuth) != 0;
  part2.resize(plugin_auth ? std::min<std::size_t>(part2.size(), 0xff - kScramblePart1 - 1)
                           : kMinScramblePart2 - 1);
  part2.push_back('\0');
  if (part2.size() < kMinScramblePart2) part2.resize(kMinScramblePart2, '\0');
  append_u8(out, plugin_auth ? static_cast<std::uint8_t>(kScramblePart1 + part2.size()) : 0);
  out.resize(out.size() + kReservedBytes);
  if (handshake.capabilities & cap::kSecureConnection) append_text(out, part2);
  if (plugin_auth) append_null_terminated(out, handshake.auth_plugin);
  return out;
}

std::optional<Handshake> decode_handshake(Bytes payload) {
  Reader reader(payload);
  Handshake handshake;
  handshake.protocol_version = reader.u8();
  if (reader.failed() || handshake.protocol_version != 10) return std::nullopt;
  handshake.server_version = reader.null_terminated();
  handshake.connection_id = reader.u32();
  handshake.auth_data = reader.fixed(kScramblePart1);
  reader.u8();  // filler
  handshake.capabilities = reader.u16();
  // A server older than 4.1 would end here; the proxy serves none, so this is malformed.
  handshake.collation = reader.u8();
  handshake.status = reader.u16();
  handshake.capabilities |= static_cast<std::uint32_t>(reader.u16()) << 16;
  std::size_t data_length = reader.u8();
  reader.fixed(kReservedBytes);
  if (handshake.capabilities & cap::kSecureConnection) {
    // The length byte means something only with kPluginAuth; older servers sent 13 bytes.
    std::size_t part2 = kMinScramblePart2;
    if ((handshake.capabilities & cap::kPluginAuth) && data_length > kScramblePart1) {
      part2 = std::max(part2, data_length - kScramblePart1);
    }
    // The last byte of part 2 is the scramble's terminator, not part of it.
    handshake.auth_data += reader.fixed(part2).substr(0, part2 - 1);
  }
  if (reader.failed()) return std::nullopt;
  if (handshake.capabilities & cap::kPluginAuth) {
    // Some 5.5 servers left the name's NUL off; it is the packet's last field anyway.
    std::string_view rest = reader.rest();
    handshake.auth_plugin = rest.substr(0, rest.find('\0'));
  }
  return handshake;
}

// ---- handshake response ----

ByteVector encode_handshake_response_payload(const HandshakeResponse& response) {
  ByteVector out;
  std::uint32_t caps = response.capabilities;
  append_u32le(out, caps);
  append_u32le(out, response.max_packet);
  append_u8(out, response.collation);
  out.resize(out.size() + kResponseFiller);
  if (response.ssl_request) return out;
  append_null_terminated(out, response.user);
  append_auth_response(out, response.auth_response, caps, true);
  if (caps & cap::kConnectWithDb) append_null_terminated(out, response.database);
  if (caps & cap::kPluginAuth) append_null_terminated(out, response.auth_plugin);
  if (caps & cap::kConnectAttrs) append_attributes(out, response.attributes);
  return out;
}

std::optional<HandshakeResponse> decode_handshake_response(Bytes payload) {
  Reader reader(payload);
  HandshakeResponse response;
  response.capabilities = reader.u32();
  response.max_packet = reader.u32();
  response.collation = reader.u8();
  reader.fixed(kResponseFiller);
  if (reader.failed() || !(response.capabilities & cap::kProtocol41)) return std::nullopt;
  if (payload.size() == kSslRequestSize) {
    response.ssl_request = true;
    return response;
  }
  std::uint32_t caps = response.capabilities;
  response.user = reader.null_terminated();
  response.auth_response = read_auth_response(reader, caps, true);
  // Clients leave trailing fields off when they are empty; read what is there.
  if (caps & cap::kConnectWithDb) response.database = optional_string(reader);
  if (caps & cap::kPluginAuth) response.auth_plugin = optional_string(reader);
  if ((caps & cap::kConnectAttrs) && reader.remaining() > 0 &&
      !read_attributes(reader, response.attributes)) {
    return std::nullopt;
  }
  if (reader.failed()) return std::nullopt;
  return response;
}

// ---- authentication switch ----

ByteVector encode_auth_switch_payload(std::string_view plugin, std::string_view data) {
  ByteVector out;
  append_u8(out, 0xfe);
  append_null_terminated(out, plugin);
  append_null_terminated(out, data);  // servers send the scramble NUL-terminated
  return out;
}

std::optional<AuthSwitch> decode_auth_switch(Bytes payload) {
  if (payload.empty() || std::to_integer<std::uint8_t>(payload[0]) != 0xfe) return std::nullopt;
  AuthSwitch change;
  if (payload.size() == 1) {
    // The pre-4.1 form: a request for the old password hash, which nothing here supports.
    change.plugin = "mysql_old_password";
    return change;
  }
  Reader reader(payload.subspan(1));
  change.plugin = reader.null_terminated();
  std::string_view data = reader.rest();
  if (reader.failed()) return std::nullopt;
  if (!data.empty() && data.back() == '\0') data.remove_suffix(1);
  change.data = data;
  return change;
}

ByteVector encode_auth_more_data_payload(std::string_view data) {
  ByteVector out;
  append_u8(out, 0x01);
  append_text(out, data);
  return out;
}

// ---- COM_CHANGE_USER ----

std::optional<ChangeUser> decode_change_user(Bytes payload, std::uint32_t capabilities) {
  Reader reader(payload);
  ChangeUser change;
  change.user = reader.null_terminated();
  change.auth_response = read_auth_response(reader, capabilities, false);
  change.database = reader.null_terminated();
  if (reader.failed()) return std::nullopt;
  // The rest is optional and in order: the collation, the plugin, the attributes.
  if (reader.remaining() > 0) change.collation = reader.u16();
  if (capabilities & cap::kPluginAuth) change.auth_plugin = optional_string(reader);
  if ((capabilities & cap::kConnectAttrs) && reader.remaining() > 0 &&
      !read_attributes(reader, change.attributes)) {
    return std::nullopt;
  }
  if (reader.failed()) return std::nullopt;
  return change;
}

ByteVector encode_change_user_payload(const ChangeUser& change, std::uint32_t capabilities) {
  ByteVector out;
  append_null_terminated(out, change.user);
  append_auth_response(out, change.auth_response, capabilities, false);
  append_null_terminated(out, change.database);
  bool plugin = (capabilities & cap::kPluginAuth) != 0;
  bool attributes = (capabilities & cap::kConnectAttrs) != 0;
  if (change.collation == 0 && !plugin && !attributes) return out;
  append_u16le(out, change.collation);
  if (plugin) append_null_terminated(out, change.auth_plugin);
  if (attributes) append_attributes(out, change.attributes);
  return out;
}

}  // namespace plexi::mysql
