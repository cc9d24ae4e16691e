// Builders shared by the health tests: clusters of named backends and check results; checks
// run in a row, and the test that a connect cut short leaves no descriptor behind.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common/asio.h"
#include "config/config.h"
#include "routing/backend_health.h"

namespace plexi::routing::testing {

inline config::Cluster make_cluster(
    std::initializer_list<std::pair<const char*, config::Role>> backends, int fall = 3,
    int rise = 2, config::Duration max_lag = config::Duration(0)) {
  config::Cluster cluster;
  cluster.name = "appdb";
  cluster.health.fall = fall;
  cluster.health.rise = rise;
  cluster.health.max_replication_lag = max_lag;
  std::uint16_t port = 5432;
  for (const auto& [name, role] : backends) {
    config::Backend b;
    b.name = name;
    b.role = role;
    b.port = port++;
    b.username = "monitor";
    cluster.backends.push_back(b);
  }
  return cluster;
}

inline CheckResult primary_result(Lsn lsn = 0x1000) {
  CheckResult r;
  r.ok = true;
  r.in_recovery = false;
  r.wal_lsn = lsn;
  r.at = WallClock::now();
  return r;
}

inline CheckResult replica_result(Lsn replay = 0x1000, std::optional<Lsn> receive = 0x1000,
                                  std::optional<double> age = 0) {
  CheckResult r;
  r.ok = true;
  r.in_recovery = true;
  r.wal_lsn = replay;
  r.receive_lsn = receive;
  r.replay_age_seconds = age;
  r.at = WallClock::now();
  return r;
}

inline CheckResult failed_result(std::string error = "connection refused") {
  CheckResult r;
  r.ok = false;
  r.error = std::move(error);
  r.at = WallClock::now();
  return r;
}

inline std::size_t open_descriptors() {
  const std::filesystem::directory_iterator fds("/proc/self/fd");
  return static_cast<std::size_t>(std::distance(begin(fds), end(fds)));
}

// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it
// waits in the TCP handshake until given up.
struct FullListener {
  FullListener() : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    acceptor.listen(0);
    const auto address = acceptor.local_endpoint();
    for (int i = 0; i < 4; ++i) {
      // Plain non-blocking connects, never waited for (Asio's connect would wait).
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      (void)::connect(fd, address.data(), static_cast<socklen_t>(address.size()));
      queued.push_back(fd);
    }
  }
  ~FullListener() {
    for (const int fd : queued) ::close(fd);
  }
  asio::io_context io;
  tcp::acceptor acceptor;
  std::vector<int> queued;
};

// Runs `count` checks in a row with one Check (a BackendCheck) made from `settings`.
template <class Check, class Settings>
std::vector<CheckResult> run_checks(asio::io_context& io, const Settings& settings, int count) {
  std::vector<CheckResult> results;
  Check check(io.get_executor(), settings);
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        for (int i = 0; i < count; ++i) results.push_back(co_await check.run());
      },
      asio::detached);
  io.run();
  return results;
}

// Checks of a server that never completes the TCP handshake fail at their timeout, and the
// check leaves no descriptor open. `settings` gets the address and the timeout.
template <class Check, class Settings>
void expect_connects_cut_short(Settings settings) {
  FullListener full;
  asio::io_context io;
  settings.host = "127.0.0.1";
  settings.port = full.acceptor.local_endpoint().port();
  settings.timeout = std::chrono::milliseconds(50);
  const asio::steady_timer reactor(io);  // the io_context's own descriptors, opened on first use
  const std::size_t before = open_descriptors();
  const auto results = run_checks<Check>(io, settings, 5);
  ASSERT_EQ(results.size(), 5u);
  for (const auto& r : results) {
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "no answer within 50ms (connecting)");
  }
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace plexi::routing::testing
