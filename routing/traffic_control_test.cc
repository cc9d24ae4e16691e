#include "routing/traffic_control.h"

#include <gtest/gtest.h>

namespace plexi::routing {
namespace {

TEST(TrafficControl, PausesOneClusterOrAll) {
  TrafficControl control;
  EXPECT_FALSE(control.paused("appdb"));
  control.pause("appdb");
  EXPECT_TRUE(control.paused("appdb"));
  EXPECT_FALSE(control.paused("other"));
  control.pause("");
  EXPECT_TRUE(control.paused("other"));
  EXPECT_TRUE(control.resume(""));
  EXPECT_FALSE(control.paused("appdb"));
  EXPECT_FALSE(control.paused("other"));
  EXPECT_FALSE(control.resume("appdb"));
}

TEST(TrafficControl, DisablesBackendsPerCluster) {
  TrafficControl control;
  EXPECT_FALSE(control.any_disabled());
  control.disable("appdb", "pg2");
  EXPECT_TRUE(control.any_disabled());
  EXPECT_TRUE(control.disabled("appdb", "pg2"));
  EXPECT_FALSE(control.disabled("other", "pg2"));
  EXPECT_FALSE(control.disabled("appdb", "pg1"));
  control.pause("x");
  EXPECT_TRUE(control.enable("appdb", "pg2"));
  EXPECT_FALSE(control.any_disabled());  // a pause alone disables nothing
  EXPECT_FALSE(control.enable("appdb", "pg2"));
}

}  // namespace
}  // namespace plexi::routing
