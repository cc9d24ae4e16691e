// The monitor's machinery: one coroutine per checked backend on a shared strand, the
// trackers they feed, snapshot publication, logging and on_failover.
#include "routing/health_monitor.h"

#include <map>
#include <mutex>
#include <variant>
#include <vector>

#include "routing/failover_command.h"
#include "routing/health_events.h"
#include "routing/mysql_check.h"
#include "routing/pg_check.h"
#include "routing/redis_check.h"
#include "routing/redis_sentinel.h"

namespace plexi::routing {
namespace detail {
namespace {

using Strand = asio::strand<asio::io_context::executor_type>;

// What a backend's check is, by backend type. Equal settings: the same check.
using CheckSettings = std::variant<PgCheckSettings, MysqlCheckSettings, RedisCheckSettings>;

std::unique_ptr<BackendCheck> make_check(const Strand& strand, const PgCheckSettings& settings) {
  return std::make_unique<PgCheck>(strand, settings);
}
std::unique_ptr<BackendCheck> make_check(const Strand& strand, const MysqlCheckSettings& settings) {
  return std::make_unique<MysqlCheck>(strand, settings);
}
std::unique_ptr<BackendCheck> make_check(const Strand& strand, const RedisCheckSettings& settings) {
  return std::make_unique<RedisCheck>(strand, settings);
}

// One backend's check loop. Identified by (cluster, backend name); its settings decide
// whether a reload may keep it running.
struct Checker {
  Checker(const Strand& strand, std::string cluster_name, std::string backend_name,
          CheckSettings what, std::chrono::milliseconds every)
      : cluster(std::move(cluster_name)),
        backend(std::move(backend_name)),
        settings(std::move(what)),
        interval(every),
        check(std::visit([&](const auto& s) { return make_check(strand, s); }, settings)),
        pause(strand) {}

  void stop() {
    stopped = true;
    check->cancel();
    pause.cancel();
  }

  std::string cluster;
  std::string backend;
  CheckSettings settings;
  std::chrono::milliseconds interval;
  std::unique_ptr<BackendCheck> check;
  asio::steady_timer pause;
  bool stopped = false;
};

// The extension point for other backend types, each with a BackendCheck of its own. A Redis
// backend is checked where it serves a Redis cluster (as a SQL cluster's cache it has no role
// in routing), and may be checked without credentials.
std::optional<CheckSettings> check_settings(const config::Cluster& cluster,
                                            const config::Backend& backend) {
  switch (backend.type) {
    case config::BackendType::kPostgres:
      if (auto settings = pg_check_settings(cluster, backend)) return *settings;
      return std::nullopt;
    case config::BackendType::kMysql:
      if (auto settings = mysql_check_settings(cluster, backend)) return *settings;
      return std::nullopt;
    case config::BackendType::kRedis:
      if (cluster.protocol != config::Protocol::kRedis) return std::nullopt;
      if (auto settings = redis_check_settings(cluster, backend)) return *settings;
      return std::nullopt;
    case config::BackendType::kSqlite:
      return std::nullopt;
  }
  return std::nullopt;
}

struct ClusterEntry {
  config::Cluster config;
  std::unique_ptr<ClusterTracker> tracker;
  std::vector<std::shared_ptr<Checker>> checkers;  // by backend index; null: unchecked
  std::unique_ptr<SentinelWatch> sentinel;         // a Redis cluster's Sentinels, if any
};

}  // namespace

struct MonitorCore : std::enable_shared_from_this<MonitorCore> {
  MonitorCore(asio::io_context& io, std::shared_ptr<spdlog::logger> logger)
      : strand(asio::make_strand(io)), log(std::move(logger)) {}

  void configure(const config::Config& config);
  void spawn(std::shared_ptr<Checker> checker);
  // A Sentinel named a new master: the cluster's backends are checked at once, so their
  // ROLE replies move the write target without waiting for the interval.
  void sentinel_named(const std::string& cluster, const std::string& host, std::uint16_t port);
  // Static, with the core as a parameter: the frame owns a reference from its creation, so
  // the core outlives every check loop even if the monitor goes first.
  static awaitable<void> check_loop(std::shared_ptr<MonitorCore> core,
                                    std::shared_ptr<Checker> checker);
  void record(Checker& checker, const CheckResult& result);
  void publish(const std::string& cluster, std::shared_ptr<const ClusterHealth> snapshot);

