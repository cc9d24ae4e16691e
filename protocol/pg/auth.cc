// SCRAM-SHA-256 (RFC 5802/7677, as PostgreSQL speaks it) and md5 password exchanges over
// OpenSSL; every parser here runs before the peer is authenticated, so none trusts its input.
#include "protocol/pg/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <stdexcept>

namespace plexi::pg {
namespace {

using Key = std::array<std::uint8_t, 32>;

constexpr std::size_t kRawNonceLength = 18;  // PostgreSQL's SCRAM_RAW_NONCE_LEN
constexpr std::string_view kMalformed = "malformed SCRAM message";

bool fits_int(std::size_t n) {
  return n <= static_cast<std::size_t>(std::numeric_limits<int>::max());
}

const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

[[nodiscard]] bool hmac_sha256(std::span<const std::uint8_t> key, std::string_view data, Key& out) {
  if (!fits_int(key.size())) return false;
  unsigned int length = 0;
  return HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes_of(data), data.size(),
              out.data(), &length) != nullptr &&
         length == out.size();
}

[[nodiscard]] bool sha256(std::span<const std::uint8_t> data, Key& out) {
  unsigned int length = 0;
  return EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr) == 1 &&
         length == out.size();
}

std::string md5_hex(std::string_view data) {
  unsigned char digest[16];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr) != 1 ||
      length != sizeof digest) {
    throw std::runtime_error("OpenSSL MD5 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(32);
  for (unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  return hex;
}

// ClientKey, StoredKey and ServerKey from a password (RFC 5802 section 3).
struct DerivedKeys {
  Key client_key{};
  Key stored_key{};
  Key server_key{};
};

[[nodiscard]] std::optional<DerivedKeys> derive_keys(std::string_view password,
                                                     std::string_view salt, int iterations) {
  if (iterations < 1 || !fits_int(password.size()) || !fits_int(salt.size())) return std::nullopt;
  Key salted{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes_of(salt),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    return std::nullopt;
  }
  DerivedKeys keys;
  bool ok = hmac_sha256(salted, "Client Key", keys.client_key) &&
            sha256(keys.client_key, keys.stored_key) &&
            hmac_sha256(salted, "Server Key", keys.server_key);
  OPENSSL_cleanse(salted.data(), salted.size());
  if (!ok) return std::nullopt;
  return keys;
}

std::string encode_key(const Key& key) { return base64_encode(key); }

std::optional<Key> decode_key(std::string_view text) {
  auto raw = base64_decode(text);
  if (!raw || raw->size() != Key{}.size()) return std::nullopt;
  Key key;
  std::copy(raw->begin(), raw->end(), key.begin());
  return key;
}

// A decimal in [1, max] with nothing else around it: no sign, no spaces, no overflow.
std::optional<int> parse_positive(std::string_view text, int max) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
    return std::nullopt;
  }
  return value;
}

// RFC 5802's "printable": what a nonce may hold (0x21-0x7E except ',').
bool is_printable(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](char c) { return c >= 0x21 && c <= 0x7e && c != ','; });
}

// Walks the comma-separated attributes of a SCRAM message. Splitting on commas is exact:
// no attribute value may contain one (RFC 5802 escapes them in names as "=2C").
class Attributes {
 public:
  explicit Attributes(std::string_view text) : rest_(text) {}

  // What follows the fields taken so far.
  std::string_view rest() const { return rest_; }
  bool done() const { return done_; }

  // The next field, possibly empty; nullopt after the last one.
  std::optional<std::string_view> next() {
    if (done_) return std::nullopt;
    auto comma = rest_.find(',');
    std::string_view field = rest_.substr(0, comma);
    if (comma == std::string_view::npos) {
      done_ = true;
      rest_ = {};
    } else {
      rest_.remove_prefix(comma + 1);
    }
    return field;
  }

  // The next field's value when it is "<name>=<value>", else nullopt.
  std::optional<std::string_view> expect(char name) {
    auto field = next();
    if (!field || field->size() < 2 || (*field)[0] != name || (*field)[1] != '=') {
      return std::nullopt;
    }
    return field->substr(2);
  }

 private:
  std::string_view rest_;
  bool done_ = false;
};

