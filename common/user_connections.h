// Connected clients per user name, over every listener: what a per-user max_client_conn is
// checked against. A session holds a Slot while it is connected as its user.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace plexi {

class UserConnections {
 public:
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), user_(std::move(other.user_)) {}
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
        user_ = std::move(other.user_);
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }

    explicit operator bool() const { return owner_ != nullptr; }

   private:
    friend class UserConnections;
    Slot(UserConnections* owner, std::string user) : owner_(owner), user_(std::move(user)) {}
    void release() {
      if (owner_) std::exchange(owner_, nullptr)->give_back(user_);
    }

    UserConnections* owner_ = nullptr;
    std::string user_;
  };

  // A slot for one more client of `user`; an empty one when it has `limit` already. A
  // limit of 0 counts the client without limiting it.
  Slot take(std::string_view user, int limit) {
    std::lock_guard lock(mutex_);
    auto [it, added] = counts_.try_emplace(std::string(user), 0);
    if (limit > 0 && it->second >= limit) return {};
    ++it->second;
    return Slot(this, it->first);
  }

  int count(std::string_view user) {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(std::string(user));
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  void give_back(const std::string& user) {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(user);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  }

  std::mutex mutex_;
  std::unordered_map<std::string, int> counts_;
};

}  // namespace plexi
