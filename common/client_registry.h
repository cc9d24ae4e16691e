// Every logged-in client of the process, by the cancel key it was given (PostgreSQL
// BackendKeyData): what a cancel request and a draining shutdown reach.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace plexi {

// One client as the admin console and /status show it.
struct ClientInfo {
  std::int32_t id = 0;  // the cancel key's process id: what KILL takes (set by the registry)
  std::string protocol;
  std::string address;  // ip:port
  std::string user;
  std::string database;
  std::string cluster;
  std::string application_name;
  std::string state;    // startup, authentication, idle, active, closing
  std::string backend;  // the server connection's backend while it holds one
  std::int32_t server_pid = 0;
  std::string pinned;  // why it keeps its server connection, when it does
  std::string tls;     // the TLS version the client's connection uses; empty: none
  std::chrono::system_clock::time_point connected_at;
};

class Client {
 public:
  virtual ~Client() = default;
  // Called from any thread.
  virtual ClientInfo describe() const = 0;
  // The listener's protocol ("postgres", "mysql", "redis"): cheaper than describe(). Called
  // from any thread.
  virtual std::string_view protocol() const = 0;
  // Still in its startup or authentication exchange. Called from any thread.
  virtual bool logging_in() const = 0;
  // Closes the connection at once, whatever it is doing. Called from any thread.
  virtual void kill() = 0;
  // Stops the query the client is running now. Called from another session's thread.
  virtual void cancel() = 0;
  // Ends the session with a shutdown error as soon as it has no transaction open. Called
  // from any thread.
  virtual void drain() = 0;
  // Closes the client when it is logged in, holds no server connection and has sent nothing
  // for `timeout` (limits.client_idle_timeout). Called from any thread, about once a second.
  virtual void expire_idle(std::chrono::milliseconds timeout) { (void)timeout; }
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

  // `wanted` when no live client holds it (a client handed over in an upgrade keeps the
  // key it was given), else a fresh one.
  Key add(std::weak_ptr<Client> client, const Key& wanted) {
    {
      std::lock_guard lock(mutex_);
      if (wanted.pid > 0 && clients_.count(pack(wanted)) == 0) {
        clients_.emplace(pack(wanted), client);
        return wanted;
      }
    }
    return add(std::move(client));
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

  // Every live client with its id (ClientInfo::id), in no particular order.
  std::vector<std::pair<std::int32_t, std::shared_ptr<Client>>> clients() {
    std::vector<std::pair<std::int32_t, std::shared_ptr<Client>>> live;
    std::lock_guard lock(mutex_);
    live.reserve(clients_.size());
    for (const auto& [key, weak] : clients_) {
      if (auto client = weak.lock()) live.emplace_back(id_of(key), std::move(client));
    }
    return live;
  }

  std::size_t size() {
    std::lock_guard lock(mutex_);
    return clients_.size();
  }

  // Kills the client whose key has this process id; false when there is none.
  bool kill(std::int32_t id) {
    std::shared_ptr<Client> client;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [key, weak] : clients_) {
        if (id_of(key) == id) {
          client = weak.lock();
          break;
        }
      }
    }
    if (!client) return false;
    client->kill();
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
  static std::int32_t id_of(std::uint64_t packed) {
    return static_cast<std::int32_t>(packed >> 32);
  }
  static std::uint64_t pack(const Key& key) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(key.pid)) << 32) |
           static_cast<std::uint32_t>(key.secret);
  }

  std::mutex mutex_;
  std::mt19937_64 random_{std::random_device{}()};
  std::unordered_map<std::uint64_t, std::weak_ptr<Client>> clients_;
};

}  // namespace plexi
