// Tests of what a change of health says in the log, which changes subscribers hear about,
// and when a change of write target runs on_failover.
#include "routing/health_events.h"

#include <gtest/gtest.h>

#include "routing/health_test_util.h"

namespace plexi::routing {
namespace {

using config::Role;
using namespace testing;

class HealthEvents : public ::testing::Test {
 protected:
  HealthEvents()
      : cluster_(make_cluster(
            {{"pg1", Role::kPrimary}, {"pg2", Role::kReplica}, {"pg3", Role::kReplica}}, 1, 1,
            config::Duration(1000))),
        tracker_(cluster_, std::vector<bool>(3, true)) {}

  // Records a result and returns what changed, as log lines ("!" in front of warnings).
  std::vector<std::string> step(std::size_t backend, const CheckResult& result) {
    before_ = tracker_.snapshot();
    after_ = tracker_.record(backend, result);
    std::vector<std::string> lines;
    for (const auto& e : describe_changes(*before_, *after_)) {
      lines.push_back((e.warning ? "!" : "") + e.text);
    }
    return lines;
  }
  std::optional<Failover> failover() const { return failover_between(*before_, *after_); }
  bool significant() const { return significant_change(*before_, *after_); }

  void start_healthy() {
    step(0, primary_result());
    step(1, replica_result());
    step(2, replica_result());
  }

  using Lines = std::vector<std::string>;
  config::Cluster cluster_;
  ClusterTracker tracker_;
  std::shared_ptr<const ClusterHealth> before_, after_;
};

TEST_F(HealthEvents, StartUpNamesTheWriteTargetButRunsNoFailover) {
  EXPECT_EQ(step(1, replica_result()),
            Lines{"cluster appdb: backend pg2 is up (replica, lag 0.0s)"});
  EXPECT_EQ(step(0, primary_result()), (Lines{"cluster appdb: backend pg1 is up (primary)",
                                              "cluster appdb: write target is pg1"}));
  EXPECT_FALSE(failover());
  EXPECT_TRUE(significant());
}

TEST_F(HealthEvents, NoWriteTargetIsReportedOnlyOnceEveryBackendAnswered) {
  EXPECT_EQ(step(0, failed_result("connection refused")),
            Lines{"!cluster appdb: backend pg1 is down: connection refused"});
  step(1, replica_result());
  EXPECT_EQ(step(2, replica_result()),
            (Lines{"cluster appdb: backend pg3 is up (replica, lag 0.0s)",
                   "!cluster appdb: no backend reports itself primary (pg1 down, pg2 in recovery, "
                   "pg3 in recovery): writes refused"}));
}

TEST_F(HealthEvents, PrimarySlowToAnswerAtStartIsNoFailover) {
  step(0, failed_result("no answer within 500ms (connecting)"));
  step(1, replica_result());
  step(2, replica_result());
  EXPECT_EQ(step(0, primary_result()), (Lines{"cluster appdb: backend pg1 is up (primary)",
                                              "cluster appdb: write target is pg1"}));
  EXPECT_FALSE(failover());
}

TEST_F(HealthEvents, ReplicaPromotedWhileTheConfiguredPrimaryNeverAnswered) {
  step(0, failed_result());
  step(1, replica_result());
  step(2, replica_result());
  EXPECT_EQ(step(1, primary_result()),
            (Lines{"cluster appdb: backend pg2 now reports itself primary",
                   "cluster appdb: write target pg1 -> pg2"}));
  ASSERT_TRUE(failover());
  EXPECT_EQ(failover()->cluster, "appdb");
  EXPECT_EQ(failover()->from, "pg1");
  EXPECT_EQ(failover()->to, "pg2");
}

TEST(HealthEventsWithoutPrimary, FirstWriteTargetIsAFailoverOnlyOnceAllAnswered) {
  const auto cluster = make_cluster({{"a", Role::kReplica}, {"b", Role::kReplica}}, 1, 1);
  ClusterTracker discovery(cluster, {true, true});
  auto before = discovery.snapshot();
  auto after = discovery.record(0, primary_result());  // b has not answered yet
  EXPECT_EQ(after->write_target, 0);
  EXPECT_FALSE(failover_between(*before, *after));

  ClusterTracker later(cluster, {true, true});
  later.record(0, replica_result());
  before = later.record(1, replica_result());
  after = later.record(1, primary_result());
  const auto f = failover_between(*before, *after);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->from, "");
  EXPECT_EQ(f->to, "b");
  const auto events = describe_changes(*before, *after);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].text, "cluster appdb: write target is b");
}

