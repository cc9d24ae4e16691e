// libFuzzer target for the MySQL authentication bytes a hostile peer controls, over
// caching_sha2_password and mysql_native_password: the input is a login's packets, those
// with odd sequence ids played by the client to the proxy as server, those with even ones
// by the server to the proxy as client (as in a real exchange, which the seeds are).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/mysql/auth.h"
#include "protocol/mysql/packets.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace plexi;
using namespace plexi::mysql;
using plexi::fuzz::check;

// The unit tests' vector: seeds written with it reach the checks that succeed.
constexpr std::string_view kPassword = "secret";
constexpr std::string_view kScramble = "ABCDEFGHIJKLMNOPQRST";
// RSA-OAEP with SHA-1 over a 2048-bit key: 256 - 2 * 20 - 2 bytes.
constexpr std::size_t kOaepMaxPlaintext = 214;

// Generated once: a 2048-bit key takes far longer than an input may.
const RsaKey& proxy_key() {
  static const std::shared_ptr<RsaKey> key = RsaKey::generate();
  return *key;
}

// The proxy checks a client's answer the way Session::verify does, against a plain password
// (both plugins) and against the stored native hash of it.
bool checks_answer(std::string_view answer, std::string_view scramble) {
  bool sha2 = check_caching_sha2(answer, scramble, kPassword);
  bool native = check_native_password(answer, scramble, native_password_hash(kPassword));
  // The same bytes checked against a hash the client chose: malformed hashes are refused.
  check_native_password(answer, scramble, answer);
  return sha2 || native;
}

// The proxy as server: the client's handshake response (after an SSLRequest, if any), the
// switch response, and the full authentication's RSA-encrypted password.
void proxy_as_server(const std::vector<Packet>& packets, std::string_view scramble,
                     std::string_view switch_scramble) {
  std::size_t next = 0;
  auto take = [&]() -> std::optional<std::string_view> {
    if (next == packets.size()) return std::nullopt;
    return as_chars(packets[next++].payload);
  };
  auto first = take();
  if (!first) return;
  auto response = decode_handshake_response(as_bytes(*first));
  bool tls = response && response->ssl_request;
  if (tls) {
    first = take();
    if (!first) return;
    response = decode_handshake_response(as_bytes(*first));
  }
  if (!response) return;
  // With the user name as the password, the answers a client computes check OK, and those
  // for another scramble do not.
  const std::string& user = response->user;
  if (!user.empty()) {
    check(check_caching_sha2(caching_sha2_response(user, scramble), scramble, user),
          "caching_sha2 answer for the user name");
    check(check_native_password(native_password_response(user, scramble), scramble,
                                native_password_hash(user)),
          "native answer for the user name");
    check(switch_scramble == scramble ||
              !check_caching_sha2(caching_sha2_response(user, switch_scramble), scramble, user),
          "caching_sha2 answer for another scramble");
  }
  std::string answer = response->auth_response;
  bool switched = response->auth_plugin != kCachingSha2Password;
  if (switched || answer.empty()) {
    // A switch (to native or to caching_sha2 again) with a fresh scramble; the next packet
    // is the whole answer.
    auto switch_answer = take();
    if (!switch_answer) return;
    answer = std::string(*switch_answer);
    scramble = switch_scramble;
  }
  if (checks_answer(answer, scramble) || switched) return;
  // Full authentication: over TLS the password comes in clear, which the session only
  // compares; otherwise RSA-encrypted, maybe after a request for the proxy's public key.
  if (tls) return;
  auto full = take();
  if (!full) return;
  if (full->size() == 1 && (*full)[0] == kRequestPublicKey) {
    full = take();
    if (!full) return;
  }
  if (auto password = proxy_key().decrypt_password(*full, scramble)) {
    // Only a ciphertext made with the proxy's public key decrypts; the fuzzer cannot make one.
    check(encrypt_password(*password, scramble, proxy_key().public_pem()).has_value(),
          "a decrypted password encrypts again");
  }
}

