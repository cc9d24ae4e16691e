// A pool of PostgreSQL server connections, and what its servers reported to recent logins:
// a client whose startup settings match one of them is answered from it without waiting
// for a server, as PgBouncer answers logins from its pool's cached parameters.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pools/pg/server_connection.h"
#include "pools/pool.h"

namespace plexi::pg {

class ServerPool : public pools::Pool<ServerConnection> {
 public:
  using Parameters = std::vector<std::pair<std::string, std::string>>;
  using Pool::Pool;

  // The ParameterStatus values a login with these startup settings saw, if one did lately.
  std::shared_ptr<const Parameters> login_parameters(const std::string& settings) const {
    std::lock_guard lock(login_mutex_);
    auto it = logins_.find(settings);
    if (it == logins_.end() || pools::Clock::now() - it->second.at > kLoginParametersTtl) {
      return nullptr;
    }
    return it->second.parameters;
  }

  Stats stats() const {
    Stats stats = Pool::stats();
    // Counted apart from the pool's lock: a session may count its pin a moment before or
    // after its connection is counted active.
    stats.pinned = std::clamp(pinned_.load(std::memory_order_relaxed), 0, stats.active);
    return stats;
  }
  // A session pinned to its connection (+1) or done with it (-1).
  void add_pinned(int delta) { pinned_.fetch_add(delta, std::memory_order_relaxed); }

  void remember_login_parameters(const std::string& settings, Parameters parameters) {
    auto shared = std::make_shared<const Parameters>(std::move(parameters));
    std::lock_guard lock(login_mutex_);
    // Applications use a handful of startup setting combinations; a client inventing new
    // ones each time must not grow this without bound.
    if (logins_.size() >= kMaxLoginSettings && !logins_.count(settings)) logins_.clear();
    logins_[settings] = {std::move(shared), pools::Clock::now()};
  }

 private:
  // Long enough to absorb connection storms, short enough that a server's changed
  // defaults reach new clients soon.
  static constexpr auto kLoginParametersTtl = std::chrono::seconds(60);
  static constexpr std::size_t kMaxLoginSettings = 64;

  struct Login {
    std::shared_ptr<const Parameters> parameters;
    pools::Clock::time_point at;
  };
  std::atomic<int> pinned_{0};
  mutable std::mutex login_mutex_;
  std::unordered_map<std::string, Login> logins_;
};

}  // namespace plexi::pg
