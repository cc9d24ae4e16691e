// Tests of the access rules: how `access:` is read and checked, address blocks, and which
// rule a client matches.
#include "config/access.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include "config/config_test_util.h"

namespace plexi::config {
namespace {

using testing::describe;
using testing::error_for;
using testing::load;

constexpr std::string_view kClusters =
    "clusters:\n"
    "  appdb:\n    backends:\n      - host: db\n"
    "  cache:\n    protocol: redis\n    backends:\n      - type: redis\n        host: r\n";

std::array<std::uint8_t, 16> address(const char* text) {
  std::uint8_t v4[4];
  if (inet_pton(AF_INET, text, v4) == 1) return to_address_bytes(v4, 4);
  std::array<std::uint8_t, 16> v6{};
  EXPECT_EQ(inet_pton(AF_INET6, text, v6.data()), 1) << text;
  return v6;
}

AddressBlock block(std::string_view text) {
  std::string error;
  auto parsed = parse_address_block(text, error);
  EXPECT_TRUE(parsed) << text << ": " << error;
  return parsed.value_or(AddressBlock{});
}

TEST(AddressBlocks, MatchTheirPrefixInBothFamilies) {
  EXPECT_TRUE(contains(block("10.0.0.0/8"), address("10.200.3.4")));
  EXPECT_FALSE(contains(block("10.0.0.0/8"), address("11.0.0.1")));
  EXPECT_TRUE(contains(block("192.168.1.7"), address("192.168.1.7")));
  EXPECT_FALSE(contains(block("192.168.1.7"), address("192.168.1.8")));
  EXPECT_TRUE(contains(block("172.16.0.0/12"), address("172.31.255.255")));
  EXPECT_FALSE(contains(block("172.16.0.0/12"), address("172.32.0.0")));
  EXPECT_TRUE(contains(block("0.0.0.0/0"), address("8.8.8.8")));
  EXPECT_FALSE(contains(block("0.0.0.0/0"), address("::1")));
  EXPECT_TRUE(contains(block("::1"), address("::1")));
  EXPECT_TRUE(contains(block("fd00::/8"), address("fd12:3456::1")));
  EXPECT_FALSE(contains(block("fd00::/8"), address("fe80::1")));
  // A client reaching an IPv6 socket from IPv4 shows as ::ffff:a.b.c.d and still matches.
  EXPECT_TRUE(contains(block("127.0.0.0/8"), address("::ffff:127.0.0.9")));
  // Host bits past the prefix are ignored, as in pg_hba.conf.
  EXPECT_TRUE(contains(block("10.1.2.3/8"), address("10.9.9.9")));
}

TEST(AddressBlocks, BadTextIsRefused) {
  for (const char* text : {"10.0.0.0/33", "::1/129", "10.0.0/8", "host.example", "10.0.0.0/",
                           "10.0.0.0/-1", "10.0.0.0/8x", ""}) {
    std::string error;
    EXPECT_FALSE(parse_address_block(text, error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

TEST(AccessRules, AreReadWithListsAndDefaults) {
  const auto result = load(std::string(kClusters) +
                           "access:\n"
                           "  - user: bob\n    method: reject\n"
                           "  - listener: [postgres, mysql]\n    cluster: appdb\n"
                           "    address: [10.0.0.0/8, '::1']\n    tls: true\n"
                           "    method: scram-sha-256\n"
                           "  - method: password\n");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const auto& rules = result.config->access;
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].users, std::vector<std::string>{"bob"});
  EXPECT_EQ(rules[0].method, AccessMethod::kReject);
  EXPECT_EQ(rules[0].line, 11);
  EXPECT_EQ(rules[1].listeners, (std::vector<Protocol>{Protocol::kPostgres, Protocol::kMysql}));
  EXPECT_EQ(rules[1].clusters, std::vector<std::string>{"appdb"});
  EXPECT_EQ(rules[1].addresses.size(), 2u);
  EXPECT_EQ(rules[1].tls, true);
  EXPECT_EQ(rules[1].method, AccessMethod::kScramSha256);
  EXPECT_TRUE(rules[2].users.empty());
  EXPECT_FALSE(rules[2].tls.has_value());
}

TEST(AccessRules, MistakesAreReportedWithTheirKey) {
  const auto result = load(std::string(kClusters) +
                           "access:\n"
                           "  - user: bob\n"
                           "  - method: sometimes\n"
                           "  - cluster: nosuch\n    method: trust\n"
                           "  - address: 300.1.1.1\n    method: trust\n"
                           "  - listener: ftp\n    method: trust\n"
                           "  - method: cert\n"
                           "  - method: trust\n    colour: blue\n");
  EXPECT_EQ(result.config, nullptr);
  EXPECT_NE(error_for(result, "access[0]").message.find("needs a method"), std::string::npos);
  EXPECT_NE(error_for(result, "access[1].method").message.find("reject"), std::string::npos);
  EXPECT_NE(error_for(result, "access[2].cluster").message.find("nosuch"), std::string::npos);
  EXPECT_NE(error_for(result, "access[3].address").message.find("300.1.1.1"), std::string::npos);
  EXPECT_NE(error_for(result, "access[4].listener").message.find("ftp"), std::string::npos);
  EXPECT_NE(error_for(result, "access[5].method").message.find("tls.ca_file"), std::string::npos);
  error_for(result, "access[6].colour");
}

TEST(AccessRules, FirstMatchingRuleWins) {
  const auto result = load(std::string(kClusters) +
                           "access:\n"
                           "  - user: bob\n    method: reject\n"
                           "  - listener: redis\n    address: 10.0.0.0/8\n    method: trust\n"
                           "  - cluster: appdb\n    tls: true\n    method: scram-sha-256\n"
                           "  - cluster: [appdb, plexiproxy]\n    address: 127.0.0.1\n"
                           "    method: md5\n");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& config = *result.config;
  auto method = [&](Protocol listener, std::string_view cluster, std::string_view user,
                    const char* from, bool tls) -> std::string {
    AccessRequest request{listener, cluster, user, address(from), tls};
    const auto* rule = match_access(config, request);
    return rule ? std::string(to_string(rule->method)) : "none";
  };
  EXPECT_EQ(method(Protocol::kPostgres, "appdb", "bob", "127.0.0.1", true), "reject");
  EXPECT_EQ(method(Protocol::kRedis, "cache", "alice", "10.1.1.1", false), "trust");
  EXPECT_EQ(method(Protocol::kRedis, "cache", "alice", "11.1.1.1", false), "none");
  EXPECT_EQ(method(Protocol::kPostgres, "appdb", "alice", "10.1.1.1", true), "scram-sha-256");
  EXPECT_EQ(method(Protocol::kPostgres, "appdb", "alice", "10.1.1.1", false), "none");
  EXPECT_EQ(method(Protocol::kMysql, "appdb", "alice", "127.0.0.1", false), "md5");
  EXPECT_EQ(method(Protocol::kPostgres, "plexiproxy", "alice", "127.0.0.1", false), "md5");
  EXPECT_EQ(method(Protocol::kPostgres, "other", "alice", "127.0.0.1", false), "none");
}

TEST(AccessRules, BeforeTheUserIsKnownARuleNamingUsersDefers) {
  const auto result = load(std::string(kClusters) +
                           "access:\n"
                           "  - address: 10.0.0.0/8\n    method: reject\n"
                           "  - user: bob\n    method: reject\n"
                           "  - method: password\n");
  ASSERT_NE(result.config, nullptr) << describe(result);
  bool needs_user = false;
  AccessRequest from_ten{Protocol::kRedis, "cache", "", address("10.0.0.1"), false};
  const auto* rule = match_access_before_user(*result.config, from_ten, needs_user);
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->method, AccessMethod::kReject);
  EXPECT_FALSE(needs_user);
  AccessRequest local{Protocol::kRedis, "cache", "", address("127.0.0.1"), false};
  EXPECT_EQ(match_access_before_user(*result.config, local, needs_user), nullptr);
  EXPECT_TRUE(needs_user);
}

TEST(AccessRules, DescribeNamesTheClient) {
  AccessRequest request{Protocol::kPostgres, "appdb", "bob", address("192.0.2.7"), false};
  EXPECT_EQ(describe_access(request), "host \"192.0.2.7\", user \"bob\", cluster \"appdb\", no TLS");
  request.address = address("2001:db8::1");
  request.tls = true;
  EXPECT_EQ(describe_access(request), "host \"2001:db8::1\", user \"bob\", cluster \"appdb\", TLS");
}

TEST(Limits, PerUserAndIdleKeysAreRead) {
  const auto result = load(std::string(kClusters) +
                           "users:\n  - name: a\n    password: x\n    max_client_conn: 3\n"
                           "limits:\n  max_user_client_conn: 10\n  client_idle_timeout: 5m\n"
                           "  max_pipelined: 100\n");
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.config->users[0].max_client_conn, 3);
  EXPECT_EQ(result.config->limits.max_user_client_conn, 10);
  EXPECT_EQ(result.config->limits.client_idle_timeout, std::chrono::minutes(5));
  EXPECT_EQ(result.config->limits.max_pipelined, 100u);
}

}  // namespace
}  // namespace plexi::config
