// Tests for the MySQL auth exchanges: independently computed answers for both hash
// plugins, the checks a proxy makes of a client, and the RSA round trip.
#include "protocol/mysql/auth.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace plexi::mysql {
namespace {

using namespace std::string_literals;

constexpr std::string_view kScramble = "ABCDEFGHIJKLMNOPQRST";

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

// One RSA key for the whole test binary: generating one takes a noticeable fraction of a second.
const RsaKey& test_key() {
  static const std::shared_ptr<RsaKey> key = RsaKey::generate();
  return *key;
}

TEST(MysqlScramble, TwentyBytesWithoutNul) {
  std::string first = make_scramble();
  std::string second = make_scramble();
  EXPECT_EQ(first.size(), kScrambleSize);
  EXPECT_NE(first, second);
  for (int i = 0; i < 200; ++i) {
    std::string scramble = make_scramble();
    ASSERT_EQ(scramble.size(), kScrambleSize);
    EXPECT_EQ(scramble.find('\0'), std::string::npos);
  }
}

// Known answers computed with Python's hashlib:
//   s1 = sha1(b"secret"); s2 = sha1(s1)
//   native = xor(s1, sha1(b"ABCDEFGHIJKLMNOPQRST" + s2)); hash = "*" + s2.hex().upper()
//   t1 = sha256(b"secret"); t2 = sha256(t1)
//   caching_sha2 = xor(t1, sha256(t2 + b"ABCDEFGHIJKLMNOPQRST"))
TEST(MysqlNativePassword, KnownAnswer) {
  EXPECT_EQ(hex(native_password_response("secret", kScramble)),
            "28441590674285e7d03cae7af237504797f70e91");
  EXPECT_EQ(native_password_hash("secret"), "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
  EXPECT_EQ(native_password_response("", kScramble), "");
  EXPECT_EQ(native_password_hash(""), "");
}

TEST(MysqlNativePassword, CheckAgainstStoredHash) {
  std::string stored = native_password_hash("secret");
  std::string scramble = make_scramble();
  EXPECT_TRUE(
      check_native_password(native_password_response("secret", scramble), scramble, stored));
  std::string lower = stored;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(check_native_password(native_password_response("secret", scramble), scramble, lower));

  EXPECT_FALSE(
      check_native_password(native_password_response("Secret", scramble), scramble, stored));
  EXPECT_FALSE(
      check_native_password(native_password_response("secret", kScramble), scramble, stored));
  EXPECT_FALSE(check_native_password("", scramble, stored));
  EXPECT_FALSE(check_native_password(std::string(19, 'x'), scramble, stored));
  // The stored hash itself is not a response that passes.
  EXPECT_FALSE(check_native_password(stored.substr(1, 20), scramble, stored));

  std::string response = native_password_response("secret", scramble);
  EXPECT_FALSE(check_native_password(response, scramble, stored.substr(1)));            // no '*'
  EXPECT_FALSE(check_native_password(response, scramble, stored.substr(0, 40)));        // short
  EXPECT_FALSE(check_native_password(response, scramble, "*" + std::string(40, 'G')));  // not hex

  // An account without a password takes only an empty response.
  EXPECT_TRUE(check_native_password("", scramble, ""));
  EXPECT_FALSE(check_native_password(response, scramble, ""));
}

// Passthrough: the client's response to the proxy's scramble, checked against the stored
// hash alone, yields SHA1("secret") (hashlib: e5e9fa1b...), and that answers a server's
// different scramble as the password itself would.
TEST(MysqlNativePassword, PassthroughFromStoredHash) {
  std::string stored = native_password_hash("secret");
  std::string client_scramble = make_scramble();
  auto stage1 = recover_native_stage1(native_password_response("secret", client_scramble),
                                      client_scramble, stored);
  ASSERT_TRUE(stage1.has_value());
  EXPECT_EQ(hex(*stage1), "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4");

  EXPECT_EQ(hex(native_response_from_stage1(*stage1, kScramble)),
            "28441590674285e7d03cae7af237504797f70e91");
  std::string server_scramble = make_scramble();
  std::string answer = native_response_from_stage1(*stage1, server_scramble);
  EXPECT_EQ(answer, native_password_response("secret", server_scramble));
  EXPECT_TRUE(check_native_password(answer, server_scramble, stored));
  EXPECT_FALSE(check_native_password(answer, client_scramble, stored));
}

TEST(MysqlNativePassword, PassthroughRefusesWrongAnswers) {
  std::string stored = native_password_hash("secret");
  std::string scramble = make_scramble();
  std::string response = native_password_response("secret", scramble);
  EXPECT_FALSE(
      recover_native_stage1(native_password_response("Secret", scramble), scramble, stored));
  EXPECT_FALSE(recover_native_stage1(response, make_scramble(), stored));
  EXPECT_FALSE(recover_native_stage1(response, scramble, native_password_hash("other")));
  EXPECT_FALSE(recover_native_stage1("", scramble, stored));
  EXPECT_FALSE(recover_native_stage1(response.substr(1), scramble, stored));
  // Nothing to recover from an account without a password, or from what is no hash.
  EXPECT_FALSE(recover_native_stage1("", scramble, ""));
  EXPECT_FALSE(recover_native_stage1(response, scramble, stored.substr(1)));
  EXPECT_FALSE(recover_native_stage1(response, scramble, "*" + std::string(40, 'G')));
}

TEST(MysqlCachingSha2, KnownAnswer) {
  EXPECT_EQ(hex(caching_sha2_response("secret", kScramble)),
            "d721e183c1f036a196c1389201b8d53f38064a16f1d0923683ab886763152d75");
  EXPECT_EQ(caching_sha2_response("", kScramble), "");
}

TEST(MysqlCachingSha2, Check) {
  std::string scramble = make_scramble();
  std::string response = caching_sha2_response("pw", scramble);
  EXPECT_TRUE(check_caching_sha2(response, scramble, "pw"));
  EXPECT_FALSE(check_caching_sha2(response, scramble, "pw2"));
  EXPECT_FALSE(check_caching_sha2(response, kScramble, "pw"));
  EXPECT_FALSE(check_caching_sha2(response.substr(0, 31), scramble, "pw"));
  EXPECT_FALSE(check_caching_sha2("", scramble, "pw"));
  EXPECT_TRUE(check_caching_sha2("", scramble, ""));
  EXPECT_FALSE(check_caching_sha2(response, scramble, ""));
}

TEST(MysqlRsa, PublicKeyIsPem) {
  const std::string& pem = test_key().public_pem();
  EXPECT_EQ(pem.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u);
  EXPECT_NE(pem.find("-----END PUBLIC KEY-----"), std::string::npos);
  // 2048 bits: about 450 bytes of PEM.
  EXPECT_GT(pem.size(), 400u);
  EXPECT_LT(pem.size(), 500u);
}

TEST(MysqlRsa, EncryptThenDecrypt) {
  std::string scramble = make_scramble();
  // Shorter and longer than the scramble (which then repeats), empty, and with 8-bit bytes.
  for (std::string password :
       {"pw"s, "a password longer than the twenty-byte scramble"s, ""s, "p\xc3\xa4ss"s}) {
    auto cipher = encrypt_password(password, scramble, test_key().public_pem());
    ASSERT_TRUE(cipher) << password;
    EXPECT_EQ(cipher->size(), 256u);
    EXPECT_EQ(test_key().decrypt_password(*cipher, scramble), password);
  }
  // OAEP is randomized: the same password encrypts differently each time.
  EXPECT_NE(encrypt_password("pw", scramble, test_key().public_pem()),
            encrypt_password("pw", scramble, test_key().public_pem()));
}

TEST(MysqlRsa, RejectsWhatDoesNotDecrypt) {
  std::string scramble = make_scramble();
  auto cipher = encrypt_password("pw", scramble, test_key().public_pem());
  ASSERT_TRUE(cipher);
  EXPECT_NE(test_key().decrypt_password(*cipher, kScramble), "pw");
  std::string tampered = *cipher;
  tampered[100] = static_cast<char>(tampered[100] ^ 1);
  EXPECT_EQ(test_key().decrypt_password(tampered, scramble), std::nullopt);
  EXPECT_EQ(test_key().decrypt_password(cipher->substr(1), scramble), std::nullopt);
  EXPECT_EQ(test_key().decrypt_password("", scramble), std::nullopt);
  EXPECT_EQ(test_key().decrypt_password(*cipher, ""), std::nullopt);

  // Another key's ciphertext.
  auto other = RsaKey::generate();
  auto foreign = encrypt_password("pw", scramble, other->public_pem());
  ASSERT_TRUE(foreign);
  EXPECT_EQ(test_key().decrypt_password(*foreign, scramble), std::nullopt);
}

TEST(MysqlRsa, UnusableKeysAndPasswords) {
  std::string scramble = make_scramble();
  EXPECT_EQ(encrypt_password("pw", scramble, ""), std::nullopt);
  EXPECT_EQ(encrypt_password("pw", scramble,
                             "-----BEGIN PUBLIC KEY-----\nnot base64\n"
                             "-----END PUBLIC KEY-----\n"),
            std::nullopt);
  EXPECT_EQ(encrypt_password("pw", scramble, test_key().public_pem().substr(0, 200)), std::nullopt);
  EXPECT_EQ(encrypt_password("pw", "", test_key().public_pem()), std::nullopt);
  // OAEP with SHA-1 fits 2048 / 8 - 42 = 214 bytes, the NUL included.
  EXPECT_TRUE(encrypt_password(std::string(213, 'p'), scramble, test_key().public_pem()));
  EXPECT_EQ(encrypt_password(std::string(214, 'p'), scramble, test_key().public_pem()),
            std::nullopt);
}

}  // namespace
}  // namespace plexi::mysql
