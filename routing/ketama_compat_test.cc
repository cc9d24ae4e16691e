// Holds KetamaRing against twemproxy itself: redis-servers behind a nutcracker 0.5.0 pool,
// 2,000 keys written through nutcracker, then each server asked which keys it holds.
// Every key must be where KetamaRing puts it: for each hash function, with server names,
// with weights, with a hash tag. Nothing here trusts our reading of twemproxy's code.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "routing/ketama.h"
#include "routing/redis_commands_test_servers.h"

namespace plexi::routing {
namespace {

using testing::Process;
using testing::RedisServer;
using testing::RespClient;
using testing::TempDir;

constexpr int kServers = 5;
constexpr int kKeys = 2000;

struct PoolServer {
  PoolServer(int redis, std::uint32_t weight = 1, std::string name = {})
      : redis(redis), weight(weight), name(std::move(name)) {}

  int redis;  // which of the five servers
  std::uint32_t weight;
  std::string name;  // the `servers:` line's name; empty: none
};

struct Pool {
  HashFunction hash = HashFunction::kFnv1a_64;
  std::vector<PoolServer> servers;
  std::string hash_tag;  // empty: none
};

// Keys of every length from 1 to 40 (each hash has its own tail cases), bytes above 0x7f
// (which twemproxy reads sign-extended), and hash tags of every shape.
std::vector<std::string> test_keys() {
  std::vector<std::string> keys;
  std::uint32_t state = 12345;
  auto next = [&] {
    state = state * 1103515245u + 12345u;
    return state >> 16;
  };
  for (int i = 0; keys.size() < kKeys; ++i) {
    switch (i % 5) {
      case 0:
        keys.push_back("key:" + std::to_string(i));
        break;
      case 1: {
        std::string key(1 + next() % 40, '\0');
        for (char& c : key) c = static_cast<char>(next() & 0xff);
        keys.push_back(key + std::to_string(i));  // unique
        break;
      }
      case 2:
        keys.push_back("{user:" + std::to_string(i % 37) + "}:field:" + std::to_string(i));
        break;
      case 3:
        keys.push_back("item{" + std::to_string(i % 11) + "}" + std::string(i % 7, 'x') +
                       std::to_string(i));
        break;
      default:
        keys.push_back((i % 2 ? "x{}y{" : "{}{") + std::to_string(i) + "}z");
        break;
    }
  }
  return keys;
}

class KetamaCompat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    for (int i = 0; i < kServers; ++i) {
      redis_.push_back(std::make_unique<RedisServer>(dir_->path()));
    }
  }
  static void TearDownTestSuite() {
    redis_.clear();  // each stopped by its PID
    dir_.reset();
  }

  // Starts nutcracker for `pool`, writes the keys through it, and compares where each key
  // landed with KetamaRing's choice.
  void check(const Pool& pool) {
    for (const auto& server : redis_) {
      RespClient client(server->port());
      ASSERT_EQ(client.command({"FLUSHALL"}).text, "OK");
    }
    int port = 0;
    std::unique_ptr<Process> nutcracker = start_nutcracker(pool, port);
    ASSERT_NE(nutcracker, nullptr);

    const std::vector<std::string> keys = test_keys();
    {
      RespClient client(port);
      for (const std::string& key : keys) client.send({"SET", key, "v"});
      client.flush();
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const resp::Value reply = client.read();
        ASSERT_EQ(reply.text, "OK") << "SET through nutcracker failed: " << nutcracker->log();
      }
    }

    std::map<std::string, int> holder;
    for (int i = 0; i < kServers; ++i) {
      RespClient client(redis_[i]->port());
      const resp::Value stored = client.command({"KEYS", "*"});
      for (const resp::Value& key : stored.elements) {
        ASSERT_TRUE(holder.emplace(key.text, i).second) << "a key on two servers";
      }
    }
    ASSERT_EQ(holder.size(), keys.size());

