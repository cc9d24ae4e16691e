// Tests of the clients' TLS context and of TlsStream on the server side of a real handshake
// over loopback: ALPN, client certificates, and readiness waits that see records OpenSSL
// or Asio already hold.
#include "daemon/tls_context.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/socket_io.h"
#include "common/test_certificates.h"
#include "common/tls_stream.h"

namespace plexi {
namespace {

class ClientTlsContext : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plexiproxy-tls-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    auto [cert, key] = testing::self_signed("localhost");
    auto [client_cert, client_key] = testing::self_signed("reporting");
    config_.client_tls = config::ClientTls::kRequire;
    config_.tls_cert_file = write("server.crt", cert);
    config_.tls_key_file = write("server.key", key);
    client_cert_ = write("client.crt", client_cert);
    client_key_ = write("client.key", client_key);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // What the server side saw of one client.
  struct Seen {
    bool handshake = false;
    std::string alpn;
    std::string peer;
    std::string data;
  };

  // Runs a handshake between a TlsStream server with `context` and an Asio client that
  // offers `alpn` (when not empty) and presents the client certificate (when `present`),
  // then writes `records` as separate TLS records at once. The server reads them the way
  // the PostgreSQL relay does: a wait for readability, then a read, until all arrived.
  Seen exchange(asio::ssl::context& context, std::string alpn, bool present,
                std::vector<std::string> records) {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    Seen seen;
    // The client stays connected until the server side is done: a close would end its
    // waits anyway.
    asio::steady_timer linger(io, std::chrono::seconds(4));
    std::size_t expected = 0;
    for (const auto& record : records) expected += record.size();

    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          TlsStream<tcp::socket> stream(co_await acceptor.async_accept(use_awaitable));
          struct Done {
            asio::steady_timer& linger;
            ~Done() { linger.cancel(); }
          } done{linger};
          error_code ec;
          seen.handshake = co_await stream.start_tls(context, asio::ssl::stream_base::server, ec);
          if (!seen.handshake) co_return;
          seen.alpn = stream.alpn();
          seen.peer = stream.verified_peer_name();
          ReadBuffer input;
          while (input.size() < expected) {
            co_await stream.async_wait(TlsStream<tcp::socket>::wait_read,
                                       asio::redirect_error(use_awaitable, ec));
            if (ec) break;
            std::size_t n = co_await read_some(stream, input, ec, 3);  // small reads
            if (n == 0) break;
          }
          seen.data.assign(as_chars(input.readable()));
        },
        asio::detached);

    asio::ssl::context client_context(asio::ssl::context::tls_client);
    if (present) {
      client_context.use_certificate_file(client_cert_, asio::ssl::context::pem);
      client_context.use_private_key_file(client_key_, asio::ssl::context::pem);
    }
    asio::ssl::stream<tcp::socket> client(io, client_context);
    if (!alpn.empty()) {
      std::string wire = std::string(1, static_cast<char>(alpn.size())) + alpn;
      SSL_set_alpn_protos(client.native_handle(),
                          reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned int>(wire.size()));
    }
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          error_code ec;
          co_await client.next_layer().async_connect(acceptor.local_endpoint(),
                                                     asio::redirect_error(use_awaitable, ec));
          co_await client.async_handshake(asio::ssl::stream_base::client,
                                          asio::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          for (const auto& record : records) {
            co_await asio::async_write(client, asio::buffer(record),
                                       asio::redirect_error(use_awaitable, ec));
          }
          co_await linger.async_wait(asio::redirect_error(use_awaitable, ec));
        },
        asio::detached);
    io.run_for(std::chrono::seconds(5));
    return seen;
  }

  std::filesystem::path dir_;
  config::Config config_;
  std::string client_cert_;
  std::string client_key_;
};

TEST_F(ClientTlsContext, DisabledMakesNone) {
  config_.client_tls = config::ClientTls::kDisable;
  std::string error;
  EXPECT_EQ(make_client_tls_context(config_, error), nullptr);
  EXPECT_EQ(error, "");
  EXPECT_EQ(client_tls_fingerprint(config_), "");
}

TEST_F(ClientTlsContext, UnusableFilesAreErrors) {
  std::string error;
  config_.tls_key_file = write("other.key", testing::self_signed("other").second);
  EXPECT_EQ(make_client_tls_context(config_, error), nullptr);
  EXPECT_EQ(error.find("tls.key_file"), 0u) << error;
  EXPECT_NE(error.find("mismatch"), std::string::npos) << error;
  config_.tls_cert_file = (dir_ / "absent.crt").string();
  EXPECT_EQ(make_client_tls_context(config_, error), nullptr);
  EXPECT_NE(error.find("tls.cert_file"), std::string::npos) << error;
}

TEST_F(ClientTlsContext, FingerprintFollowsFileContents) {
  std::string before = client_tls_fingerprint(config_);
  EXPECT_EQ(client_tls_fingerprint(config_), before);
  auto [cert, key] = testing::self_signed("localhost");
  write("server.crt", cert);
  EXPECT_NE(client_tls_fingerprint(config_), before);
}

TEST_F(ClientTlsContext, RecordsHeldByTlsWakeTheReadinessWait) {
  std::string error;
  auto context = make_client_tls_context(config_, error);
  ASSERT_NE(context, nullptr) << error;
  // Several records in one burst: after the first read the socket is empty while OpenSSL
  // and Asio hold the rest, which a wait on the socket alone would never see.
  std::vector<std::string> records = {"first record", std::string(20000, 'x'), "third", "4"};
  auto seen = exchange(*context, "", false, records);
  ASSERT_TRUE(seen.handshake);
  EXPECT_EQ(seen.data, records[0] + records[1] + records[2] + records[3]);
  EXPECT_EQ(seen.alpn, "");
  EXPECT_EQ(seen.peer, "");
}

TEST_F(ClientTlsContext, AlpnPostgresqlIsSelected) {
  std::string error;
  auto context = make_client_tls_context(config_, error);
  ASSERT_NE(context, nullptr) << error;
  EXPECT_EQ(exchange(*context, "postgresql", false, {"x"}).alpn, "postgresql");
  EXPECT_EQ(exchange(*context, "http/1.1", false, {"x"}).alpn, "");
}

TEST_F(ClientTlsContext, ClientCertificateVerifiedAgainstTheCa) {
  config_.tls_ca_file = client_cert_;  // the self-signed client certificate is its own CA
  std::string error;
  auto context = make_client_tls_context(config_, error);
  ASSERT_NE(context, nullptr) << error;
  auto presented = exchange(*context, "", true, {"x"});
  ASSERT_TRUE(presented.handshake);
  EXPECT_EQ(presented.peer, "reporting");
  auto absent = exchange(*context, "", false, {"x"});
  ASSERT_TRUE(absent.handshake);  // asked for, not required
  EXPECT_EQ(absent.peer, "");

  config_.tls_verify_client = true;
  auto strict = make_client_tls_context(config_, error);
  ASSERT_NE(strict, nullptr) << error;
  EXPECT_FALSE(exchange(*strict, "", false, {"x"}).handshake);
  EXPECT_TRUE(exchange(*strict, "", true, {"x"}).handshake);

  // A certificate from elsewhere fails the handshake.
  config_.tls_ca_file = config_.tls_cert_file;
  config_.tls_verify_client = false;
  auto other_ca = make_client_tls_context(config_, error);
  ASSERT_NE(other_ca, nullptr) << error;
  EXPECT_FALSE(exchange(*other_ca, "", true, {"x"}).handshake);
}

}  // namespace
}  // namespace plexi
