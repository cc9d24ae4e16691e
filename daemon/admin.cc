// The daemon's side of the admin console and of /status: the tables SHOW answers with,
// built from the pools, the client registry, the health monitor and the metrics, and the
// commands that change what the process does (PAUSE, DISABLE BACKEND, RELOAD, ...).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "common/json_escape.h"
#include "common/socket_io.h"
#include "daemon/daemon.h"

namespace plexi {
namespace {

// What SHOW SERVERS shows as a server connection's process: PostgreSQL's backend pid, MySQL's
// connection (thread) id.
std::int64_t server_id_of(const pg::ServerConnection& connection) {
  return connection.backend_pid();
}
std::int64_t server_id_of(const mysql::ServerConnection& connection) {
  return connection.thread_id();
}

using admin::Reply;
using admin::Table;

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.6f", seconds);
  return text;
}

std::string milliseconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3f", seconds * 1000);
  return text;
}

std::string time_text(std::chrono::system_clock::time_point at) {
  if (at.time_since_epoch().count() == 0) return {};
  std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S+00", &utc);
  return text;
}

Reply error(std::string_view sqlstate, std::string message) {
  Reply reply;
  reply.sqlstate = std::string(sqlstate);
  reply.message = std::move(message);
  return reply;
}

Reply done(std::string tag, std::string notice = {}) {
  Reply reply;
  reply.tag = std::move(tag);
  if (!notice.empty()) reply.notices.push_back(std::move(notice));
  return reply;
}

Reply rows(Table table) {
  Reply reply;
  reply.tag = "SHOW";
  reply.table = std::move(table);
  return reply;
}

std::string pool_mode_of(const config::Config& config, const pools::PoolKey& key) {
  const auto* cluster = config.find_cluster(key.cluster);
  if (!cluster) return {};
  if (const auto* user = config.find_user(key.user); user && user->pool_mode) {
    return std::string(config::to_string(*user->pool_mode));
  }
  return std::string(config::to_string(cluster->pool_mode));
}

}  // namespace

Table Daemon::pools_table() const {
  Table table;
  table.columns = {"cluster",      "backend",   "user",      "database",
                   "pool_mode",    "sv_active", "sv_idle",   "sv_pinned",
                   "sv_shared",    "waiting",   "pool_size", "connections_opened",
                   "wait_timeouts"};
  auto config = this->config();
  pools_.for_each_pool([&](const pools::PoolKey& key, const auto& pool) {
    auto stats = pool.stats();
    table.rows.push_back(
        {key.cluster, key.backend, key.user, key.database, pool_mode_of(*config, key),
         std::to_string(stats.active - stats.pinned - stats.shared), std::to_string(stats.idle),
         std::to_string(stats.pinned), std::to_string(stats.shared), std::to_string(stats.waiting),
         std::to_string(stats.capacity), std::to_string(stats.opened),
         std::to_string(stats.timeouts)});
  });
  return table;
}

Table Daemon::clients_table() const {
  Table table;
  table.columns = {"id",    "user",    "database",   "cluster", "address",      "application_name",
                   "state", "backend", "server_pid", "pinned",  "connected_at", "tls"};
  for (const auto& [id, client] : client_registry_.clients()) {
    ClientInfo info = client->describe();
    table.rows.push_back(
        {std::to_string(id), info.user, info.database, info.cluster, info.address,
         info.application_name, info.state,
         info.backend.empty() ? std::nullopt : std::optional(info.backend),
         info.server_pid ? std::optional(std::to_string(info.server_pid)) : std::nullopt,
         info.pinned.empty() ? std::nullopt : std::optional(info.pinned),
         time_text(info.connected_at), info.tls.empty() ? std::nullopt : std::optional(info.tls)});
  }
  std::sort(table.rows.begin(), table.rows.end(),
            [](const auto& a, const auto& b) { return a[10] < b[10]; });
  return table;
}

