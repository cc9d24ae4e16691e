// A pool of server connections for one (cluster, backend, user, database): idle connections
// are reused most-recent first, new ones are opened up to pool_size + max_overflow, and
// sessions that find none wait in FIFO order up to query_wait_timeout.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/asio.h"
#include "config/config.h"

namespace plexi::pools {

using Clock = std::chrono::steady_clock;

// What a pooled connection must offer:
//   bool alive();                      cheap check that the server has not gone away
//   bool reusable() const;             clean enough to hand to another client
//   Clock::time_point created_at() const, last_used_at() const; void touch();
//   void close();
template <class Connection>
class Pool : public std::enable_shared_from_this<Pool<Connection>> {
 public:
  using ConnectionType = Connection;
  using Factory = std::function<awaitable<std::unique_ptr<Connection>>(std::string& error)>;

  struct Stats {
    int idle = 0;
    int active = 0;  // handed out or being opened
    int waiting = 0;
    int capacity = 0;  // pool_size + max_overflow
    int pinned = 0;    // of active: held for a whole session (counted by the sessions)
    int shared = 0;    // of active: held by shared links for their life (MySQL reads)
    std::uint64_t opened = 0;
    std::uint64_t timeouts = 0;
  };

  // Gives the connection back when it goes out of scope: to the idle list when it is still
  // reusable, closed otherwise.
  class Lease {
   public:
    Lease() = default;
    Lease(std::shared_ptr<Pool> pool, std::unique_ptr<Connection> connection)
        : pool_(std::move(pool)), connection_(std::move(connection)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&& other) noexcept {
      reset();
      pool_ = std::move(other.pool_);
      connection_ = std::move(other.connection_);
      return *this;
    }
    ~Lease() { reset(); }

    explicit operator bool() const { return connection_ != nullptr; }
    Connection* operator->() const { return connection_.get(); }
    Connection& operator*() const { return *connection_; }
    Connection* get() const { return connection_.get(); }
    Pool* pool() const { return pool_.get(); }

    void reset() {
      if (connection_) pool_->give_back(std::move(connection_));
      pool_.reset();
    }
    // Closes the connection instead of reusing it.
    void discard() {
      if (connection_) {
        connection_->close();
        pool_->give_back(std::move(connection_));
      }
      pool_.reset();
    }

   private:
    std::shared_ptr<Pool> pool_;
    std::unique_ptr<Connection> connection_;
  };

  Pool(std::string name, config::PoolSettings settings, Factory factory)
      : name_(std::move(name)), settings_(std::move(settings)), factory_(std::move(factory)) {}

  const std::string& name() const { return name_; }
  config::PoolSettings settings() const {
    std::lock_guard lock(mutex_);
    return settings_;
  }
  // A larger capacity lets waiting sessions open connections at once; a smaller one closes
  // the surplus as sessions give connections back (none is taken from a session).
  void update_settings(const config::PoolSettings& settings) {
    std::lock_guard lock(mutex_);
    settings_ = settings;
    while (!waiters_.empty() && total_ < capacity()) wake_one_to_open();
  }

  // A connection, or an empty lease with `error` set (connect failure or wait timeout).
  awaitable<Lease> acquire(std::string& error) {
    auto executor = co_await asio::this_coro::executor;
    std::shared_ptr<Waiter> waiter;
    {
      std::unique_lock lock(mutex_);
      if (auto connection = take_idle(lock, executor)) {
        co_return Lease(this->shared_from_this(), std::move(connection));
      }
      if (total_ < capacity()) {
        ++total_;
      } else {
        waiter = std::make_shared<Waiter>(executor);
        waiter->timer.expires_after(settings_.query_wait_timeout);
        waiters_.push_back(waiter);
      }
    }
    if (waiter) {
      boost::system::error_code ignored;
      co_await waiter->timer.async_wait(asio::redirect_error(use_awaitable, ignored));
      std::unique_lock lock(mutex_);
      if (waiter->connection)
        co_return Lease(this->shared_from_this(), std::move(waiter->connection));
      if (!waiter->may_open) {
        std::erase(waiters_, waiter);
        ++timeouts_;
        error = "query_wait_timeout";
        co_return Lease();
      }
    }
    co_return co_await open(error);
  }

  // Closes idle connections past idle_timeout or max_lifetime, keeping min_idle.
  void prune() {
    std::deque<std::unique_ptr<Connection>> doomed;
    {
      std::lock_guard lock(mutex_);
      auto now = Clock::now();
      for (auto it = idle_.begin(); it != idle_.end();) {
        bool too_many = static_cast<int>(idle_.size()) > settings_.min_idle;
        if (expired(**it, now) ||
            (too_many && now - (*it)->last_used_at() > settings_.idle_timeout)) {
          doomed.push_back(std::move(*it));
          it = idle_.erase(it);
          --total_;
        } else {
          ++it;
        }
      }
      if (!doomed.empty()) wake_one_to_open();
    }
    for (auto& connection : doomed) connection->close();
  }

  // Opens connections in the background until min_idle are idle (counting those being
  // opened), within the pool's capacity, so the first clients after a quiet spell or a
  // restart of the server do not wait for a connect. Failures are left to the next call.
  void replenish(const asio::any_io_executor& executor) {
    int missing = 0;
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      int idle_or_opening = static_cast<int>(idle_.size()) + opening_for_idle_;
      missing = std::min(settings_.min_idle - idle_or_opening, capacity() - total_);
      if (missing <= 0) return;
      total_ += missing;
      opening_for_idle_ += missing;
    }
    for (int i = 0; i < missing; ++i) {
      asio::co_spawn(
          executor,
          [self = this->shared_from_this()]() -> awaitable<void> {
            std::string error;
            auto lease = co_await self->open(error);
            {
              std::lock_guard lock(self->mutex_);
              --self->opening_for_idle_;
            }
            // Dropping the lease puts the new connection on the idle list (or hands it to
            // a waiter).
          },
          asio::detached);
    }
  }

