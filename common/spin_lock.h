// A lock of one byte for state that is guarded for a few instructions at a time and that
// many idle clients each hold (a std::mutex is 40 bytes).
#pragma once

#include <atomic>

namespace plexi {

class SpinLock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
      }
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace plexi