// What the proxy answers for `plugin`, as ServerConnection::log_in does; nullopt for a plugin
// it does not speak.
std::optional<std::string> answer_for(std::string_view plugin, std::string_view scramble) {
  if (plugin == kCachingSha2Password) {
    std::string answer = caching_sha2_response(kPassword, scramble);
    check(check_caching_sha2(answer, scramble, kPassword), "caching_sha2 answer checks OK");
    check(answer.size() == 32, "caching_sha2 answer is 32 bytes");
    return answer;
  }
  if (plugin == kNativePassword) {
    std::string answer = native_password_response(kPassword, scramble);
    check(check_native_password(answer, scramble, native_password_hash(kPassword)),
          "native answer checks OK");
    return answer;
  }
  if (plugin == kClearPassword) return std::string(kPassword) + '\0';
  return std::nullopt;
}

// The proxy as client: the server's greeting, then switches, AuthMoreData and the public key
// it asked for, up to OK or ERR (at most 8 rounds, as log_in allows).
void proxy_as_client(const std::vector<Packet>& packets) {
  if (packets.empty()) return;
  auto greeting = decode_handshake(packets[0].payload);
  if (!greeting) return;
  std::string plugin =
      greeting->auth_plugin.empty() ? std::string(kNativePassword) : greeting->auth_plugin;
  std::string scramble = greeting->auth_data;
  if (!answer_for(plugin, scramble)) plugin = std::string(kNativePassword);
  for (std::size_t i = 1; i < packets.size() && i <= 8; ++i) {
    Bytes payload = packets[i].payload;
    if (payload.empty() || is_ok(payload) || is_err(payload)) return;
    auto header = std::to_integer<std::uint8_t>(payload[0]);
    if (header == 0xfe) {
      auto change = decode_auth_switch(payload);
      if (!change) return;
      plugin = change->plugin;
      scramble = change->data;
      if (!answer_for(plugin, scramble)) return;
    } else if (header == 0x01 && plugin == kCachingSha2Password && payload.size() >= 2) {
      std::string_view data = as_chars(payload.subspan(1));
      if (data[0] == kFastAuthSuccess || data[0] == kPerformFullAuthentication) continue;
      // Whatever key the server sent.
      (void)encrypt_password(kPassword, scramble, data);
      // The round trip through the proxy's own key, with this exchange's scramble and a
      // password the input chose (the greeting's server version), gives the password back
      // when it fits in RSA-OAEP's 214 bytes (with its NUL).
      const std::string& chosen = greeting->server_version;
      auto mine = encrypt_password(chosen, scramble, proxy_key().public_pem());
      if (scramble.empty() || chosen.size() + 1 > kOaepMaxPlaintext) {
        check(!mine, "no encryption without a scramble or of a password too long");
        continue;
      }
      check(mine.has_value(), "encrypting with the proxy's key");
      check(proxy_key().decrypt_password(*mine, scramble) == chosen, "RSA round trip");
    } else {
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes input(reinterpret_cast<const std::byte*>(data), size);
  std::vector<Packet> from_client, from_server;
  // The client's packets have odd ids, until its SSLRequest: the response it sends over TLS
  // takes the next id, so from there its ids are even.
  std::uint8_t client_parity = 1;
  while (auto packet = next_packet(input)) {
    const bool client = packet->sequence % 2 == client_parity;
    (client ? from_client : from_server).push_back(*packet);
    if (client && from_client.size() == 1) {
      auto response = decode_handshake_response(packet->payload);
      if (response && response->ssl_request) client_parity ^= 1;
    }
    input = input.subspan(packet->size());
  }
  // The scrambles the client answers: the greeting's, and the switch's when there is one.
  std::string scramble(kScramble);
  if (!from_server.empty()) {
    if (auto greeting = decode_handshake(from_server[0].payload)) scramble = greeting->auth_data;
  }
  std::string switch_scramble = scramble;
  for (const auto& packet : from_server) {
    if (auto change = decode_auth_switch(packet.payload)) {
      switch_scramble = change->data;
      break;
    }
  }
  proxy_as_server(from_client, scramble, switch_scramble);
  proxy_as_client(from_server);

  // The bytes after the last whole packet (the whole input when it has none) as raw answers
  // and as a raw ciphertext.
  std::string_view rest = as_chars(input);
  checks_answer(rest, scramble);
  if (rest.size() == 256) (void)proxy_key().decrypt_password(rest, scramble);
  return 0;
}