Table Daemon::servers_table() const {
  Table table;
  table.columns = {"cluster", "backend",   "user",        "database",     "state",
                   "pid",     "client_id", "age_seconds", "idle_seconds", "tls"};
  auto now = pools::Clock::now();
  auto age = [&](pools::Clock::time_point since) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - since).count());
  };
  pools_.for_each_pool([&](const pools::PoolKey& key, const auto& pool) {
    pool.visit_idle([&](const auto& connection) {
      table.rows.push_back({key.cluster, key.backend, key.user, key.database, "idle",
                            std::to_string(server_id_of(connection)), std::nullopt,
                            age(connection.created_at()), age(connection.last_used_at()),
                            connection.tls() ? "yes" : "no"});
    });
  });
  // Connections in use are known by the clients using them.
  for (const auto& [id, client] : client_registry_.clients()) {
    ClientInfo info = client->describe();
    if (info.backend.empty()) continue;
    table.rows.push_back({info.cluster, info.backend, info.user, info.database,
                          info.pinned.empty() ? "active" : "pinned",
                          std::to_string(info.server_pid), std::to_string(id), std::nullopt,
                          std::nullopt, std::nullopt});
  }
  return table;
}

Table Daemon::stats_table() const {
  Table table;
  table.columns = {"protocol",   "cluster",       "backend", "role",
                   "statements", "total_seconds", "avg_ms"};
  auto totals = metrics_.statement_totals();
  std::sort(totals.begin(), totals.end(), [](const auto& a, const auto& b) {
    return std::tie(a.cluster, a.backend, a.role) < std::tie(b.cluster, b.backend, b.role);
  });
  for (const auto& total : totals) {
    double average = total.statements ? total.seconds / static_cast<double>(total.statements) : 0;
    table.rows.push_back({total.protocol, total.cluster, total.backend, total.role,
                          std::to_string(total.statements), seconds_text(total.seconds),
                          milliseconds_text(average)});
  }
  return table;
}

Table Daemon::backends_table() const {
  Table table;
  table.columns = {"cluster",     "backend", "host",        "port",       "role",       "state",
                   "actual_role", "writes",  "lag_seconds", "last_check", "last_error", "disabled"};
  auto config = this->config();
  for (const auto& [name, cluster] : config->clusters) {
    auto health = health_ ? health_->cluster(name) : nullptr;
    for (std::size_t i = 0; i < cluster.backends.size(); ++i) {
      const auto& backend = cluster.backends[i];
      const routing::BackendHealth* seen =
          health && i < health->backends.size() ? &health->backends[i] : nullptr;
      std::optional<std::string> lag;
      if (seen && seen->up && !seen->actual_primary && seen->lag) {
        lag = seconds_text(std::chrono::duration<double>(*seen->lag).count());
      }
      std::string actual;
      if (seen && seen->up) actual = seen->actual_primary ? "primary" : "replica";
      table.rows.push_back(
          {name, backend.name,
           backend.type == config::BackendType::kSqlite ? backend.path : backend.host,
           backend.type == config::BackendType::kSqlite
               ? std::nullopt
               : std::optional(std::to_string(backend.port)),
           std::string(config::to_string(backend.role)),
           seen ? std::string(routing::to_string(seen->state)) : "unchecked",
           actual.empty() ? std::nullopt : std::optional(actual),
           seen && seen->takes_writes ? "yes" : "no", lag,
           seen && seen->checked_at.time_since_epoch().count() != 0
               ? std::optional(time_text(seen->checked_at))
               : std::nullopt,
           seen && !seen->last_error.empty() ? std::optional(seen->last_error) : std::nullopt,
           traffic_.disabled(name, backend.name) ? "yes" : "no"});
    }
  }
  return table;
}