TEST_F(HealthEvents, FailoverThroughAnOutageNamesTheOldAndNewTargets) {
  start_healthy();
  EXPECT_EQ(step(0, failed_result("server closed the connection unexpectedly")),
            (Lines{"!cluster appdb: backend pg1 is down: server closed the connection unexpectedly",
                   "!cluster appdb: no backend reports itself primary (pg1 down, pg2 in recovery, "
                   "pg3 in recovery): writes refused"}));
  EXPECT_FALSE(failover());
  EXPECT_TRUE(significant());
  EXPECT_EQ(step(2, primary_result()),
            (Lines{"cluster appdb: backend pg3 now reports itself primary",
                   "cluster appdb: write target pg1 -> pg3"}));
  ASSERT_TRUE(failover());
  EXPECT_EQ(failover()->from, "pg1");
  EXPECT_EQ(failover()->to, "pg3");
  // Nothing new: no failover again, nothing to log, nothing for subscribers.
  EXPECT_EQ(step(2, primary_result(0x9999)), Lines{});
  EXPECT_FALSE(failover());
  EXPECT_FALSE(significant());
}

TEST_F(HealthEvents, SplitBrainAndItsEnd) {
  start_healthy();
  step(0, failed_result());
  step(1, primary_result());
  ASSERT_TRUE(failover());  // pg1 -> pg2
  EXPECT_EQ(step(0, primary_result()),
            (Lines{"cluster appdb: backend pg1 is up (primary)",
                   "!cluster appdb: two backends claim to be primary (pg1, pg2): writes refused"}));
  EXPECT_FALSE(failover());
  EXPECT_EQ(step(0, failed_result("connection refused")),
            (Lines{"!cluster appdb: backend pg1 is down: connection refused",
                   "cluster appdb: write target pg2 is back"}));
  EXPECT_FALSE(failover());  // the same target as before the split: no failover
}

TEST_F(HealthEvents, DirectSwitchOfWriteTarget) {
  start_healthy();
  step(0, replica_result());  // demoted
  EXPECT_EQ(after_->write_target, -1);
  EXPECT_EQ(step(1, primary_result()),
            (Lines{"cluster appdb: backend pg2 now reports itself primary",
                   "cluster appdb: write target pg1 -> pg2"}));
  EXPECT_EQ(failover()->from, "pg1");
}

TEST_F(HealthEvents, DemotedPrimaryIsAWarning) {
  start_healthy();
  EXPECT_EQ(step(0, replica_result()),
            (Lines{"!cluster appdb: backend pg1 now reports itself in recovery (a replica)",
                   "!cluster appdb: no backend reports itself primary (pg1 in recovery, pg2 in "
                   "recovery, pg3 in recovery): writes refused"}));
}

TEST_F(HealthEvents, LagCrossingTheLimit) {
  start_healthy();
  EXPECT_EQ(step(2, replica_result(0x1000, 0x2000, 3.0)),
            Lines{"!cluster appdb: backend pg3 lags 3.0s behind, over max_replication_lag: no "
                  "reads until it catches up"});
  EXPECT_TRUE(significant());
  EXPECT_EQ(step(2, replica_result(0x1000, 0x2000, 4.0)), Lines{});
  EXPECT_FALSE(significant());
  EXPECT_EQ(step(2, replica_result(0x2000, 0x2000, 4.0)),
            Lines{"cluster appdb: backend pg3 caught up (lag 0.0s): it serves reads again"});
  EXPECT_EQ(step(2, replica_result(0x2000, 0x3000, std::nullopt)),
            Lines{"!cluster appdb: backend pg3 is behind by an unknown time (no transaction "
                  "replayed since it started): no reads until it catches up"});
}

TEST_F(HealthEvents, FailuresBeforeFallAreNoEvents) {
  config::Cluster c = make_cluster({{"pg1", Role::kPrimary}}, 3, 1);
  ClusterTracker tracker(c, {true});
  tracker.record(0, primary_result());
  const auto before = tracker.snapshot();
  const auto after = tracker.record(0, failed_result());
  EXPECT_TRUE(describe_changes(*before, *after).empty());
  EXPECT_FALSE(significant_change(*before, *after));
}

}  // namespace
}  // namespace plexi::routing
