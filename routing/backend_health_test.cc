// Tests of the health decisions: fall and rise, the first result, lag, the write target,
// promotion, demotion, split brain and its resolution, and state kept across reloads.
#include "routing/backend_health.h"

#include <gtest/gtest.h>

#include "routing/health_test_util.h"

namespace plexi::routing {
namespace {

using config::Role;
using namespace testing;

std::vector<bool> all_checked(const config::Cluster& c) {
  return std::vector<bool>(c.backends.size(), true);
}

// A cluster of pg1 (primary), pg2 and pg3 (replicas) after one good check each.
struct Healthy {
  explicit Healthy(int fall = 3, int rise = 2, config::Duration max_lag = config::Duration(0))
      : cluster(make_cluster(
            {{"pg1", Role::kPrimary}, {"pg2", Role::kReplica}, {"pg3", Role::kReplica}}, fall, rise,
            max_lag)),
        tracker(cluster, all_checked(cluster)) {
    tracker.record(0, primary_result());
    tracker.record(1, replica_result());
    tracker.record(2, replica_result());
  }
  const BackendHealth& backend(std::size_t i) const { return tracker.snapshot()->backends[i]; }

  config::Cluster cluster;
  ClusterTracker tracker;
};

TEST(BackendHealth, StartsUnknownWithNoWriteTarget) {
  const auto cluster = make_cluster({{"pg1", Role::kPrimary}, {"pg2", Role::kReplica}});
  ClusterTracker tracker(cluster, all_checked(cluster));
  const auto s = tracker.snapshot();
  EXPECT_EQ(s->cluster, "appdb");
  ASSERT_EQ(s->backends.size(), 2u);
  EXPECT_EQ(s->backends[0].name, "pg1");
  EXPECT_EQ(s->backends[0].role, Role::kPrimary);
  EXPECT_EQ(s->backends[0].state, BackendState::kUnknown);
  EXPECT_FALSE(s->backends[0].up);
  EXPECT_FALSE(s->backends[1].read_candidate);
  EXPECT_EQ(s->write_target, -1);
  EXPECT_EQ(s->writer(), nullptr);
  EXPECT_EQ(s->no_write_target_reason,
            "no backend reports itself primary (pg1 not checked yet, pg2 not checked yet): "
            "writes refused");
  EXPECT_FALSE(s->settled());
  EXPECT_EQ(s->generation, 1u);
  EXPECT_EQ(s->last_write_target, "pg1");  // the configured primary, until one is found
  EXPECT_FALSE(s->had_write_target);
}

TEST(BackendHealth, FirstResultDecidesAtOnce) {
  const auto cluster = make_cluster({{"pg1", Role::kPrimary}, {"pg2", Role::kReplica}}, 3, 2);
  ClusterTracker tracker(cluster, all_checked(cluster));
  auto s = tracker.record(0, primary_result(0x2000));
  EXPECT_EQ(s->backends[0].state, BackendState::kUp);  // not after rise (2) successes
  EXPECT_TRUE(s->backends[0].actual_primary);
  EXPECT_EQ(s->backends[0].replay_lsn, 0x2000u);
  EXPECT_EQ(s->backends[0].current_lsn, 0x2000u);
  EXPECT_EQ(s->write_target, 0);
  EXPECT_EQ(s->last_write_target, "pg1");
  s = tracker.record(1, failed_result("connection refused"));
  EXPECT_EQ(s->backends[1].state, BackendState::kDown);  // not after fall (3) failures
  EXPECT_EQ(s->backends[1].last_error, "connection refused");
  EXPECT_TRUE(s->settled());
  EXPECT_EQ(s->generation, 3u);
}

TEST(BackendHealth, FallFailuresInARowMarkDown) {
  Healthy h(3, 2);
  h.tracker.record(1, failed_result());
  h.tracker.record(1, failed_result());
  EXPECT_TRUE(h.backend(1).up);
  EXPECT_EQ(h.backend(1).failures_in_a_row, 2);
  h.tracker.record(1, replica_result());  // a success starts the count again
  EXPECT_EQ(h.backend(1).failures_in_a_row, 0);
  h.tracker.record(1, failed_result());
  h.tracker.record(1, failed_result());
  EXPECT_TRUE(h.backend(1).up);
  EXPECT_TRUE(h.backend(1).read_candidate);
  h.tracker.record(1, failed_result("timeout"));
  EXPECT_EQ(h.backend(1).state, BackendState::kDown);
  EXPECT_FALSE(h.backend(1).up);
  EXPECT_FALSE(h.backend(1).read_candidate);
  EXPECT_EQ(h.backend(1).last_error, "timeout");
}

TEST(BackendHealth, RiseSuccessesInARowMarkUp) {
  Healthy h(1, 3);
  h.tracker.record(2, failed_result());
  ASSERT_EQ(h.backend(2).state, BackendState::kDown);
  h.tracker.record(2, replica_result());
  h.tracker.record(2, replica_result());
  EXPECT_EQ(h.backend(2).state, BackendState::kDown);
  h.tracker.record(2, failed_result());  // starts the count again
  h.tracker.record(2, replica_result());
  h.tracker.record(2, replica_result());
  EXPECT_EQ(h.backend(2).state, BackendState::kDown);
  h.tracker.record(2, replica_result());
  EXPECT_EQ(h.backend(2).state, BackendState::kUp);
  EXPECT_TRUE(h.backend(2).read_candidate);
  EXPECT_EQ(h.backend(2).last_error, "connection refused");  // kept for the record
}

TEST(BackendHealth, PrimaryStaysWriteTargetUntilMarkedDown) {
  Healthy h(2, 1);
  EXPECT_EQ(h.tracker.snapshot()->write_target, 0);
  h.tracker.record(0, failed_result());
  EXPECT_EQ(h.tracker.snapshot()->write_target, 0);
  h.tracker.record(0, failed_result());
  const auto s = h.tracker.snapshot();
  EXPECT_EQ(s->write_target, -1);
  EXPECT_EQ(s->last_write_target, "pg1");
  EXPECT_EQ(s->no_write_target_reason,
            "no backend reports itself primary (pg1 down, pg2 in recovery, pg3 in recovery): "
            "writes refused");
}

TEST(BackendHealth, PromotedReplicaBecomesWriteTarget) {
  Healthy h(1, 1);
  h.tracker.record(0, failed_result());
  h.tracker.record(1, primary_result(0x5000));  // pg_ctl promote
  const auto s = h.tracker.snapshot();
  EXPECT_EQ(s->write_target, 1);
  EXPECT_EQ(s->writer()->name, "pg2");
  EXPECT_EQ(s->writer()->role, Role::kReplica);  // configured role is only the starting point
  EXPECT_TRUE(s->backends[1].actual_primary);
  EXPECT_FALSE(s->backends[1].read_candidate);
  EXPECT_TRUE(s->no_write_target_reason.empty());
  EXPECT_EQ(s->last_write_target, "pg2");
}

TEST(BackendHealth, PrimaryInRecoveryStopsTakingWrites) {
  Healthy h;
  h.tracker.record(0, replica_result());  // demoted, or restored as a standby
  const auto s = h.tracker.snapshot();
  EXPECT_TRUE(s->backends[0].up);
  EXPECT_FALSE(s->backends[0].actual_primary);
  EXPECT_TRUE(s->backends[0].read_candidate);
  EXPECT_EQ(s->write_target, -1);
  EXPECT_NE(s->no_write_target_reason.find("pg1 in recovery"), std::string::npos);
}

TEST(BackendHealth, SplitBrainRefusesWritesUntilOneStepsDown) {
  Healthy h(1, 1);
  h.tracker.record(1, primary_result());  // promoted while pg1 still runs as primary
  auto s = h.tracker.snapshot();
  EXPECT_EQ(s->write_target, -1);
  EXPECT_EQ(s->no_write_target_reason,
            "two backends claim to be primary (pg1, pg2): writes refused");
  EXPECT_FALSE(s->backends[0].read_candidate);
  EXPECT_FALSE(s->backends[1].read_candidate);
  EXPECT_EQ(s->last_write_target, "pg1");
  h.tracker.record(2, primary_result());
  EXPECT_EQ(h.tracker.snapshot()->no_write_target_reason,
            "three backends claim to be primary (pg1, pg2, pg3): writes refused");
  h.tracker.record(2, replica_result());
  h.tracker.record(0, failed_result());  // the old primary goes away
  s = h.tracker.snapshot();
  EXPECT_EQ(s->write_target, 1);
  EXPECT_TRUE(s->no_write_target_reason.empty());
}

TEST(BackendHealth, SplitBrainEndsWhenOneReportsRecovery) {
  Healthy h(1, 1);
  h.tracker.record(1, primary_result());
  ASSERT_EQ(h.tracker.snapshot()->write_target, -1);
  h.tracker.record(0, replica_result());  // pg1 rejoined as a standby of pg2
  EXPECT_EQ(h.tracker.snapshot()->write_target, 1);
}

TEST(BackendHealth, DownBackendsDoNotClaimPrimary) {
  Healthy h(1, 1);
  h.tracker.record(1, primary_result());
  h.tracker.record(1, failed_result());  // its last good check said primary
  EXPECT_EQ(h.tracker.snapshot()->write_target, 0);
  EXPECT_TRUE(h.backend(1).actual_primary);
}

TEST(BackendHealth, AnalyticsAndCacheTakeNoPartInTheElection) {
  auto cluster =
      make_cluster({{"pg1", Role::kPrimary}, {"olap", Role::kAnalytics}, {"pg2", Role::kReplica}});
  ClusterTracker tracker(cluster, all_checked(cluster));
  tracker.record(0, primary_result());
  tracker.record(1, primary_result());  // a separate server, itself a primary
  auto s = tracker.record(2, replica_result());
  EXPECT_EQ(s->write_target, 0);
  EXPECT_TRUE(s->backends[1].up);
  EXPECT_EQ(s->backends[1].role, Role::kAnalytics);
  EXPECT_FALSE(s->backends[1].read_candidate);
  EXPECT_TRUE(s->backends[2].read_candidate);
}

TEST(BackendHealth, LagIsZeroWhenEverythingReceivedIsReplayed) {
  Healthy h;
  // An idle primary: the last replayed transaction is old, but nothing waits to be replayed.
  h.tracker.record(1, replica_result(0x3000, 0x3000, 600));
  EXPECT_EQ(h.backend(1).lag, std::chrono::milliseconds(0));
  h.tracker.record(1, replica_result(0x3000, 0x4000, 2.5));
  EXPECT_EQ(h.backend(1).lag, std::chrono::milliseconds(2500));
  EXPECT_EQ(h.backend(1).replay_lsn, 0x3000u);
  EXPECT_EQ(h.backend(1).current_lsn, 0x4000u);
  h.tracker.record(1, replica_result(0x3000, std::nullopt, 1.25));  // not streaming
  EXPECT_EQ(h.backend(1).lag, std::chrono::milliseconds(1250));
  h.tracker.record(0, primary_result(0x9000));
  EXPECT_EQ(h.backend(0).lag, std::chrono::milliseconds(0));
}

TEST(BackendHealth, LagIsUnknownWhenNothingWasReplayedSinceStart) {
  Healthy h(3, 2, config::Duration(1000));
  // Restarted and paused before replaying any transaction: behind, by an unknown time.
  h.tracker.record(2, replica_result(0x4000000, 0x4003038, std::nullopt));
  EXPECT_FALSE(h.backend(2).lag);
  EXPECT_FALSE(h.backend(2).read_candidate);
  h.tracker.record(2, replica_result(0x4003038, 0x4003038, std::nullopt));  // caught up
  EXPECT_EQ(h.backend(2).lag, std::chrono::milliseconds(0));
  EXPECT_TRUE(h.backend(2).read_candidate);
}

TEST(BackendHealth, MaxReplicationLagExcludesLaggingReplicasFromReads) {
  Healthy h(3, 2, config::Duration(1000));
  h.tracker.record(2, replica_result(0x1000, 0x2000, 1.0));
  EXPECT_TRUE(h.backend(2).read_candidate);  // exactly at the limit
  h.tracker.record(2, replica_result(0x1000, 0x2000, 4.0));
  EXPECT_TRUE(h.backend(2).up);
  EXPECT_FALSE(h.backend(2).read_candidate);
  EXPECT_TRUE(h.backend(1).read_candidate);
  h.tracker.record(2, replica_result(0x2000, 0x2000, 4.0));  // caught up
  EXPECT_TRUE(h.backend(2).read_candidate);
}

TEST(BackendHealth, NoLagLimitByDefault) {
  Healthy h;
  h.tracker.record(2, replica_result(0x1000, 0x2000, 3600));
  EXPECT_TRUE(h.backend(2).read_candidate);
}

TEST(BackendHealth, UncheckedBackendsAreUpInTheirConfiguredRole) {
  const auto cluster = make_cluster({{"pg1", Role::kPrimary}, {"pg2", Role::kReplica}});
  ClusterTracker tracker(cluster, {false, false});
  auto s = tracker.snapshot();
  EXPECT_EQ(s->backends[0].state, BackendState::kUnchecked);
  EXPECT_TRUE(s->backends[0].up);
  EXPECT_TRUE(s->backends[0].actual_primary);
  EXPECT_TRUE(s->backends[1].read_candidate);
  EXPECT_EQ(s->write_target, 0);
  EXPECT_TRUE(s->settled());
  s = tracker.record(0, failed_result());  // ignored: nothing checks it
  EXPECT_EQ(s->backends[0].state, BackendState::kUnchecked);
}

TEST(BackendHealth, ReloadKeepsWhatWasLearntAboutTheSameServer) {
  Healthy h(1, 1);
  h.tracker.record(0, failed_result());
  h.tracker.record(1, primary_result());
  const auto before = h.tracker.snapshot();

  auto changed = h.cluster;
  changed.backends[2].port = 6000;  // pg3 moved: a different server under the same name
  config::Backend added;
  added.name = "pg4";
  added.role = Role::kReplica;
  changed.backends.push_back(added);
  ClusterTracker reloaded(changed, all_checked(changed), &h.tracker);
  const auto s = reloaded.snapshot();
  EXPECT_EQ(s->generation, before->generation + 1);
  EXPECT_EQ(s->last_write_target, "pg2");
  EXPECT_EQ(s->backends[0].state, BackendState::kDown);
  EXPECT_EQ(s->backends[1].state, BackendState::kUp);
  EXPECT_TRUE(s->backends[1].actual_primary);
  EXPECT_EQ(s->backends[2].state, BackendState::kUnknown);
  EXPECT_EQ(s->backends[3].state, BackendState::kUnknown);
  EXPECT_EQ(s->write_target, 1);
}

TEST(BackendHealth, EveryResultMakesANewGeneration) {
  Healthy h;
  const auto g = h.tracker.snapshot()->generation;
  const auto old = h.tracker.snapshot();
  h.tracker.record(1, replica_result(0x2000, 0x2000));
  EXPECT_EQ(h.tracker.snapshot()->generation, g + 1);
  EXPECT_EQ(old->backends[1].replay_lsn, 0x1000u);  // snapshots never change once published
  EXPECT_EQ(h.tracker.snapshot()->backends[1].replay_lsn, 0x2000u);
}

}  // namespace
}  // namespace plexi::routing
