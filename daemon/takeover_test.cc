#include "daemon/takeover.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace plexi::takeover {
namespace {

tcp::endpoint endpoint(const char* address, std::uint16_t port) {
  return tcp::endpoint(asio::ip::make_address(address), port);
}

TEST(Takeover, ListenersRoundTrip) {
  std::vector<Listener> listeners = {{"postgres", endpoint("127.0.0.1", 6432), 7},
                                     {"redis", endpoint("::1", 6380), 8},
                                     {"admin", endpoint("0.0.0.0", 9930), 9}};
  std::string text = describe(4242, listeners);
  EXPECT_EQ(text,
            "LISTENERS 4242 3\npostgres 127.0.0.1 6432\nredis ::1 6380\nadmin 0.0.0.0 9930\nEND\n");
  std::string error;
  auto parsed = parse(text, error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->pid, 4242);
  ASSERT_EQ(parsed->listeners.size(), 3u);
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    EXPECT_EQ(parsed->listeners[i].kind, listeners[i].kind);
    EXPECT_EQ(parsed->listeners[i].endpoint, listeners[i].endpoint);
    EXPECT_EQ(parsed->listeners[i].fd, -1);  // descriptors travel beside the text
  }
}

TEST(Takeover, MalformedAnswersAreRefused) {
  std::string error;
  EXPECT_FALSE(parse("BUSY\n", error));
  EXPECT_NE(error.find("draining"), std::string::npos);
  EXPECT_FALSE(parse("LISTENERS 1 2\npostgres 127.0.0.1 6432\nEND\n", error));
  EXPECT_FALSE(parse("LISTENERS 1 1\npostgres 127.0.0.1 6432\n", error));
  EXPECT_FALSE(parse("LISTENERS 1 1\npostgres nowhere 6432\nEND\n", error));
  EXPECT_FALSE(parse("LISTENERS 1 1\npostgres 127.0.0.1 65536\nEND\n", error));
  EXPECT_FALSE(parse("LISTENERS 1 100000\nEND\n", error));
  EXPECT_FALSE(parse("LISTENERS 1 0\nEND", error));
  EXPECT_FALSE(parse("HELLO\n", error));
  EXPECT_TRUE(parse("LISTENERS 1 0\nEND\n", error)) << error;
}

TEST(Takeover, DefaultSocketPath) {
  EXPECT_EQ(default_socket_path("/run/plexiproxy", "/var/lib/x"),
            "/run/plexiproxy/plexiproxy-upgrade.sock");
  EXPECT_EQ(default_socket_path("", "/var/lib/x/"), "/var/lib/x/plexiproxy-upgrade.sock");
  EXPECT_EQ(default_socket_path("", ""), "./plexiproxy-upgrade.sock");
}

