// Tests for the PostgreSQL auth exchanges: published vectors, both SCRAM ends talking to each
// other, and hostile messages that must be refused without crashing.
#include "protocol/pg/auth.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace plexi::pg {
namespace {

// RFC 7677 section 3. (Its user name is "user"; PostgreSQL clients send "n=" instead.)
constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kSaltB64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
constexpr std::string_view kNonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

std::string rfc_salt() { return *base64_decode(kSaltB64); }
ScramSecret rfc_secret() { return make_scram_secret(kPassword, rfc_salt(), 4096); }

std::string b64(std::string_view text) {
  return base64_encode({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

// A server that has accepted a PostgreSQL-style client-first with the RFC nonces.
ScramServer server_after_first() {
  ScramServer server(rfc_secret(), std::string(kServerNonce));
  std::string error;
  EXPECT_TRUE(server.handle_client_first("n,,n=,r=rOprNGfwEbeRWgbNEkqO", error)) << error;
  return server;
}

TEST(Base64Test, KnownValuesAndRoundTrip) {
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
  // Lengths around every padding case, and one longer than the encoder's chunk.
  for (std::size_t n : {0, 1, 2, 3, 4, 5, 17, 18, 3071, 3072, 3073, 100000}) {
    std::string data(n, '\0');
    for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<char>(i * 7 + 3);
    auto decoded = base64_decode(b64(data));
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded, data) << n;
  }
}

TEST(Base64Test, RejectsMalformed) {
  using namespace std::literals;
  for (std::string_view bad :
       {"Zg="sv, "Zg"sv, "Z"sv, "Zg=a"sv, "Z==="sv, "===="sv, "Zg==Zg=="sv, "Zm9v\n"sv, " Zm9v"sv,
        "Zm 9"sv, "Zm9-"sv, "Zm9_"sv, "Zm\0v"sv, "\xff\xff\xff\xff"sv,
        // Non-canonical: unused bits set ("Zg==" and "Zm8=" are "f", "fo").
        "Zh=="sv, "Zm9="sv}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

TEST(ScramSecretTest, MakeMatchesIndependentComputation) {
  // Computed with Python: hashlib.pbkdf2_hmac('sha256', b'pencil', salt, 4096), then
  // StoredKey = sha256(hmac(salted, b'Client Key')), ServerKey = hmac(salted, b'Server Key').
  EXPECT_EQ(format_scram_secret(rfc_secret()),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT"
            "4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
}

TEST(ScramSecretTest, ParsesPostgres15Secret) {
  // The shape PostgreSQL 15 stores (16-byte salt, 4096 iterations) for the password
  // "correct horse battery staple" with salt bytes 1..16, computed with Python's
  // hashlib.pbkdf2_hmac as above.
  std::string_view text =
      "SCRAM-SHA-256$4096:AQIDBAUGBwgJCgsMDQ4PEA==$/l+YDDW8o1faHA5A+qyCSPkGMUC1xXZnK/07vZp45WU=:"
      "Ey4oOVILi161Ov8seDuedRzIinDajFe0U5vSPAZjhSQ=";
  auto secret = parse_scram_secret(text);
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->iterations, 4096);
  ASSERT_EQ(secret->salt.size(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(secret->salt[i], static_cast<char>(i + 1));
  std::string salt = secret->salt;
  auto made = make_scram_secret("correct horse battery staple", salt, 4096);
  EXPECT_EQ(made.stored_key, secret->stored_key);
  EXPECT_EQ(made.server_key, secret->server_key);
  EXPECT_EQ(format_scram_secret(*secret), text);
}

TEST(ScramSecretTest, RoundTrip) {
  std::string salt(16, '\0');
  random_bytes({reinterpret_cast<std::byte*>(salt.data()), salt.size()});
  auto secret = make_scram_secret("hunter2", salt, 4096);
  auto parsed = parse_scram_secret(format_scram_secret(secret));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->iterations, secret.iterations);
  EXPECT_EQ(parsed->salt, secret.salt);
  EXPECT_EQ(parsed->stored_key, secret.stored_key);
  EXPECT_EQ(parsed->server_key, secret.server_key);
}

TEST(ScramSecretTest, RejectsMalformed) {
  const std::string keys =
      "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  ASSERT_TRUE(parse_scram_secret("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys));
  for (const std::string& bad : std::vector<std::string>{
           "", "SCRAM-SHA-256$", "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$+5:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$4096x:W22ZaJ0SNY7soEsUEjb6gQ==" + keys, "SCRAM-SHA-256$4096:" + keys,
           "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=" + keys,
           "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
           "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
           "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
           "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$Zm9v:"
           "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
           "md5" + std::string(32, 'a')}) {
    EXPECT_FALSE(parse_scram_secret(bad)) << bad;
  }
}

TEST(ScramServerTest, Rfc7677Vector) {
  ScramServer server(rfc_secret(), std::string(kServerNonce));
  std::string error;
  EXPECT_EQ(server.handle_client_first(kRfcClientFirst, error), kRfcServerFirst) << error;
  EXPECT_EQ(server.handle_client_final(kRfcClientFinal, error), kRfcServerFinal) << error;
}

TEST(ScramClientTest, Rfc7677VectorProof) {
  std::string auth_message = std::string(kRfcClientFirst.substr(3)) + "," +
                             std::string(kRfcServerFirst) + ",c=biws,r=" + std::string(kNonce);
  auto proof = scram_client_proof(kPassword, rfc_salt(), 4096, auth_message);
  ASSERT_TRUE(proof);
  EXPECT_EQ("c=biws,r=" + std::string(kNonce) + ",p=" + base64_encode(proof->client_proof),
            kRfcClientFinal);
  EXPECT_EQ("v=" + base64_encode(proof->server_signature), kRfcServerFinal);
}

TEST(ScramClientTest, PostgresStyleKnownValues) {
  // The RFC 7677 exchange with the empty user name libpq sends; expected values computed
  // with Python's hashlib/hmac from the same inputs (AuthMessage "n=,r=...,<server-first>,
  // c=biws,r=...").
  ScramClient client{std::string(kPassword), std::string(kClientNonce)};
  EXPECT_EQ(client.client_first(), "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
  std::string error;
  auto final_message = client.handle_server_first(kRfcServerFirst, error);
  ASSERT_TRUE(final_message) << error;
  EXPECT_EQ(*final_message,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=");
  EXPECT_FALSE(client.verify_server_final(kRfcServerFinal));  // signed a different message
  EXPECT_TRUE(client.verify_server_final("v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="));
}

TEST(ScramExchangeTest, ClientAndServerAgree) {
  std::string salt(16, '\0');
  random_bytes({reinterpret_cast<std::byte*>(salt.data()), salt.size()});
  ScramServer server(make_scram_secret("s3cret pass", salt, 4096));
  ScramClient client("s3cret pass");
  std::string error;
  auto server_first = server.handle_client_first(client.client_first(), error);
  ASSERT_TRUE(server_first) << error;
  auto client_final = client.handle_server_first(*server_first, error);
  ASSERT_TRUE(client_final) << error;
  auto server_final = server.handle_client_final(*client_final, error);
  ASSERT_TRUE(server_final) << error;
  EXPECT_TRUE(client.verify_server_final(*server_final));
}

TEST(ScramExchangeTest, RandomNoncesDiffer) {
  ScramClient a("x"), b("x");
  EXPECT_NE(a.client_first(), b.client_first());
  EXPECT_EQ(a.client_first().size(), std::string_view("n,,n=,r=").size() + 24);
}

TEST(ScramExchangeTest, WrongPasswordRejected) {
  ScramServer server(rfc_secret());
  ScramClient client("pencil2");
  std::string error;
  auto server_first = server.handle_client_first(client.client_first(), error);
  ASSERT_TRUE(server_first);
  auto client_final = client.handle_server_first(*server_first, error);
  ASSERT_TRUE(client_final);
  EXPECT_FALSE(server.handle_client_final(*client_final, error));
  EXPECT_EQ(error, "password authentication failed");
}

// One exchange between `client` and `server`: whether the server accepted the proof and
// the client the server's signature.
struct ExchangeOutcome {
  bool server_accepted = false;
  bool client_accepted = false;
};
ExchangeOutcome exchange(ScramClient& client, ScramServer& server) {
  std::string error;
  auto server_first = server.handle_client_first(client.client_first(), error);
  auto client_final = server_first ? client.handle_server_first(*server_first, error) : std::nullopt;
  auto server_final = client_final ? server.handle_client_final(*client_final, error) : std::nullopt;
  return {server_final.has_value(), server_final && client.verify_server_final(*server_final)};
}

TEST(ScramPassthroughTest, KeysFromTheClientsProofLogInToTheServer) {
  // The proxy holds only the secret; the server stores the same one.
  const ScramSecret secret = rfc_secret();
  ScramServer proxy(secret);
  ScramClient application{std::string(kPassword)};
  EXPECT_FALSE(proxy.client_keys());
  ASSERT_TRUE(exchange(application, proxy).server_accepted);
  ASSERT_TRUE(proxy.client_keys());
  const ScramKeys keys = *proxy.client_keys();
  EXPECT_EQ(keys.server_key, secret.server_key);

  // The proxy logs in to the server with the keys, and checks the server's signature.
  ScramServer server(secret);
  ScramClient relay(keys);
  const auto outcome = exchange(relay, server);
  EXPECT_TRUE(outcome.server_accepted);
  EXPECT_TRUE(outcome.client_accepted);
}

TEST(ScramPassthroughTest, NoKeysFromAWrongPasswordAndOldKeysFailAfterAChange) {
  ScramServer proxy(rfc_secret());
  ScramClient wrong("not pencil");
  EXPECT_FALSE(exchange(wrong, proxy).server_accepted);
  EXPECT_FALSE(proxy.client_keys());

  ScramServer before(rfc_secret());
  ScramClient application{std::string(kPassword)};
  ASSERT_TRUE(exchange(application, before).server_accepted);
  // The server's password changed (new secret, same salt): the old keys no longer log in.
  ScramServer changed(make_scram_secret("new pencil", rfc_salt(), 4096));
  ScramClient relay(*before.client_keys());
  EXPECT_FALSE(exchange(relay, changed).server_accepted);
  // And an impostor server without the ServerKey is not believed.
  ScramSecret impostor_secret = rfc_secret();
  impostor_secret.server_key[0] ^= 1;
  ScramServer impostor(impostor_secret);
  ScramClient careful(*before.client_keys());
  const auto outcome = exchange(careful, impostor);
  EXPECT_TRUE(outcome.server_accepted);
  EXPECT_FALSE(outcome.client_accepted);
}

TEST(ScramExchangeTest, ClientRejectsImpostorServer) {
  // A server with the salt but the wrong keys cannot produce the signature.
  ScramServer impostor(make_scram_secret("other", rfc_salt(), 4096));
  ScramClient client{std::string(kPassword)};
  std::string error;
  auto server_first = impostor.handle_client_first(client.client_first(), error);
  auto client_final = client.handle_server_first(*server_first, error);
  ASSERT_TRUE(client_final);
  EXPECT_FALSE(impostor.handle_client_final(*client_final, error));
  EXPECT_FALSE(client.verify_server_final("v=" + base64_encode(std::array<std::uint8_t, 32>{})));
}

TEST(ScramServerTest, ClientSupportingChannelBindingWithoutTls) {
  ScramServer server(rfc_secret(), std::string(kServerNonce));
  std::string error;
  ASSERT_TRUE(server.handle_client_first("y,,n=,r=rOprNGfwEbeRWgbNEkqO", error)) << error;
  std::string without_proof = "c=eSws,r=" + std::string(kNonce);
  std::string auth_message =
      "n=,r=rOprNGfwEbeRWgbNEkqO," + std::string(kRfcServerFirst) + "," + without_proof;
  auto proof = scram_client_proof(kPassword, rfc_salt(), 4096, auth_message);
  ASSERT_TRUE(proof);
  auto final_message = without_proof + ",p=" + base64_encode(proof->client_proof);
  EXPECT_EQ(server.handle_client_final(final_message, error),
            "v=" + base64_encode(proof->server_signature))
      << error;

  // The flag in c= must be the one sent first.
  ScramServer other(rfc_secret(), std::string(kServerNonce));
  ASSERT_TRUE(other.handle_client_first("y,,n=,r=rOprNGfwEbeRWgbNEkqO", error));
  EXPECT_FALSE(other.handle_client_final(
      "c=biws,r=" + std::string(kNonce) + ",p=" + base64_encode(proof->client_proof), error));
}

TEST(ScramServerTest, RejectsMalformedClientFirst) {
  std::vector<std::string> bad = {"",
                                  ",",
                                  "n",
                                  "n,",
                                  "n,,",
                                  "n,,n=",
                                  "n,,r=abc",
                                  "n,,n=,r=",
                                  "n,,n=,r=a,b",
                                  "n,,n=,r=abc,",
                                  "x,,n=,r=abc",
                                  "nn,,n=,r=abc",
                                  "n,a=bob,n=,r=abc",
                                  "n,,m=x,n=,r=abc",
                                  "n,,n=,m=x,r=abc",
                                  "n,,r=abc,n=",
                                  "n,,n=,r=ab\x01",
                                  "n,,n=,r=ab c",
                                  "n,,n=,r=ab\x80",
                                  "N,,n=,r=abc",
                                  "n,,n=,r=abc,1=x",
                                  "n,,n=,r=abc,xy",
                                  "n,,n=,r=abc,m=x",
                                  std::string("\0,,n=,r=a", 9),
                                  std::string("n,,n=,r=a\0b", 11),
                                  "n,,n=,r=" + std::string(kMaxScramMessage, 'a')};
  for (const std::string& message : bad) {
    ScramServer server(rfc_secret(), "srv");
    std::string error;
    EXPECT_FALSE(server.handle_client_first(message, error)) << message;
    EXPECT_FALSE(error.empty()) << message;
  }
}

TEST(ScramServerTest, RefusesChannelBinding) {
  ScramServer server(rfc_secret());
  std::string error;
  EXPECT_FALSE(server.handle_client_first("p=tls-server-end-point,,n=,r=abc", error));
  EXPECT_NE(error.find("channel binding"), std::string::npos) << error;
}

TEST(ScramServerTest, AcceptsExtensionsAndIgnoresUserName) {
  ScramServer server(rfc_secret(), "srv");
  std::string error;
  EXPECT_EQ(server.handle_client_first("n,,n=someone=2Celse,r=abc,x=ext", error),
            "r=abcsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
      << error;
}

TEST(ScramServerTest, RejectsMalformedClientFinal) {
  const std::string nonce(kNonce);
  const std::string proof = "p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=";
  // The valid message first, so every failure below is down to its one defect.
  {
    ScramServer server = server_after_first();
    std::string error;
    ASSERT_TRUE(server.handle_client_final("c=biws,r=" + nonce + "," + proof, error)) << error;
  }
  std::vector<std::string> bad = {
      "",
      "c=biws",
      "c=biws,r=" + nonce,
      "c=biws,r=" + nonce + ",",
      "c=biws,r=" + nonce + ",p=",
      "c=biws,r=" + nonce + ",p=!!!!",
      "c=biws,r=" + nonce + ",p=Zm9v",                    // proof too short
      "c=biws,r=" + nonce + "," + proof + "AAAA",         // proof too long
      "c=biws,r=" + nonce + "," + proof + ",x=after",     // proof not last
      "c=biws,r=rOprNGfwEbeRWgbNEkqO," + proof,           // nonce not extended
      "c=biws,r=" + nonce + "x," + proof,                 // wrong nonce
      "c=eSws,r=" + nonce + "," + proof,                  // flag differs from first
      "c=cD10bHMtdW5pcXVlLCw=,r=" + nonce + "," + proof,  // channel binding data
      "r=" + nonce + ",c=biws," + proof,                  // attributes out of order
      "c=biws," + proof,
      "c=biws,r=" + nonce + ",1=x," + proof,
      "c=biws,r=" + nonce + "," + proof.substr(0, proof.size() - 1),
      "c=biws,r=" + nonce + ",p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9o=",  // wrong proof
      "c=biws,r=" + nonce + "," + proof + std::string(kMaxScramMessage, 'A'),
  };
  for (const std::string& message : bad) {
    ScramServer server = server_after_first();
    std::string error;
    EXPECT_FALSE(server.handle_client_final(message, error)) << message;
    EXPECT_FALSE(error.empty()) << message;
  }
}

TEST(ScramServerTest, EnforcesOrderOfMessages) {
  std::string error;
  ScramServer fresh(rfc_secret(), std::string(kServerNonce));
  EXPECT_FALSE(fresh.handle_client_final(kRfcClientFinal, error));

  ScramServer twice(rfc_secret(), std::string(kServerNonce));
  ASSERT_TRUE(twice.handle_client_first(kRfcClientFirst, error));
  EXPECT_FALSE(twice.handle_client_first(kRfcClientFirst, error));

  // A second try on the same exchange is refused, even with the right proof.
  ScramServer retry(rfc_secret(), std::string(kServerNonce));
  ASSERT_TRUE(retry.handle_client_first(kRfcClientFirst, error));
  EXPECT_FALSE(retry.handle_client_final("garbage", error));
  EXPECT_FALSE(retry.handle_client_final(kRfcClientFinal, error));
}

TEST(ScramServerTest, EveryTruncationIsHandled) {
  for (std::size_t n = 0; n < kRfcClientFirst.size(); ++n) {
    ScramServer server(rfc_secret(), std::string(kServerNonce));
    std::string error;
    EXPECT_FALSE(server.handle_client_first(kRfcClientFirst.substr(0, n), error) &&
                 server.handle_client_final(kRfcClientFinal, error))
        << n;
  }
  for (std::size_t n = 0; n < kRfcClientFinal.size(); ++n) {
    ScramServer server(rfc_secret(), std::string(kServerNonce));
    std::string error;
    ASSERT_TRUE(server.handle_client_first(kRfcClientFirst, error));
    EXPECT_FALSE(server.handle_client_final(kRfcClientFinal.substr(0, n), error)) << n;
  }
}

TEST(ScramClientTest, RejectsMalformedServerFirst) {
  const std::string nonce(kNonce);
  std::vector<std::string> bad = {
      "",
      "r=" + nonce,
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+1",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i= 1",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,junk",
      "r=" + nonce + ",s=,i=4096",                                     // empty salt
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",              // bad base64
      "r=" + nonce + ",i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==",             // out of order
      "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",      // nonce not extended
      "r=rOprNGfwEbeRWgbNEkqX1234,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // not our nonce
      "r=xrOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      "r=rOprNGfwEbeRWgbNEkqO a,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // unprintable
      "m=ext,r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      "e=other-error",
      std::string(kRfcServerFirst) + std::string(kMaxScramMessage, 'x'),
  };
  for (const std::string& message : bad) {
    ScramClient client{std::string(kPassword), std::string(kClientNonce)};
    std::string error;
    EXPECT_FALSE(client.handle_server_first(message, error)) << message;
    EXPECT_FALSE(error.empty()) << message;
  }
}

TEST(ScramClientTest, IterationBounds) {
  std::string error;
  ScramClient one{std::string(kPassword), std::string(kClientNonce)};
  EXPECT_TRUE(one.handle_server_first(
      "r=" + std::string(kNonce) + ",s=" + std::string(kSaltB64) + ",i=1", error))
      << error;
  ScramClient twice{std::string(kPassword), std::string(kClientNonce)};
  ASSERT_TRUE(twice.handle_server_first(kRfcServerFirst, error));
  EXPECT_FALSE(twice.handle_server_first(kRfcServerFirst, error));
}

TEST(ScramClientTest, RejectsBadServerFinal) {
  const std::string good = "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=";
  ScramClient before{std::string(kPassword), std::string(kClientNonce)};
  EXPECT_FALSE(before.verify_server_final(good));
  EXPECT_FALSE(before.verify_server_final("v=" + base64_encode(std::array<std::uint8_t, 32>{})));

  ScramClient client{std::string(kPassword), std::string(kClientNonce)};
  std::string error;
  ASSERT_TRUE(client.handle_server_first(kRfcServerFirst, error));
  for (const std::string& bad : std::vector<std::string>{
           "", "v=", "v=Zm9v", "e=invalid-proof", good.substr(0, good.size() - 1), good + "AAAA",
           good + ",", "x=1," + good, "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSPg=",
           "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOh="}) {
    EXPECT_FALSE(client.verify_server_final(bad)) << bad;
  }
  EXPECT_TRUE(client.verify_server_final(good));
  EXPECT_TRUE(client.verify_server_final(good + ",x=extension"));
}

TEST(Md5AuthTest, SecretAndSaltedResponse) {
  // python3 -c "import hashlib; print('md5' + hashlib.md5(b'secretalice').hexdigest())"
  EXPECT_EQ(md5_password_secret("secret", "alice"), "md54a0a68b43b6cd5cf266fa02f196e2371");
  // python3: inner = hashlib.md5(b'secretalice').hexdigest();
  //          'md5' + hashlib.md5(inner.encode() + bytes([1, 2, 3, 4])).hexdigest()
  const std::array<std::byte, 4> salt{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  std::string secret = md5_password_secret("secret", "alice");
  EXPECT_EQ(md5_salted_response(secret, salt), "md598a0412b9c31436fc53776e863350083");
  EXPECT_TRUE(md5_response_matches(secret, salt, "md598a0412b9c31436fc53776e863350083"));
  EXPECT_FALSE(md5_response_matches(secret, salt, "md598a0412b9c31436fc53776e863350084"));
  EXPECT_FALSE(md5_response_matches(secret, salt, "md598a0412b9c31436fc53776e86335008"));
  EXPECT_FALSE(md5_response_matches(secret, salt, ""));
  const std::array<std::byte, 4> other{std::byte{4}, std::byte{3}, std::byte{2}, std::byte{1}};
  EXPECT_FALSE(md5_response_matches(secret, other, "md598a0412b9c31436fc53776e863350083"));
}

TEST(Md5AuthTest, RecognisesSecrets) {
  EXPECT_TRUE(is_md5_secret("md54a0a68b43b6cd5cf266fa02f196e2371"));
  EXPECT_FALSE(is_md5_secret("md54A0A68B43B6CD5CF266FA02F196E2371"));  // PostgreSQL writes lower
  EXPECT_FALSE(is_md5_secret("md54a0a68b43b6cd5cf266fa02f196e237"));
  EXPECT_FALSE(is_md5_secret("md54a0a68b43b6cd5cf266fa02f196e23711"));
  EXPECT_FALSE(is_md5_secret("md54a0a68b43b6cd5cf266fa02f196e237g"));
  EXPECT_FALSE(is_md5_secret("xyz4a0a68b43b6cd5cf266fa02f196e2371"));
  EXPECT_FALSE(is_md5_secret(""));
  EXPECT_FALSE(is_md5_secret("md5"));
}

}  // namespace
}  // namespace plexi::pg
