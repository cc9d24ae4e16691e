// Tests of Sentinel discovery against scripted Sentinels on loopback: the first answer, a
// +switch-master announcement, a changed answer when asked again, a dead or ignorant Sentinel
// handing over to the next. FollowsARealFailover runs against real servers when
// tests/integration/test_redis_sentinel.py starts it.
#include "routing/redis_sentinel.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdlib>
#include <iostream>

#include "routing/redis_test_util.h"

namespace plexi::routing {
namespace {

using namespace std::chrono_literals;
using testing::resp_command;
using testing::ScriptedServer;

std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("sentinel-test",
                                          std::make_shared<spdlog::sinks::null_sink_mt>());
}

std::string bulk(const std::string& text) {
  return "$" + std::to_string(text.size()) + "\r\n" + text + "\r\n";
}

const std::string kSubscribe = resp_command({"SUBSCRIBE", "+switch-master"});
const std::string kConfirmation = "*3\r\n" + bulk("subscribe") + bulk("+switch-master") + ":1\r\n";
const std::string kAsk = resp_command({"SENTINEL", "get-master-addr-by-name", "mymaster"});

std::string address_answer(const std::string& host, const std::string& port) {
  return "*2\r\n" + bulk(host) + bulk(port);
}

std::string switch_message(const std::string& payload) {
  return "*3\r\n" + bulk("message") + bulk("+switch-master") + bulk(payload);
}

std::uint16_t closed_port(asio::io_context& io) {
  tcp::acceptor gone(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return gone.local_endpoint().port();
}

// Runs a watch until it has reported `count` addresses (or `limit` passed); returns them.
std::vector<std::string> reports(asio::io_context& io, SentinelSettings settings, std::size_t count,
                                 ScriptedServer& server, std::chrono::milliseconds limit = 5s) {
  std::vector<std::string> seen;
  std::unique_ptr<SentinelWatch> watch;
  asio::steady_timer deadline(io, limit);
  auto finish = [&] {
    watch->stop();
    server.close();
    deadline.cancel();
  };
  watch = std::make_unique<SentinelWatch>(
      io.get_executor(), std::move(settings),
      [&](std::string host, std::uint16_t port) {
        seen.push_back(host + ":" + std::to_string(port));
        if (seen.size() == count) finish();
      },
      quiet_logger());
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) finish();
  });
  watch->start();
  io.run();
  return seen;
}

SentinelSettings settings_for(std::vector<std::uint16_t> ports) {
  SentinelSettings settings;
  for (const auto port : ports) settings.sentinels.push_back({"127.0.0.1", port});
  settings.master = "mymaster";
  settings.timeout = 500ms;
  settings.refresh = 50ms;
  return settings;
}

TEST(SentinelWatch, ReportsTheAnswerThenEachSwitchOfItsMaster) {
  asio::io_context io;
  ScriptedServer sentinel(
      io, {// Subscribed first; announcements for another master are not ours.
           {{kSubscribe, kConfirmation + switch_message("other 10.0.0.7 6379 10.0.0.8 6379") +
                             switch_message("mymaster 10.0.0.1 6379 10.0.0.2 6380")},
            {"", ""}},
           {{kAsk, address_answer("10.0.0.1", "6379")}, {"", ""}}});
  const auto seen = reports(io, settings_for({sentinel.port()}), 2, sentinel);
  EXPECT_EQ(seen, (std::vector<std::string>{"10.0.0.1:6379", "10.0.0.2:6380"}));
}

TEST(SentinelWatch, AsksAgainEachRefreshAndReportsOnlyChanges) {
  asio::io_context io;
  ScriptedServer sentinel(io, {{{kSubscribe, kConfirmation}, {"", ""}},
                               {{kAsk, address_answer("10.0.0.1", "6379")},
                                {kAsk, address_answer("10.0.0.1", "6379")},
                                {kAsk, address_answer("10.0.0.3", "6379")},
                                {"", ""}}});
  const auto seen = reports(io, settings_for({sentinel.port()}), 2, sentinel);
  EXPECT_EQ(seen, (std::vector<std::string>{"10.0.0.1:6379", "10.0.0.3:6379"}));
}

