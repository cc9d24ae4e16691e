#include "routing/cache_admission.h"

#include <gtest/gtest.h>

namespace plexi::routing {
namespace {

using namespace std::chrono_literals;
using Clock = CacheAdmission::Clock;

CacheAdmission small() {
  CacheAdmission::Policy policy;
  policy.window = 10;
  policy.min_hits = 2;
  policy.rest = 5s;
  policy.max_shapes = 3;
  return CacheAdmission(policy);
}

TEST(CacheAdmission, AShapeWithoutHitsRestsThenIsTriedAgain) {
  auto admission = small();
  const auto start = Clock::now();
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(admission.admits(1, start));
    admission.record(1, i == 0, start);
  }
  EXPECT_TRUE(admission.admits(1, start));  // one hit in nine: not judged before ten
  admission.record(1, false, start);
  EXPECT_FALSE(admission.admits(1, start));
  EXPECT_FALSE(admission.admits(1, start + 4s));
  EXPECT_TRUE(admission.admits(2, start + 4s));  // other shapes are not concerned
  // A lookup begun before the shape rested changes nothing.
  admission.record(1, true, start + 4s);
  EXPECT_FALSE(admission.admits(1, start + 4s));
  // Rested: a fresh window, which hits keep open.
  EXPECT_TRUE(admission.admits(1, start + 5s));
  for (int i = 0; i < 10; ++i) admission.record(1, i % 5 == 0, start + 5s);
  EXPECT_TRUE(admission.admits(1, start + 6s));
}

TEST(CacheAdmission, EnoughHitsKeepAShapeLookedUp) {
  auto admission = small();
  const auto now = Clock::now();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(admission.admits(7, now)) << i;
    admission.record(7, i % 5 == 0, now);  // 20% hits
  }
}

TEST(CacheAdmission, TheShapesRememberedAreBounded) {
  auto admission = small();
  const auto now = Clock::now();
  for (std::uint64_t shape = 1; shape <= 3; ++shape) admission.record(shape, false, now);
  EXPECT_EQ(admission.shapes(), 3u);
  admission.record(4, false, now);
  EXPECT_EQ(admission.shapes(), 1u);
  admission.record(4, false, now);
  EXPECT_EQ(admission.shapes(), 1u);
}

TEST(CacheAdmission, AWindowOfZeroAdmitsEveryShape) {
  config::Cache settings;
  settings.admission_window = 0;
  CacheAdmission admission(CacheAdmission::policy_of(settings));
  const auto now = Clock::now();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(admission.admits(5, now)) << i;
    admission.record(5, false, now);
  }
  EXPECT_EQ(admission.shapes(), 0u);
}

TEST(CacheAdmission, TheConfigSetsTheNumbers) {
  config::Cache settings;
  settings.admission_window = 4;
  settings.admission_min_hits = 1;
  settings.admission_rest = std::chrono::milliseconds(1500);
  CacheAdmission admission(CacheAdmission::policy_of(settings));
  const auto start = Clock::now();
  for (int i = 0; i < 4; ++i) admission.record(9, false, start);
  EXPECT_FALSE(admission.admits(9, start + 1499ms));
  EXPECT_TRUE(admission.admits(9, start + 1500ms));
}

}  // namespace
}  // namespace plexi::routing
