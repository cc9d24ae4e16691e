// Tests of the admin HTTP server over real loopback sockets: routes, query parameters,
// methods, the bearer token, keep-alive, and the limits that close a misbehaving client's
// connection (oversized or malformed heads, silence, too many connections, stop()).
#include "daemon/admin_http.h"

#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

namespace plexi {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;
using error_code = boost::system::error_code;
using Response = http::response<http::string_body>;
using Access = AdminHttpServer::Access;

std::string str(beast::string_view text) { return std::string(text.data(), text.size()); }

tcp::endpoint loopback(std::uint16_t port) {
  return tcp::endpoint(asio::ip::make_address("127.0.0.1"), port);
}

// A client on its own io_context, so every read can give up after a limit instead of
// hanging the test when the server does not answer.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(io_) { socket_.connect(loopback(port)); }

  void send(std::string_view raw) { asio::write(socket_, asio::buffer(raw)); }
  error_code try_send(std::string_view raw) {
    error_code ec;
    asio::write(socket_, asio::buffer(raw), ec);
    return ec;
  }

  // Reads one response; nullopt if none came within 5 s or the connection ended first.
  std::optional<Response> read(bool to_head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(to_head);  // an answer to HEAD has Content-Length but no body
    error_code ec;
    bool done = false;
    http::async_read(socket_, buffer_, parser, [&](error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    wait(done, 5s);
    if (ec) return std::nullopt;
    return parser.release();
  }

  std::optional<Response> get(std::string_view target, std::string_view headers = "") {
    send("GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(headers) +
         "\r\n");
    return read();
  }

  // Whether the server closed the connection (EOF or reset) within `limit`, with no more
  // bytes sent first.
  bool closed_within(std::chrono::milliseconds limit) {
    if (buffer_.size() > 0) return false;
    char byte;
    error_code ec;
    bool done = false;
    socket_.async_read_some(asio::buffer(&byte, 1), [&](error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    wait(done, limit);
    return done && (ec == asio::error::eof || ec == asio::error::connection_reset);
  }

 private:
  void wait(bool& done, std::chrono::milliseconds limit) {
    io_.restart();
    io_.run_for(limit);
    if (!done) {
      error_code ignored;
      socket_.cancel(ignored);
      io_.restart();
      io_.run();
    }
  }

  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

HttpReply text(std::string body, std::string type = "text/plain; charset=utf-8") {
  HttpReply reply;
  reply.body = std::move(body);
  reply.content_type = std::move(type);
  return reply;
}

// The server answers /healthz on the client's connection.
void expect_healthy(Client& client) {
  auto reply = client.get("/healthz");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->result_int(), 200u);
  EXPECT_EQ(reply->body(), "ok\n");
}

// The client's last request got `status` and the server then closed the connection.
void expect_refused_and_closed(Client& client, unsigned status) {
  auto reply = client.read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->result_int(), status);
  EXPECT_EQ(str((*reply)[http::field::connection]), "close");
  EXPECT_TRUE(client.closed_within(2s));
}

class AdminHttpTest : public ::testing::Test {
 protected:
  void start(AdminHttpOptions options = {}) {
    server_ = std::make_unique<AdminHttpServer>(io_.get_executor(), options);
    server_->route(
        "/healthz", [](const HttpRequest&) { return text("ok\n"); }, Access::kOpen);
    server_->route(
        "/metrics", [](const HttpRequest&) { return text("up 1\n", "text/plain; version=0.0.4"); },
        Access::kToken);
    server_->route(
        "/status",
        [](const HttpRequest& request) {
          HttpReply reply =
              text("{\"queries\":\"" + std::string(request.param("queries").value_or("-")) + "\"}",
                   "application/json");
          reply.headers.emplace_back("Cache-Control", "no-store");
          return reply;
        },
        Access::kToken);
    server_->route(
        "/echo",
        [](const HttpRequest& request) {
          std::string out = request.method + " " + request.path;
          for (const auto& [name, value] : request.query) out += " [" + name + "=" + value + "]";
          return text(out);
        },
        Access::kOpen);
    server_->route(
        "/broken", [](const HttpRequest&) -> HttpReply { throw std::runtime_error("bug"); },
        Access::kOpen);
    std::string error;
    ASSERT_TRUE(server_->listen(loopback(0), error)) << error;
    ASSERT_NE(server_->port(), 0);
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Stops the server and waits until every coroutine of it has ended: io_context::run()
  // returns only when no connection is left.
  void stop_and_join() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  void TearDown() override { stop_and_join(); }

  std::uint16_t port() const { return server_->port(); }

  asio::io_context io_;
  std::unique_ptr<AdminHttpServer> server_;
  std::thread thread_;
};

TEST_F(AdminHttpTest, RoutesAnswerWithTheirBodyAndType) {
  start();
  Client client(port());
  auto health = client.get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->result_int(), 200u);
  EXPECT_EQ(health->body(), "ok\n");
  EXPECT_EQ(str((*health)[http::field::content_type]), "text/plain; charset=utf-8");
  EXPECT_EQ(str((*health)[http::field::content_length]), "3");
  EXPECT_EQ(str((*health)[http::field::server]), "plexiproxy/" PLEXI_VERSION);
  EXPECT_EQ(str((*health)[http::field::connection]), "keep-alive");

  auto status = client.get("/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->body(), "{\"queries\":\"-\"}");
  EXPECT_EQ(str((*status)[http::field::content_type]), "application/json");
  EXPECT_EQ(str((*status)[http::field::cache_control]), "no-store");
}

TEST_F(AdminHttpTest, QueryParametersAreDecoded) {
  start();
  Client client(port());
  auto status = client.get("/status?queries=1");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->body(), "{\"queries\":\"1\"}");

  auto echo = client.get("/ech%6F?b=a%20b+c&flag&&a=%3D%26&b=last");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->body(), "GET /echo [a==&] [b=last] [flag=]");

  client.send("GET /echo?x=%zz HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_refused_and_closed(client, 400);
}

TEST_F(AdminHttpTest, UnknownPathIs404AndOtherMethodsAre405) {
  start();
  Client client(port());
  auto missing = client.get("/nothing-here");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->result_int(), 404u);

  client.send("DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  auto deleted = client.read();
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->result_int(), 405u);
  EXPECT_EQ(str((*deleted)[http::field::allow]), "GET, HEAD");

  // Without a body the connection stays usable.
  expect_healthy(client);
}

TEST_F(AdminHttpTest, HeadSendsTheLengthButNoBody) {
  start();
  Client client(port());
  client.send("HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = client.read(/*to_head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->result_int(), 200u);
  EXPECT_EQ(str((*head)[http::field::content_length]), "15");
  EXPECT_EQ(str((*head)[http::field::content_type]), "application/json");
  EXPECT_TRUE(head->body().empty());
  // Had the body been sent, it would now stand where the next status line is read.
  expect_healthy(client);
}

TEST_F(AdminHttpTest, TokenRoutesNeedTheBearerToken) {
  start();
  server_->set_bearer_token("s3cret");
  Client client(port());

  auto without = client.get("/metrics");
  ASSERT_TRUE(without);
  EXPECT_EQ(without->result_int(), 401u);
  EXPECT_EQ(str((*without)[http::field::www_authenticate]), "Bearer");
  EXPECT_EQ(without->body().find("up 1"), std::string::npos);

  for (const char* wrong : {"Authorization: Bearer s3cre\r\n", "Authorization: Bearer s3cretx\r\n",
                            "Authorization: Basic s3cret\r\n", "Authorization: s3cret\r\n"}) {
    auto refused = client.get("/metrics", wrong);
    ASSERT_TRUE(refused) << wrong;
    EXPECT_EQ(refused->result_int(), 401u) << wrong;
  }

  auto right = client.get("/metrics", "Authorization: Bearer s3cret\r\n");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->result_int(), 200u);
  EXPECT_EQ(right->body(), "up 1\n");
  EXPECT_EQ(str((*right)[http::field::content_type]), "text/plain; version=0.0.4");
  auto any_case = client.get("/status?queries=1", "authorization: bearer s3cret\r\n");
  ASSERT_TRUE(any_case);
  EXPECT_EQ(any_case->result_int(), 200u);

  // Probes carry no token.
  auto probe = client.get("/healthz");
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->result_int(), 200u);

  // A reload that changes the token applies to the next request.
  server_->set_bearer_token("other");
  auto old = client.get("/metrics", "Authorization: Bearer s3cret\r\n");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->result_int(), 401u);
}

