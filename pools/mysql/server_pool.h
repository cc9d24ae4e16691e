// A pool of MySQL server connections, with the count of sessions pinned to theirs.
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
    return stats;
  }
  void add_pinned(int delta) { pinned_.fetch_add(delta, std::memory_order_relaxed); }

 private:
  std::atomic<int> pinned_{0};
};

}  // namespace plexi::mysql
