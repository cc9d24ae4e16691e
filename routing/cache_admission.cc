#include "routing/cache_admission.h"

#include <functional>

namespace plexi::routing {

std::uint64_t admission_shape(std::string_view cluster, std::uint64_t digest) {
  return digest ^ (std::hash<std::string_view>{}(cluster)*0x9e3779b97f4a7c15ULL);
}

CacheAdmission::Policy CacheAdmission::policy_of(const config::Cache& settings) {
  Policy policy;
  policy.window = settings.admission_window;
  policy.min_hits = settings.admission_min_hits;
  policy.rest = settings.admission_rest;
  return policy;
}

bool CacheAdmission::admits(std::uint64_t shape, Clock::time_point now) {
  if (policy_.window == 0) return true;
  auto it = shapes_.find(shape);
  if (it == shapes_.end()) return true;
  Shape& known = it->second;
  if (known.resting_until == Clock::time_point{}) return true;
  if (now < known.resting_until) return false;
  known = Shape{};  // rested: judged again on a fresh window
  return true;
}

void CacheAdmission::record(std::uint64_t shape, bool hit, Clock::time_point now) {
  if (policy_.window == 0) return;
  if (shapes_.size() >= policy_.max_shapes && !shapes_.contains(shape)) shapes_.clear();
  Shape& known = shapes_[shape];
  if (known.resting_until != Clock::time_point{}) return;  // a lookup begun before it rested
  ++known.lookups;
  if (hit) ++known.hits;
  if (known.lookups < policy_.window) return;
  if (known.hits < policy_.min_hits) known.resting_until = now + policy_.rest;
  known.lookups = 0;
  known.hits = 0;
}

CacheAdmission& worker_cache_admission(const config::Cache& settings) {
  thread_local CacheAdmission admission;
  admission.set_policy(CacheAdmission::policy_of(settings));
  return admission;
}

}  // namespace plexi::routing