TEST_F(AdminHttpTest, EmptyTokenMeansNoCheck) {
  start();
  server_->set_bearer_token("s3cret");
  server_->set_bearer_token("");
  Client client(port());
  auto open = client.get("/metrics");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->result_int(), 200u);
  EXPECT_EQ(open->body(), "up 1\n");
}

TEST_F(AdminHttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Client client(port());
  // Two requests in one write (pipelined), answered in order.
  client.send(
      "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n");
  auto first = client.read();
  auto second = client.read();
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->body(), "GET /echo [n=1]");
  EXPECT_EQ(second->body(), "GET /echo [n=2]");
  expect_healthy(client);

  client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto last = client.read();
  ASSERT_TRUE(last);
  EXPECT_EQ(str((*last)[http::field::connection]), "close");
  EXPECT_TRUE(client.closed_within(2s));
}

TEST_F(AdminHttpTest, Http10ClosesUnlessAskedToKeepAlive) {
  start();
  Client kept(port());
  kept.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto first = kept.read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->version(), 10u);
  EXPECT_EQ(str((*first)[http::field::connection]), "keep-alive");
  kept.send("GET /healthz HTTP/1.0\r\n\r\n");
  auto second = kept.read();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body(), "ok\n");
  EXPECT_EQ(str((*second)[http::field::connection]), "close");
  EXPECT_TRUE(kept.closed_within(2s));
}