// An optional extension attribute ("x=value"); the mandatory "m=" one is not supported.
bool is_extension(std::string_view field) {
  char name = field.empty() ? '\0' : field[0];
  return field.size() >= 2 && field[1] == '=' && name != 'm' &&
         ((name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z'));
}

// A base64 digit's value, or -1.
int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string random_nonce() {
  std::array<std::byte, kRawNonceLength> raw;
  random_bytes(raw);
  return base64_encode({reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()});
}

std::nullopt_t fail(std::string& error, std::string_view why) {
  error = why;
  return std::nullopt;
}

}  // namespace

// ---- secrets ----

std::optional<ScramSecret> parse_scram_secret(std::string_view text) {
  // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
  std::string_view prefix = "SCRAM-SHA-256$";
  if (!text.starts_with(prefix)) return std::nullopt;
  text.remove_prefix(prefix.size());
  auto dollar = text.find('$');
  if (dollar == std::string_view::npos) return std::nullopt;
  std::string_view params = text.substr(0, dollar);
  std::string_view keys = text.substr(dollar + 1);
  auto colon = params.find(':');
  auto key_colon = keys.find(':');
  if (colon == std::string_view::npos || key_colon == std::string_view::npos) return std::nullopt;

  auto iterations = parse_positive(params.substr(0, colon), std::numeric_limits<int>::max());
  auto salt = base64_decode(params.substr(colon + 1));
  auto stored = decode_key(keys.substr(0, key_colon));
  auto server = decode_key(keys.substr(key_colon + 1));
  if (!iterations || !salt || salt->empty() || !stored || !server) return std::nullopt;
  return ScramSecret{*iterations, std::move(*salt), *stored, *server};
}

std::string format_scram_secret(const ScramSecret& secret) {
  return std::string(kScramSha256) + "$" + std::to_string(secret.iterations) + ":" +
         base64_encode(
             {reinterpret_cast<const std::uint8_t*>(secret.salt.data()), secret.salt.size()}) +
         "$" + encode_key(secret.stored_key) + ":" + encode_key(secret.server_key);
}

ScramSecret make_scram_secret(std::string_view password, std::string_view salt, int iterations) {
  if (iterations < 1) throw std::invalid_argument("SCRAM iteration count must be at least 1");
  auto keys = derive_keys(password, salt, iterations);
  if (!keys) throw std::runtime_error("OpenSSL failed to derive SCRAM keys");
  return ScramSecret{iterations, std::string(salt), keys->stored_key, keys->server_key};
}

std::optional<ScramProof> scram_client_proof(std::string_view password, std::string_view salt,
                                             int iterations, std::string_view auth_message) {
  auto keys = derive_keys(password, salt, iterations);
  if (!keys) return std::nullopt;
  auto proof = scram_client_proof(ScramKeys{keys->client_key, keys->server_key}, auth_message);
  OPENSSL_cleanse(keys->client_key.data(), keys->client_key.size());
  return proof;
}

std::optional<ScramProof> scram_client_proof(const ScramKeys& keys, std::string_view auth_message) {
  Key stored_key{};
  Key client_signature{};
  ScramProof proof;
  if (!sha256(keys.client_key, stored_key) ||
      !hmac_sha256(stored_key, auth_message, client_signature) ||
      !hmac_sha256(keys.server_key, auth_message, proof.server_signature)) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < proof.client_proof.size(); ++i) {
    proof.client_proof[i] = keys.client_key[i] ^ client_signature[i];
  }
  return proof;
}

// ---- the proxy as server ----

ScramServer::ScramServer(ScramSecret secret, std::string server_nonce)
    : secret_(std::move(secret)),
      server_nonce_(server_nonce.empty() ? random_nonce() : std::move(server_nonce)) {}

std::optional<std::string> ScramServer::handle_client_first(std::string_view message,
                                                            std::string& error) {
  if (first_done_) return fail(error, "unexpected SCRAM client-first-message");
  if (message.size() > kMaxScramMessage) return fail(error, kMalformed);

  // gs2-header: a channel-binding flag, then an authorization identity we do not support.
  Attributes attributes(message);
  auto cbind = attributes.next();
  if (cbind && cbind->starts_with("p=")) {
    return fail(error, "SCRAM channel binding is not supported on this connection");
  }
  if (!cbind || (*cbind != "n" && *cbind != "y")) return fail(error, kMalformed);
  auto authzid = attributes.next();
  if (!authzid) return fail(error, kMalformed);
  if (!authzid->empty()) return fail(error, "SCRAM authorization identity is not supported");

  std::string_view bare = attributes.rest();
  if (bare.starts_with("m=")) return fail(error, "unsupported SCRAM extension");
  // PostgreSQL clients send an empty user name; the startup packet's user is the one that
  // counts, so whatever is here is ignored.
  auto user = attributes.expect('n');
  auto nonce = attributes.expect('r');
  if (!user || !nonce || !is_printable(*nonce)) return fail(error, kMalformed);
  while (auto extension = attributes.next()) {
    if (!is_extension(*extension)) return fail(error, kMalformed);
  }

  cbind_flag_ = (*cbind)[0];
  client_first_bare_ = bare;
  combined_nonce_ = std::string(*nonce) + server_nonce_;
  server_first_ = "r=" + combined_nonce_ + ",s=" +
                  base64_encode({reinterpret_cast<const std::uint8_t*>(secret_.salt.data()),
                                 secret_.salt.size()}) +
                  ",i=" + std::to_string(secret_.iterations);
  first_done_ = true;
  return server_first_;
}

