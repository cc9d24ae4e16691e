// Tests for the MySQL connection phase's packets: handshake, handshake response and
// SSLRequest, authentication switch and extra data, COM_CHANGE_USER.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "protocol/mysql/packets.h"

namespace plexi::mysql {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

Bytes b(std::string_view s) { return as_bytes(s); }
std::string str(const ByteVector& bytes) { return std::string(as_chars(bytes)); }

constexpr std::string_view kScramble = "ABCDEFGHIJKLMNOPQRST";

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// clang-format off
// A MySQL 8.0 server's greeting, written out field by field from the protocol's layout.
const std::string kMysql8Handshake =
    "\x0a" "8.0.36\0"                      // protocol 10, server version
    "\x2a\x00\x00\x00"                     // connection id 42
    "ABCDEFGH" "\x00"                      // scramble part 1, filler
    "\xff\xff" "\xff" "\x02\x00" "\xff\xdf"  // capabilities (low), collation, status, (high)
    "\x15" "\0\0\0\0\0\0\0\0\0\0"          // scramble length 21, reserved
    "IJKLMNOPQRST\0"                       // scramble part 2 with its NUL
    "caching_sha2_password\0"s;
// clang-format on

TEST(MysqlHandshake, DecodesAServerGreeting) {
  auto handshake = decode_handshake(b(kMysql8Handshake));
  ASSERT_TRUE(handshake);
  EXPECT_EQ(handshake->protocol_version, 10);
  EXPECT_EQ(handshake->server_version, "8.0.36");
  EXPECT_EQ(handshake->connection_id, 42u);
  EXPECT_EQ(handshake->auth_data, kScramble);
  EXPECT_EQ(handshake->capabilities, 0xdfffffffu);
  EXPECT_EQ(handshake->collation, 0xff);
  EXPECT_EQ(handshake->status, status::kAutocommit);
  EXPECT_EQ(handshake->auth_plugin, "caching_sha2_password");
  EXPECT_EQ(str(encode_handshake_payload(*handshake)), kMysql8Handshake);
}

TEST(MysqlHandshake, DecodesMariaDbGreeting) {
  // Captured from MariaDB 10.11.19 on Debian 12. Its reserved bytes carry MariaDB's own
  // extended capabilities (0x1d), which the proxy does not use.
  const std::string captured = from_hex(
      "0a352e352e352d31302e31312e31392d4d6172696144422d302b6465623132753100040000005d3840775730"
      "256900fef7080200ff81150000000000001d000000653c3c582960284564487a4f006d7973716c5f6e617469"
      "76655f70617373776f726400");
  auto handshake = decode_handshake(b(captured));
  ASSERT_TRUE(handshake);
  EXPECT_EQ(handshake->server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
  EXPECT_EQ(handshake->connection_id, 4u);
  EXPECT_EQ(handshake->auth_data, "]8@wW0%ie<<X)`(EdHzO");
  EXPECT_EQ(handshake->capabilities, 0x81fff7feu);
  EXPECT_EQ(handshake->collation, 8);
  EXPECT_EQ(handshake->status, status::kAutocommit);
  EXPECT_EQ(handshake->auth_plugin, "mysql_native_password");
}

TEST(MysqlHandshake, EncodesWhatItDecodes) {
  Handshake handshake;
  handshake.server_version = "5.7.99-plexiproxy";
  handshake.connection_id = 0x01020304;
  handshake.auth_data = std::string(kScramble);
  handshake.capabilities = cap::kProtocol41 | cap::kSecureConnection | cap::kPluginAuth |
                           cap::kConnectWithDb | cap::kDeprecateEof | cap::kSessionTrack;
  handshake.status = status::kAutocommit | status::kInTrans;
  handshake.auth_plugin = "mysql_native_password";
  ByteVector wire = encode_handshake_payload(handshake);
  // The length byte counts both parts and the NUL; part 2 holds 12 bytes and the NUL.
  std::size_t length_at = 1 + handshake.server_version.size() + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2;
  EXPECT_EQ(std::to_integer<int>(wire[length_at]), 21);
  EXPECT_EQ(str(wire).substr(length_at + 11, 13), "IJKLMNOPQRST\0"s);
  auto decoded = decode_handshake(wire);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(*decoded == handshake);
}

TEST(MysqlHandshake, WithoutPluginAuthTheLengthByteIsZero) {
  Handshake handshake;
  handshake.server_version = "5.1";
  handshake.auth_data = std::string(kScramble);
  handshake.capabilities = cap::kProtocol41 | cap::kSecureConnection;
  ByteVector wire = encode_handshake_payload(handshake);
  std::size_t length_at = 1 + 4 + 4 + 8 + 1 + 2 + 1 + 2 + 2;
  EXPECT_EQ(std::to_integer<int>(wire[length_at]), 0);
  EXPECT_EQ(wire.size(), length_at + 1 + 10 + 13);
  auto decoded = decode_handshake(wire);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->auth_data, kScramble);
  EXPECT_EQ(decoded->auth_plugin, "");
}

TEST(MysqlHandshake, RejectsOtherProtocolsAndTruncation) {
  EXPECT_FALSE(decode_handshake(b("\xff\x10\x04Too many connections"sv)));
  std::string v9 = kMysql8Handshake;
  v9[0] = 9;
  EXPECT_FALSE(decode_handshake(b(v9)));
  // Every cut before the plugin name is malformed (including one right after the low
  // capability bits, where a pre-4.1 greeting would end).
  std::size_t plugin_at = kMysql8Handshake.size() - "caching_sha2_password"sv.size() - 1;
  for (std::size_t cut = 0; cut < plugin_at; ++cut) {
    EXPECT_FALSE(decode_handshake(b(kMysql8Handshake).first(cut))) << cut;
  }
}

// --- handshake response ------------------------------------------------------------------

constexpr std::uint32_t kClientCaps = cap::kLongPassword | cap::kConnectWithDb | cap::kProtocol41 |
                                      cap::kTransactions | cap::kSecureConnection |
                                      cap::kMultiResults | cap::kPluginAuth | cap::kConnectAttrs |
                                      cap::kPluginAuthLenencData;

const std::string kAuth20 =
    "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14"s;

// clang-format off
// A client's response, field by field.
const std::string kClientResponse =
    "\x09\xa2\x3a\x00"  // capabilities (kClientCaps)
    "\x00\x00\x00\x01"  // max packet 16 MB
    "\x2d"s + std::string(23, '\0') +  // utf8mb4_general_ci, filler
    "app\0"s + "\x14" + kAuth20 + "appdb\0"s + "mysql_native_password\0"s +
    "\x22" "\x03_os" "\x05Linux" "\x0c_client_name" "\x0alibmariadb"s;
// clang-format on

TEST(MysqlHandshakeResponse, DecodesAClientResponse) {
  ASSERT_EQ(kClientCaps, 0x003aa209u);
  auto response = decode_handshake_response(b(kClientResponse));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->capabilities, kClientCaps);
  EXPECT_EQ(response->max_packet, 0x01000000u);
  EXPECT_EQ(response->collation, kCollationUtf8mb4GeneralCi);
  EXPECT_EQ(response->user, "app");
  EXPECT_EQ(response->auth_response, kAuth20);
  EXPECT_EQ(response->database, "appdb");
  EXPECT_EQ(response->auth_plugin, "mysql_native_password");
  std::vector<std::pair<std::string, std::string>> attributes = {{"_os", "Linux"},
                                                                 {"_client_name", "libmariadb"}};
  EXPECT_EQ(response->attributes, attributes);
  EXPECT_FALSE(response->ssl_request);
  EXPECT_EQ(str(encode_handshake_response_payload(*response)), kClientResponse);
}