TEST_F(AdminHttpTest, OversizedHeadGets431AndClose) {
  start();
  Client client(port());
  client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
  expect_refused_and_closed(client, 431);

  // A head just under the limit is fine.
  Client fits(port());
  auto ok = fits.get("/healthz", "X-Big: " + std::string(7000, 'a') + "\r\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->result_int(), 200u);
}

TEST_F(AdminHttpTest, GarbageGets400AndCloseAndTheServerCarriesOn) {
  start();
  {
    Client client(port());
    client.send(std::string("\x01\x02\xff garbage \x00 here\r\n\r\n", 22));
    expect_refused_and_closed(client, 400);
  }
  {
    Client client(port());
    client.send("GET /healthz HTTP/9\r\n\r\n");
    expect_refused_and_closed(client, 400);
  }
  Client next(port());
  expect_healthy(next);
}

TEST_F(AdminHttpTest, BodyOnGetIsRefused) {
  start();
  Client client(port());
  client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  expect_refused_and_closed(client, 400);
}

TEST_F(AdminHttpTest, HostileInputsNeverStopTheServer) {
  AdminHttpOptions options;
  options.request_timeout = 300ms;  // for inputs the parser waits on
  start(options);
  // Each input with the status it gets (0: closed at the deadline without an answer).
  const std::pair<std::string, unsigned> hostile[] = {
      {"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"GET /healthz HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"GET /healthz HTTP/1.1\r\nNoColonHere\r\n\r\n", 400},
      {"GET healthz HTTP/1.1\r\n\r\n", 400},
      {"GET /health%z HTTP/1.1\r\n\r\n", 400},
      {"CONNECT localhost:443 HTTP/1.1\r\n\r\n", 405},
      {"GET /" + std::string(9000, 'x') + " HTTP/1.1\r\n\r\n", 431},
      {std::string(20000, 'A'), 431},
      {"\r\n\r\n\r\n", 400},
      {"GET /healthz HTTP/1.1\r\nHost: x", 0},
  };
  for (const auto& [input, status] : hostile) {
    Client client(port());
    client.send(input);
    auto reply = client.read();
    EXPECT_EQ(reply ? reply->result_int() : 0u, status) << input.substr(0, 60);
  }
  std::mt19937 random(20261128);
  for (int i = 0; i < 100; ++i) {
    std::string input(1 + random() % 512, '\0');
    for (char& c : input) c = static_cast<char>(random());
    Client client(port());
    client.send(input + "\r\n\r\n");
    (void)client.read();
  }
  Client after(port());
  expect_healthy(after);
}

TEST_F(AdminHttpTest, HandlerExceptionGets500) {
  start();
  Client client(port());
  auto broken = client.get("/broken");
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->result_int(), 500u);
  expect_healthy(client);
}

