#include "daemon/metrics.h"

#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>

namespace plexi::metrics {
namespace {

struct Declared {
  std::string_view name;
  std::string_view help;
};

// Every family of the process. Labels hold only names from the config and fixed words, so
// their number is bounded by the config, never by what clients send.
constexpr Declared kClientConnections{"plexiproxy_client_connections",
                                      "Clients connected now, by protocol and cluster."};
constexpr Declared kClientConnectionsTotal{"plexiproxy_client_connections_total",
                                           "Client connections accepted since start."};
constexpr Declared kQueries{"plexiproxy_queries_total",
                            "Statements relayed, by cluster, backend, the role the backend "
                            "was chosen for, and protocol."};
constexpr Declared kQueryDuration{"plexiproxy_query_duration_seconds",
                                  "Time from a statement's arrival to its last answer byte."};
constexpr Declared kPoolWait{"plexiproxy_pool_wait_seconds",
                             "Time a transaction waited for a server connection."};
constexpr Declared kErrors{"plexiproxy_errors_total", "Errors and refusals, by kind."};
constexpr Declared kPinned{"plexiproxy_pinned_sessions_total",
                           "Sessions pinned to one server connection, by reason."};
constexpr Declared kBytes{"plexiproxy_bytes_total",
                          "Bytes received from and sent to clients of the relay."};
constexpr Declared kCacheRequests{
    "plexiproxy_cache_requests_total",
    "Statements the result cache was asked for, by result (hit, miss, bypass, error)."};
constexpr Declared kCacheBytes{"plexiproxy_cache_bytes_total",
                               "Bytes of answers served from the result cache and stored in it."};
constexpr Declared kReloads{"plexiproxy_config_reloads_total", "Config reloads, by result."};
constexpr Declared kTlsHandshakes{"plexiproxy_client_tls_handshakes_total",
                                  "TLS handshakes with clients, by protocol and result (ok, "
                                  "failed)."};
constexpr std::string_view kTlsProtocols[] = {"postgres", "mysql", "redis"};
constexpr Declared kFailovers{"plexiproxy_failovers_total",
                              "Changes of a cluster's write target to another backend."};
constexpr Declared kBuildInfo{"plexiproxy_build_info", "The running version; always 1."};
constexpr Declared kStartTime{"plexiproxy_start_time_seconds",
                              "When the process started, in seconds since the Unix epoch."};

// Built at scrape time by the daemon's collectors.
constexpr Declared kScraped[] = {
    {"plexiproxy_server_connections",
     "Server connections by backend and state (idle, active, pinned)."},
    {"plexiproxy_pool_size", "Connections a backend's pools may open (pool_size + max_overflow)."},
    {"plexiproxy_pool_waiting_clients", "Transactions waiting for a server connection."},
    {"plexiproxy_backend_up", "1 when the health monitor finds the backend up."},
    {"plexiproxy_backend_is_primary", "1 when the backend is the cluster's write target."},
    {"plexiproxy_replication_lag_seconds", "How far the backend's replay is behind its primary."},
    {"plexiproxy_cluster_write_target_available", "1 when the cluster has a write target."},
};

const std::vector<double> kDurationBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10};

template <typename T>
prometheus::Family<T>& build(prometheus::Registry& registry, const Declared& declared) {
  if constexpr (std::is_same_v<T, prometheus::Counter>) {
    return prometheus::BuildCounter()
        .Name(std::string(declared.name))
        .Help(std::string(declared.help))
        .Register(registry);
  } else if constexpr (std::is_same_v<T, prometheus::Gauge>) {
    return prometheus::BuildGauge()
        .Name(std::string(declared.name))
        .Help(std::string(declared.help))
        .Register(registry);
  } else {
    return prometheus::BuildHistogram()
        .Name(std::string(declared.name))
        .Help(std::string(declared.help))
        .Register(registry);
  }
}

std::string series_key(std::initializer_list<std::string_view> parts) {
  std::string key;
  for (auto part : parts) key.append(part).push_back('\0');
  return key;
}

}  // namespace

