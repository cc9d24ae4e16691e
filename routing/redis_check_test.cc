// Tests of the Redis check: reading ROLE and INFO replication, hiredis replies as value trees,
// which credentials a check sends, and whole checks against a scripted server on loopback
// (AUTH, a stalled server, a connection the server closed, a connect cut short).
#include "routing/redis_check.h"

#include <gtest/gtest.h>

#include "routing/health_test_util.h"
#include "routing/redis_test_util.h"

namespace plexi::routing {
namespace {

using resp::Type;
using resp::Value;

Value text(std::string s, Type type = Type::kBulkString) {
  Value v;
  v.type = type;
  v.text = std::move(s);
  return v;
}

Value number(std::int64_t n) {
  Value v;
  v.type = Type::kInteger;
  v.integer = n;
  return v;
}

Value array(std::vector<Value> elements) {
  Value v;
  v.type = Type::kArray;
  v.elements = std::move(elements);
  return v;
}

Value replica_role(std::string state, std::int64_t offset) {
  return array(
      {text("slave"), text("127.0.0.1"), number(6379), text(std::move(state)), number(offset)});
}

TEST(RedisCheck, AMasterIsAPrimaryAtItsReplicationOffset) {
  CheckResult r;
  r.receive_lsn = 1;  // left from an earlier result: cleared
  read_role(array({text("master"), number(3129659),
                   array({array({text("127.0.0.1"), text("9001"), text("3129242")})})}),
            r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.in_recovery);
  EXPECT_EQ(r.wal_lsn, 3129659u);
  EXPECT_FALSE(r.receive_lsn);
  EXPECT_FALSE(r.replay_age_seconds);
}

TEST(RedisCheck, AConnectedReplicaHasNothingWaiting) {
  CheckResult r;
  read_role(replica_role("connected", 3167038), r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.in_recovery);
  EXPECT_EQ(r.wal_lsn, 3167038u);
  EXPECT_EQ(r.receive_lsn, Lsn{3167038});
}

TEST(RedisCheck, AReplicaWithoutItsMasterHasNoReceivePosition) {
  for (const char* state : {"connect", "connecting", "sync", "handshake"}) {
    CheckResult r;
    read_role(replica_role(state, 42), r);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_TRUE(r.in_recovery);
    EXPECT_EQ(r.wal_lsn, 42u);
    EXPECT_FALSE(r.receive_lsn) << state;
  }
  // Never synchronised: the offset is -1.
  CheckResult r;
  read_role(replica_role("connected", -1), r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.wal_lsn, 0u);
  EXPECT_FALSE(r.receive_lsn);
}

TEST(RedisCheck, ASentinelOrAnOddAnswerFails) {
  CheckResult r;
  read_role(array({text("sentinel"), array({text("mymaster")})}), r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "the server is a sentinel, not a data server");
  read_role(text("NOPERM this user has no permissions to run the 'role' command", Type::kError), r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "ROLE: NOPERM this user has no permissions to run the 'role' command");
  read_role(text("OK", Type::kSimpleString), r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "ROLE returned an unexpected shape");
  read_role(array({text("master")}), r);
  EXPECT_FALSE(r.ok);
  read_role(array({text("slave"), text("127.0.0.1"), number(6379)}), r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "ROLE returned an unexpected shape for a replica");
  read_role(array({text("leader"), number(1)}), r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "ROLE answered an unknown role 'leader'");
}

// INFO replication as a Redis 7.0 replica answers it, with its CRLF line ends.
std::string replica_info(std::string_view link, std::string_view extra) {
  std::string info = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\n";
  info += "master_link_status:" + std::string(link) + "\r\n";
  info += std::string(extra);
  info += "slave_read_repl_offset:42\r\nslave_repl_offset:42\r\nslave_priority:100\r\n";
  return info;
}

TEST(RedisCheck, AnUpLinkGivesTheAgeOfTheLastIo) {
  CheckResult r;
  read_role(replica_role("connected", 42), r);
  read_replication_info(
      text(replica_info("up", "master_last_io_seconds_ago:3\r\nmaster_sync_in_progress:0\r\n")), r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.receive_lsn, Lsn{42});  // still: nothing waits to be applied
  ASSERT_TRUE(r.replay_age_seconds);
  EXPECT_DOUBLE_EQ(*r.replay_age_seconds, 3.0);
}

TEST(RedisCheck, ADownLinkIsAsOldAsTheOutage) {
  CheckResult r;
  read_role(replica_role("connected", 42), r);  // ROLE was asked just before the link fell
  read_replication_info(
      text(replica_info("down",
                        "master_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:0\r\n"
                        "master_link_down_since_seconds:17\r\n")),
      r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.receive_lsn);
  ASSERT_TRUE(r.replay_age_seconds);
  EXPECT_DOUBLE_EQ(*r.replay_age_seconds, 17.0);
  // Never in sync since it started: Redis says -1, a lag nobody knows.
  read_role(replica_role("connect", -1), r);
  read_replication_info(text(replica_info("down", "master_link_down_since_seconds:-1\r\n")), r);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.replay_age_seconds);
}

TEST(RedisCheck, AnInfoErrorFails) {
  CheckResult r;
  read_role(replica_role("connected", 42), r);
  read_replication_info(text("ERR unknown command", Type::kError), r);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "INFO replication: ERR unknown command");
}

