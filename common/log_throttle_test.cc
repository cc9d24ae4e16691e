#include "common/log_throttle.h"

#include <gtest/gtest.h>

namespace plexi {
namespace {

using std::chrono::seconds;

TEST(LogThrottle, LetsABurstThroughPerIntervalAndCountsTheRest) {
  LogThrottle throttle(3, seconds(10));
  const auto start = LogThrottle::Clock::now();
  std::uint64_t held_back = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(throttle.allow(start + seconds(i), held_back));
    EXPECT_EQ(held_back, 0u);
  }
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(throttle.allow(start + seconds(5), held_back));
  // The next interval: the first one logged says how many were not.
  EXPECT_TRUE(throttle.allow(start + seconds(10), held_back));
  EXPECT_EQ(held_back, 5u);
  EXPECT_TRUE(throttle.allow(start + seconds(11), held_back));
  EXPECT_EQ(held_back, 0u);
}

TEST(LogThrottle, AQuietSpellStartsAFreshInterval) {
  LogThrottle throttle(1, seconds(10));
  const auto start = LogThrottle::Clock::now();
  std::uint64_t held_back = 0;
  EXPECT_TRUE(throttle.allow(start, held_back));
  EXPECT_FALSE(throttle.allow(start + seconds(9), held_back));
  EXPECT_TRUE(throttle.allow(start + seconds(60), held_back));
  EXPECT_EQ(held_back, 1u);
}

}  // namespace
}  // namespace plexi