Table Daemon::config_table() const {
  auto config = this->config();
  Table table;
  table.columns = {"key", "value"};
  auto add = [&](std::string key, std::string value) {
    table.rows.push_back({std::move(key), std::move(value)});
  };
  auto endpoint = [](const std::optional<config::Endpoint>& e) {
    return e ? e->to_string() : std::string("off");
  };
  add("source", config->source);
  add("threads", std::to_string(config->threads));
  add("zone", config->zone);
  add("listen.postgres", endpoint(config->listen.postgres));
  add("listen.mysql", endpoint(config->listen.mysql));
  add("listen.redis", endpoint(config->listen.redis));
  add("listen.admin", endpoint(config->listen.admin));
  add("tls.client", std::string(config::to_string(config->client_tls)));
  if (config->client_tls != config::ClientTls::kDisable) {
    add("tls.cert_file", config->tls_cert_file);
    add("tls.ca_file", config->tls_ca_file);
    add("tls.verify_client", config->tls_verify_client ? "true" : "false");
  }
  add("users", config->users_configured ? std::to_string(config->users.size())
                                        : "none: loopback clients trusted");
  add("pool.pool_size", std::to_string(config->pool.pool_size));
  add("pool.max_overflow", std::to_string(config->pool.max_overflow));
  add("pool.min_idle", std::to_string(config->pool.min_idle));
  add("health.interval_ms", std::to_string(config->health.interval.count()));
  add("health.timeout_ms", std::to_string(config->health.timeout.count()));
  add("health.fall", std::to_string(config->health.fall));
  add("health.rise", std::to_string(config->health.rise));
  add("limits.max_client_conn", std::to_string(config->limits.max_client_conn));
  add("limits.max_message_size", std::to_string(config->limits.max_message_size));
  add("limits.max_user_client_conn", std::to_string(config->limits.max_user_client_conn));
  add("limits.shutdown_timeout_ms", std::to_string(config->limits.shutdown_timeout.count()));
  add("limits.startup_timeout_ms", std::to_string(config->limits.startup_timeout.count()));
  add("limits.client_idle_timeout_ms", std::to_string(config->limits.client_idle_timeout.count()));
  add("limits.max_pipelined", std::to_string(config->limits.max_pipelined));
  add("access", config->access.empty() ? "none: every client may try its password"
                                       : std::to_string(config->access.size()) + " rules");
  add("log.level", config->log.level);
  add("log.format", std::string(config::to_string(config->log.format)));
  add("log.statements", config->log.statements ? "true" : "false");
  add("log.audit.file", config->log.audit.file);
  add("metrics.enabled", config->metrics.enabled ? "true" : "false");
  add("digest.enabled", config->digest.enabled ? "true" : "false");
  add("digest.max_entries", std::to_string(config->digest.max_entries));
  add("cache.max_result_bytes", std::to_string(config->cache.max_result_bytes));
  add("cache.timeout_ms", std::to_string(config->cache.timeout.count()));
  add("cache.retry_interval_ms", std::to_string(config->cache.retry_interval.count()));
  add("cache.admission_window", std::to_string(config->cache.admission_window));
  add("cache.admission_min_hits", std::to_string(config->cache.admission_min_hits));
  add("cache.admission_rest_ms", std::to_string(config->cache.admission_rest.count()));
  add("admin.token", config->admin.token.empty() ? "none" : "set");
  add("upgrade.socket", upgrade_socket_path());
  for (const auto& [name, cluster] : config->clusters) {
    std::string prefix = "clusters." + name + ".";
    add(prefix + "protocol", std::string(config::to_string(cluster.protocol)));
    add(prefix + "pool_mode", std::string(config::to_string(cluster.pool_mode)));
    add(prefix + "backends", std::to_string(cluster.backends.size()));
    add(prefix + "read_your_writes", std::string(config::to_string(cluster.read_your_writes)));
    add(prefix + "load_balancing", std::string(config::to_string(cluster.load_balancing)));
    if (cluster.protocol == config::Protocol::kMysql) {
      add(prefix + "pipeline_reads", cluster.pipeline_reads ? "true" : "false");
    }
    if (cluster.auth.enabled()) {
      // Who looks users up, never with what password.
      add(prefix + "auth_user", cluster.auth.user);
      add(prefix + "auth_password", cluster.auth.password.empty() ? "none" : "set");
      add(prefix + "auth_query", cluster.auth.query);
      add(prefix + "auth_query_cache_ttl_ms", std::to_string(cluster.auth.cache_ttl.count()));
    }
  }
  return table;
}

Table Daemon::queries_table() const {
  Table table;
  table.columns = {"cluster",    "user",          "digest",          "query",       "calls",
                   "errors",     "total_seconds", "mean_ms",         "max_ms",      "rows",
                   "cache_hits", "cache_misses",  "cache_hit_ratio", "last_backend"};
  for (const auto& row : digests_.snapshot()) {
    // Of the calls looked up in the result cache; empty for a statement never looked up.
    std::string hit_ratio;
    if (std::uint64_t looked_up = row.cache_hits + row.cache_misses; looked_up > 0) {
      hit_ratio = fmt::format("{:.3f}",
                              static_cast<double>(row.cache_hits) / static_cast<double>(looked_up));
    }
    table.rows.push_back({row.cluster, row.user, row.digest, row.text, std::to_string(row.calls),
                          std::to_string(row.errors), seconds_text(row.total_seconds),
                          milliseconds_text(row.mean_seconds), milliseconds_text(row.max_seconds),
                          std::to_string(row.rows), std::to_string(row.cache_hits),
                          std::to_string(row.cache_misses), hit_ratio, row.last_backend});
  }
  return table;
}