TEST(SentinelWatch, MovesOnFromDeadAndIgnorantSentinels) {
  asio::io_context io;
  ScriptedServer ignorant(io,
                          {{{kSubscribe, kConfirmation}, {"", ""}}, {{kAsk, "*-1\r\n"}, {"", ""}}});
  ScriptedServer good(io, {{{kSubscribe, kConfirmation}, {"", ""}},
                           {{kAsk, address_answer("10.0.0.1", "6379")}, {"", ""}}});
  const auto seen =
      reports(io, settings_for({closed_port(io), ignorant.port(), good.port()}), 1, good);
  ignorant.close();
  EXPECT_EQ(seen, (std::vector<std::string>{"10.0.0.1:6379"}));
  // The ignorant one was asked before the good one took over.
  EXPECT_NE(ignorant.received().find(kAsk), std::string::npos);
}

TEST(SentinelWatch, ASilentSentinelIsLeftAfterTheTimeout) {
  asio::io_context io;
  ScriptedServer silent(io, {{{kSubscribe, ""}}});  // takes the subscription, never confirms
  ScriptedServer good(io, {{{kSubscribe, kConfirmation}, {"", ""}},
                           {{kAsk, address_answer("10.0.0.1", "6379")}, {"", ""}}});
  auto settings = settings_for({silent.port(), good.port()});
  settings.timeout = 100ms;
  const auto started = std::chrono::steady_clock::now();
  const auto seen = reports(io, settings, 1, good);
  silent.close();
  EXPECT_EQ(seen, (std::vector<std::string>{"10.0.0.1:6379"}));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 100ms);
}

TEST(SentinelWatch, SettingsComeFromARedisCluster) {
  config::Cluster cluster;
  cluster.health.timeout = 300ms;
  cluster.health.interval = 2s;
  EXPECT_FALSE(sentinel_settings(cluster));
  cluster.sentinels = {{"10.0.0.5", 26379}, {"10.0.0.6", 26379}};
  cluster.sentinel_master = "mymaster";
  const auto settings = sentinel_settings(cluster);
  ASSERT_TRUE(settings);
  ASSERT_EQ(settings->sentinels.size(), 2u);
  EXPECT_EQ(settings->sentinels[1].to_string(), "10.0.0.6:26379");
  EXPECT_EQ(settings->master, "mymaster");
  EXPECT_EQ(settings->timeout, 300ms);
  EXPECT_EQ(settings->refresh, 2s);
}

// Against real redis-sentinel processes, driven by tests/integration/test_redis_sentinel.py:
// PLEXI_TEST_SENTINELS lists host:port of each Sentinel (comma-separated) and
// PLEXI_TEST_SENTINEL_MASTER names the master. Each report is printed as "master host:port";
// the script kills the master after the first one and waits for the second (the replica the
// Sentinel promoted), after which the watch stops. Disabled in the unit test run.
TEST(SentinelWatchLive, DISABLED_FollowsARealFailover) {
  const char* sentinels = std::getenv("PLEXI_TEST_SENTINELS");
  const char* master = std::getenv("PLEXI_TEST_SENTINEL_MASTER");
  ASSERT_TRUE(sentinels && master) << "run by tests/integration/test_redis_sentinel.py";
  SentinelSettings settings;
  std::string_view list = sentinels;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto endpoint = config::parse_endpoint(list.substr(0, comma));
    ASSERT_TRUE(endpoint) << sentinels;
    settings.sentinels.push_back(*endpoint);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  settings.master = master;
  settings.timeout = 500ms;
  settings.refresh = 500ms;

  asio::io_context io;
  auto strand = asio::make_strand(io);
  std::size_t reported = 0;
  std::unique_ptr<SentinelWatch> watch;
  asio::steady_timer deadline(io, 60s);
  watch = std::make_unique<SentinelWatch>(
      strand, settings,
      [&](std::string host, std::uint16_t port) {
        std::cout << "master " << host << ":" << port << std::endl;  // flushed: the script reads it
        if (++reported == 2) {
          watch->stop();
          deadline.cancel();
        }
      },
      std::make_shared<spdlog::logger>("sentinel",
                                       std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) watch->stop();
  });
  watch->start();
  io.run();
  EXPECT_EQ(reported, 2u);
}

}  // namespace
}  // namespace plexi::routing
