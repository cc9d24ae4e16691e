// Tests for the connection pool with in-memory connections: reuse, limits, FIFO waiting,
// wait timeouts, discards and pruning.
#include "pools/pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace plexi::pools {
namespace {

struct FakeConnection {
  int id = 0;
  bool healthy = true;
  bool clean = true;
  bool closed = false;
  Clock::time_point created = Clock::now();
  Clock::time_point used = created;

  bool alive() { return healthy; }
  bool reusable() const { return clean && !closed; }
  Clock::time_point created_at() const { return created; }
  Clock::time_point last_used_at() const { return used; }
  void touch() { used = Clock::now(); }
  void close() { closed = true; }
};

using FakePool = Pool<FakeConnection>;

struct PoolTest : ::testing::Test {
  asio::io_context io;
  std::atomic<int> opened{0};
  bool fail_opens = false;

  std::shared_ptr<FakePool> make_pool(int size, int overflow = 0,
                                      std::chrono::milliseconds wait = std::chrono::seconds(5)) {
    config::PoolSettings settings;
    settings.pool_size = size;
    settings.max_overflow = overflow;
    settings.query_wait_timeout = wait;
    return std::make_shared<FakePool>(
        "test", settings, [this](std::string& error) -> awaitable<std::unique_ptr<FakeConnection>> {
          if (fail_opens) {
            error = "refused";
            co_return nullptr;
          }
          auto connection = std::make_unique<FakeConnection>();
          connection->id = ++opened;
          co_return connection;
        });
  }