    std::vector<KetamaRing::Server> servers;
    for (const PoolServer& server : pool.servers) {
      servers.push_back({server.name.empty() ? KetamaRing::default_name(
                                                   "127.0.0.1", static_cast<std::uint16_t>(
                                                                    redis_[server.redis]->port()))
                                             : server.name,
                         server.weight});
    }
    const KetamaRing ring(servers, pool.hash);
    int wrong = 0;
    std::map<int, int> per_server;
    for (const std::string& key : keys) {
      const int expected = pool.servers[ring.server_for(hash_tag_part(key, pool.hash_tag))].redis;
      const int actual = holder.at(key);
      ++per_server[actual];
      if (expected != actual && ++wrong <= 5) {
        ADD_FAILURE() << "key " << ::testing::PrintToString(key) << ": nutcracker put it on "
                      << actual << ", KetamaRing on " << expected;
      }
    }
    EXPECT_EQ(wrong, 0) << "of " << keys.size() << " keys with " << hash_function_name(pool.hash);
    // Every server of the pool got keys, so a ring that picked one server would fail above.
    // Not with crc32: its 15-bit values all fall before the first few of the continuum's
    // 32-bit points, in twemproxy as here.
    if (pool.hash != HashFunction::kCrc32) {
      EXPECT_EQ(per_server.size(), pool.servers.size());
    }
  }

 private:
  static std::unique_ptr<Process> start_nutcracker(const Pool& pool, int& port) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port = testing::free_port();
      const auto config = dir_->path() / ("nutcracker-" + std::to_string(port) + ".yml");
      std::ofstream out(config);
      out << "plexi:\n"
          << "  listen: 127.0.0.1:" << port << "\n"
          << "  hash: " << hash_function_name(pool.hash) << "\n"
          << "  distribution: ketama\n"
          << "  redis: true\n"
          << "  timeout: 5000\n";
      if (!pool.hash_tag.empty()) out << "  hash_tag: \"" << pool.hash_tag << "\"\n";
      out << "  servers:\n";
      for (const PoolServer& server : pool.servers) {
        out << "   - 127.0.0.1:" << redis_[server.redis]->port() << ":" << server.weight;
        if (!server.name.empty()) out << " " << server.name;
        out << "\n";
      }
      out.close();
      const std::string stem = (dir_->path() / ("nutcracker-" + std::to_string(port))).string();
      auto process = std::make_unique<Process>(
          std::vector<std::string>{testing::kNutcracker, "-c", config.string(), "-o", stem + ".log",
                                   "-p", stem + ".pid", "-s", std::to_string(testing::free_port()),
                                   "-a", "127.0.0.1"},
          stem + ".out");
      if (testing::wait_accepting(*process, port)) return process;
      ADD_FAILURE() << "nutcracker did not start: " << testing::file_text(stem + ".log")
                    << process->log();
    }
    return nullptr;
  }

  static std::unique_ptr<TempDir> dir_;
  static std::vector<std::unique_ptr<RedisServer>> redis_;
};

std::unique_ptr<TempDir> KetamaCompat::dir_;
std::vector<std::unique_ptr<RedisServer>> KetamaCompat::redis_;

TEST_F(KetamaCompat, Fnv1a64OverTwoServers) { check({HashFunction::kFnv1a_64, {{0}, {1}}, ""}); }

TEST_F(KetamaCompat, Md5WithServerNames) {
  check({HashFunction::kMd5, {{0, 1, "alpha"}, {1, 1, "beta"}, {2, 1, "gamma"}}, ""});
}

TEST_F(KetamaCompat, Fnv1a64WithAWeightedServer) {
  check({HashFunction::kFnv1a_64, {{0, 1}, {1, 3}, {2, 1}}, ""});
}

// Weights whose point counts twemproxy's float arithmetic floors one digest lower than
// exact arithmetic would.
TEST_F(KetamaCompat, Fnv1a64OverFiveWeightedServers) {
  check({HashFunction::kFnv1a_64, {{0, 1}, {1, 6}, {2, 6}, {3, 6}, {4, 6}}, ""});
}

TEST_F(KetamaCompat, Md5WithWeights) { check({HashFunction::kMd5, {{0, 2}, {1, 5}}, ""}); }

TEST_F(KetamaCompat, Fnv1a64WithHashTag) {
  check({HashFunction::kFnv1a_64, {{0}, {1}, {2}}, "{}"});
}

TEST_F(KetamaCompat, Md5WithHashTagAndNames) {
  check({HashFunction::kMd5, {{0, 1, "cache-a"}, {1, 2, "cache-b"}}, "{}"});
}

// Every hash function twemproxy has, over three servers of equal weight.
class KetamaCompatHash : public KetamaCompat, public ::testing::WithParamInterface<int> {};

TEST_P(KetamaCompatHash, EqualWeights) {
  check({static_cast<HashFunction>(GetParam()), {{0}, {1}, {2}}, ""});
}

INSTANTIATE_TEST_SUITE_P(EveryHash, KetamaCompatHash, ::testing::Range(0, 12),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(
                               hash_function_name(static_cast<HashFunction>(info.param)));
                         });

}  // namespace
}  // namespace plexi::routing
