// Turns YAML text or a file into a validated Config: the top-level sections, listen
// defaults, and the checks that span the whole file.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>

#include "config/loader.h"

namespace plexi::config {
namespace detail {
namespace {

const Choices<PoolMode> kPoolModes = {{"session", PoolMode::kSession},
                                      {"transaction", PoolMode::kTransaction},
                                      {"statement", PoolMode::kStatement}};
// spdlog's level names, with the short forms its from_str also accepts.
const std::vector<std::string_view> kLogLevels = {"trace",   "debug", "info",     "warn",
                                                  "warning", "error", "critical", "off"};

void read_listen(Reader& r, const YAML::Node& node, const std::string& path, Draft& d) {
  static const Fields<Listen> fields = {
      field("postgres", &Listen::postgres, as_endpoint()),
      field("mysql", &Listen::mysql, as_endpoint()),
      field("redis", &Listen::redis, as_endpoint()),
      field("admin", &Listen::admin, as_endpoint()),
  };
  if (!read_map(r, node, path, fields, d.config.listen) || !node.IsMap()) return;
  const std::pair<std::string_view, const std::optional<Endpoint>*> listeners[] = {
      {"postgres", &d.config.listen.postgres},
      {"mysql", &d.config.listen.mysql},
      {"redis", &d.config.listen.redis},
      {"admin", &d.config.listen.admin}};
  for (const auto& [key, endpoint] : listeners) {
    if (*endpoint) d.bound.push_back({child_path(path, key), **endpoint, node[std::string(key)]});
  }
}

void read_tls(Reader& r, const YAML::Node& node, const std::string& path, Draft& d) {
  static const Fields<Config> fields = {
      field("client", &Config::client_tls,
            as_choice(Choices<ClientTls>{{"disable", ClientTls::kDisable},
                                         {"allow", ClientTls::kAllow},
                                         {"require", ClientTls::kRequire}})),
      field("cert_file", &Config::tls_cert_file, as_name()),
      field("key_file", &Config::tls_key_file, as_name()),
      field("ca_file", &Config::tls_ca_file, as_name()),
      field("verify_client", &Config::tls_verify_client, as_bool()),
  };
  if (!node.Mark().is_null()) d.config.tls_line = node.Mark().line + 1;
  if (!read_map(r, node, path, fields, d.config)) return;
  if (d.config.tls_verify_client && d.config.tls_ca_file.empty()) {
    r.error(node, child_path(path, "verify_client"), "verify_client needs ca_file");
  }
  if (d.config.client_tls == ClientTls::kDisable) return;
  for (const auto* key : {"cert_file", "key_file"}) {
    const auto& value =
        std::string_view(key) == "cert_file" ? d.config.tls_cert_file : d.config.tls_key_file;
    if (value.empty()) {
      r.error(node, child_path(path, key),
              "tls.client " + std::string(to_string(d.config.client_tls)) + " needs " + key);
    }
  }
}

void read_users(Reader& r, const YAML::Node& node, const std::string& path, Draft& d) {
  static const Fields<User> fields = [] {
    Fields<User> f = {field("name", &User::name, as_name())};
    for (auto& s : secret_fields("password", "password_file", &User::password)) {
      f.push_back(std::move(s));
    }
    f.push_back(field("admin", &User::admin, as_bool()));
    f.push_back(field("pool_mode", &User::pool_mode, as_choice(kPoolModes)));
    f.push_back(field("max_client_conn", &User::max_client_conn, as_int<int>(0, 1000000)));
    f.push_back(field("auth", &User::auth,
                      as_choice(Choices<UserAuth>{{"password", UserAuth::kPassword},
                                                  {"cert", UserAuth::kCert}})));
    return f;
  }();
  d.config.users_configured = true;
  if (node.IsNull() || (node.IsSequence() && node.size() == 0)) {
    r.error(node, path,
            "no users: no client could connect (remove users: to trust loopback clients)");
    return;
  }
  if (!node.IsSequence()) {
    r.error(node, path, "expected a list of users (lines starting with '- name:')");
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string item_path = index_path(path, i);
    User user;
    if (!read_map(r, item, item_path, fields, user)) continue;
    if (user.name.empty()) {
      if (!item["name"].IsDefined() || item["name"].IsNull()) {
        r.error(item, item_path, "a user needs a name:");
      }
      continue;
    }
    if (!names.insert(user.name).second) {
      r.error(item["name"], child_path(item_path, "name"),
              "user '" + user.name + "' is defined twice");
      continue;
    }
    if (user.auth == UserAuth::kCert) d.cert_users.push_back({item, item_path});
    d.config.users.push_back(std::move(user));
  }
}

void read_log(Reader& r, const YAML::Node& node, const std::string& path, Draft& d) {
  static const Fields<Logging> fields = {
      field("level", &Logging::level, as_word(kLogLevels)),
      field("format", &Logging::format,
            as_choice(Choices<LogFormat>{{"text", LogFormat::kText}, {"json", LogFormat::kJson}})),
      {"components",
       [](Reader& r, const YAML::Node& n, const std::string& p, Logging& log) {
         if (n.IsNull()) return;
         if (!n.IsMap()) {
           r.error(n, p, "expected a section of component: level lines");
           return;
         }
         for (const auto& entry : n) {
           const std::string key = child_path(p, entry.first.Scalar());
           if (auto level = as_word(kLogLevels)(r, entry.second, key)) {
             log.components[entry.first.Scalar()] = *level;
           }
         }
       }},
      field("statements", &Logging::statements, as_bool()),
      {"audit",
       [](Reader& r, const YAML::Node& n, const std::string& p, Logging& log) {
         static const Fields<AuditLog> audit_fields = {
             field("file", &AuditLog::file, as_string()),
             field("max_size", &AuditLog::max_size, as_int<std::size_t>(4096, 1LL << 40)),
             field("max_files", &AuditLog::max_files, as_int<int>(0, 1000)),
         };
         read_map(r, n, p, audit_fields, log.audit);
       }},
  };
  read_map(r, node, path, fields, d.config.log);
}

template <typename T>
Fields<Draft> section(std::string_view key, T Config::*member, const Fields<T>& fields) {
  return {{key, [member, &fields](Reader& r, const YAML::Node& n, const std::string& path,
                                  Draft& d) { read_map(r, n, path, fields, d.config.*member); }}};
}

const Fields<Draft>& top_fields() {
  static const Fields<Limits> limits = {
      field("max_client_conn", &Limits::max_client_conn, as_int<int>(1, 1000000)),
      field("max_user_client_conn", &Limits::max_user_client_conn, as_int<int>(0, 1000000)),
      field("max_message_size", &Limits::max_message_size, as_int<std::size_t>(1024, 1LL << 31)),
      field("shutdown_timeout", &Limits::shutdown_timeout, as_duration(false)),
      field("startup_timeout", &Limits::startup_timeout, as_duration(true)),
      field("client_idle_timeout", &Limits::client_idle_timeout, as_duration(false)),
      field("max_pipelined", &Limits::max_pipelined, as_int<std::size_t>(1, 1000000)),
  };
  static const Fields<Admin> admin = secret_fields("token", "token_file", &Admin::token);
  static const Fields<Upgrade> upgrade = {field("socket", &Upgrade::socket, as_string())};
  static const Fields<Metrics> metrics = {field("enabled", &Metrics::enabled, as_bool())};
  static const Fields<Digest> digest = {
      field("enabled", &Digest::enabled, as_bool()),
      field("max_entries", &Digest::max_entries, as_int<std::size_t>(1, 10000000)),
  };
  static const Fields<Cache> cache = {
      field("max_result_bytes", &Cache::max_result_bytes, as_int<std::size_t>(1, 512LL << 20)),
      field("timeout", &Cache::timeout, as_duration(true)),
      field("retry_interval", &Cache::retry_interval, as_duration(true)),
      field("admission_window", &Cache::admission_window, as_int<std::uint32_t>(0, 1000000)),
      field("admission_min_hits", &Cache::admission_min_hits, as_int<std::uint32_t>(0, 1000000)),
      field("admission_rest", &Cache::admission_rest, as_duration(true)),
  };
  static const Fields<Draft> fields = [] {
    Fields<Draft> f = {
        {"listen", read_listen},
        {"threads",
         [](Reader& r, const YAML::Node& n, const std::string& path, Draft& d) {
           if (auto threads = as_int<int>(0, 1024)(r, n, path)) d.config.threads = *threads;
         }},
        {"zone",
         [](Reader& r, const YAML::Node& n, const std::string& path, Draft& d) {
           if (auto zone = as_string()(r, n, path)) d.config.zone = *zone;
         }},
        {"tls", read_tls},
        {"users", read_users},
        // Before clusters: their knobs start from these.
        {"pool",
         [](Reader& r, const YAML::Node& n, const std::string& path, Draft& d) {
           if (read_map(r, n, path, pool_fields(), d.config.pool)) {
             check_pool(r, n, path, d.config.pool);
           }
         }},
    };
    // Before clusters: their health sections start from this one.
    for (auto& s : section("health", &Config::health, health_fields())) f.push_back(std::move(s));
    for (auto& s : section("limits", &Config::limits, limits)) f.push_back(std::move(s));
    f.push_back({"log", read_log});
    for (auto& s : section("admin", &Config::admin, admin)) f.push_back(std::move(s));
    for (auto& s : section("upgrade", &Config::upgrade, upgrade)) f.push_back(std::move(s));
    for (auto& s : section("metrics", &Config::metrics, metrics)) f.push_back(std::move(s));
    for (auto& s : section("digest", &Config::digest, digest)) f.push_back(std::move(s));
    for (auto& s : section("cache", &Config::cache, cache)) f.push_back(std::move(s));
    f.push_back({"clusters", read_clusters});
    f.push_back({"access", read_access});
    return f;
  }();
  return fields;
}

// With no listen: section in the file, every protocol a cluster needs gets its default port
// on loopback, and the admin listener is on.
void default_listeners(Draft& d) {
  bool postgres = false, mysql = false, redis = false;
  for (const auto& [name, cluster] : d.config.clusters) {
    if (cluster.is_sqlite()) {
      postgres = mysql = true;
    } else if (cluster.protocol == Protocol::kPostgres) {
      postgres = true;
    } else if (cluster.protocol == Protocol::kMysql) {
      mysql = true;
    } else if (!cluster.listen) {
      redis = true;
    }
  }
  auto set = [&](std::optional<Endpoint>& slot, std::string_view key, std::uint16_t port) {
    if (slot) return;  // set by an override
    slot = Endpoint{"127.0.0.1", port};
    d.bound.insert(d.bound.begin(), {"listen." + std::string(key), *slot, YAML::Node(), true});
  };
  if (postgres) set(d.config.listen.postgres, "postgres", 6432);
  if (mysql) set(d.config.listen.mysql, "mysql", 6033);
  if (redis) set(d.config.listen.redis, "redis", 6380);
  set(d.config.listen.admin, "admin", 9930);
}

void check_listeners(Reader& r, Draft& d) {
  for (std::size_t j = 0; j < d.bound.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      const auto& a = d.bound[i];
      const auto& b = d.bound[j];
      if (b.endpoint.port == 0 || a.endpoint.port != b.endpoint.port ||
          a.endpoint.host != b.endpoint.host) {
        continue;
      }
      // Defaults come first and never collide with each other, so `b` is from the file.
      r.error(
          b.node, b.key,
          b.endpoint.to_string() + " is also " + a.key + (a.is_default ? " (its default)" : ""));
    }
  }
  // With an explicit listen: section, a cluster nobody can reach is a mistake.
  if (!d.listen_given) return;
  const auto& listen = d.config.listen;
  for (const auto& [name, cluster] : d.config.clusters) {
    if (cluster.listen) continue;
    const bool served = cluster.is_sqlite() ? (listen.postgres || listen.mysql)
                        : cluster.protocol == Protocol::kPostgres ? listen.postgres.has_value()
                        : cluster.protocol == Protocol::kMysql    ? listen.mysql.has_value()
                                                                  : listen.redis.has_value();
    if (!served) {
      r.error(d.cluster_nodes[name], "clusters." + name,
              "no listener serves this " + std::string(to_string(cluster.protocol)) +
                  " cluster: add listen." + std::string(to_string(cluster.protocol)) +
                  " or a listen: address in the cluster");
    }
  }
}

}  // namespace

const Fields<PoolSettings>& pool_fields() {
  static const Fields<PoolSettings> fields = {
      field("pool_size", &PoolSettings::pool_size, as_int<int>(1, 100000)),
      field("max_overflow", &PoolSettings::max_overflow, as_int<int>(0, 100000)),
      field("min_idle", &PoolSettings::min_idle, as_int<int>(0, 100000)),
      field("connect_timeout", &PoolSettings::connect_timeout, as_duration(true)),
      field("idle_timeout", &PoolSettings::idle_timeout, as_duration(false)),
      field("max_lifetime", &PoolSettings::max_lifetime, as_duration(false)),
      field("query_wait_timeout", &PoolSettings::query_wait_timeout, as_duration(false)),
      field("reset_query", &PoolSettings::reset_query, as_string()),
  };
  return fields;
}

const Fields<Health>& health_fields() {
  static const Fields<Health> fields = [] {
    Fields<Health> f = {
        field("interval", &Health::interval, as_duration(true)),
        field("timeout", &Health::timeout, as_duration(true)),
        field("fall", &Health::fall, as_int<int>(1, 100)),
        field("rise", &Health::rise, as_int<int>(1, 100)),
        field("max_replication_lag", &Health::max_replication_lag, as_duration(false)),
        field("user", &Health::user, as_string()),
        field("database", &Health::database, as_string()),
    };
    for (auto& s : secret_fields("password", "password_file", &Health::password)) {
      f.push_back(std::move(s));
    }
    return f;
  }();
  return fields;
}

void check_pool(Reader& r, const YAML::Node& at, const std::string& path,
                const PoolSettings& pool) {
  if (pool.min_idle > pool.pool_size) {
    // Point at min_idle where this section sets it; else at the section (its pool_size).
    const YAML::Node min_idle = at.IsMap() ? at["min_idle"] : YAML::Node();
    r.error(min_idle.IsDefined() && !min_idle.IsNull() ? min_idle : at,
            child_path(path, "min_idle"),
            "min_idle (" + std::to_string(pool.min_idle) + ") exceeds pool_size (" +
                std::to_string(pool.pool_size) + ")");
  }
}

LoadResult build_config(YAML::Node root, const std::string& source, const Environment& env) {
  // Through a const reference: a non-const subscript would insert the key.
  const YAML::Node& const_root = root;
  Draft d;
  d.config.source = source;
  // Only the file's own listen: section turns the defaults off: an override such as
  // PLEXIPROXY_LISTEN__POSTGRES moves one listener and leaves the others at their defaults.
  d.listen_given = root.IsMap() && const_root["listen"].IsDefined();

  std::vector<ConfigError> environment_errors;
  auto overridden = apply_overrides(root, env, environment_errors);
  Reader r(source, env, std::move(overridden));
  if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
    r.error(root, "", "expected a section of key: value lines at the top of the file");
  } else {
    read_map(r, root, "", top_fields(), d);
    const YAML::Node clusters = root.IsMap() ? const_root["clusters"] : YAML::Node();
    if (!clusters.IsDefined() || clusters.IsNull() || (clusters.IsMap() && clusters.size() == 0)) {
      const std::string message =
          "no clusters, so nothing to serve (without a config file plexiproxy serves an "
          "embedded SQLite database)";
      if (clusters.IsDefined()) {
        r.error(clusters, "clusters", message);
      } else {
        r.file_error(0, "clusters", message);
      }
    }
  }
  if (!d.listen_given) default_listeners(d);
  check_listeners(r, d);
  const Cache& cache = d.config.cache;
  if (cache.admission_window > 0 && cache.admission_min_hits > cache.admission_window) {
    r.error(const_root["cache"]["admission_min_hits"], "cache.admission_min_hits",
            "more hits than a window has lookups: every shape would rest (admission_window is " +
                std::to_string(cache.admission_window) + ")");
  }
  for (const auto& [node, path] : d.cert_users) {
    if (d.config.client_tls == ClientTls::kDisable || d.config.tls_ca_file.empty()) {
      r.error(node["auth"], child_path(path, "auth"),
              "auth: cert needs tls.client allow or require and tls.ca_file to verify "
              "certificates with");
    }
  }

