// The configuration snapshot: what the YAML file says, validated and with defaults applied.
// A snapshot is immutable; reload builds a new one and swaps it in whole.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plexi::config {

using Duration = std::chrono::milliseconds;

enum class Protocol { kPostgres, kMysql, kRedis };
enum class BackendType { kPostgres, kMysql, kRedis, kSqlite };
enum class Role { kPrimary, kReplica, kAnalytics, kCache };
enum class PoolMode { kSession, kTransaction, kStatement };
enum class ClientTls { kDisable, kAllow, kRequire };
enum class LogFormat { kText, kJson };

std::string_view to_string(Protocol value);
std::string_view to_string(BackendType value);
std::string_view to_string(Role value);
std::string_view to_string(PoolMode value);

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string to_string() const;
};

// Pool knobs. Defaults live in the top-level `pool:` section; a cluster may override any of
// them and a backend pool_size, max_overflow and min_idle. The loader resolves them so
// every Backend carries its effective settings.
struct PoolSettings {
  int pool_size = 20;
  int max_overflow = 0;
  int min_idle = 0;
  Duration connect_timeout{5000};
  Duration idle_timeout{600000};
  Duration max_lifetime{3600000};
  Duration query_wait_timeout{120000};
  std::string reset_query = "DISCARD ALL";  // run in session mode when a client leaves
};

struct User {
  std::string name;
  // Plain text, a SCRAM-SHA-256 secret ("SCRAM-SHA-256$...") or an md5 secret ("md5...").
  std::string password;
  bool admin = false;
  std::optional<PoolMode> pool_mode;  // overrides the cluster's
};

struct Backend {
  std::string name;
  BackendType type = BackendType::kPostgres;
  Role role = Role::kPrimary;
  std::string host = "127.0.0.1";
  std::uint16_t port = 5432;
  std::string database;  // defaults to the cluster's name
  std::string username;  // empty: the client's user name and password
  std::string password;
  std::string path;      // sqlite: the database file
  std::string tls = "prefer";
  int weight = 1;
  std::string zone;
  PoolSettings pool;
  int line = 0;  // where it was declared, for messages about it
};

struct Rule {
  std::string match;  // regular expression on the statement text
  std::optional<Role> role;
  std::optional<Duration> cache_ttl;
  bool block = false;
  int line = 0;
};

struct Cluster {
  std::string name;
  Protocol protocol = Protocol::kPostgres;
  PoolMode pool_mode = PoolMode::kTransaction;
  std::string read_your_writes = "off";
  std::optional<Endpoint> listen;
  std::vector<Backend> backends;
  std::vector<Rule> rules;

  // A cluster whose only backend is sqlite is answered by the executor.
  bool is_sqlite() const {
    return backends.size() == 1 && backends.front().type == BackendType::kSqlite;
  }
};

struct Listen {
  std::optional<Endpoint> postgres;
  std::optional<Endpoint> mysql;
  std::optional<Endpoint> redis;
  std::optional<Endpoint> admin;
};

struct Health {
  Duration interval{1000};
  Duration timeout{1000};
  int fall = 3;
  int rise = 2;
};

struct Limits {
  int max_client_conn = 10000;
  std::size_t max_message_size = 64 * 1024 * 1024;
  Duration shutdown_timeout{30000};
  Duration startup_timeout{15000};
};

struct Logging {
  std::string level = "info";
  LogFormat format = LogFormat::kText;
  std::map<std::string, std::string> components;  // component → level
};

struct Config {
  std::string source;  // the file it came from, or "<embedded default>"
  Listen listen;
  int threads = 0;  // 0: one per core
  ClientTls client_tls = ClientTls::kDisable;
  // Empty with users_configured false: clients are trusted from loopback only.
  std::vector<User> users;
  bool users_configured = false;
  std::map<std::string, Cluster> clusters;
  // The cluster a client reaches when it names a database no cluster has (the embedded
  // default serves every name from its one SQLite file); empty: unknown names are refused.
  std::string fallback_cluster;
  PoolSettings pool;
  Health health;
  Limits limits;
  Logging log;

  const User* find_user(std::string_view name) const;
  const Cluster* find_cluster(std::string_view name) const;
};

// One problem found while loading: where (file, line, key path such as
// "clusters.appdb.backends[0].port") and what.
struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  std::string key;
  std::string message;
  std::string to_string() const;  // "file:line: key: message"
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when there are errors
  std::vector<ConfigError> errors;
};

// Looks up an environment variable; tests pass their own.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;
Environment process_environment();

// Reads YAML, expands ${VAR} and ${VAR:-default} in scalars, applies PLEXIPROXY_* overrides
// (PLEXIPROXY_LISTEN__POSTGRES=..., path segments joined by "__"), validates everything and
// collects every error rather than stopping at the first.
LoadResult load_config_file(const std::string& path, const Environment& env);
LoadResult load_config_text(std::string_view yaml, const std::string& source_name,
                            const Environment& env);

// No file: PostgreSQL and MySQL listeners on an SQLite file in `data_dir`, trust for
// loopback clients, the admin listener on. Every cluster name maps to that one database.
std::shared_ptr<const Config> embedded_default_config(const std::string& data_dir);

// Parses "500ms", "1s", "5m", "1h", or a bare number of seconds.
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace plexi::config