std::optional<std::string> ScramServer::handle_client_final(std::string_view message,
                                                            std::string& error) {
  if (!first_done_ || final_done_) return fail(error, "unexpected SCRAM client-final-message");
  final_done_ = true;
  if (message.size() > kMaxScramMessage) return fail(error, kMalformed);

  Attributes attributes(message);
  // Without channel binding, c= is the base64 of the gs2 header the client sent first.
  auto binding = attributes.expect('c');
  if (!binding) return fail(error, kMalformed);
  if (*binding != (cbind_flag_ == 'y' ? "eSws" : "biws")) {
    return fail(error, "unexpected SCRAM channel-binding attribute in client-final-message");
  }
  auto nonce = attributes.expect('r');
  if (!nonce) return fail(error, kMalformed);
  if (*nonce != combined_nonce_) return fail(error, "SCRAM nonce does not match");

  std::optional<std::string_view> proof_field;
  while (auto field = attributes.next()) {
    if (field->starts_with("p=")) {
      proof_field = field;
      break;
    }
    if (!is_extension(*field)) return fail(error, kMalformed);
  }
  // The proof is the last attribute, so the message without it is an exact prefix.
  if (!proof_field || !attributes.done()) return fail(error, kMalformed);
  auto proof = decode_key(proof_field->substr(2));
  if (!proof) return fail(error, kMalformed);
  std::string_view without_proof = message.substr(0, message.size() - proof_field->size() - 1);

  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  Key client_signature{};
  Key client_key{};
  Key stored_key{};
  Key server_signature{};
  if (!hmac_sha256(secret_.stored_key, auth_message, client_signature)) {
    return fail(error, "SCRAM computation failed");
  }
  for (std::size_t i = 0; i < client_key.size(); ++i) {
    client_key[i] = (*proof)[i] ^ client_signature[i];
  }
  // Constant time, so the comparison leaks nothing about how close a forged proof came.
  if (!sha256(client_key, stored_key) ||
      CRYPTO_memcmp(stored_key.data(), secret_.stored_key.data(), stored_key.size()) != 0) {
    return fail(error, "password authentication failed");
  }
  if (!hmac_sha256(secret_.server_key, auth_message, server_signature)) {
    return fail(error, "SCRAM computation failed");
  }
  client_keys_ = ScramKeys{client_key, secret_.server_key};
  return "v=" + encode_key(server_signature);
}

// ---- the proxy as client ----

ScramClient::ScramClient(std::string password, std::string client_nonce)
    : password_(std::move(password)),
      client_nonce_(client_nonce.empty() ? random_nonce() : std::move(client_nonce)),
      client_first_bare_("n=,r=" + client_nonce_) {}

ScramClient::ScramClient(const ScramKeys& keys, std::string client_nonce)
    : ScramClient(std::string(), std::move(client_nonce)) {
  keys_ = keys;
}

std::string ScramClient::client_first() { return "n,," + client_first_bare_; }