  Strand strand;
  std::shared_ptr<spdlog::logger> log;

  // Touched on the strand only (and by the constructor, before anything runs).
  std::map<std::string, ClusterEntry> clusters;
  bool started = false;
  bool stopped = false;

  mutable std::mutex mutex;  // guards what other threads read
  std::map<std::string, std::shared_ptr<const ClusterHealth>, std::less<>> snapshots;
  std::vector<HealthMonitor::ChangeCallback> subscribers;
};

void MonitorCore::configure(const config::Config& config) {
  std::map<std::string, ClusterEntry> next;
  for (const auto& [name, cluster] : config.clusters) {
    ClusterEntry entry;
    entry.config = cluster;
    auto old = clusters.find(name);
    ClusterEntry* before = old == clusters.end() ? nullptr : &old->second;
    std::vector<bool> checked;
    for (const auto& backend : cluster.backends) {
      auto settings = check_settings(cluster, backend);
      checked.push_back(settings.has_value());
      if (!settings) {
        if (backend.type == config::BackendType::kPostgres ||
            backend.type == config::BackendType::kMysql) {
          log->warn(
              "cluster {}: backend {} has no username and no health.user is set: not "
              "checked, taken as up in its configured role",
              name, backend.name);
        }
        entry.checkers.push_back(nullptr);
        continue;
      }
      std::shared_ptr<Checker> checker;
      if (before) {
        for (auto& old_checker : before->checkers) {
          if (old_checker && old_checker->backend == backend.name &&
              old_checker->settings == *settings &&
              old_checker->interval == cluster.health.interval) {
            checker = std::move(old_checker);  // same check: it keeps running
            break;
          }
        }
      }
      if (!checker) {
        checker = std::make_shared<Checker>(strand, name, backend.name, *settings,
                                            cluster.health.interval);
        if (started && !stopped) spawn(checker);
      }
      entry.checkers.push_back(std::move(checker));
    }
    entry.tracker = std::make_unique<ClusterTracker>(cluster, checked,
                                                     before ? before->tracker.get() : nullptr);
    if (auto settings = sentinel_settings(cluster)) {
      std::weak_ptr<MonitorCore> weak = weak_from_this();
      entry.sentinel = std::make_unique<SentinelWatch>(
          strand, std::move(*settings),
          [weak, name](std::string host, std::uint16_t port) {
            if (auto core = weak.lock()) core->sentinel_named(name, host, port);
          },
          log);
      if (started && !stopped) entry.sentinel->start();
    }
    next.emplace(name, std::move(entry));
  }
  // Whatever was not carried over stops.
  for (auto& [name, entry] : clusters) {
    for (auto& checker : entry.checkers) {
      if (checker) checker->stop();
    }
    if (entry.sentinel) entry.sentinel->stop();
  }
  clusters = std::move(next);
  std::lock_guard lock(mutex);
  snapshots.clear();
  for (const auto& [name, entry] : clusters) snapshots.emplace(name, entry.tracker->snapshot());
}

void MonitorCore::sentinel_named(const std::string& cluster, const std::string& host,
                                 std::uint16_t port) {
  auto found = clusters.find(cluster);
  if (found == clusters.end() || stopped) return;
  auto& entry = found->second;
  std::string backend;
  for (const auto& b : entry.config.backends) {
    if (b.host == host && b.port == port) backend = b.name;
  }
  if (backend.empty()) {
    log->warn("cluster {}: the Sentinels name {}:{} as master, which is none of its backends",
              cluster, host, port);
  } else {
    log->info("cluster {}: the Sentinels name {} ({}:{}) as master", cluster, backend, host, port);
  }
  for (auto& checker : entry.checkers) {
    if (checker) checker->pause.cancel();
  }
}

void MonitorCore::spawn(std::shared_ptr<Checker> checker) {
  asio::co_spawn(strand, check_loop(shared_from_this(), std::move(checker)),
                 [log = log](std::exception_ptr error) {
                   if (!error) return;
                   try {
                     std::rethrow_exception(error);
                   } catch (const std::exception& e) {
                     log->error("a health check ended with an exception: {}", e.what());
                   }
                 });
}

awaitable<void> MonitorCore::check_loop(std::shared_ptr<MonitorCore> core,
                                        std::shared_ptr<Checker> checker) {
  while (!checker->stopped) {
    const auto started_at = std::chrono::steady_clock::now();
    CheckResult result = co_await checker->check->run();
    if (checker->stopped) break;
    core->record(*checker, result);
    // Checks start every interval; one that used up more starts the next at once.
    checker->pause.expires_at(started_at + checker->interval);
    boost::system::error_code ec;
    co_await checker->pause.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

void MonitorCore::record(Checker& checker, const CheckResult& result) {
  auto found = clusters.find(checker.cluster);
  if (found == clusters.end()) return;
  auto& entry = found->second;
  auto before = entry.tracker->snapshot();
  const int index = before->index_of(checker.backend);
  if (index < 0 || entry.checkers[static_cast<std::size_t>(index)].get() != &checker) return;
  if (!result.ok) {
    const auto& was = before->backends[static_cast<std::size_t>(index)];
    log->debug("cluster {}: backend {} failed a check ({} in a row): {}", checker.cluster,
               checker.backend, was.failures_in_a_row + 1, result.error);
  }
  auto after = entry.tracker->record(static_cast<std::size_t>(index), result);
  publish(checker.cluster, after);

  for (const auto& event : describe_changes(*before, *after)) {
    if (event.warning) {
      log->warn("{}", event.text);
    } else {
      log->info("{}", event.text);
    }
  }
  if (auto failover = failover_between(*before, *after); failover) {
    if (!entry.config.on_failover.empty()) {
      (void)run_failover_command(entry.config.on_failover, *failover, log);
    }
  }
  if (significant_change(*before, *after)) {
    std::vector<HealthMonitor::ChangeCallback> callbacks;
    {
      std::lock_guard lock(mutex);
      callbacks = subscribers;
    }
    for (const auto& callback : callbacks) callback(*before, *after);
  }
}

void MonitorCore::publish(const std::string& cluster,
                          std::shared_ptr<const ClusterHealth> snapshot) {
  std::lock_guard lock(mutex);
  snapshots[cluster] = std::move(snapshot);
}

}  // namespace detail

HealthMonitor::HealthMonitor(asio::io_context& io, std::shared_ptr<const config::Config> config,
                             std::shared_ptr<spdlog::logger> log)
    : core_(std::make_shared<detail::MonitorCore>(io, std::move(log))) {
  core_->configure(*config);
}

HealthMonitor::~HealthMonitor() { stop(); }

void HealthMonitor::start() {
  asio::dispatch(core_->strand, [core = core_] {
    if (core->started || core->stopped) return;
    core->started = true;
    for (auto& [name, entry] : core->clusters) {
      for (auto& checker : entry.checkers) {
        if (checker) core->spawn(checker);
      }
      if (entry.sentinel) entry.sentinel->start();
    }
  });
}

void HealthMonitor::reconfigure(std::shared_ptr<const config::Config> config) {
  asio::dispatch(core_->strand, [core = core_, config = std::move(config)] {
    if (!core->stopped) core->configure(*config);
  });
}

void HealthMonitor::stop() {
  asio::dispatch(core_->strand, [core = core_] {
    if (core->stopped) return;
    core->stopped = true;
    for (auto& [name, entry] : core->clusters) {
      for (auto& checker : entry.checkers) {
        if (checker) checker->stop();
      }
      if (entry.sentinel) entry.sentinel->stop();
    }
  });
}

std::shared_ptr<const ClusterHealth> HealthMonitor::cluster(std::string_view name) const {
  std::lock_guard lock(core_->mutex);
  auto found = core_->snapshots.find(name);
  return found == core_->snapshots.end() ? nullptr : found->second;
}

void HealthMonitor::on_change(ChangeCallback callback) {
  std::lock_guard lock(core_->mutex);
  core_->subscribers.push_back(std::move(callback));
}

}  // namespace plexi::routing