TEST(RedisCheck, CopiesHiredisRepliesIntoValues) {
  char ok[] = "OK";
  char key[] = "k\0ey";
  char wrong[] = "WRONGTYPE";
  redisReply status{REDIS_REPLY_STATUS, 0, 2, ok, 0, nullptr};
  redisReply bulk{REDIS_REPLY_STRING, 0, 4, key, 0, nullptr};
  redisReply error{REDIS_REPLY_ERROR, 0, 9, wrong, 0, nullptr};
  redisReply integer{REDIS_REPLY_INTEGER, -7, 0, nullptr, 0, nullptr};
  redisReply nil{REDIS_REPLY_NIL, 0, 0, nullptr, 0, nullptr};
  redisReply* items[] = {&status, &bulk, &error, &integer, &nil};
  redisReply list{REDIS_REPLY_ARRAY, 0, 0, nullptr, 5, items};

  const Value v = to_value(list);
  ASSERT_EQ(v.type, Type::kArray);
  ASSERT_EQ(v.elements.size(), 5u);
  EXPECT_EQ(v.elements[0].type, Type::kSimpleString);
  EXPECT_EQ(v.elements[0].text, "OK");
  EXPECT_EQ(v.elements[1].type, Type::kBulkString);
  EXPECT_EQ(v.elements[1].text, std::string("k\0ey", 4));  // binary-safe
  EXPECT_TRUE(v.elements[2].is_error());
  EXPECT_EQ(v.elements[3].integer, -7);
  EXPECT_EQ(v.elements[4].type, Type::kNull);
}

TEST(RedisCheck, SendsTheBackendsOwnCredentialsElseTheHealthUsers) {
  config::Cluster cluster;
  cluster.protocol = config::Protocol::kRedis;
  cluster.health.timeout = config::Duration(300);
  config::Backend backend;
  backend.type = config::BackendType::kRedis;
  backend.host = "10.0.0.9";
  backend.port = 6380;

  // Nobody to log in as: checked all the same, without AUTH.
  auto s = redis_check_settings(cluster, backend);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->host, "10.0.0.9");
  EXPECT_EQ(s->port, 6380);
  EXPECT_EQ(s->timeout, config::Duration(300));
  EXPECT_TRUE(s->user.empty());
  EXPECT_TRUE(s->password.empty());

  cluster.health.user = "monitor";
  cluster.health.password = "monitor-secret";
  s = redis_check_settings(cluster, backend);
  EXPECT_EQ(s->user, "monitor");
  EXPECT_EQ(s->password, "monitor-secret");

  // A password of its own (requirepass) is the backend's, even without a username.
  backend.password = "requirepass-secret";
  s = redis_check_settings(cluster, backend);
  EXPECT_TRUE(s->user.empty());
  EXPECT_EQ(s->password, "requirepass-secret");

  // hiredis 0.14 has no TLS: such a backend is checked over the proxy's own link.
  backend.tls = config::ServerTls::kRequire;
  s = redis_check_settings(cluster, backend);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->tls, config::ServerTls::kRequire);
}

using testing::resp_command;
using testing::ScriptedServer;

const std::string kPing = resp_command({"PING"});
const std::string kRole = resp_command({"ROLE"});
const std::string kInfo = resp_command({"INFO", "replication"});
const std::string kMasterRole = "*3\r\n$6\r\nmaster\r\n:1234\r\n*0\r\n";