  // Closes every idle connection and every one given back from now on: the process is
  // stopping and no socket may outlive the I/O context it belongs to.
  void close_all() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    close_idle();
  }

  // The config dropped the pool's backend (or changed where it is): idle connections close
  // now, those in use as their sessions give them back; nothing running is cut.
  void retire() { close_all(); }

  // Closes every idle connection (the backend went down, or the config dropped it).
  void close_idle() {
    std::deque<std::unique_ptr<Connection>> doomed;
    {
      std::lock_guard lock(mutex_);
      total_ -= static_cast<int>(idle_.size());
      doomed.swap(idle_);
    }
    for (auto& connection : doomed) connection->close();
  }

  // Calls `visit` with each idle connection, under the pool's lock: it must be quick.
  template <class Visit>
  void visit_idle(Visit visit) const {
    std::lock_guard lock(mutex_);
    for (const auto& connection : idle_) visit(static_cast<const Connection&>(*connection));
  }

  Stats stats() const {
    std::lock_guard lock(mutex_);
    Stats stats;
    stats.idle = static_cast<int>(idle_.size());
    stats.active = total_ - stats.idle;
    stats.waiting = static_cast<int>(waiters_.size());
    stats.capacity = capacity();
    stats.opened = opened_;
    stats.timeouts = timeouts_;
    return stats;
  }

 private:
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    std::unique_ptr<Connection> connection;  // handed over by give_back
    bool may_open = false;                   // a slot freed up: open a new connection
    int passed_over = 0;                     // younger waiters served first (see above)
  };

  int capacity() const { return settings_.pool_size + settings_.max_overflow; }

  bool expired(const Connection& connection, Clock::time_point now) const {
    return settings_.max_lifetime.count() > 0 &&
           now - connection.created_at() > settings_.max_lifetime;
  }

  // Most recently used first (warm connections stay warm, surplus ones age out), preferring
  // one that already runs on the caller's worker: moving a socket to another costs two
  // epoll_ctl calls.
  std::unique_ptr<Connection> take_idle(std::unique_lock<std::mutex>& lock,
                                        const asio::any_io_executor& executor) {
    auto now = Clock::now();
    if constexpr (requires(Connection & c) { c.executor(); }) {
      for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
        if ((*it)->executor() != executor) continue;
        if (it != idle_.rbegin()) std::iter_swap(it, idle_.rbegin());
        break;
      }
    }
    while (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      if (!expired(*connection, now) && connection->alive()) return connection;
      --total_;
      lock.unlock();
      connection->close();
      connection.reset();
      lock.lock();
    }
    return nullptr;
  }

  awaitable<Lease> open(std::string& error) {
    std::unique_ptr<Connection> connection;
    try {
      connection = co_await factory_(error);
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::lock_guard lock(mutex_);
    if (!connection) {
      --total_;
      wake_one_to_open();
      co_return Lease();
    }
    ++opened_;
    co_return Lease(this->shared_from_this(), std::move(connection));
  }

  void give_back(std::unique_ptr<Connection> connection) {
    bool reusable = connection->reusable();
    std::unique_lock lock(mutex_);
    if (reusable && !closed_ && total_ <= capacity()) {
      connection->touch();
      if (!waiters_.empty()) {
        auto waiter = take_waiter_for(*connection);
        waiter->connection = std::move(connection);
        wake(waiter);
        return;
      }
      idle_.push_back(std::move(connection));
      return;
    }
    --total_;
    wake_one_to_open();
    lock.unlock();
    connection->close();
  }

  // The oldest waiter, unless a slightly younger one runs on the connection's own worker:
  // handing it over then needs no thread switch and no socket move. A waiter is passed
  // over at most twice, so the order bends but nobody starves. Called with the mutex held.
  std::shared_ptr<Waiter> take_waiter_for(Connection& connection) {
    auto chosen = waiters_.begin();
    if constexpr (requires(Connection & c) { c.executor(); }) {
      constexpr int kMaxPassedOver = 2;
      constexpr std::size_t kLookAhead = 8;
      auto executor = connection.executor();
      auto limit = waiters_.begin() + std::min(waiters_.size(), kLookAhead);
      auto it = waiters_.begin();
      while (it != limit && (*it)->timer.get_executor() != executor &&
             (*it)->passed_over < kMaxPassedOver) {
        ++it;
      }
      if (it != limit) chosen = it;
      for (auto before = waiters_.begin(); before != chosen; ++before) ++(*before)->passed_over;
    }
    auto waiter = std::move(*chosen);
    waiters_.erase(chosen);
    return waiter;
  }

  // Called with the mutex held when a slot frees up.
  void wake_one_to_open() {
    if (waiters_.empty() || total_ >= capacity()) return;
    auto waiter = std::move(waiters_.front());
    waiters_.pop_front();
    waiter->may_open = true;
    ++total_;
    wake(waiter);
  }

  // The timer belongs to the waiter's executor; cancel it there, not from this thread.
  static void wake(const std::shared_ptr<Waiter>& waiter) {
    asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
  }

  const std::string name_;
  mutable std::mutex mutex_;
  config::PoolSettings settings_;
  Factory factory_;
  std::deque<std::unique_ptr<Connection>> idle_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
  int total_ = 0;             // idle + handed out + being opened
  int opening_for_idle_ = 0;  // being opened by replenish()
  bool closed_ = false;
  std::uint64_t opened_ = 0;
  std::uint64_t timeouts_ = 0;
};

}  // namespace plexi::pools