std::optional<std::string> ScramClient::handle_server_first(std::string_view message,
                                                            std::string& error) {
  if (have_signature_) return fail(error, "unexpected SCRAM server-first-message");
  if (message.size() > kMaxScramMessage) return fail(error, kMalformed);
  if (message.starts_with("m=")) return fail(error, "unsupported SCRAM extension");

  Attributes attributes(message);
  auto nonce = attributes.expect('r');
  auto salt_text = attributes.expect('s');
  auto iterations_text = attributes.expect('i');
  if (!nonce || !salt_text || !iterations_text) return fail(error, kMalformed);
  while (auto extension = attributes.next()) {
    if (!is_extension(*extension)) return fail(error, kMalformed);
  }
  // The server must add its own randomness to ours, or it could replay an old exchange.
  if (nonce->size() <= client_nonce_.size() || !nonce->starts_with(client_nonce_) ||
      !is_printable(*nonce)) {
    return fail(error, "invalid SCRAM server nonce");
  }
  auto salt = base64_decode(*salt_text);
  if (!salt || salt->empty()) return fail(error, kMalformed);
  // Bounded: the iteration count is the PBKDF2 work a hostile server asks us to do.
  auto iterations = parse_positive(*iterations_text, kMaxClientIterations);
  if (!iterations) return fail(error, "invalid SCRAM iteration count");

  std::string without_proof = "c=biws,r=" + std::string(*nonce);
  std::string auth_message = client_first_bare_ + "," + std::string(message) + "," + without_proof;
  auto proof = keys_ ? scram_client_proof(*keys_, auth_message)
                     : scram_client_proof(password_, *salt, *iterations, auth_message);
  if (!proof) return fail(error, "SCRAM computation failed");
  server_signature_ = proof->server_signature;
  have_signature_ = true;
  return without_proof + ",p=" + encode_key(proof->client_proof);
}

bool ScramClient::verify_server_final(std::string_view message) const {
  if (!have_signature_ || message.size() > kMaxScramMessage) return false;
  Attributes attributes(message);
  auto verifier = attributes.expect('v');  // a server error ("e=...") fails here too
  if (!verifier) return false;
  while (auto extension = attributes.next()) {
    if (!is_extension(*extension)) return false;
  }
  auto signature = decode_key(*verifier);
  return signature &&
         CRYPTO_memcmp(signature->data(), server_signature_.data(), server_signature_.size()) == 0;
}

// ---- md5 ----

std::string md5_password_secret(std::string_view password, std::string_view user) {
  std::string input;
  input.reserve(password.size() + user.size());
  input.append(password).append(user);
  std::string secret = "md5" + md5_hex(input);
  OPENSSL_cleanse(input.data(), input.size());
  return secret;
}

std::string md5_salted_response(std::string_view md5_secret, std::span<const std::byte, 4> salt) {
  std::string input(is_md5_secret(md5_secret) ? md5_secret.substr(3) : md5_secret);
  input.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return "md5" + md5_hex(input);
}

bool is_md5_secret(std::string_view text) {
  return text.size() == 35 && text.starts_with("md5") &&
         std::all_of(text.begin() + 3, text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool md5_response_matches(std::string_view md5_secret, std::span<const std::byte, 4> salt,
                          std::string_view response) {
  std::string expected = md5_salted_response(md5_secret, salt);
  return response.size() == expected.size() &&
         CRYPTO_memcmp(response.data(), expected.data(), expected.size()) == 0;
}

// ---- base64 and randomness ----

std::string base64_encode(std::span<const std::uint8_t> data) {
  // EVP_EncodeBlock takes an int length, so long inputs go in chunks of whole 3-byte groups.
  constexpr std::size_t kChunk = 3 * 1024;
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  unsigned char block[kChunk / 3 * 4 + 1];
  for (std::size_t offset = 0; offset < data.size(); offset += kChunk) {
    std::size_t n = std::min(kChunk, data.size() - offset);
    int written = EVP_EncodeBlock(block, data.data() + offset, static_cast<int>(n));
    out.append(reinterpret_cast<const char*>(block), static_cast<std::size_t>(written));
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // Strict RFC 4648: EVP_DecodeBlock on its own skips surrounding whitespace and counts
  // padding as decoded zero bytes, so the shape is checked here first.
  if (text.size() % 4 != 0 || !fits_int(text.size())) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  int last = 0;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    last = sextet(text[i]);
    if (last < 0) return std::nullopt;
  }
  // Canonical only: the bits a padded group leaves over must be zero, so every byte string
  // has exactly one accepted encoding.
  if ((padding == 1 && (last & 0x3) != 0) || (padding == 2 && (last & 0xf) != 0)) {
    return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes_of(text),
                                static_cast<int>(text.size()));
  if (written < 0 || static_cast<std::size_t>(written) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  return out;
}

void random_bytes(std::span<std::byte> out) {
  // Without randomness nonces and salts would be guessable; there is no safe fallback.
  if (!fits_int(out.size()) ||
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
}

}  // namespace plexi::pg
