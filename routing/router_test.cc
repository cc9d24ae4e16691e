// Tests for backend choice: roles, health, lag, read-your-writes positions, fallbacks,
// zones and the three balancing methods.
#include "routing/router.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace plexi::routing {
namespace {

using config::Role;
using std::chrono::milliseconds;

Candidate primary() {
  Candidate state;
  state.role = Role::kPrimary;
  state.write_target = true;
  return state;
}

Candidate replica(std::uint64_t replayed = 100, int weight = 1, std::string_view zone = {}) {
  Candidate state;
  state.role = Role::kReplica;
  state.in_recovery = true;
  state.replay_lsn = replayed;
  state.weight = weight;
  state.zone = zone;
  return state;
}

Candidate analytics() {
  Candidate state = replica();
  state.role = Role::kAnalytics;
  return state;
}

std::map<int, int> spread(Router& router, Want want, const std::vector<Candidate>& backends,
                          const Policy& policy, int times, std::uint64_t min_lsn = 0) {
  std::map<int, int> counts;
  for (int i = 0; i < times; ++i) ++counts[router.choose(want, min_lsn, backends, policy).backend];
  return counts;
}

TEST(Router, WritesGoToTheWriteTargetAndReadsToReplicasInTurn) {
  Router router;
  std::vector<Candidate> backends{primary(), replica(), replica()};
  EXPECT_EQ(router.choose(Want::kWrite, 0, backends, {}).backend, 0);
  auto reads = spread(router, Want::kRead, backends, {}, 10);
  EXPECT_EQ(reads, (std::map<int, int>{{1, 5}, {2, 5}}));
}

TEST(Router, APromotedReplicaTakesTheWritesAndNoWriteTargetIsAnError) {
  Router router;
  std::vector<Candidate> backends{primary(), replica(), replica()};
  backends[0].up = false;
  backends[0].write_target = false;
  backends[2].write_target = true;
  backends[2].in_recovery = false;
  EXPECT_EQ(router.choose(Want::kWrite, 0, backends, {}).backend, 2);
  // The promoted replica no longer serves reads as a standby; the other one does.
  EXPECT_EQ(spread(router, Want::kRead, backends, {}, 4), (std::map<int, int>{{1, 4}}));

  backends[2].write_target = false;  // split brain or no primary at all
  auto refused = router.choose(Want::kWrite, 0, backends, {});
  EXPECT_EQ(refused.backend, -1);
  EXPECT_FALSE(refused.error.empty());
  EXPECT_EQ(router.choose(Want::kRead, 0, backends, {}).backend, 1);  // reads carry on
}

TEST(Router, ReadsFallBackToThePrimaryWhenNoReplicaQualifies) {
  Router router;
  std::vector<Candidate> backends{primary(), replica(), replica()};
  backends[1].up = false;
  backends[2].lag = milliseconds(5000);
  Policy policy;
  policy.max_replication_lag = milliseconds(1000);
  auto choice = router.choose(Want::kRead, 0, backends, policy);
  EXPECT_EQ(choice.backend, 0);
  EXPECT_TRUE(choice.fell_back);
  policy.max_replication_lag = milliseconds(0);  // no limit: the lagging replica serves
  EXPECT_EQ(router.choose(Want::kRead, 0, backends, policy).backend, 2);
}

TEST(Router, ReadYourWritesOnlyUsesReplicasThatReplayedTheWrite) {
  Router router;
  std::vector<Candidate> backends{primary(), replica(500), replica(900)};
  EXPECT_EQ(spread(router, Want::kRead, backends, {}, 6, 800), (std::map<int, int>{{2, 6}}));
  auto choice = router.choose(Want::kRead, 1000, backends, {});
  EXPECT_EQ(choice.backend, 0);
  EXPECT_TRUE(choice.fell_back);
  backends[1].replay_lsn = 0;  // unknown position: not trusted with a position to honour
  EXPECT_EQ(router.choose(Want::kRead, 1, backends, {}).backend, 2);
}

TEST(Router, AnalyticsGoesToAnalyticsBackendsElseToReplicas) {
  Router router;
  std::vector<Candidate> backends{primary(), replica(), analytics()};
  EXPECT_EQ(router.choose(Want::kAnalytics, 0, backends, {}).backend, 2);
  // Ordinary reads stay off the analytics server.
  EXPECT_EQ(spread(router, Want::kRead, backends, {}, 4), (std::map<int, int>{{1, 4}}));
  backends[2].up = false;
  EXPECT_EQ(router.choose(Want::kAnalytics, 0, backends, {}).backend, 1);
}

TEST(Router, WeightedSpreadsByWeight) {
  Router router;
  std::vector<Candidate> backends{primary(), replica(100, 1), replica(100, 3)};
  Policy policy;
  policy.balancing = Balancing::kWeighted;
  EXPECT_EQ(spread(router, Want::kRead, backends, policy, 400),
            (std::map<int, int>{{1, 100}, {2, 300}}));
}

TEST(Router, LeastOutstandingPrefersTheLeastBusy) {
  Router router;
  std::vector<Candidate> backends{primary(), replica(), replica()};
  Policy policy;
  policy.balancing = Balancing::kLeastOutstanding;
  router.started(1);
  router.started(1);
  EXPECT_EQ(spread(router, Want::kRead, backends, policy, 5), (std::map<int, int>{{2, 5}}));
  router.finished(1);
  router.finished(1);
  auto even = spread(router, Want::kRead, backends, policy, 10);
  EXPECT_EQ(even[1] + even[2], 10);
  EXPECT_GT(even[1], 0);
  EXPECT_GT(even[2], 0);
}

TEST(Router, ReplicasInTheLocalZoneArePreferred) {
  Router router;
  std::vector<Candidate> backends{primary(), replica(100, 1, "eu-1a"), replica(100, 1, "eu-1b")};
  Policy policy;
  policy.local_zone = "eu-1b";
  EXPECT_EQ(spread(router, Want::kRead, backends, policy, 4), (std::map<int, int>{{2, 4}}));
  backends[2].up = false;  // none left nearby: any zone will do
  EXPECT_EQ(router.choose(Want::kRead, 0, backends, policy).backend, 1);
}

}  // namespace
}  // namespace plexi::routing
