// The daemon's side of the service manager's protocol: its status line, refreshed every few
// seconds, and the watchdog's pings, sent only while every thread still runs.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "daemon/daemon.h"

namespace plexi {
namespace {

// Often enough for `systemctl status` to be current, rarely enough that counting every
// client (a lock each) costs nothing.
constexpr auto kStatusInterval = std::chrono::seconds(2);

}  // namespace

ServiceCounts Daemon::service_counts() const {
  ServiceCounts counts;
  counts.draining = shutting_down_.load();
  for (const auto& [id, client] : client_registry_.clients()) {
    std::string_view protocol = client->protocol();
    if (protocol == "postgres") ++counts.postgres_clients;
    if (protocol == "mysql") ++counts.mysql_clients;
    if (protocol == "redis") ++counts.redis_clients;
  }
  pools_.for_each_pool([&](const pools::PoolKey&, const auto& pool) {
    auto stats = pool.stats();
    counts.active_servers += stats.active;
    counts.idle_servers += stats.idle;
  });
  return counts;
}

awaitable<void> Daemon::report_status() {
  asio::steady_timer timer(workers_.main());
  while (true) {
    timer.expires_after(kStatusInterval);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    service_.status(service_status(service_counts()));
  }
}

// Runs on the control thread, so a wedged control thread stops the pings by itself; a
// wedged worker stops them through its heartbeat, which it must have answered since the
// last ping. systemd then kills the process after WatchdogSec and restarts it.
awaitable<void> Daemon::feed_watchdog() {
  auto interval = service_.watchdog_ping_interval();
  if (interval.count() == 0) co_return;
  log_->info("systemd watchdog: pinging every {}ms", interval.count() / 1000);
  WorkerHeartbeats heartbeats(workers_.executors());
  asio::steady_timer timer(workers_.main());
  bool was_late = false;
  while (true) {
    auto late = heartbeats.late();
    if (late.empty()) {
      service_.watchdog();
      if (was_late) log_->info("systemd watchdog: every worker answers again");
    } else if (!was_late) {
      log_->error("systemd watchdog: worker {} has not run for {}ms, not pinging",
                  fmt::join(late, ", "), interval.count() / 1000);
    }
    was_late = !late.empty();
    heartbeats.beat();
    timer.expires_after(interval);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
  }
}

}  // namespace plexi
