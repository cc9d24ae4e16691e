// What operators switch at run time from the admin console: clusters paused (new
// transactions wait until RESUME) and backends disabled (no new transactions are routed to
// them, the ones running finish). Sessions read it once per transaction, so the common case
// -- nothing paused or disabled -- is one relaxed atomic load each.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace plexi::routing {

class TrafficControl {
 public:
  // An empty cluster name stands for every cluster.
  void pause(const std::string& cluster) {
    std::lock_guard lock(mutex_);
    paused_.insert(cluster);
    publish();
  }
  // True when the cluster (or everything) was paused.
  bool resume(const std::string& cluster) {
    std::lock_guard lock(mutex_);
    bool was = cluster.empty() ? !paused_.empty() : paused_.erase(cluster) > 0;
    if (cluster.empty()) paused_.clear();
    publish();
    return was;
  }
  bool paused(std::string_view cluster) const {
    if (!any_.load(std::memory_order_acquire)) return false;
    std::lock_guard lock(mutex_);
    return paused_.count(std::string()) > 0 || paused_.count(std::string(cluster)) > 0;
  }

  void disable(const std::string& cluster, const std::string& backend) {
    std::lock_guard lock(mutex_);
    disabled_.emplace(cluster, backend);
    publish();
  }
  bool enable(const std::string& cluster, const std::string& backend) {
    std::lock_guard lock(mutex_);
    bool was = disabled_.erase({cluster, backend}) > 0;
    publish();
    return was;
  }
  bool disabled(std::string_view cluster, std::string_view backend) const {
    if (!any_.load(std::memory_order_acquire)) return false;
    std::lock_guard lock(mutex_);
    return disabled_.count({std::string(cluster), std::string(backend)}) > 0;
  }
  // Something is disabled: callers that check many backends look up each only then.
  bool any_disabled() const {
    if (!any_.load(std::memory_order_acquire)) return false;
    std::lock_guard lock(mutex_);
    return !disabled_.empty();
  }

  std::set<std::string> paused_clusters() const {
    std::lock_guard lock(mutex_);
    return paused_;
  }
  std::set<std::pair<std::string, std::string>> disabled_backends() const {
    std::lock_guard lock(mutex_);
    return disabled_;
  }

 private:
  void publish() { any_.store(!paused_.empty() || !disabled_.empty(), std::memory_order_release); }

  std::atomic<bool> any_{false};
  mutable std::mutex mutex_;
  std::set<std::string> paused_;
  std::set<std::pair<std::string, std::string>> disabled_;
};

}  // namespace plexi::routing
