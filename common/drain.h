// Live client sessions, so shutdown can ask each one to end once it is idle.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

namespace plexi {

class Drainable {
 public:
  virtual ~Drainable() = default;
  // Called from any thread: end the session with a shutdown error as soon as it has no
  // transaction open.
  virtual void drain() = 0;
};

class SessionTracker {
 public:
  void add(const Drainable* key, std::weak_ptr<Drainable> session) {
    std::lock_guard lock(mutex_);
    sessions_[key] = std::move(session);
  }
  void remove(const Drainable* key) {
    std::lock_guard lock(mutex_);
    sessions_.erase(key);
  }
  void drain_all() {
    std::unordered_map<const Drainable*, std::weak_ptr<Drainable>> copy;
    {
      std::lock_guard lock(mutex_);
      copy = sessions_;
    }
    for (auto& [key, weak] : copy) {
      if (auto session = weak.lock()) session->drain();
    }
  }

 private:
  std::mutex mutex_;
  std::unordered_map<const Drainable*, std::weak_ptr<Drainable>> sessions_;
};

}  // namespace plexi
