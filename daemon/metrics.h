// The process's Prometheus metrics: every family declared once, as data with its help text
// (metrics.cc), and the handles sessions keep so that counting a statement touches only
// atomics. Gauges that describe state (pools, backends) are computed at scrape time by
// collectors the daemon registers, so the hot path never maintains them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace plexi::metrics {

// Why a client or a statement was refused or failed; the `kind` label of errors_total.
enum class Error : std::uint8_t {
  kClientProtocol,  // a malformed or unexpected message from a client
  kAuthFailed,
  kStartupTimeout,
  kMaxClientConn,
  kBackendConnect,     // no server connection could be opened
  kBackendLost,        // a server connection failed mid-request
  kPoolTimeout,        // query_wait_timeout
  kNoWriteTarget,      // a write with no primary to take it
  kRefusedByRule,      // a rule with block: true
  kTlsRequired,        // a plain client where tls.client is require
  kAccessRule,         // refused by the access rules (a reject rule, or no rule matched)
  kMaxUserClientConn,  // the user has max_client_conn clients already
  kClientIdleTimeout,  // closed after limits.client_idle_timeout without a request
  kCount,
};
std::string_view to_string(Error kind);

enum class Direction : std::uint8_t { kClientIn, kClientOut };

// What became of a statement the result cache was asked for (a rule or hint gave it a
// cache_ttl); the `result` label of cache_requests_total.
enum class CacheResult : std::uint8_t {
  kHit,     // answered from Redis
  kMiss,    // not there: sent to the database (and its answer stored)
  kBypass,  // not looked up: in a transaction, volatile, a write, or Redis known to be down
  kError,   // Redis failed or timed out: sent to the database
  kCount,
};
// Bytes served from the cache and bytes stored in it; the `operation` label of
// cache_bytes_total.
enum class CacheBytes : std::uint8_t { kServed, kStored, kCount };

// Where one kind of statement is counted: (protocol, cluster, backend, role it was sent as).
struct StatementSeries {
  prometheus::Counter* statements = nullptr;
  prometheus::Histogram* duration = nullptr;  // shared by the cluster's backends of a role
  // This backend's own time, for SHOW STATS.
  mutable std::atomic<std::uint64_t> nanoseconds{0};

  void record(std::chrono::nanoseconds elapsed) const {
    statements->Increment();
    duration->Observe(std::chrono::duration<double>(elapsed).count());
    nanoseconds.fetch_add(static_cast<std::uint64_t>(elapsed.count()), std::memory_order_relaxed);
  }
};

// One statement series as SHOW STATS shows it.
struct StatementTotals {
  std::string protocol, cluster, backend, role;
  std::uint64_t statements = 0;
  double seconds = 0;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // metrics.enabled: off, sessions skip the per-statement series (and the clock reads they
  // need); state gauges and rare events are kept either way.
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void set_enabled(bool on) { enabled_.store(on, std::memory_order_relaxed); }

  // Looked up under a mutex: sessions keep the result (it lives as long as this object).
  const StatementSeries& statements(std::string_view protocol, std::string_view cluster,
                                    std::string_view backend, std::string_view role);
  std::vector<StatementTotals> statement_totals() const;
  prometheus::Histogram& pool_wait(std::string_view cluster);
  prometheus::Gauge& clients(std::string_view protocol, std::string_view cluster);

  void client_connected() { client_connections_total_->Increment(); }
  void error(Error kind) { errors_[static_cast<std::size_t>(kind)]->Increment(); }
  void pinned(std::string_view reason);
  void bytes(Direction direction, std::size_t n) {
    bytes_[static_cast<std::size_t>(direction)]->Increment(static_cast<double>(n));
  }
  void cache_request(CacheResult result) {
    cache_requests_[static_cast<std::size_t>(result)]->Increment();
  }
  void cache_bytes(CacheBytes operation, std::size_t n) {
    cache_bytes_[static_cast<std::size_t>(operation)]->Increment(static_cast<double>(n));
  }
  void config_reload(bool ok) { (ok ? reloads_ok_ : reloads_failed_)->Increment(); }
  // A TLS handshake with a client of `protocol` (postgres, mysql or redis), and its outcome.
  void tls_handshake(std::string_view protocol, bool ok);
  void failover(std::string_view cluster);

  // Adds families computed when scraped (backend states, pool occupancy). Collectors run on
  // the scraping thread and must be safe there.
  using Collector = std::function<void(std::vector<prometheus::MetricFamily>&)>;
  void add_collector(Collector collector);

  // Everything, in the Prometheus text exposition format.
  std::string scrape() const;

  // Help texts of the families collectors build, so they too are declared once, here.
  static prometheus::MetricFamily gauge_family(std::string_view name);

 private:
  std::atomic<bool> enabled_{true};
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* statements_family_ = nullptr;
  prometheus::Family<prometheus::Histogram>* duration_family_ = nullptr;
  prometheus::Family<prometheus::Histogram>* pool_wait_family_ = nullptr;
  prometheus::Family<prometheus::Gauge>* clients_family_ = nullptr;
  prometheus::Family<prometheus::Counter>* pinned_family_ = nullptr;
  prometheus::Family<prometheus::Counter>* failovers_family_ = nullptr;
  prometheus::Counter* client_connections_total_ = nullptr;
  std::array<prometheus::Counter*, static_cast<std::size_t>(Error::kCount)> errors_{};
  std::array<prometheus::Counter*, 2> bytes_{};
  std::array<prometheus::Counter*, static_cast<std::size_t>(CacheResult::kCount)> cache_requests_{};
  std::array<prometheus::Counter*, static_cast<std::size_t>(CacheBytes::kCount)> cache_bytes_{};
  prometheus::Counter* reloads_ok_ = nullptr;
  prometheus::Counter* reloads_failed_ = nullptr;
  // By protocol (postgres, mysql, redis), then failed and ok.
  std::array<std::array<prometheus::Counter*, 2>, 3> tls_handshakes_{};

  mutable std::mutex mutex_;
  std::map<std::string, StatementSeries, std::less<>> series_;
  std::vector<Collector> collectors_;
};

}  // namespace plexi::metrics