TEST(MysqlHandshakeResponse, EachAuthResponseForm) {
  HandshakeResponse response;
  response.user = "u";
  response.auth_response = "pw-bytes";
  response.max_packet = 1 << 24;
  const std::uint32_t base = cap::kProtocol41;
  struct Case {
    std::uint32_t caps;
    std::string auth_on_wire;
  };
  for (const Case& c :
       {Case{base | cap::kSecureConnection | cap::kPluginAuthLenencData, "\x08pw-bytes"},
        Case{base | cap::kSecureConnection, "\x08pw-bytes"}, Case{base, "pw-bytes\0"s}}) {
    response.capabilities = c.caps;
    ByteVector wire = encode_handshake_response_payload(response);
    EXPECT_EQ(str(wire).substr(32), "u\0"s + c.auth_on_wire) << c.caps;
    auto decoded = decode_handshake_response(wire);
    ASSERT_TRUE(decoded) << c.caps;
    EXPECT_TRUE(*decoded == response);
  }
  // A long response needs the length-encoded form.
  response.capabilities = base | cap::kSecureConnection | cap::kPluginAuthLenencData;
  response.auth_response = std::string(300, 'r');
  auto decoded = decode_handshake_response(encode_handshake_response_payload(response));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->auth_response, response.auth_response);
}

TEST(MysqlHandshakeResponse, SslRequestIsTheFirst32Bytes) {
  HandshakeResponse request;
  request.capabilities = kClientCaps | cap::kSsl;
  request.max_packet = 1 << 24;
  request.ssl_request = true;
  ByteVector wire = encode_handshake_response_payload(request);
  EXPECT_EQ(str(wire), "\x09\xaa\x3a\x00\x00\x00\x00\x01\x2d"s + std::string(23, '\0'));
  auto decoded = decode_handshake_response(wire);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(*decoded == request);
}