  template <class F>
  void run(F body) {
    asio::co_spawn(io, body(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    io.run();
    io.restart();
  }
};

TEST_F(PoolTest, ReusesIdleConnections) {
  auto pool = make_pool(2);
  run([&]() -> awaitable<void> {
    std::string error;
    int first_id;
    {
      auto lease = co_await pool->acquire(error);
      EXPECT_TRUE(lease);
      first_id = lease->id;
    }
    auto lease = co_await pool->acquire(error);
    EXPECT_EQ(lease->id, first_id);
  });
  EXPECT_EQ(opened, 1);
}

TEST_F(PoolTest, OpensUpToPoolSizePlusOverflowThenQueues) {
  auto pool = make_pool(2, 1, std::chrono::milliseconds(100));
  run([&]() -> awaitable<void> {
    std::string error;
    auto a = co_await pool->acquire(error);
    auto b = co_await pool->acquire(error);
    auto c = co_await pool->acquire(error);
    EXPECT_TRUE(a && b && c);
    EXPECT_EQ(pool->stats().active, 3);
    auto d = co_await pool->acquire(error);
    EXPECT_FALSE(d);
    EXPECT_EQ(error, "query_wait_timeout");
    EXPECT_EQ(pool->stats().timeouts, 1u);
  });
  EXPECT_EQ(opened, 3);
}

TEST_F(PoolTest, WaitersAreServedInOrderByReleasedConnections) {
  auto pool = make_pool(1);
  std::vector<int> order;
  auto strand = asio::make_strand(io);
  run([&]() -> awaitable<void> {
    std::string error;
    auto held = co_await pool->acquire(error);
    for (int waiter = 0; waiter < 3; ++waiter) {
      asio::co_spawn(
          strand,
          [&, waiter]() -> awaitable<void> {
            std::string wait_error;
            auto lease = co_await pool->acquire(wait_error);
            EXPECT_TRUE(lease) << wait_error;
            order.push_back(waiter);
          },
          asio::detached);
    }
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(use_awaitable);
    EXPECT_EQ(pool->stats().waiting, 3);
    held.reset();
  });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(opened, 1);
}

// A connection that runs on a particular worker, as server connections do.
struct AffineConnection : FakeConnection {
  explicit AffineConnection(asio::any_io_executor home) : home(std::move(home)) {}
  asio::any_io_executor home;
  asio::any_io_executor executor() const { return home; }
};

TEST_F(PoolTest, ReleasedConnectionsPreferWaitersOnTheirWorkerButNobodyStarves) {
  auto here = asio::make_strand(io);
  auto elsewhere = asio::make_strand(io);
  config::PoolSettings settings;
  settings.pool_size = 1;
  auto pool = std::make_shared<Pool<AffineConnection>>(
      "affine", settings, [&](std::string&) -> awaitable<std::unique_ptr<AffineConnection>> {
        co_return std::make_unique<AffineConnection>(here);
      });
  std::vector<int> order;
  run([&]() -> awaitable<void> {
    std::string error;
    auto held = co_await pool->acquire(error);
    // Waiter 0 runs elsewhere; 1, 2 and 3 on the connection's worker.
    for (int waiter = 0; waiter < 4; ++waiter) {
      asio::co_spawn(
          waiter == 0 ? elsewhere : here,
          [&, waiter]() -> awaitable<void> {
            std::string wait_error;
            auto lease = co_await pool->acquire(wait_error);
            EXPECT_TRUE(lease) << wait_error;
            order.push_back(waiter);
          },
          asio::detached);
    }
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(use_awaitable);
    EXPECT_EQ(pool->stats().waiting, 4);
    held.reset();
  });
  // Waiter 0 is passed over twice, then served before the last one.
  EXPECT_EQ(order, (std::vector<int>{1, 2, 0, 3}));
}

TEST_F(PoolTest, AGrownPoolServesItsWaitersAtOnce) {
  auto pool = make_pool(1);
  int served = 0;
  run([&]() -> awaitable<void> {
    std::string error;
    auto held = co_await pool->acquire(error);
    for (int waiter = 0; waiter < 2; ++waiter) {
      asio::co_spawn(
          io,
          [&]() -> awaitable<void> {
            std::string wait_error;
            auto lease = co_await pool->acquire(wait_error);
            EXPECT_TRUE(lease) << wait_error;
            ++served;
            asio::steady_timer hold(co_await asio::this_coro::executor);
            hold.expires_after(std::chrono::milliseconds(50));
            co_await hold.async_wait(use_awaitable);
          },
          asio::detached);
    }
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(use_awaitable);
    EXPECT_EQ(pool->stats().waiting, 2);
    auto settings = pool->settings();
    settings.pool_size = 3;  // a reload
    pool->update_settings(settings);
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(use_awaitable);
    // Both got a new connection while the first is still held.
    EXPECT_EQ(served, 2);
    EXPECT_EQ(pool->stats().active, 3);
    EXPECT_EQ(pool->stats().capacity, 3);
  });
  EXPECT_EQ(opened, 3);
}

TEST_F(PoolTest, AShrunkPoolClosesItsSurplusAsItIsGivenBack) {
  auto pool = make_pool(3);
  run([&]() -> awaitable<void> {
    std::string error;
    auto a = co_await pool->acquire(error);
    auto b = co_await pool->acquire(error);
    auto c = co_await pool->acquire(error);
    auto settings = pool->settings();
    settings.pool_size = 1;
    pool->update_settings(settings);
    EXPECT_EQ(pool->stats().active, 3);  // nothing is taken from the sessions
    EXPECT_FALSE(a->closed);
    a.reset();
    b.reset();
    // Closed, not kept idle: only the one still held is counted.
    EXPECT_EQ(pool->stats().idle, 0);
    EXPECT_EQ(pool->stats().active, 1);
    c.reset();
    EXPECT_EQ(pool->stats().idle, 1);
  });
}

TEST_F(PoolTest, ARetiredPoolClosesIdleConnectionsNowAndOthersWhenGivenBack) {
  auto pool = make_pool(2);
  run([&]() -> awaitable<void> {
    std::string error;
    auto idle = co_await pool->acquire(error);
    auto busy = co_await pool->acquire(error);
    idle.reset();
    EXPECT_EQ(pool->stats().idle, 1);
    pool->retire();
    EXPECT_EQ(pool->stats().idle, 0);
    EXPECT_FALSE(busy->closed);  // its transaction goes on
    EXPECT_EQ(pool->stats().active, 1);
    busy.reset();
    EXPECT_EQ(pool->stats().idle, 0);
    EXPECT_EQ(pool->stats().active, 0);
  });
}

TEST_F(PoolTest, DiscardedConnectionsFreeTheirSlot) {
  auto pool = make_pool(1);
  run([&]() -> awaitable<void> {
    std::string error;
    auto lease = co_await pool->acquire(error);
    lease->clean = false;  // e.g. the client left mid-transaction
    lease.reset();
    EXPECT_EQ(pool->stats().idle, 0);
    EXPECT_EQ(pool->stats().active, 0);
    auto next = co_await pool->acquire(error);
    EXPECT_TRUE(next);
    EXPECT_EQ(next->id, 2);
  });
}

TEST_F(PoolTest, DeadIdleConnectionsAreReplaced) {
  auto pool = make_pool(1);
  run([&]() -> awaitable<void> {
    std::string error;
    FakeConnection* first;
    {
      auto lease = co_await pool->acquire(error);
      first = lease.get();
    }
    first->healthy = false;  // the server went away while it sat idle
    auto lease = co_await pool->acquire(error);
    EXPECT_TRUE(lease);
    EXPECT_EQ(lease->id, 2);
  });
}

TEST_F(PoolTest, FailedOpenReportsAndFreesTheSlot) {
  auto pool = make_pool(1);
  fail_opens = true;
  run([&]() -> awaitable<void> {
    std::string error;
    auto lease = co_await pool->acquire(error);
    EXPECT_FALSE(lease);
    EXPECT_EQ(error, "refused");
    fail_opens = false;
    auto retry = co_await pool->acquire(error);
    EXPECT_TRUE(retry);
  });
}

TEST_F(PoolTest, PruneClosesConnectionsIdleTooLong) {
  config::PoolSettings settings;
  settings.pool_size = 4;
  settings.idle_timeout = std::chrono::milliseconds(10);
  settings.min_idle = 1;
  auto pool = std::make_shared<FakePool>(
      "prune", settings, [this](std::string&) -> awaitable<std::unique_ptr<FakeConnection>> {
        auto connection = std::make_unique<FakeConnection>();
        connection->id = ++opened;
        co_return connection;
      });
  run([&]() -> awaitable<void> {
    std::string error;
    auto a = co_await pool->acquire(error);
    auto b = co_await pool->acquire(error);
    auto c = co_await pool->acquire(error);
    a.reset();
    b.reset();
    c.reset();
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(30));
    co_await timer.async_wait(use_awaitable);
  });
  EXPECT_EQ(pool->stats().idle, 3);
  pool->prune();
  EXPECT_EQ(pool->stats().idle, 1);  // min_idle stays
}

}  // namespace
}  // namespace plexi::pools

