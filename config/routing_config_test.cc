// Tests of the keys the router and the health monitor read: health checks (top level and per
// cluster), read_your_writes with its window, load_balancing and on_failover.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_test_util.h"

namespace plexi::config {
namespace {

using testing::describe;
using testing::load;

TEST(RoutingConfig, DefaultsWhenNothingIsSaid) {
  const auto result = load("clusters:\n  appdb:\n    backends:\n      - host: db\n");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  EXPECT_EQ(c.health.max_replication_lag, Duration(0));
  EXPECT_EQ(c.health.user, "");
  EXPECT_EQ(c.health.password, "");
  EXPECT_EQ(c.health.database, "");
  const Cluster& appdb = c.clusters.at("appdb");
  EXPECT_EQ(appdb.read_your_writes, ReadYourWrites::kWindow);
  EXPECT_EQ(appdb.read_your_writes_window, Duration(1000));
  EXPECT_EQ(appdb.load_balancing, LoadBalancing::kRoundRobin);
  EXPECT_TRUE(appdb.pipeline_reads);
  EXPECT_EQ(appdb.on_failover, "");
  EXPECT_EQ(appdb.health.interval, Duration(1000));
  EXPECT_EQ(appdb.health.timeout, Duration(1000));
  EXPECT_EQ(appdb.health.fall, 3);
  EXPECT_EQ(appdb.health.rise, 2);
}

TEST(RoutingConfig, ClusterHealthOverridesTheTopLevelKeyByKey) {
  const auto result = load(R"(health:
  interval: 200ms
  timeout: 500ms
  fall: 2
  rise: 1
  max_replication_lag: 10s
  user: monitor
  password: ${MONITOR_PASSWORD}
  database: postgres
clusters:
  appdb:
    health:
      fall: 5
      max_replication_lag: 2s
      user: appdb_monitor
    backends:
      - host: db
  other:
    backends:
      - host: db
)",
                           {{"MONITOR_PASSWORD", "s3cret"}});
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  EXPECT_EQ(c.health.interval, Duration(200));
  EXPECT_EQ(c.health.max_replication_lag, Duration(10000));
  EXPECT_EQ(c.health.password, "s3cret");

  const Health& appdb = c.clusters.at("appdb").health;
  EXPECT_EQ(appdb.interval, Duration(200));  // from the top level
  EXPECT_EQ(appdb.timeout, Duration(500));
  EXPECT_EQ(appdb.fall, 5);  // its own
  EXPECT_EQ(appdb.rise, 1);
  EXPECT_EQ(appdb.max_replication_lag, Duration(2000));
  EXPECT_EQ(appdb.user, "appdb_monitor");
  EXPECT_EQ(appdb.password, "s3cret");
  EXPECT_EQ(appdb.database, "postgres");

  const Health& other = c.clusters.at("other").health;
  EXPECT_EQ(other.fall, 2);
  EXPECT_EQ(other.user, "monitor");
  EXPECT_EQ(other.max_replication_lag, Duration(10000));
}

TEST(RoutingConfig, RoutingChoicesAndTheFailoverCommand) {
  const auto result = load(R"(clusters:
  appdb:
    read_your_writes: window
    read_your_writes_window: 250ms
    load_balancing: least_outstanding
    pipeline_reads: false
    on_failover: /usr/local/bin/notify-failover --page
    backends:
      - host: db
  lsn:
    read_your_writes: lsn
    load_balancing: weighted
    backends:
      - host: db
  off:
    read_your_writes: 'off'
    backends:
      - host: db
)");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  const Cluster& appdb = c.clusters.at("appdb");
  EXPECT_EQ(appdb.read_your_writes, ReadYourWrites::kWindow);
  EXPECT_EQ(appdb.read_your_writes_window, Duration(250));
  EXPECT_EQ(appdb.load_balancing, LoadBalancing::kLeastOutstanding);
  EXPECT_FALSE(appdb.pipeline_reads);
  EXPECT_EQ(appdb.on_failover, "/usr/local/bin/notify-failover --page");
  EXPECT_EQ(c.clusters.at("lsn").read_your_writes, ReadYourWrites::kLsn);
  EXPECT_EQ(c.clusters.at("lsn").load_balancing, LoadBalancing::kWeighted);
  EXPECT_EQ(c.clusters.at("off").read_your_writes, ReadYourWrites::kOff);
}

TEST(RoutingConfig, OverridesReachClusterHealth) {
  const auto result =
      load_config_text("clusters:\n  appdb:\n    backends:\n      - host: db\n", "test.yaml",
                       Environment::from_map({{"PLEXIPROXY_CLUSTERS__APPDB__HEALTH__FALL", "7"},
                                              {"PLEXIPROXY_HEALTH__MAX_REPLICATION_LAG", "3s"}}));
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.config->clusters.at("appdb").health.fall, 7);
  EXPECT_EQ(result.config->clusters.at("appdb").health.max_replication_lag, Duration(3000));
}

struct Case {
  const char* name;
  const char* yaml;
  int line;
  const char* key;
  const char* message_part;
};

const Case kInvalid[] = {
    {"load_balancing",
     "clusters:\n  a:\n    load_balancing: random\n    backends:\n      - host: db\n", 3,
     "clusters.a.load_balancing", "expected round_robin | least_outstanding | weighted"},
    {"window without window mode",
     "clusters:\n  a:\n    read_your_writes: lsn\n    read_your_writes_window: 2s\n"
     "    backends:\n      - host: db\n",
     4, "clusters.a.read_your_writes_window", "only used with read_your_writes: window"},
    {"zero window",
     "clusters:\n  a:\n    read_your_writes_window: 0s\n    backends:\n      - host: db\n", 3,
     "clusters.a.read_your_writes_window", "must be longer than 0"},
    {"empty on_failover", "clusters:\n  a:\n    on_failover: ''\n    backends:\n      - host: db\n",
     3, "clusters.a.on_failover", "must not be empty"},
    {"cluster health typo",
     "clusters:\n  a:\n    health:\n      falls: 2\n    backends:\n      - host: db\n", 4,
     "clusters.a.health.falls", "did you mean 'fall'?"},
    {"cluster health fall",
     "clusters:\n  a:\n    health:\n      fall: 0\n    backends:\n      - host: db\n", 4,
     "clusters.a.health.fall", "out of range"},
    {"lag not a duration",
     "clusters:\n  a:\n    backends:\n      - host: db\nhealth:\n  max_replication_lag: lots\n", 6,
     "health.max_replication_lag", "expected a duration"},
};

TEST(RoutingConfig, InvalidValuesAreReportedWithLineAndKey) {
  for (const auto& c : kInvalid) {
    SCOPED_TRACE(c.name);
    EXPECT_CONFIG_ERROR(load(c.yaml), c.line, c.key, c.message_part);
  }
}

TEST(RoutingConfig, EnumsHaveTheirConfigNames) {
  EXPECT_EQ(to_string(ReadYourWrites::kLsn), "lsn");
  EXPECT_EQ(to_string(ReadYourWrites::kWindow), "window");
  EXPECT_EQ(to_string(ReadYourWrites::kOff), "off");
  EXPECT_EQ(to_string(LoadBalancing::kRoundRobin), "round_robin");
  EXPECT_EQ(to_string(LoadBalancing::kLeastOutstanding), "least_outstanding");
  EXPECT_EQ(to_string(LoadBalancing::kWeighted), "weighted");
}

}  // namespace
}  // namespace plexi::config
