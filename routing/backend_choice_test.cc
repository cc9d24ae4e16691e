// Tests of how a cluster's backends are described to the router from the health monitor's
// snapshot: matched by name, so a snapshot of the config before or after a reload (a backend
// added or removed) never lends one backend's state to another.
#include "routing/backend_choice.h"

#include <gtest/gtest.h>

namespace plexi::routing {
namespace {

config::Cluster cluster_of(std::vector<std::pair<std::string, config::Role>> backends) {
  config::Cluster cluster;
  cluster.name = "appdb";
  for (auto& [name, role] : backends) {
    config::Backend backend;
    backend.name = name;
    backend.role = role;
    cluster.backends.push_back(backend);
  }
  return cluster;
}

BackendHealth checked(std::string name, bool up, bool primary) {
  BackendHealth health;
  health.name = std::move(name);
  health.state = up ? BackendState::kUp : BackendState::kDown;
  health.up = up;
  health.actual_primary = primary;
  return health;
}

using config::Role;

TEST(BackendStates, FollowNamesWhenTheSnapshotIsOfAnOlderConfig) {
  // The monitor still knows pg1, pg2 (down), pg3; the reload removed pg2.
  ClusterHealth health;
  health.cluster = "appdb";
  health.backends = {checked("pg1", true, true), checked("pg2", false, false),
                     checked("pg3", true, false)};
  health.write_target = 0;
  health.had_write_target = true;
  auto cluster = cluster_of({{"pg1", Role::kPrimary}, {"pg3", Role::kReplica}});
  auto states = backend_states(cluster, &health);
  ASSERT_EQ(states.size, 2u);
  EXPECT_TRUE(states.items[0].write_target);
  EXPECT_TRUE(states.items[1].up);  // pg3's state, not pg2's
  EXPECT_FALSE(states.items[1].write_target);
}

TEST(BackendStates, ABackendTheMonitorHasNotSeenTakesItsConfiguredRole) {
  // The reload added pg4 ahead of pg3; the monitor's snapshot has not got it yet, and
  // writes go to pg3 (promoted).
  ClusterHealth health;
  health.cluster = "appdb";
  health.backends = {checked("pg1", false, false), checked("pg3", true, true)};
  health.write_target = 1;
  health.had_write_target = true;
  auto cluster = cluster_of(
      {{"pg1", Role::kPrimary}, {"pg4", Role::kReplica}, {"pg3", Role::kReplica}});
  auto states = backend_states(cluster, &health);
  ASSERT_EQ(states.size, 3u);
  EXPECT_FALSE(states.items[0].up);
  EXPECT_FALSE(states.items[0].write_target);
  EXPECT_TRUE(states.items[1].up);  // unchecked: assumed up, a standby
  EXPECT_TRUE(states.items[1].in_recovery);
  EXPECT_FALSE(states.items[1].write_target);
  EXPECT_TRUE(states.items[2].write_target);  // by name, at its new position
}

TEST(BackendStates, ConfiguredPrimaryIsTheFirstPrimary) {
  EXPECT_EQ(configured_primary(cluster_of({{"r", Role::kReplica}, {"p", Role::kPrimary}})), 1);
  EXPECT_EQ(configured_primary(cluster_of({{"r", Role::kReplica}})), 0);
}

}  // namespace
}  // namespace plexi::routing
