// Lets a repeated warning into the log a few times per interval and counts the rest, so a
// client knocking at a closed door in a loop, or a full disk, cannot flood the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace plexi {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  LogThrottle(int burst, Clock::duration interval) : burst_(burst), interval_(interval) {}

  // Whether to log this occurrence; when true, `held_back` is how many were not logged
  // since the last one that was. Safe from any thread.
  bool allow(std::uint64_t& held_back) { return allow(Clock::now(), held_back); }

  bool allow(Clock::time_point now, std::uint64_t& held_back) {
    std::lock_guard lock(mutex_);
    if (logged_ == 0 || now - interval_start_ >= interval_) {
      interval_start_ = now;
      logged_ = 0;
    }
    if (logged_ >= burst_) {
      ++held_back_;
      return false;
    }
    ++logged_;
    held_back = held_back_;
    held_back_ = 0;
    return true;
  }

 private:
  const int burst_;
  const Clock::duration interval_;
  std::mutex mutex_;
  Clock::time_point interval_start_;
  int logged_ = 0;
  std::uint64_t held_back_ = 0;
};

}  // namespace plexi