namespace {

bool looks_numeric(const std::string& text) {
  if (text.empty() || text.size() > 24) return false;
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && text != "-" &&
         std::isdigit(static_cast<unsigned char>(text.back()));
}

// A table as a JSON array of objects; numbers as numbers, NULL as null.
void append_table_json(std::string& out, const Table& table) {
  out += '[';
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    if (r) out += ',';
    out += '{';
    for (std::size_t c = 0; c < table.columns.size() && c < table.rows[r].size(); ++c) {
      if (c) out += ',';
      out += '"';
      append_json_escaped(out, table.columns[c]);
      out += "\":";
      const auto& cell = table.rows[r][c];
      if (!cell) {
        out += "null";
      } else if (looks_numeric(*cell) && table.columns[c] != "digest") {
        out += *cell;
      } else {
        out += '"';
        append_json_escaped(out, *cell);
        out += '"';
      }
    }
    out += '}';
  }
  out += ']';
}

}  // namespace

std::string Daemon::status_json(bool queries) const {
  std::string out = "{\"version\":\"" PLEXI_VERSION "\",\"uptime_seconds\":";
  out += std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - started_at_)
                            .count());
  out += ",\"ready\":";
  std::string why = unready_reason();
  out += why.empty() ? "true" : "false";
  if (!why.empty()) {
    out += ",\"not_ready_because\":\"";
    append_json_escaped(out, why);
    out += '"';
  }
  out += ",\"clients\":" + std::to_string(clients_.load());
  if (auto audit = audit_log()) {
    out += ",\"audit\":{\"file\":\"";
    append_json_escaped(out, audit->file());
    out += "\",\"dropped\":" + std::to_string(audit->dropped()) + "}";
  }
  out += ",\"paused\":[";
  bool first = true;
  for (const auto& cluster : traffic_.paused_clusters()) {
    if (!first) out += ',';
    first = false;
    out += '"';
    append_json_escaped(out, cluster.empty() ? "*" : cluster);
    out += '"';
  }
  out += "],\"backends\":";
  append_table_json(out, backends_table());
  out += ",\"pools\":";
  append_table_json(out, pools_table());
  out += ",\"stats\":";
  append_table_json(out, stats_table());
  if (queries) {
    out += ",\"queries\":";
    append_table_json(out, queries_table());
  }
  out += "}\n";
  return out;
}

std::string Daemon::unready_reason() const {
  if (!serving_.load()) return "listeners are not open (starting or shutting down)";
  std::string why;
  for (const auto& [name, cluster] : config()->clusters) {
    auto health = health_ ? health_->cluster(name) : nullptr;
    if (!health || health->writer()) continue;
    if (!why.empty()) why += "; ";
    why += "cluster " + name + " has no write target";
    if (!health->no_write_target_reason.empty()) why += " (" + health->no_write_target_reason + ")";
  }
  return why;
}

// How many server connections of a cluster are in a transaction (not pinned: those are
// held for their session's life and do not block PAUSE; nor those of MySQL's shared links,
// which carry autocommit reads and are held for the link's life: sessions wait out a PAUSE
// before they send on one).
int Daemon::transactions_running(const std::string& cluster) const {
  int running = 0;
  pools_.for_each_pool([&](const pools::PoolKey& key, const auto& pool) {
    if (!cluster.empty() && key.cluster != cluster) return;
    auto stats = pool.stats();
    running += stats.active - stats.pinned - stats.shared;
  });
  return running;
}

