// Tests of the monitor's Asio side without a PostgreSQL server: a refused connection and a
// server that never answers are both marked down within the timeout, snapshots are read
// from another thread, subscribers hear of changes, and stop() ends every check.
#include "routing/health_monitor.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include <atomic>
#include <thread>

namespace plexi::routing {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("health-test",
                                          std::make_shared<spdlog::sinks::null_sink_mt>());
}

config::Backend pg_backend(std::string name, std::uint16_t port) {
  config::Backend b;
  b.name = std::move(name);
  b.port = port;
  b.username = "monitor";
  b.database = "appdb";
  b.tls = config::ServerTls::kDisable;
  return b;
}

std::shared_ptr<const config::Config> config_with(std::vector<config::Backend> backends) {
  auto config = std::make_shared<config::Config>();
  config::Cluster cluster;
  cluster.name = "appdb";
  cluster.health.interval = 50ms;
  cluster.health.timeout = 200ms;
  cluster.health.fall = 1;
  cluster.health.rise = 1;
  cluster.backends = std::move(backends);
  config->clusters.emplace("appdb", cluster);
  config::Cluster shop;
  shop.name = "shop";
  shop.protocol = config::Protocol::kMysql;
  config::Backend maria;
  maria.name = "maria";
  maria.type = config::BackendType::kMysql;
  shop.backends.push_back(maria);
  config->clusters.emplace("shop", shop);
  return config;
}

// A port nothing listens on: bound by the system, then closed.
std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// Polls `monitor` from this thread (the checks run on another) until `done` holds.
template <class Pred>
std::shared_ptr<const ClusterHealth> wait_for(const HealthMonitor& monitor, Pred done,
                                              std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = monitor.cluster("appdb");
    if (s && done(*s)) return s;
    std::this_thread::sleep_for(5ms);
  }
  return nullptr;
}

class HealthMonitorTest : public ::testing::Test {
 protected:
  // Keeps the accepted sockets open and silent (on a strand: the io_context has two threads).
  void listen_silently() {
    silent_.emplace(asio::make_strand(io_), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    accept_next();
  }
  void accept_next() {
    silent_->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      held_.push_back(std::move(socket));
      accept_next();
    });
  }
  // Two threads, as in the daemon: the monitor's strand must keep its checks apart.
  void run_io() {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  // stop() must end every check loop: then the io_context runs out of work and returns.
  bool stops(HealthMonitor& monitor) {
    monitor.stop();
    if (silent_) {
      asio::post(silent_->get_executor(), [this] {
        silent_->close();
        held_.clear();
      });
    }
    for (int i = 0; i < 200 && !io_.stopped(); ++i) std::this_thread::sleep_for(5ms);
    const bool ended = io_.stopped();
    if (!ended) io_.stop();
    for (auto& thread : threads_) thread.join();
    return ended;
  }

  asio::io_context io_;
  std::optional<tcp::acceptor> silent_;
  std::vector<tcp::socket> held_;
  std::vector<std::thread> threads_;
};

TEST_F(HealthMonitorTest, SnapshotsExistBeforeTheFirstCheck) {
  HealthMonitor monitor(io_, config_with({pg_backend("pg1", closed_port())}), quiet_logger());
  const auto s = monitor.cluster("appdb");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->backends[0].state, BackendState::kUnknown);
  const auto shop = monitor.cluster("shop");
  ASSERT_NE(shop, nullptr);
  EXPECT_EQ(shop->backends[0].state, BackendState::kUnchecked);  // no user to log in as
  EXPECT_EQ(shop->write_target, 0);
  EXPECT_EQ(monitor.cluster("nosuch"), nullptr);
}

