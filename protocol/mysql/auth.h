// MySQL authentication exchanges: mysql_native_password and caching_sha2_password, both as
// the proxy checking a client and as the proxy logging in to a server, and the RSA key the
// proxy hands to clients that want to send a password without TLS. Pure functions; random
// bytes come from OpenSSL.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace plexi::mysql {

inline constexpr std::string_view kNativePassword = "mysql_native_password";
inline constexpr std::string_view kCachingSha2Password = "caching_sha2_password";
inline constexpr std::string_view kClearPassword = "mysql_clear_password";
inline constexpr std::size_t kScrambleSize = 20;

// 20 random bytes, none of them NUL (the handshake carries the scramble NUL-terminated).
std::string make_scramble();

// mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); empty for
// an empty password.
std::string native_password_response(std::string_view password, std::string_view scramble);
// The stored form "*" + 40 upper-case hex digits of SHA1(SHA1(password)) (mysql.user's
// authentication_string), and the check of a client's response against it.
std::string native_password_hash(std::string_view password);
bool check_native_password(std::string_view response, std::string_view scramble,
                           std::string_view stored_hash);

// Passthrough for users of whom the proxy holds only the stored hash: a client's correct
// response gives away SHA1(password) (the response XOR SHA1(scramble + stored hash)), which
// is enough to answer any server's mysql_native_password challenge and nothing else. None
// when the response does not check against the hash (or the hash is not one).
std::optional<std::string> recover_native_stage1(std::string_view response,
                                                 std::string_view scramble,
                                                 std::string_view stored_hash);
// The mysql_native_password answer to `scramble` from SHA1(password): what
// native_password_response() gives for the password itself.
std::string native_response_from_stage1(std::string_view stage1, std::string_view scramble);

// caching_sha2_password's fast path: SHA256(password) XOR SHA256(SHA256(SHA256(password)) +
// scramble); empty for an empty password.
std::string caching_sha2_response(std::string_view password, std::string_view scramble);
bool check_caching_sha2(std::string_view response, std::string_view scramble,
                        std::string_view password);

// caching_sha2_password's AuthMoreData bytes.
inline constexpr char kFastAuthSuccess = 0x03;
inline constexpr char kPerformFullAuthentication = 0x04;
inline constexpr char kRequestPublicKey = 0x02;

// The proxy's RSA key for full authentication without TLS: generated at start-up (2048
// bits), its public half sent as PEM, the client's RSA-OAEP-encrypted (password XOR
// scramble) decrypted back to the password.
class RsaKey {
 public:
  static std::shared_ptr<RsaKey> generate();
  ~RsaKey();
  const std::string& public_pem() const { return public_pem_; }
  // The password, or nullopt when the ciphertext does not decrypt.
  std::optional<std::string> decrypt_password(std::string_view ciphertext,
                                              std::string_view scramble) const;

 private:
  RsaKey() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string public_pem_;
};

// What the proxy as a client sends to a server whose public key it got: the password
// (NUL-terminated) XOR the scramble, RSA-OAEP-encrypted; nullopt when the key is unusable.
std::optional<std::string> encrypt_password(std::string_view password, std::string_view scramble,
                                            std::string_view public_pem);

}  // namespace plexi::mysql
