// Tests of opening relay connections to PostgreSQL against a fake server on a Unix socket or
// a loopback port: login and cancel over either transport, the connect timeout bounding a
// server that accepts but never answers, and an error that names a missing socket file.
#include "pools/pg/server_connection.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <array>
#include <filesystem>

#include "protocol/pg/encoder.h"

namespace plexi::pg {
namespace {

using namespace std::chrono_literals;
using local = asio::local::stream_protocol;

constexpr std::uint16_t kPort = 5999;
constexpr std::int32_t kPid = 4242;
constexpr std::int32_t kSecret = 77;

// A directory for socket files, removed with what is in it.
struct TempDir {
  TempDir() {
    char name[] = "/tmp/plexi-pg-test-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

std::int32_t int32_at(const ByteVector& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = value << 8 | std::to_integer<std::uint8_t>(bytes[at + i]);
  }
  return static_cast<std::int32_t>(value);
}

// One message of the startup phase (a startup packet or a cancel request): its length, then
// the rest. Returned whole.
template <class Socket>
awaitable<ByteVector> read_startup_message(Socket& socket) {
  ByteVector message(4);
  co_await asio::async_read(socket, asio::buffer(message.data(), 4), use_awaitable);
  const auto length = static_cast<std::size_t>(int32_at(message, 0));
  message.resize(length);
  co_await asio::async_read(socket, asio::buffer(message.data() + 4, length - 4), use_awaitable);
  co_return message;
}

// A trusting server without TLS: answers an SSLRequest 'N', as such a server does, takes one
// login, then one cancel request, which it returns.
template <class Acceptor>
awaitable<ByteVector> serve_login_then_cancel(Acceptor& acceptor) {
  auto server = co_await acceptor.async_accept(use_awaitable);
  ByteVector first = co_await read_startup_message(server);
  if (first.size() == 8 && int32_at(first, 4) == kSslRequestCode) {
    co_await asio::async_write(server, asio::buffer("N", 1), use_awaitable);
    co_await read_startup_message(server);
  }
  ByteVector out;
  encode_authentication_ok(out);
  encode_backend_key_data(out, kPid, kSecret);
  encode_ready_for_query(out, TxStatus::kIdle);
  co_await asio::async_write(server, asio::buffer(out.data(), out.size()), use_awaitable);
  auto canceller = co_await acceptor.async_accept(use_awaitable);
  co_return co_await read_startup_message(canceller);  // closed on return, as servers do
}

struct ServerConnectionTest : ::testing::Test {
  asio::io_context io;
  ByteVector cancel_request;

  template <class Acceptor>
  void start_server(Acceptor& acceptor) {
    asio::co_spawn(io, serve_login_then_cancel(acceptor),
                   [this](std::exception_ptr e, ByteVector request) {
                     if (e) std::rethrow_exception(e);
                     cancel_request = std::move(request);
                   });
  }

  // Runs the client coroutine `body` to its end, or fails the test after `limit`.
  template <class Body>
  void run(Body body, std::chrono::seconds limit = 10s) {
    bool finished = false;
    asio::co_spawn(io, body(), [&finished](std::exception_ptr e) {
      finished = true;
      if (e) std::rethrow_exception(e);
    });
    io.run_for(limit);
    EXPECT_TRUE(finished) << "still running after " << limit.count() << " s";
  }

  // Logs in at `address`, checks what the connection learnt and sends a cancel request
  // through it; `check` looks at the connection first.
  template <class Check>
  void log_in_and_cancel(const ServerAddress& address, Check check) {
    run([&]() -> awaitable<void> {
      std::string error;
      auto connection = co_await ServerConnection::connect(address, error);
      EXPECT_NE(connection, nullptr) << error;
      if (!connection) co_return;
      EXPECT_EQ(connection->backend_pid(), kPid);
      check(*connection);
      co_await send_cancel(connection->endpoint(), connection->backend_pid(),
                           connection->backend_secret());
    });
    ASSERT_EQ(cancel_request.size(), 16u);
    EXPECT_EQ(int32_at(cancel_request, 8), kPid);
    EXPECT_EQ(int32_at(cancel_request, 12), kSecret);
  }