TEST(MysqlHandshakeResponse, RejectsMalformed) {
  std::string old_client = kClientResponse;
  old_client[1] = '\xa0';  // kProtocol41 cleared
  EXPECT_FALSE(decode_handshake_response(b(old_client)));

  // Whole enough: the SSLRequest's 32 bytes, and a packet ending after the auth response or
  // any field after it (clients leave empty trailing fields off).
  std::size_t auth_end = 32 + 4 + 1 + 20;
  std::size_t database_end = auth_end + 6;
  std::size_t attributes_at = kClientResponse.size() - 35;
  for (std::size_t cut = 0; cut < kClientResponse.size(); ++cut) {
    bool whole_enough = cut == 32 || cut == auth_end || cut == database_end || cut == attributes_at;
    auto decoded = decode_handshake_response(b(kClientResponse).first(cut));
    EXPECT_EQ(decoded.has_value(), whole_enough) << cut;
  }

  // Attributes whose total runs past the packet, or whose last pair runs past the total.
  std::string long_total = kClientResponse;
  long_total[attributes_at] = '\x23';
  EXPECT_FALSE(decode_handshake_response(b(long_total)));
  std::string short_total = kClientResponse;
  short_total[attributes_at] = '\x21';
  EXPECT_FALSE(decode_handshake_response(b(short_total)));
}

// --- authentication switch and more data -------------------------------------------------

TEST(MysqlAuthSwitch, KnownBytesAndRoundTrip) {
  std::string payload =
      "\xfe"
      "mysql_native_password\0"s +
      std::string(kScramble) + '\0';
  auto change = decode_auth_switch(b(payload));
  ASSERT_TRUE(change);
  EXPECT_EQ(change->plugin, "mysql_native_password");
  EXPECT_EQ(change->data, kScramble);
  EXPECT_EQ(str(encode_auth_switch_payload(change->plugin, change->data)), payload);

  auto clear =
      decode_auth_switch(b("\xfe"
                           "mysql_clear_password\0"sv));
  ASSERT_TRUE(clear);
  EXPECT_EQ(clear->plugin, "mysql_clear_password");
  EXPECT_EQ(clear->data, "");

  auto old = decode_auth_switch(b("\xfe"sv));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->plugin, "mysql_old_password");

  EXPECT_FALSE(
      decode_auth_switch(b("\xfe"
                           "no_terminator"sv)));
  EXPECT_FALSE(decode_auth_switch(b("\x01\x04"sv)));
  EXPECT_FALSE(decode_auth_switch(b(""sv)));
}

TEST(MysqlAuthMoreData, Bytes) {
  EXPECT_EQ(str(encode_auth_more_data_payload("\x03")), "\x01\x03");
  EXPECT_EQ(str(encode_auth_more_data_payload("-----BEGIN PUBLIC KEY-----")),
            "\x01-----BEGIN PUBLIC KEY-----");
}

// --- COM_CHANGE_USER ---------------------------------------------------------------------

const std::string kChangeUser = "u2\0"s + "\x14" + kAuth20 + "db2\0"s + "\x2d\x00"s +
                                "caching_sha2_password\0"s +
                                "\x08"
                                "\x03_os"
                                "\x03"
                                "BSD"s;

TEST(MysqlChangeUser, DecodesEveryField) {
  auto change = decode_change_user(b(kChangeUser), kClientCaps);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->user, "u2");
  EXPECT_EQ(change->auth_response, kAuth20);
  EXPECT_EQ(change->database, "db2");
  EXPECT_EQ(change->collation, kCollationUtf8mb4GeneralCi);
  EXPECT_EQ(change->auth_plugin, "caching_sha2_password");
  std::vector<std::pair<std::string, std::string>> attributes = {{"_os", "BSD"}};
  EXPECT_EQ(change->attributes, attributes);
  EXPECT_EQ(str(encode_change_user_payload(*change, kClientCaps)), kChangeUser);
}

TEST(MysqlChangeUser, OldClientsAndTruncation) {
  ChangeUser change;
  change.user = "u";
  change.auth_response = "secret";
  change.database = "";
  ByteVector wire = encode_change_user_payload(change, cap::kProtocol41);
  EXPECT_EQ(str(wire), "u\0secret\0\0"s);
  auto decoded = decode_change_user(wire, cap::kProtocol41);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->auth_response, "secret");
  EXPECT_EQ(decoded->collation, 0);

  std::size_t database_end = 3 + 21 + 4;
  for (std::size_t cut = 0; cut < kChangeUser.size(); ++cut) {
    auto prefix = decode_change_user(b(kChangeUser).first(cut), kClientCaps);
    bool whole_enough =
        cut == database_end || cut == database_end + 2 || cut == kChangeUser.size() - 9;
    EXPECT_EQ(prefix.has_value(), whole_enough) << cut;
  }
}

}  // namespace
}  // namespace plexi::mysql