  LoadResult result;
  result.plain_secrets = r.plain_secrets();
  result.errors = r.take_errors();
  for (auto& error : environment_errors) result.errors.push_back(std::move(error));
  if (result.errors.empty()) result.config = std::make_shared<const Config>(std::move(d.config));
  return result;
}

}  // namespace detail

LoadResult load_config_text(std::string_view yaml, const std::string& source_name,
                            const Environment& env) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return {nullptr, {{source_name, e.mark.line + 1, "", "YAML syntax error: " + e.msg}}};
  } catch (const YAML::Exception& e) {
    return {nullptr, {{source_name, e.mark.is_null() ? 0 : e.mark.line + 1, "", e.msg}}};
  }
  return detail::build_config(root, source_name, env);
}

LoadResult load_config_file(const std::string& path, const Environment& env,
                            const LoadOptions& options) {
  auto failure = [&path](std::string message) {
    return LoadResult{nullptr, {{path, 0, "", std::move(message)}}};
  };
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) return failure("is a directory, not a file");
  // std::ifstream keeps errno from the failed call, and nothing better says why.
  auto reason = [] {
    return errno ? std::error_code(errno, std::generic_category()).message() : "unknown error";
  };
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) return failure("cannot open: " + reason());
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (file.bad()) return failure("cannot read: " + reason());
  auto result = load_config_text(text, path, env);
  if (result.config) {
    auto errors = detail::check_tls_files(*result.config);
    if (!errors.empty()) {
      result.config.reset();
      result.errors = std::move(errors);
      return result;
    }
  }
  if (result.plain_secrets.empty() || options.allow_insecure_config) return result;
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0 || (status.st_mode & (S_IRGRP | S_IROTH)) == 0) {
    return result;
  }
  std::string keys;
  for (const auto& key : result.plain_secrets) keys += (keys.empty() ? "" : ", ") + key;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
  result.config.reset();
  result.errors.push_back(
      {path, 0, "",
       std::string("readable by group or others (mode ") + mode +
           ") while it holds plain passwords (" + keys +
           "): chmod 600 it, or give them as SCRAM/md5 secrets, ${VAR} or password_file:, or "
           "start with --allow-insecure-config"});
  return result;
}

}  // namespace plexi::config