awaitable<Reply> Daemon::execute(const admin::Command& command) {
  using Kind = admin::Command::Kind;
  auto config = this->config();
  switch (command.kind) {
    case Kind::kShow: {
      const std::string& what = command.argument;
      if (what == "POOLS") co_return rows(pools_table());
      if (what == "CLIENTS") co_return rows(clients_table());
      if (what == "SERVERS") co_return rows(servers_table());
      if (what == "STATS") co_return rows(stats_table());
      if (what == "BACKENDS") co_return rows(backends_table());
      if (what == "QUERIES") co_return rows(queries_table());
      if (what == "CONFIG") co_return rows(config_table());
      if (what == "VERSION") co_return rows(Table{{"version"}, {{"plexiproxy " PLEXI_VERSION}}});
      Table help{{"command"}, {}};
      for (auto subject : admin::show_subjects())
        help.rows.push_back({"SHOW " + std::string(subject)});
      for (const char* other :
           {"RELOAD", "PAUSE [cluster]", "RESUME [cluster]", "DISABLE BACKEND [cluster.]backend",
            "ENABLE BACKEND [cluster.]backend", "KILL client_id",
            "INVALIDATE CACHE cluster [table ...]", "SHUTDOWN"}) {
        help.rows.push_back({other});
      }
      co_return rows(std::move(help));
    }
    case Kind::kReload: {
      auto errors = reload();
      if (errors.empty()) co_return done("RELOAD");
      std::string message = "reload rejected, the previous configuration stays:";
      for (const auto& e : errors) message += "\n" + e;
      co_return error("F0000", message);
    }
    case Kind::kPause: {
      const std::string& cluster = command.argument;
      if (!cluster.empty() && !config->find_cluster(cluster)) {
        co_return error("3D000", "no cluster named \"" + cluster + "\"");
      }
      traffic_.pause(cluster);
      log_->info("admin: {} paused", cluster.empty() ? "every cluster" : "cluster " + cluster);
      // New transactions now wait; the running ones are let finish.
      asio::steady_timer timer(co_await asio::this_coro::executor);
      while (transactions_running(cluster) > 0) {
        if (!traffic_.paused(cluster)) co_return error("57014", "PAUSE ended by RESUME");
        timer.expires_after(std::chrono::milliseconds(10));
        error_code ec;
        co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      co_return done("PAUSE");
    }
    case Kind::kResume: {
      bool was = traffic_.resume(command.argument);
      log_->info("admin: {} resumed",
                 command.argument.empty() ? "every cluster" : "cluster " + command.argument);
      co_return done("RESUME", was ? "" : "it was not paused");
    }
    case Kind::kDisable:
    case Kind::kEnable: {
      // cluster.backend, or a backend name found in every cluster that has it.
      std::vector<std::pair<std::string, std::string>> matches;
      for (const auto& [name, cluster] : config->clusters) {
        for (const auto& backend : cluster.backends) {
          if (command.argument == backend.name || command.argument == name + "." + backend.name) {
            matches.emplace_back(name, backend.name);
          }
        }
      }
      if (matches.empty()) {
        co_return error("42704", "no backend named \"" + command.argument + "\"");
      }
      bool disable = command.kind == Kind::kDisable;
      for (const auto& [cluster, backend] : matches) {
        if (disable) {
          traffic_.disable(cluster, backend);
          pools_.close_idle(cluster, backend);
        } else {
          traffic_.enable(cluster, backend);
        }
        log_->info("admin: backend {} of cluster {} {}", backend, cluster,
                   disable ? "disabled" : "enabled");
      }
      co_return done(disable ? "DISABLE" : "ENABLE");
    }
    case Kind::kKill: {
      std::int32_t id = 0;
      std::from_chars(command.argument.data(), command.argument.data() + command.argument.size(),
                      id);
      if (!client_registry_.kill(id))
        co_return error("42704", "no client with id " + command.argument);
      co_return done("KILL");
    }
    case Kind::kInvalidateCache: {
      const std::string& name = command.argument;
      const config::Cluster* cluster = config->find_cluster(name);
      if (!cluster) co_return error("3D000", "no cluster named \"" + name + "\"");
      const config::Backend* backend = routing::cache_backend(*cluster);
      if (!backend) {
        co_return error("55000", "cluster " + name + " has no cache backend (role: cache)");
      }
      // Raising a generation makes every entry stored under the old one a miss, in every
      // plexiproxy that shares this Redis.
      std::vector<std::string> keys = command.tables.empty()
                                          ? std::vector{routing::cluster_generation_key(name)}
                                          : routing::generation_keys(name, command.tables);
      auto worker = co_await asio::this_coro::executor;
      auto connection = result_cache_.connection(worker, *backend);
      bool raised = co_await connection->invalidate_now(keys, config->cache.timeout,
                                                        config->cache.retry_interval);
      if (!raised) {
        co_return error("58000", "the cache backend of cluster " + name +
                                     " did not take the invalidation; it is kept and sent "
                                     "once the backend answers");
      }
      std::string which = "every result";
      if (!command.tables.empty()) {
        which = "tables";
        for (const auto& table : command.tables) which += " " + table;
      }
      log_->info("admin: cached results of cluster {} invalidated: {}", name, which);
      co_return done("INVALIDATE");
    }
    case Kind::kShutdown:
      log_->info("admin: SHUTDOWN");
      asio::co_spawn(workers_.main(), shutdown(), asio::detached);
      co_return done("SHUTDOWN");
    case Kind::kSet:
    case Kind::kEmpty:
      break;
  }
  co_return done("SET");
}

}  // namespace plexi