std::string_view to_string(Error kind) {
  switch (kind) {
    case Error::kClientProtocol:
      return "client_protocol";
    case Error::kAuthFailed:
      return "auth_failed";
    case Error::kStartupTimeout:
      return "startup_timeout";
    case Error::kMaxClientConn:
      return "max_client_conn";
    case Error::kBackendConnect:
      return "backend_connect";
    case Error::kBackendLost:
      return "backend_lost";
    case Error::kPoolTimeout:
      return "pool_timeout";
    case Error::kNoWriteTarget:
      return "no_write_target";
    case Error::kRefusedByRule:
      return "refused_by_rule";
    case Error::kTlsRequired:
      return "tls_required";
    case Error::kAccessRule:
      return "access_rule";
    case Error::kMaxUserClientConn:
      return "max_user_client_conn";
    case Error::kClientIdleTimeout:
      return "client_idle_timeout";
    case Error::kCount:
      break;
  }
  return "unknown";
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& registry = *registry_;
  statements_family_ = &build<prometheus::Counter>(registry, kQueries);
  duration_family_ = &build<prometheus::Histogram>(registry, kQueryDuration);
  pool_wait_family_ = &build<prometheus::Histogram>(registry, kPoolWait);
  clients_family_ = &build<prometheus::Gauge>(registry, kClientConnections);
  pinned_family_ = &build<prometheus::Counter>(registry, kPinned);
  failovers_family_ = &build<prometheus::Counter>(registry, kFailovers);
  client_connections_total_ =
      &build<prometheus::Counter>(registry, kClientConnectionsTotal).Add({});
  auto& errors = build<prometheus::Counter>(registry, kErrors);
  for (std::size_t i = 0; i < errors_.size(); ++i) {
    errors_[i] = &errors.Add({{"kind", std::string(to_string(static_cast<Error>(i)))}});
  }
  auto& bytes = build<prometheus::Counter>(registry, kBytes);
  bytes_[static_cast<std::size_t>(Direction::kClientIn)] = &bytes.Add({{"direction", "client_in"}});
  bytes_[static_cast<std::size_t>(Direction::kClientOut)] =
      &bytes.Add({{"direction", "client_out"}});
  auto& cache_requests = build<prometheus::Counter>(registry, kCacheRequests);
  constexpr std::array<std::string_view, 4> kCacheResults = {"hit", "miss", "bypass", "error"};
  for (std::size_t i = 0; i < cache_requests_.size(); ++i) {
    cache_requests_[i] = &cache_requests.Add({{"result", std::string(kCacheResults[i])}});
  }
  auto& cache_bytes = build<prometheus::Counter>(registry, kCacheBytes);
  cache_bytes_[static_cast<std::size_t>(CacheBytes::kServed)] =
      &cache_bytes.Add({{"operation", "served"}});
  cache_bytes_[static_cast<std::size_t>(CacheBytes::kStored)] =
      &cache_bytes.Add({{"operation", "stored"}});
  auto& reloads = build<prometheus::Counter>(registry, kReloads);
  reloads_ok_ = &reloads.Add({{"result", "success"}});
  reloads_failed_ = &reloads.Add({{"result", "failure"}});
  auto& handshakes = build<prometheus::Counter>(registry, kTlsHandshakes);
  for (std::size_t i = 0; i < tls_handshakes_.size(); ++i) {
    const std::string protocol(kTlsProtocols[i]);
    tls_handshakes_[i] = {&handshakes.Add({{"protocol", protocol}, {"result", "failed"}}),
                          &handshakes.Add({{"protocol", protocol}, {"result", "ok"}})};
  }
  build<prometheus::Gauge>(registry, kBuildInfo).Add({{"version", PLEXI_VERSION}}).Set(1);
  auto started = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  build<prometheus::Gauge>(registry, kStartTime).Add({}).Set(started.count());
}

Metrics::~Metrics() = default;

void Metrics::tls_handshake(std::string_view protocol, bool ok) {
  for (std::size_t i = 0; i < tls_handshakes_.size(); ++i) {
    if (kTlsProtocols[i] == protocol) tls_handshakes_[i][ok ? 1 : 0]->Increment();
  }
}

const StatementSeries& Metrics::statements(std::string_view protocol, std::string_view cluster,
                                           std::string_view backend, std::string_view role) {
  std::string key = series_key({protocol, cluster, backend, role});
  std::lock_guard lock(mutex_);
  auto it = series_.find(key);
  if (it != series_.end()) return it->second;
  auto& series = series_.try_emplace(std::move(key)).first->second;
  series.statements = &statements_family_->Add({{"protocol", std::string(protocol)},
                                                {"cluster", std::string(cluster)},
                                                {"backend", std::string(backend)},
                                                {"role", std::string(role)}});
  // Family::Add gives back the existing series for labels it has.
  series.duration = &duration_family_->Add({{"protocol", std::string(protocol)},
                                            {"cluster", std::string(cluster)},
                                            {"role", std::string(role)}},
                                           kDurationBuckets);
  return series;
}

std::vector<StatementTotals> Metrics::statement_totals() const {
  std::vector<StatementTotals> totals;
  std::lock_guard lock(mutex_);
  for (const auto& [key, series] : series_) {
    StatementTotals total;
    std::string_view rest = key;
    for (auto* part : {&total.protocol, &total.cluster, &total.backend, &total.role}) {
      auto end = rest.find('\0');
      *part = std::string(rest.substr(0, end));
      rest.remove_prefix(end + 1);
    }
    total.statements = static_cast<std::uint64_t>(series.statements->Value());
    total.seconds = static_cast<double>(series.nanoseconds.load(std::memory_order_relaxed)) / 1e9;
    totals.push_back(std::move(total));
  }
  return totals;
}

prometheus::Histogram& Metrics::pool_wait(std::string_view cluster) {
  return pool_wait_family_->Add({{"cluster", std::string(cluster)}}, kDurationBuckets);
}

prometheus::Gauge& Metrics::clients(std::string_view protocol, std::string_view cluster) {
  return clients_family_->Add(
      {{"protocol", std::string(protocol)}, {"cluster", std::string(cluster)}});
}

void Metrics::pinned(std::string_view reason) {
  pinned_family_->Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::failover(std::string_view cluster) {
  failovers_family_->Add({{"cluster", std::string(cluster)}}).Increment();
}

void Metrics::add_collector(Collector collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::scrape() const {
  auto families = registry_->Collect();
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) collect(families);
  return prometheus::TextSerializer().Serialize(families);
}

prometheus::MetricFamily Metrics::gauge_family(std::string_view name) {
  prometheus::MetricFamily family;
  family.name = std::string(name);
  family.type = prometheus::MetricType::Gauge;
  for (const auto& declared : kScraped) {
    if (declared.name == name) family.help = std::string(declared.help);
  }
  return family;
}

}  // namespace plexi::metrics