  ServerAddress address(std::string host, std::uint16_t port) {
    ServerAddress address;
    address.host = std::move(host);
    address.port = port;
    address.user = "app";
    address.database = "appdb";
    return address;
  }
};

TEST_F(ServerConnectionTest, LogsInAndCancelsOverTheUnixSocketInTheDirectory) {
  TempDir dir;
  local::acceptor acceptor(io, local::endpoint(dir.path + "/.s.PGSQL.5999"));
  start_server(acceptor);
  log_in_and_cancel(address(dir.path, kPort), [](ServerConnection& connection) {
    EXPECT_EQ(connection.endpoint().protocol().family(), AF_UNIX);
  });
}

TEST_F(ServerConnectionTest, LogsInAndCancelsOverTcpWithNagleOff) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  start_server(acceptor);
  log_in_and_cancel(address("127.0.0.1", acceptor.local_endpoint().port()),
                    [](ServerConnection& connection) {
                      tcp::no_delay no_delay;
                      connection.socket().socket().get_option(no_delay);
                      EXPECT_TRUE(no_delay.value());
                    });
}

// tls: require refuses a server that answers the SSLRequest 'N', before any startup packet
// (and so any user name) goes out in plain text.
TEST_F(ServerConnectionTest, RequireRefusesAServerWithoutTls) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  ByteVector after_refusal;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto server = co_await acceptor.async_accept(use_awaitable);
        ByteVector request = co_await read_startup_message(server);
        EXPECT_EQ(int32_at(request, 4), kSslRequestCode);
        co_await asio::async_write(server, asio::buffer("N", 1), use_awaitable);
        std::array<std::byte, 64> rest;
        boost::system::error_code ec;
        std::size_t n = co_await server.async_read_some(asio::buffer(rest),
                                                        asio::redirect_error(use_awaitable, ec));
        after_refusal.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(n));
      },
      asio::detached);
  auto required = address("127.0.0.1", acceptor.local_endpoint().port());
  required.tls.mode = config::ServerTls::kRequire;
  run([&]() -> awaitable<void> {
    std::string error;
    auto connection = co_await ServerConnection::connect(required, error);
    EXPECT_EQ(connection, nullptr);
    EXPECT_EQ(error, "server does not support TLS (backend tls: require)");
  });
  EXPECT_TRUE(after_refusal.empty());
}

TEST_F(ServerConnectionTest, ConnectTimeoutBoundsALoginTheServerNeverAnswers) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket silent(io);
  acceptor.async_accept(silent, [](const boost::system::error_code&) {});
  auto silent_server = address("127.0.0.1", acceptor.local_endpoint().port());
  silent_server.connect_timeout = 300ms;
  run([&]() -> awaitable<void> {
    const auto started = std::chrono::steady_clock::now();
    std::string error;
    auto connection = co_await ServerConnection::connect(silent_server, error);
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(connection, nullptr);
    EXPECT_EQ(error, "connect timeout");
    EXPECT_GE(waited, 300ms);
    EXPECT_LT(waited, 3s);
  });
  EXPECT_TRUE(silent.is_open());  // the server did accept: the login is what timed out
}

TEST_F(ServerConnectionTest, AMissingSocketFileIsNamedInTheError) {
  TempDir dir;
  run([&]() -> awaitable<void> {
    std::string error;
    auto connection = co_await ServerConnection::connect(address(dir.path, kPort), error);
    EXPECT_EQ(connection, nullptr);
    EXPECT_EQ(error, dir.path + "/.s.PGSQL.5999: No such file or directory");
  });
}

}  // namespace
}  // namespace plexi::pg
