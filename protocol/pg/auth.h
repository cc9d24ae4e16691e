// PostgreSQL authentication exchanges: SCRAM-SHA-256 (both ends) and md5. Pure functions
// over strings; randomness comes from OpenSSL's RAND_bytes unless a nonce is given.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace plexi::pg {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";

// What a server stores for a SCRAM-SHA-256 user (pg_authid's rolpassword):
// "SCRAM-SHA-256$<iterations>:<salt base64>$<StoredKey base64>:<ServerKey base64>".
struct ScramSecret {
  int iterations = 4096;
  std::string salt;  // raw bytes
  std::array<std::uint8_t, 32> stored_key{};
  std::array<std::uint8_t, 32> server_key{};
};

std::optional<ScramSecret> parse_scram_secret(std::string_view text);
std::string format_scram_secret(const ScramSecret& secret);
// Derives the secret from a plain password (SASLprep is the identity for ASCII passwords;
// non-ASCII passwords are used as given, as PostgreSQL does when SASLprep fails).
// `iterations` must be at least 1 (std::invalid_argument otherwise): it comes from
// configuration, never from the wire.
ScramSecret make_scram_secret(std::string_view password, std::string_view salt, int iterations);

// What lets the proxy log in to a server as a user it holds only the SCRAM secret of (SCRAM
// passthrough, as PgBouncer does): the ClientKey recovered from that user's own proof when
// it logged in to the proxy, and the secret's ServerKey to check the server's signature.
// It works while the server stores the same secret (same salt and iterations).
struct ScramKeys {
  std::array<std::uint8_t, 32> client_key{};
  std::array<std::uint8_t, 32> server_key{};
  bool operator==(const ScramKeys&) const = default;
};

// The client's proof and the signature it expects from the server for one AuthMessage
// (RFC 5802 section 3). ScramClient uses it; it is public so the RFC 7677 test vector,
// whose client names a user where PostgreSQL clients send "n=", can be checked directly.
struct ScramProof {
  std::array<std::uint8_t, 32> client_proof{};
  std::array<std::uint8_t, 32> server_signature{};
};
std::optional<ScramProof> scram_client_proof(std::string_view password, std::string_view salt,
                                             int iterations, std::string_view auth_message);
// The same from the keys alone (StoredKey is SHA-256 of ClientKey).
std::optional<ScramProof> scram_client_proof(const ScramKeys& keys, std::string_view auth_message);

// What the proxy, as a client, accepts as a server's iteration count: enough for any real
// server, and a bound on the PBKDF2 work a hostile server can make the proxy do.
inline constexpr int kMaxClientIterations = 1'000'000;
// Longest SCRAM message either class parses; real ones are about 100 bytes.
inline constexpr std::size_t kMaxScramMessage = 8192;

// The proxy's side when a client authenticates to it. One object per exchange.
class ScramServer {
 public:
  // `server_nonce` empty: 18 random bytes, base64.
  explicit ScramServer(ScramSecret secret, std::string server_nonce = {});

  // client-first-message → server-first-message. nullopt and `error` set on a malformed
  // message or one asking for channel binding.
  std::optional<std::string> handle_client_first(std::string_view message, std::string& error);
  // client-final-message → server-final-message ("v=..."). nullopt when the proof is wrong
  // (error "password authentication failed") or the message malformed.
  std::optional<std::string> handle_client_final(std::string_view message, std::string& error);
  // After a successful handle_client_final: the client's ClientKey with the secret's
  // ServerKey, for logging in to servers as this client. Null before.
  const std::optional<ScramKeys>& client_keys() const { return client_keys_; }

 private:
  ScramSecret secret_;
  std::optional<ScramKeys> client_keys_;
  std::string server_nonce_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string combined_nonce_;
  char cbind_flag_ = 'n';  // 'n' or 'y': what client-final's c= must encode
  bool first_done_ = false;
  bool final_done_ = false;  // one exchange per object: a second final is refused
};

// The proxy's side when it authenticates to a server with a plain password.
class ScramClient {
 public:
  // `client_nonce` empty: 18 random bytes, base64.
  explicit ScramClient(std::string password, std::string client_nonce = {});
  // SCRAM passthrough: logs in with the keys instead of a password.
  explicit ScramClient(const ScramKeys& keys, std::string client_nonce = {});

  std::string client_first();  // "n,,n=,r=<nonce>"
  // server-first-message → client-final-message; nullopt and `error` set when malformed or
  // when the server's nonce does not extend ours.
  std::optional<std::string> handle_server_first(std::string_view message, std::string& error);
  // True when the server proved it knows the secret. False before a successful
  // handle_server_first, so an all-zero signature never passes.
  bool verify_server_final(std::string_view message) const;

 private:
  std::string password_;
  std::optional<ScramKeys> keys_;
  std::string client_nonce_;
  std::string client_first_bare_;
  std::array<std::uint8_t, 32> server_signature_{};
  bool have_signature_ = false;
};

// "md5" + hex(md5(password + user)): what pg_authid stores for md5 users.
std::string md5_password_secret(std::string_view password, std::string_view user);
// What a client answers to an md5 request: "md5" + hex(md5(hex_part_of_secret + salt)).
std::string md5_salted_response(std::string_view md5_secret, std::span<const std::byte, 4> salt);
// True when `text` is an md5 secret ("md5" and 32 lowercase hex digits, as PostgreSQL
// writes them).
bool is_md5_secret(std::string_view text);
// The proxy's check of a client's md5 answer, in constant time.
bool md5_response_matches(std::string_view md5_secret, std::span<const std::byte, 4> salt,
                          std::string_view response);

std::string base64_encode(std::span<const std::uint8_t> data);
std::optional<std::string> base64_decode(std::string_view text);
// Random bytes from the OS's CSPRNG (OpenSSL).
void random_bytes(std::span<std::byte> out);

}  // namespace plexi::pg
