// Cancel keys handed to clients (PostgreSQL BackendKeyData) and what each one cancels.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <utility>

namespace plexi {

// Something a cancel request can stop: the query a session is running right now.
class Cancellable {
 public:
  virtual ~Cancellable() = default;
  // Called from another session's thread; must be thread-safe.
  virtual void cancel() = 0;
};

class CancelRegistry {
 public:
  struct Key {
    std::int32_t pid = 0;
    std::int32_t secret = 0;
    auto operator<=>(const Key&) const = default;
  };

  // A fresh key that no live session holds.
  Key add(std::weak_ptr<Cancellable> target) {
    std::lock_guard lock(mutex_);
    Key key;
    do {
      key.pid = static_cast<std::int32_t>(random_() & 0x3fffffff) + 1;
      key.secret = static_cast<std::int32_t>(random_());
    } while (targets_.count(key) != 0);
    targets_.emplace(key, std::move(target));
    return key;
  }

  void remove(const Key& key) {
    std::lock_guard lock(mutex_);
    targets_.erase(key);
  }

  // True when the key matched a live session (whose cancel() was then called).
  bool cancel(const Key& key) {
    std::shared_ptr<Cancellable> target;
    {
      std::lock_guard lock(mutex_);
      auto it = targets_.find(key);
      if (it == targets_.end()) return false;
      target = it->second.lock();
    }
    if (!target) return false;
    target->cancel();
    return true;
  }

 private:
  std::mutex mutex_;
  std::mt19937_64 random_{std::random_device{}()};
  std::map<Key, std::weak_ptr<Cancellable>> targets_;
};

}  // namespace plexi