namespace plexi::pools {
namespace {

TEST_F(PoolTest, ReplenishOpensUpToMinIdleWithinCapacity) {
  config::PoolSettings settings;
  settings.pool_size = 3;
  settings.min_idle = 2;
  auto pool = std::make_shared<FakePool>(
      "warm", settings, [this](std::string& error) -> awaitable<std::unique_ptr<FakeConnection>> {
        if (fail_opens) {
          error = "refused";
          co_return nullptr;
        }
        auto connection = std::make_unique<FakeConnection>();
        connection->id = ++opened;
        co_return connection;
      });
  pool->replenish(io.get_executor());
  pool->replenish(io.get_executor());  // those being opened count: no surplus
  io.run();
  io.restart();
  EXPECT_EQ(opened, 2);
  EXPECT_EQ(pool->stats().idle, 2);

  // Two clients take both; one more slot is left, so only one more opens.
  std::vector<FakePool::Lease> held;
  run([&]() -> awaitable<void> {
    std::string error;
    held.push_back(co_await pool->acquire(error));
    held.push_back(co_await pool->acquire(error));
  });
  pool->replenish(io.get_executor());
  io.run();
  io.restart();
  EXPECT_EQ(opened, 3);
  EXPECT_EQ(pool->stats().idle, 1);
  EXPECT_EQ(pool->stats().active, 2);

  // A failed open gives its slot back.
  held.clear();
  pool->close_idle();
  fail_opens = true;
  pool->replenish(io.get_executor());
  io.run();
  io.restart();
  EXPECT_EQ(pool->stats().idle, 0);
  EXPECT_EQ(pool->stats().active, 0);
}

}  // namespace
}  // namespace plexi::pools
