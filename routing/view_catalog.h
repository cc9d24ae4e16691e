// The views of the PostgreSQL clusters that keep results in a cache, and the tables behind
// each. A cached read names a view; the writes that change its answer name the view's
// tables. So an entry reading a view carries the generations of the tables behind it too,
// and a write through an updatable view raises theirs.
//
// The catalog is read from the cluster's servers (any one: a replica has the primary's
// views) over a libpq connection of its own, every health.interval and at once after a
// schema change seen through the proxy. Until the first answer, and from a schema change
// until the answer that follows it, the cluster's map is pending: its reads skip the cache
// rather than be stored without the tables a new view reads.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/asio.h"
#include "config/config.h"

namespace plexi::routing {

// Each view (by its name in lower case, without schema) and every relation it reads, through
// the views it reads in turn.
struct ViewMap {
  std::unordered_map<std::string, std::vector<std::string>> tables_behind;
};

// The map of (view, relation it reads directly) pairs, as the catalog query answers.
ViewMap view_map_of(const std::vector<std::pair<std::string, std::string>>& reads);

// `tables` with the tables behind the views among them added (sorted, without repeats);
// `tables` as they are without views.
std::vector<std::string> with_tables_behind_views(const ViewMap* views,
                                                  const std::vector<std::string>& tables);

// The catalog query: (view, relation read) pairs of every view outside the system schemas.
extern const char* const kViewQuery;

class ViewCatalogs {
 public:
  enum class State {
    kUntracked,  // not a PostgreSQL cluster with a cache, or no server to read views from
    kPending,    // not read yet, or the schema changed since
    kCurrent,
  };
  struct Snapshot {
    State state = State::kUntracked;
    std::shared_ptr<const ViewMap> map;  // kCurrent: never null
  };

  ViewCatalogs(asio::io_context& io, std::shared_ptr<spdlog::logger> log);
  ~ViewCatalogs();
  ViewCatalogs(const ViewCatalogs&) = delete;
  ViewCatalogs& operator=(const ViewCatalogs&) = delete;

  // Starts reading the catalogs of the config's clusters, stops those it no longer has; a
  // cluster whose servers or interval changed is read afresh (pending until then). Safe from
  // any thread.
  void configure(const config::Config& config);
  // Ends every reading soon. Safe from any thread.
  void stop();

  // Safe from any thread: a mutex and a shared_ptr copy.
  Snapshot current(std::string_view cluster) const;
  // A CREATE, ALTER or DROP committed through the proxy: the cluster's map is pending until
  // the catalog has been read again, which starts at once. Returns when it has been, or
  // after `timeout` (the map then stays pending until a reading succeeds). `executor`: the
  // caller's.
  awaitable<void> read_after_schema_change(std::string_view cluster, asio::any_io_executor executor,
                                           config::Duration timeout);

 private:
  struct Tracker;

  asio::io_context& io_;
  std::shared_ptr<spdlog::logger> log_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Tracker>, std::less<>> trackers_;
  bool stopped_ = false;
};

}  // namespace plexi::routing