TEST_F(AdminHttpTest, SilentConnectionIsClosedAfterTheTimeout) {
  AdminHttpOptions options;
  options.request_timeout = 200ms;
  start(options);
  auto began = std::chrono::steady_clock::now();
  Client silent(port());
  EXPECT_TRUE(silent.closed_within(3s));
  EXPECT_GE(std::chrono::steady_clock::now() - began, 150ms);

  // Idle between two requests counts too.
  Client idle(port());
  ASSERT_TRUE(idle.get("/healthz"));
  EXPECT_TRUE(idle.closed_within(3s));
}

TEST_F(AdminHttpTest, SlowHeadIsClosedAtTheDeadline) {
  AdminHttpOptions options;
  options.request_timeout = 200ms;
  start(options);
  Client slow(port());
  slow.send("GET /healthz HTTP/1.1\r\nX-Slow: ");
  // One byte every 20 ms for a second: never idle for long, but the head is five times late.
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(20ms);
    if (slow.try_send("a")) break;  // already closed
  }
  EXPECT_TRUE(slow.closed_within(20ms));
}

TEST_F(AdminHttpTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  AdminHttpOptions options;
  options.max_connections = 2;
  start(options);
  auto one = std::make_unique<Client>(port());
  Client two(port());
  ASSERT_TRUE(one->get("/healthz"));
  ASSERT_TRUE(two.get("/healthz"));
  Client three(port());
  EXPECT_TRUE(three.closed_within(2s));

  // Once a client leaves, there is room again.
  one.reset();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    Client again(port());
    auto reply = again.get("/healthz");
    served = reply && reply->result_int() == 200u;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
}

TEST_F(AdminHttpTest, StopClosesKeepAliveConnectionsAndFreesThePort) {
  start();
  Client client(port());
  ASSERT_TRUE(client.get("/healthz"));
  std::uint16_t used = port();
  server_->stop();
  server_->stop();  // a second call does nothing
  EXPECT_TRUE(client.closed_within(2s));
  thread_.join();  // run() returns: no coroutine of the server is left

  asio::io_context io;
  AdminHttpServer again(io.get_executor());
  again.route(
      "/healthz", [](const HttpRequest&) { return text("again\n"); }, Access::kOpen);
  std::string error;
  ASSERT_TRUE(again.listen(loopback(used), error)) << error;
  again.start();
  std::thread runner([&io] { io.run(); });
  Client next(used);
  auto reply = next.get("/healthz");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body(), "again\n");
  again.stop();
  runner.join();
}

TEST_F(AdminHttpTest, ListenReportsATakenPort) {
  start();
  asio::io_context io;
  AdminHttpServer second(io.get_executor());
  std::string error;
  EXPECT_FALSE(second.listen(loopback(port()), error));
  EXPECT_NE(error.find(std::to_string(port())), std::string::npos) << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}

TEST(AdminHttpLifetime, ContextDestroyedAfterStopWithoutRunningAgain) {
  std::optional<Client> client;
  std::uint16_t port = 0;
  {
    asio::io_context io;
    AdminHttpServer server(io.get_executor());
    server.route(
        "/healthz", [](const HttpRequest&) { return text("ok\n"); }, Access::kOpen);
    std::string error;
    ASSERT_TRUE(server.listen(loopback(0), error)) << error;
    port = server.port();
    server.start();
    client.emplace(port);
    client->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    // Serves the request, and leaves the connection waiting for the next one.
    while (io.run_for(50ms) > 0) {
    }
    // Queued, not run: the io_context goes first, with the connection's coroutine in it.
    server.stop();
  }
  auto reply = client->read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body(), "ok\n");
  EXPECT_TRUE(client->closed_within(2s));
}

}  // namespace
}  // namespace plexi
