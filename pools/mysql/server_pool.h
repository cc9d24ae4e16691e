// A pool of MySQL server connections, with the counts of those pinned to a session and of
// those shared links hold.
#pragma once

#include <algorithm>
#include <atomic>

#include "pools/mysql/server_connection.h"
#include "pools/pool.h"

namespace plexi::mysql {

class ServerPool : public pools::Pool<ServerConnection> {
 public:
  using Pool::Pool;

  Stats stats() const {
    Stats stats = Pool::stats();
    stats.pinned = std::clamp(pinned_.load(std::memory_order_relaxed), 0, stats.active);
    stats.shared =
        std::clamp(shared_.load(std::memory_order_relaxed), 0, stats.active - stats.pinned);
    return stats;
  }
  void add_pinned(int delta) { pinned_.fetch_add(delta, std::memory_order_relaxed); }
  void add_shared(int delta) { shared_.fetch_add(delta, std::memory_order_relaxed); }

 private:
  std::atomic<int> pinned_{0};
  std::atomic<int> shared_{0};
};

}  // namespace plexi::mysql