RedisCheckSettings settings_for(const ScriptedServer& server) {
  RedisCheckSettings settings;
  settings.host = "127.0.0.1";
  settings.port = server.port();
  settings.timeout = std::chrono::milliseconds(500);
  return settings;
}

std::vector<CheckResult> run_checks(asio::io_context& io, const RedisCheckSettings& settings,
                                    int count) {
  return testing::run_checks<RedisCheck>(io, settings, count);
}

TEST(RedisCheck, ChecksAMasterOverOneKeptConnection) {
  asio::io_context io;
  ScriptedServer server(io, {{{kPing, "+PONG\r\n"},
                              {kRole, kMasterRole},
                              {kPing, "+PONG\r\n"},
                              {kRole, "*3\r\n$6\r\nmaster\r\n:1300\r\n*0\r\n"}}});
  const auto results = run_checks(io, settings_for(server), 2);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].ok) << results[0].error;
  EXPECT_FALSE(results[0].in_recovery);
  EXPECT_EQ(results[0].wal_lsn, 1234u);
  ASSERT_TRUE(results[1].ok) << results[1].error;
  EXPECT_EQ(results[1].wal_lsn, 1300u);
  EXPECT_EQ(server.received(), kPing + kRole + kPing + kRole);  // no AUTH without a password
}

TEST(RedisCheck, AsksAReplicaForItsReplicationInfo) {
  asio::io_context io;
  const std::string info = replica_info("up", "master_last_io_seconds_ago:1\r\n");
  ScriptedServer server(
      io, {{{kPing, "+PONG\r\n"},
            {kRole, "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:42\r\n"},
            {kInfo, "$" + std::to_string(info.size()) + "\r\n" + info + "\r\n"}}});
  const auto results = run_checks(io, settings_for(server), 1);
  ASSERT_TRUE(results.at(0).ok) << results[0].error;
  EXPECT_TRUE(results[0].in_recovery);
  EXPECT_EQ(results[0].wal_lsn, 42u);
  EXPECT_EQ(results[0].receive_lsn, Lsn{42});
  EXPECT_EQ(results[0].replay_age_seconds, 1.0);
}

TEST(RedisCheck, AuthenticatesAsAnAclUserAndReportsARefusal) {
  asio::io_context io;
  const std::string auth = resp_command({"AUTH", "monitor", "secret"});
  ScriptedServer server(
      io, {{{auth, "+OK\r\n"}, {kPing, "+PONG\r\n"}, {kRole, kMasterRole}},
           {{auth, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"}}});
  auto settings = settings_for(server);
  settings.user = "monitor";
  settings.password = "secret";
  // The second check finds the kept connection closed, and logs in again on a new one.
  const auto results = run_checks(io, settings, 2);
  ASSERT_TRUE(results.at(0).ok) << results[0].error;
  EXPECT_FALSE(results.at(1).ok);
  EXPECT_EQ(results[1].error,
            "AUTH: WRONGPASS invalid username-password pair or user is disabled.");
}

TEST(RedisCheck, AStalledServerRunsOutOfTime) {
  asio::io_context io;
  ScriptedServer server(io, {{{kPing, "+PONG\r\n"}, {kRole, ""}}});
  auto settings = settings_for(server);
  settings.timeout = std::chrono::milliseconds(100);
  const auto results = run_checks(io, settings, 1);
  EXPECT_FALSE(results.at(0).ok);
  EXPECT_EQ(results[0].error, "no answer within 100ms (waiting for ROLE's answer)");
}

TEST(RedisCheck, AClosedPortIsRefused) {
  asio::io_context io;
  std::uint16_t port = 0;
  {
    tcp::acceptor gone(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = gone.local_endpoint().port();
  }
  RedisCheckSettings settings;
  settings.host = "127.0.0.1";
  settings.port = port;
  const auto results = run_checks(io, settings, 1);
  EXPECT_FALSE(results.at(0).ok);
  EXPECT_EQ(results[0].error, "Connection refused");
}

TEST(RedisCheck, AConnectCutShortLeavesNoDescriptorBehind) {
  testing::expect_connects_cut_short<RedisCheck>(RedisCheckSettings{});
}

}  // namespace
}  // namespace plexi::routing
