// Every logged-in client of the process, by the cancel key it was given (PostgreSQL
// BackendKeyData): what a cancel request and a draining shutdown reach.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

namespace plexi {

class Client {
 public:
  virtual ~Client() = default;
  // Stops the query the client is running now. Called from another session's thread.
  virtual void cancel() = 0;
  // Ends the session with a shutdown error as soon as it has no transaction open. Called
  // from any thread.
  virtual void drain() = 0;
};

class ClientRegistry {
 public:
  struct Key {
    std::int32_t pid = 0;
    std::int32_t secret = 0;
    bool operator==(const Key&) const = default;
  };

  // A fresh key that no live client holds.
  Key add(std::weak_ptr<Client> client) {
    std::lock_guard lock(mutex_);
    Key key;
    do {
      key.pid = static_cast<std::int32_t>(random_() & 0x3fffffff) + 1;
      key.secret = static_cast<std::int32_t>(random_());
    } while (clients_.count(pack(key)) != 0);
    clients_.emplace(pack(key), std::move(client));
    return key;
  }

  void remove(const Key& key) {
    std::lock_guard lock(mutex_);
    clients_.erase(pack(key));
  }

  // True when the key matched a live client (whose cancel() was then called).
  bool cancel(const Key& key) {
    std::shared_ptr<Client> client;
    {
      std::lock_guard lock(mutex_);
      auto it = clients_.find(pack(key));
      if (it == clients_.end()) return false;
      client = it->second.lock();
    }
    if (!client) return false;
    client->cancel();
    return true;
  }

  void drain_all() {
    std::vector<std::weak_ptr<Client>> copy;
    {
      std::lock_guard lock(mutex_);
      copy.reserve(clients_.size());
      for (const auto& [key, client] : clients_) copy.push_back(client);
    }
    for (auto& weak : copy) {
      if (auto client = weak.lock()) client->drain();
    }
  }

 private:
  // One integer key: the map's nodes stay small (an idle client costs one of them).
  static std::uint64_t pack(const Key& key) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(key.pid)) << 32) |
           static_cast<std::uint32_t>(key.secret);
  }

  std::mutex mutex_;
  std::mt19937_64 random_{std::random_device{}()};
  std::unordered_map<std::uint64_t, std::weak_ptr<Client>> clients_;
};

}  // namespace plexi