// The whole exchange between two ends in one process: the listener received is the one the
// server handed over (same socket, so the same accept queue), and SERVING reaches the hook.
TEST(Takeover, HandsListenersOverAndHearsTheyAreServed) {
  auto dir =
      std::filesystem::temp_directory_path() / ("plexi-takeover-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "upgrade.sock").string();
  asio::io_context context;
  tcp::acceptor listening(context, endpoint("127.0.0.1", 0));
  auto bound = listening.local_endpoint();
  std::atomic<int> taken_over_by{0};
  auto log =
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  Server server(context,
                {[&] {
                   return std::vector<Listener>{{"postgres", bound, listening.native_handle()}};
                 },
                 [] { return true; },
                 [&](int pid, asio::local::stream_protocol::socket connection) {
                   taken_over_by = pid;
                   // The clients that follow: none here.
                   asio::co_spawn(
                       context,
                       [connection = std::move(connection)]() mutable -> awaitable<void> {
                         co_await send_end(connection);
                       },
                       asio::detached);
                 }},
                log);
  std::string error;
  ASSERT_TRUE(server.listen(path, false, error)) << error;
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  server.start();
  std::thread runner([&] { context.run_for(std::chrono::seconds(10)); });

  {
    auto handover = Handover::request(path, std::chrono::seconds(5), error);
    ASSERT_TRUE(handover) << error;
    EXPECT_EQ(handover->old_pid(), ::getpid());
    EXPECT_EQ(handover->take("mysql", bound), -1);
    int fd = handover->take("postgres", bound);
    ASSERT_GE(fd, 0);
    EXPECT_NE(fd, listening.native_handle());
    struct stat mine {
    }, theirs{};
    ASSERT_EQ(::fstat(fd, &mine), 0);
    ASSERT_EQ(::fstat(listening.native_handle(), &theirs), 0);
    EXPECT_EQ(mine.st_ino, theirs.st_ino);  // the same socket
    ::close(fd);
    EXPECT_TRUE(handover->confirm(error)) << error;
    // The connection stays for the clients, and ends with END.
    int connection = handover->release_connection();
    ASSERT_GE(connection, 0);
    std::string rest;
    char buffer[64];
    ssize_t n;
    while ((n = ::read(connection, buffer, sizeof buffer)) > 0) rest.append(buffer, n);
    EXPECT_EQ(rest, kHandoverEnd);
    ::close(connection);
  }
  for (int i = 0; i < 200 && taken_over_by == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(taken_over_by.load(), ::getpid());
  // A second server on the same path is refused while the first one answers.
  asio::io_context other;
  Server second(other, {}, log);
  EXPECT_FALSE(second.listen(path, false, error));
  EXPECT_NE(error.find("--takeover"), std::string::npos);
  server.close();
  context.stop();
  runner.join();
  std::filesystem::remove_all(dir);
}

// Clients sent over the connection arrive as the same sockets, with their state, in order,
// however the stream is cut; a large state waits for room rather than failing.
TEST(Takeover, ClientsArriveWithTheirSocketsAndState) {
  asio::io_context context;
  asio::local::stream_protocol::socket sender(context), receiver(context);
  asio::local::connect_pair(sender, receiver);
  // Three clients, each one end of a pair whose other end the test keeps.
  std::vector<int> kept;
  std::vector<HandedClient> clients;
  for (int i = 0; i < 3; ++i) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    kept.push_back(pair[1]);
    std::string state = i == 1 ? std::string(300000, 'x') : "state " + std::to_string(i);
    clients.push_back({i == 2 ? "redis" : "postgres", state, pair[0]});
  }
  std::vector<HandedClient> received;
  std::size_t count = 0;
  bool sent_all = false;
  auto log =
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  asio::co_spawn(
      context,
      [&]() -> awaitable<void> {
        bool ok = true;
        for (const auto& client : clients) {
          bool sent = co_await send_client(sender, client);
          ok = ok && sent;
        }
        bool ended = co_await send_end(sender);
        sent_all = ok && ended;
      },
      asio::detached);
  asio::co_spawn(
      context,
      [&]() -> awaitable<void> {
        count = co_await receive_clients(
            receiver, [&](HandedClient client) { received.push_back(std::move(client)); }, *log);
      },
      asio::detached);
  context.run_for(std::chrono::seconds(10));
  EXPECT_TRUE(sent_all);
  ASSERT_EQ(count, 3u);
  ASSERT_EQ(received.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(received[i].protocol, clients[i].protocol);
    EXPECT_EQ(received[i].state, clients[i].state);
    // The received descriptor is the same socket: what it writes, the kept end reads.
    ASSERT_GE(received[i].fd, 0);
    char byte = static_cast<char>('a' + i);
    ASSERT_EQ(::write(received[i].fd, &byte, 1), 1);
    char got = 0;
    ASSERT_EQ(::read(kept[i], &got, 1), 1);
    EXPECT_EQ(got, byte);
    ::close(received[i].fd);
    ::close(clients[i].fd);
    ::close(kept[i]);
  }
}

}  // namespace
}  // namespace plexi::takeover