TEST_F(HealthMonitorTest, RefusedAndSilentServersAreMarkedDown) {
  listen_silently();
  const auto silent_port = silent_->local_endpoint().port();
  HealthMonitor monitor(
      io_, config_with({pg_backend("refused", closed_port()), pg_backend("silent", silent_port)}),
      quiet_logger());
  std::atomic<int> changes{0};
  monitor.on_change([&](const ClusterHealth& before, const ClusterHealth& after) {
    EXPECT_LT(before.generation, after.generation);
    ++changes;
  });
  const auto started = std::chrono::steady_clock::now();
  monitor.start();
  run_io();
  const auto s = wait_for(monitor, [](const ClusterHealth& c) {
    return c.backends[0].state == BackendState::kDown && c.backends[1].state == BackendState::kDown;
  });
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_NE(s, nullptr);
  EXPECT_NE(s->backends[0].last_error.find("refused"), std::string::npos)
      << s->backends[0].last_error;
  EXPECT_EQ(s->backends[1].last_error, "no answer within 200ms (connecting)");
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 1500ms);
  EXPECT_EQ(s->write_target, -1);
  EXPECT_GE(changes.load(), 2);
  // The checks go on: later results make later generations.
  const auto later =
      wait_for(monitor, [&](const ClusterHealth& c) { return c.generation > s->generation + 2; });
  EXPECT_NE(later, nullptr);
  EXPECT_TRUE(stops(monitor));
}

TEST_F(HealthMonitorTest, MysqlBackendsAreCheckedThroughLibmariadb) {
  listen_silently();
  auto mysql = [](config::Backend b) {
    b.type = config::BackendType::kMysql;
    return b;
  };
  auto config = std::make_shared<config::Config>(
      *config_with({mysql(pg_backend("refused", closed_port())),
                    mysql(pg_backend("silent", silent_->local_endpoint().port()))}));
  config->clusters.at("appdb").protocol = config::Protocol::kMysql;
  HealthMonitor monitor(io_, config, quiet_logger());
  monitor.start();
  run_io();
  const auto s = wait_for(monitor, [](const ClusterHealth& c) {
    return c.backends[0].state == BackendState::kDown && c.backends[1].state == BackendState::kDown;
  });
  ASSERT_NE(s, nullptr);
  EXPECT_NE(s->backends[0].last_error.find("Can't connect"), std::string::npos)
      << s->backends[0].last_error;
  // A MySQL server speaks first: one that accepts and says nothing never finishes connecting.
  EXPECT_EQ(s->backends[1].last_error, "no answer within 200ms (connecting)");
  EXPECT_TRUE(stops(monitor));
}

TEST_F(HealthMonitorTest, ReconfigureDropsRemovedClusters) {
  HealthMonitor monitor(io_, config_with({pg_backend("pg1", closed_port())}), quiet_logger());
  monitor.start();
  run_io();
  ASSERT_NE(wait_for(monitor, [](const ClusterHealth& c) { return c.settled(); }), nullptr);
  auto smaller = std::make_shared<config::Config>(*config_with({}));
  smaller->clusters.erase("appdb");
  monitor.reconfigure(smaller);
  for (int i = 0; i < 200 && monitor.cluster("appdb"); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(monitor.cluster("appdb"), nullptr);
  EXPECT_NE(monitor.cluster("shop"), nullptr);
  EXPECT_TRUE(stops(monitor));
}

TEST_F(HealthMonitorTest, ReconfigureKeepsStateOfUnchangedBackends) {
  const auto port = closed_port();
  HealthMonitor monitor(io_, config_with({pg_backend("pg1", port)}), quiet_logger());
  monitor.start();
  run_io();
  const auto before = wait_for(
      monitor, [](const ClusterHealth& c) { return c.backends[0].state == BackendState::kDown; });
  ASSERT_NE(before, nullptr);
  monitor.reconfigure(config_with({pg_backend("pg1", port), pg_backend("pg2", closed_port())}));
  const auto after =
      wait_for(monitor, [](const ClusterHealth& c) { return c.backends.size() == 2; });
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->backends[0].state, BackendState::kDown);
  EXPECT_GT(after->generation, before->generation);
  EXPECT_TRUE(stops(monitor));
}

}  // namespace
}  // namespace plexi::routing
