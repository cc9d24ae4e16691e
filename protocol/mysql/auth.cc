// mysql_native_password and caching_sha2_password over OpenSSL: scrambles, the hashed
// responses both ways, and the RSA exchange that carries a password without TLS.
#include "protocol/mysql/auth.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <initializer_list>
#include <stdexcept>

namespace plexi::mysql {
namespace {

constexpr std::size_t kSha1Size = 20;
constexpr std::size_t kSha256Size = 32;
constexpr int kRsaBits = 2048;

const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

// The digest of the concatenated parts. A failing digest is a broken OpenSSL, not bad input.
std::string digest(const EVP_MD* md, std::initializer_list<std::string_view> parts) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string out(static_cast<std::size_t>(EVP_MD_get_size(md)), '\0');
  unsigned int length = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1;
  for (std::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
  }
  ok = ok &&
       EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length) == 1;
  if (!ok || length != out.size()) throw std::runtime_error("OpenSSL digest failed");
  return out;
}

std::string sha1(std::initializer_list<std::string_view> parts) {
  return digest(EVP_sha1(), parts);
}
std::string sha256(std::initializer_list<std::string_view> parts) {
  return digest(EVP_sha256(), parts);
}

// `data` XOR `key`, the key repeated as often as needed (the scramble over a longer
// password in the RSA exchange).
std::string xor_cyclic(std::string_view data, std::string_view key) {
  std::string out(data);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(out[i] ^ key[i % key.size()]);
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int high = nibble(hex[i]);
    int low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high << 4 | low));
  }
  return out;
}

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

// Runs EVP_PKEY_encrypt or EVP_PKEY_decrypt with RSA-OAEP (SHA-1, as MySQL's clients and
// servers use it) over `input`.
template <class Init, class Run>
std::optional<std::string> rsa_oaep(EVP_PKEY* key, std::string_view input, Init init, Run run) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr), EVP_PKEY_CTX_free);
  std::size_t length = 0;
  if (!ctx || init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      run(ctx.get(), nullptr, &length, bytes_of(input), input.size()) != 1) {
    return std::nullopt;
  }
  std::string out(length, '\0');
  if (run(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length, bytes_of(input),
          input.size()) != 1) {
    return std::nullopt;
  }
  out.resize(length);
  return out;
}

// A failed decryption or key parse leaves errors in OpenSSL's per-thread queue, where a TLS
// call on this thread would later find them and take them for its own.
std::nullopt_t openssl_failure() {
  ERR_clear_error();
  return std::nullopt;
}

}  // namespace

std::string make_scramble() {
  unsigned char raw[kScrambleSize];
  // Without randomness a recorded login could be replayed; there is no safe fallback.
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string scramble;
  for (unsigned char byte : raw) {
    // Seven bits, no NUL and no '$', as servers make them: the handshake NUL-terminates the
    // scramble, and some clients hold it in a C string.
    char c = static_cast<char>(byte & 0x7f);
    if (c == '\0' || c == '$') ++c;
    scramble.push_back(c);
  }
  return scramble;
}

// ---- mysql_native_password ----

std::string native_password_response(std::string_view password, std::string_view scramble) {
  if (password.empty()) return {};
  return native_response_from_stage1(sha1({password}), scramble);
}

std::string native_response_from_stage1(std::string_view stage1, std::string_view scramble) {
  return xor_cyclic(stage1, sha1({scramble, sha1({stage1})}));
}

std::string native_password_hash(std::string_view password) {
  if (password.empty()) return {};  // what mysql.user holds for an account without one
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string hash = "*";
  for (unsigned char byte : sha1({sha1({password})})) {
    hash.push_back(kHex[byte >> 4]);
    hash.push_back(kHex[byte & 0xf]);
  }
  return hash;
}

bool check_native_password(std::string_view response, std::string_view scramble,
                           std::string_view stored_hash) {
  if (stored_hash.empty()) return response.empty();
  return recover_native_stage1(response, scramble, stored_hash).has_value();
}

std::optional<std::string> recover_native_stage1(std::string_view response,
                                                 std::string_view scramble,
                                                 std::string_view stored_hash) {
  if (stored_hash.size() != 1 + 2 * kSha1Size || stored_hash[0] != '*') return std::nullopt;
  auto stage2 = from_hex(stored_hash.substr(1));
  if (!stage2 || response.size() != kSha1Size) return std::nullopt;
  // response = stage1 XOR SHA1(scramble + stage2), so the XOR recovers stage1, whose hash
  // must be the stored stage2.
  std::string stage1 = xor_cyclic(response, sha1({scramble, *stage2}));
  if (!equal_constant_time(sha1({stage1}), *stage2)) return std::nullopt;
  return stage1;
}

// ---- caching_sha2_password ----

std::string caching_sha2_response(std::string_view password, std::string_view scramble) {
  if (password.empty()) return {};
  std::string stage1 = sha256({password});
  std::string stage2 = sha256({stage1});
  return xor_cyclic(stage1, sha256({stage2, scramble}));
}

bool check_caching_sha2(std::string_view response, std::string_view scramble,
                        std::string_view password) {
  if (password.empty()) return response.empty();
  if (response.size() != kSha256Size) return false;
  return equal_constant_time(response, caching_sha2_response(password, scramble));
}

// ---- RSA ----

struct RsaKey::Impl {
  PkeyPtr key{nullptr, EVP_PKEY_free};
};

RsaKey::~RsaKey() = default;

std::shared_ptr<RsaKey> RsaKey::generate() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), kRsaBits) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    throw std::runtime_error("RSA key generation failed");
  }
  std::shared_ptr<RsaKey> key(new RsaKey());
  key->impl_ = std::make_unique<Impl>();
  key->impl_->key.reset(raw);

  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  char* pem = nullptr;
  long length = 0;
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), raw) != 1 ||
      (length = BIO_get_mem_data(bio.get(), &pem)) <= 0) {
    throw std::runtime_error("writing the RSA public key failed");
  }
  key->public_pem_.assign(pem, static_cast<std::size_t>(length));
  return key;
}

std::optional<std::string> RsaKey::decrypt_password(std::string_view ciphertext,
                                                    std::string_view scramble) const {
  if (scramble.empty()) return std::nullopt;
  auto plain = rsa_oaep(impl_->key.get(), ciphertext, EVP_PKEY_decrypt_init, EVP_PKEY_decrypt);
  if (!plain) return openssl_failure();
  std::string password = xor_cyclic(*plain, scramble);
  OPENSSL_cleanse(plain->data(), plain->size());
  // The client sent the password with its NUL; without one, it was not a password.
  if (password.empty() || password.back() != '\0') return std::nullopt;
  password.pop_back();
  return password;
}

std::optional<std::string> encrypt_password(std::string_view password, std::string_view scramble,
                                            std::string_view public_pem) {
  if (scramble.empty() || public_pem.size() > 64 * 1024) return std::nullopt;
  BioPtr bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())), BIO_free);
  if (!bio) return openssl_failure();
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return openssl_failure();
  std::string plain = xor_cyclic(std::string(password) + '\0', scramble);
  auto cipher = rsa_oaep(key.get(), plain, EVP_PKEY_encrypt_init, EVP_PKEY_encrypt);
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!cipher) return openssl_failure();
  return cipher;
}

}  // namespace plexi::mysql
