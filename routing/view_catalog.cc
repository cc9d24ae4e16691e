#include "routing/view_catalog.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "routing/pg_check.h"
#include "routing/result_cache.h"

namespace plexi::routing {

// Materialised views are left out: what they answer changes with REFRESH, not with writes to
// the tables they were made from.
const char* const kViewQuery =
    "SELECT DISTINCT v.relname::text, t.relname::text "
    "FROM pg_rewrite r "
    "JOIN pg_class v ON v.oid = r.ev_class AND v.relkind = 'v' "
    "JOIN pg_namespace n ON n.oid = v.relnamespace "
    "JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid "
    "AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid "
    "JOIN pg_class t ON t.oid = d.refobjid "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%'";

namespace {

std::string lower(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Reads the catalog query's answer over a connection of its own, with the health checks'
// libpq handling (connection kept between readings, one timeout for each).
class ViewQuery : public PgCheck {
 public:
  using PgCheck::PgCheck;

  std::vector<std::pair<std::string, std::string>> reads;

 private:
  awaitable<bool> attempt(CheckResult& result) override {
    reads.clear();
    bool connected = co_await ensure_connected(result.error);
    if (!connected) co_return false;
    bool read = false;
    bool answered = co_await exchange(
        [](PGconn* conn) { return PQsendQuery(conn, kViewQuery); },
        [&](const PGresult* answer) {
          if (PQresultStatus(answer) != PGRES_TUPLES_OK || PQnfields(answer) != 2) {
            result.error = one_line(PQresultErrorMessage(answer));
            return;
          }
          for (int row = 0; row < PQntuples(answer); ++row) {
            reads.emplace_back(PQgetvalue(answer, row, 0), PQgetvalue(answer, row, 1));
          }
          read = true;
        },
        result.error);
    co_return answered&& read;
  }
};

}  // namespace

ViewMap view_map_of(const std::vector<std::pair<std::string, std::string>>& reads) {
  std::unordered_map<std::string, std::vector<std::string>> direct;
  for (const auto& [view, relation] : reads) direct[lower(view)].push_back(lower(relation));
  ViewMap map;
  for (const auto& [view, _] : direct) {
    std::set<std::string> behind;
    std::vector<std::string> to_visit{view};
    while (!to_visit.empty()) {
      std::string name = std::move(to_visit.back());
      to_visit.pop_back();
      auto it = direct.find(name);
      if (it == direct.end()) continue;
      for (const auto& relation : it->second) {
        // A view reading itself through others would loop: each relation is visited once.
        if (relation != view && behind.insert(relation).second) to_visit.push_back(relation);
      }
    }
    map.tables_behind[view].assign(behind.begin(), behind.end());
  }
  return map;
}

std::vector<std::string> with_tables_behind_views(const ViewMap* views,
                                                  const std::vector<std::string>& tables) {
  std::vector<std::string> out = tables;
  if (!views || views->tables_behind.empty()) return out;
  for (const auto& table : tables) {
    auto it = views->tables_behind.find(lower(table));
    if (it != views->tables_behind.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

// A session waiting for the catalog to be read after its schema change.
struct Waiter {
  explicit Waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;  // on the session's executor; cancelled when the wait is over
  std::uint64_t schema_change = 0;
};

}  // namespace

struct ViewCatalogs::Tracker : std::enable_shared_from_this<Tracker> {
  Tracker(asio::io_context& io, std::string cluster, std::vector<PgCheckSettings> servers,
          config::Duration interval)
      : strand(asio::make_strand(io)),
        cluster(std::move(cluster)),
        servers(std::move(servers)),
        interval(interval),
        timer(strand) {}

  asio::strand<asio::io_context::executor_type> strand;
  const std::string cluster;
  const std::vector<PgCheckSettings> servers;
  const config::Duration interval;
  asio::steady_timer timer;  // on the strand, as is everything below but the guarded part
  std::unique_ptr<ViewQuery> query;
  std::size_t server = 0;  // the one read last (or to try next)
  bool stopped = false;
  bool failing = false;  // the last reading failed (said once)

  std::atomic<std::uint64_t> schema_changes{0};
  mutable std::mutex mutex;  // guards the three below
  std::shared_ptr<const ViewMap> map;
  std::uint64_t map_as_of = 0;  // schema_changes when the query that made `map` was sent
  std::vector<std::shared_ptr<Waiter>> waiters;

  // Publishes a map read from the catalog as it was after `as_of` schema changes, and ends
  // the waits for it.
  void publish(std::shared_ptr<const ViewMap> made, std::uint64_t as_of) {
    std::lock_guard lock(mutex);
    map = std::move(made);
    map_as_of = as_of;
    std::erase_if(waiters, [as_of](const std::shared_ptr<Waiter>& waiter) {
      if (waiter->schema_change > as_of) return false;
      asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
      return true;
    });
  }

  awaitable<void> run(std::shared_ptr<spdlog::logger> log) {
    auto self = shared_from_this();
    while (!stopped) {
      const std::uint64_t as_of = schema_changes.load(std::memory_order_acquire);
      bool read = false;
      std::string error;
      for (std::size_t tried = 0; tried < servers.size() && !read && !stopped; ++tried) {
        if (!query) query = std::make_unique<ViewQuery>(strand, servers[server]);
        CheckResult result = co_await query->run();
        if (result.ok) {
          publish(std::make_shared<const ViewMap>(view_map_of(query->reads)), as_of);
          read = true;
        } else {
          error = result.error;
          query.reset();
          server = (server + 1) % servers.size();
        }
      }
      if (log && read == failing) {
        if (read) {
          log->info("cluster {}: views read again", cluster);
        } else {
          log->warn(
              "cluster {}: cannot read its views ({}); until they are read, the "
              "last ones read stay in use, and without any (or after a schema change) "
              "reads skip the result cache",
              cluster, error);
        }
        failing = !read;
      }
      if (stopped) break;
      // A schema change during the reading: its answer may predate it.
      if (read && schema_changes.load(std::memory_order_acquire) != as_of) continue;
      // Woken early by read_after_schema_change().
      timer.expires_after(interval);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    query.reset();
  }

  void stop() {
    asio::post(strand, [self = shared_from_this()] {
      self->stopped = true;
      self->timer.cancel();
      if (self->query) self->query->cancel();
    });
  }
};

ViewCatalogs::ViewCatalogs(asio::io_context& io, std::shared_ptr<spdlog::logger> log)
    : io_(io), log_(std::move(log)) {}

ViewCatalogs::~ViewCatalogs() { stop(); }

void ViewCatalogs::configure(const config::Config& config) {
  std::map<std::string, std::shared_ptr<Tracker>, std::less<>> kept;
  std::vector<std::shared_ptr<Tracker>> started;
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  for (const auto& [name, cluster] : config.clusters) {
    if (cluster.protocol != config::Protocol::kPostgres || !cache_backend(cluster)) continue;
    std::vector<PgCheckSettings> servers;
    // The primary first: a replica has its views too, but may not have replayed a new one.
    for (auto role : {config::Role::kPrimary, config::Role::kReplica}) {
      for (const auto& backend : cluster.backends) {
        if (backend.type != config::BackendType::kPostgres || backend.role != role) continue;
        if (auto settings = pg_check_settings(cluster, backend)) servers.push_back(*settings);
      }
    }
    if (servers.empty()) continue;
    auto it = trackers_.find(name);
    if (it != trackers_.end() && it->second->servers == servers &&
        it->second->interval == cluster.health.interval) {
      kept.emplace(name, it->second);
      continue;
    }
    auto tracker =
        std::make_shared<Tracker>(io_, name, std::move(servers), cluster.health.interval);
    kept.emplace(name, tracker);
    started.push_back(tracker);
  }
  for (const auto& [name, tracker] : trackers_) {
    auto it = kept.find(name);
    if (it == kept.end() || it->second != tracker) tracker->stop();
  }
  trackers_ = std::move(kept);
  for (const auto& tracker : started) {
    asio::co_spawn(tracker->strand, tracker->run(log_), asio::detached);
  }
}

void ViewCatalogs::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  for (const auto& [name, tracker] : trackers_) tracker->stop();
  trackers_.clear();
}

ViewCatalogs::Snapshot ViewCatalogs::current(std::string_view cluster) const {
  std::shared_ptr<Tracker> tracker;
  {
    std::lock_guard lock(mutex_);
    auto it = trackers_.find(cluster);
    if (it == trackers_.end()) return {};
    tracker = it->second;
  }
  Snapshot snapshot;
  snapshot.state = State::kPending;
  std::lock_guard lock(tracker->mutex);
  if (tracker->map &&
      tracker->map_as_of == tracker->schema_changes.load(std::memory_order_acquire)) {
    snapshot.state = State::kCurrent;
    snapshot.map = tracker->map;
  }
  return snapshot;
}

awaitable<void> ViewCatalogs::read_after_schema_change(std::string_view cluster,
                                                       asio::any_io_executor executor,
                                                       config::Duration timeout) {
  std::shared_ptr<Tracker> tracker;
  {
    std::lock_guard lock(mutex_);
    auto it = trackers_.find(cluster);
    if (it == trackers_.end()) co_return;
    tracker = it->second;
  }
  auto waiter = std::make_shared<Waiter>(executor);
  {
    std::lock_guard lock(tracker->mutex);
    waiter->schema_change = tracker->schema_changes.fetch_add(1, std::memory_order_acq_rel) + 1;
    tracker->waiters.push_back(waiter);
  }
  asio::post(tracker->strand, [tracker] { tracker->timer.cancel(); });  // read it now
  // publish() cancels the wait from another thread by posting to this executor, so the
  // cancellation comes after the wait has begun.
  waiter->timer.expires_after(timeout);
  boost::system::error_code ec;
  co_await waiter->timer.async_wait(asio::redirect_error(use_awaitable, ec));
  std::lock_guard lock(tracker->mutex);
  std::erase(tracker->waiters, waiter);
}

}  // namespace plexi::routing
