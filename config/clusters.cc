// Reads the `clusters:` section: each cluster's settings, its backends with their pool knobs
// resolved, its query rules, and the checks that span a whole cluster.
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>

#include "config/loader.h"

namespace plexi::config::detail {
namespace {

const Choices<Protocol> kProtocols = {
    {"postgres", Protocol::kPostgres}, {"mysql", Protocol::kMysql}, {"redis", Protocol::kRedis}};
const Choices<BackendType> kBackendTypes = {{"postgres", BackendType::kPostgres},
                                            {"mysql", BackendType::kMysql},
                                            {"redis", BackendType::kRedis},
                                            {"sqlite", BackendType::kSqlite}};
const Choices<Role> kRoles = {{"primary", Role::kPrimary},
                              {"replica", Role::kReplica},
                              {"analytics", Role::kAnalytics},
                              {"cache", Role::kCache}};
const Choices<PoolMode> kPoolModes = {{"session", PoolMode::kSession},
                                      {"transaction", PoolMode::kTransaction},
                                      {"statement", PoolMode::kStatement}};
const Choices<ReadYourWrites> kReadYourWrites = {{"lsn", ReadYourWrites::kLsn},
                                                 {"window", ReadYourWrites::kWindow},
                                                 {"off", ReadYourWrites::kOff}};
const Choices<ServerTls> kServerTls = {{"disable", ServerTls::kDisable},
                                       {"prefer", ServerTls::kPrefer},
                                       {"require", ServerTls::kRequire},
                                       {"verify-ca", ServerTls::kVerifyCa},
                                       {"verify-full", ServerTls::kVerifyFull}};
const Choices<Role> kReadFrom = {{"primary", Role::kPrimary}, {"replica", Role::kReplica}};
// The key hashes of twemproxy that routing::KetamaRing implements.
const std::vector<std::string_view> kRedisHashes = {
    "fnv1a_64", "fnv1_64", "fnv1a_32", "fnv1_32", "md5",     "crc16",
    "crc32",    "crc32a",  "murmur",   "hsieh",   "jenkins", "one_at_a_time"};
const Choices<LoadBalancing> kLoadBalancing = {
    {"round_robin", LoadBalancing::kRoundRobin},
    {"least_outstanding", LoadBalancing::kLeastOutstanding},
    {"weighted", LoadBalancing::kWeighted}};

std::uint16_t default_port(BackendType type) {
  switch (type) {
    case BackendType::kPostgres:
      return 5432;
    case BackendType::kMysql:
      return 3306;
    case BackendType::kRedis:
      return 6379;
    case BackendType::kSqlite:
      return 0;
  }
  return 0;
}

bool has_value(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return false;
  const YAML::Node value = map[std::string(key)];
  return value.IsDefined() && !value.IsNull();
}

struct ClusterDraft {
  Cluster cluster;
  PoolSettings pool;  // the top-level pool with this cluster's knobs applied
  bool protocol_given = false;
  bool window_given = false;  // read_your_writes_window, checked against the mode
  YAML::Node window_node;
  YAML::Node listen_node;
  YAML::Node sentinels_node;
  YAML::Node sentinel_master_node;
  std::vector<YAML::Node> backend_nodes;
  std::vector<std::string> backend_paths;
};

const Fields<Backend>& backend_fields() {
  static const Fields<Backend> fields = [] {
    Fields<Backend> f = {
        field("name", &Backend::name, as_name()),
        // Before port: a backend's type chooses its default port.
        {"type",
         [](Reader& r, const YAML::Node& n, const std::string& path, Backend& b) {
           if (auto type = as_choice(kBackendTypes)(r, n, path)) {
             b.type = *type;
             b.port = default_port(*type);
           }
         }},
        field("role", &Backend::role, as_choice(kRoles)),
        field("host", &Backend::host, as_name()),
        field("port", &Backend::port, as_port()),
        field("database", &Backend::database, as_string()),
        field("username", &Backend::username, as_string()),
        field("path", &Backend::path, as_name()),
        field("tls", &Backend::tls, as_choice(kServerTls)),
        field("tls_ca_file", &Backend::tls_ca_file, as_name()),
        field("weight", &Backend::weight, as_int<int>(0, 1000)),
        field("zone", &Backend::zone, as_string()),
        field("shard", &Backend::shard, as_name()),
    };
    for (auto& s : secret_fields("password", "password_file", &Backend::password)) {
      f.push_back(std::move(s));
    }
    // A backend may size its own pool; timeouts stay per cluster.
    Fields<PoolSettings> sizes;
    for (const auto& knob : pool_fields()) {
      if (knob.key == "pool_size" || knob.key == "max_overflow" || knob.key == "min_idle") {
        sizes.push_back(knob);
      }
    }
    for (auto& knob : lift(&Backend::pool, sizes)) f.push_back(std::move(knob));
    return f;
  }();
  return fields;
}

// A host with a '/' in it is a Unix socket path: it must be absolute (a relative one would
// depend on the daemon's working directory), and its socket file must fit a socket address.
void check_socket_path(Reader& r, const YAML::Node& item, const std::string& path,
                       const Backend& backend) {
  const std::string& host = backend.host;
  if (!is_socket_path(host)) {
    if (host.find('/') != std::string::npos) {
      r.error(item["host"], child_path(path, "host"),
              "a Unix socket path must be absolute (start with '/'), got '" + host + "'");
    }
    return;
  }
  constexpr std::size_t kLongest = sizeof(sockaddr_un::sun_path) - 1;
  const std::string file = socket_file(backend.type, host, backend.port);
  if (file.size() > kLongest) {
    r.error(item["host"], child_path(path, "host"),
            "the Unix socket " + file + " is longer than the " + std::to_string(kLongest) +
                " bytes a socket address holds");
  }
}

// tls_ca_file matters exactly where a certificate is checked (the proxy does not guess a
// system bundle, which libpq 15's health checks could not share), and TLS never runs over a
// Unix socket: a setting that would be ignored is reported instead.
void check_tls(Reader& r, const YAML::Node& item, const std::string& path, const Backend& backend) {
  if (backend.type == BackendType::kSqlite) return;
  const bool verifies = backend.tls >= ServerTls::kVerifyCa;
  if (!backend.tls_ca_file.empty() && !verifies) {
    r.error(item["tls_ca_file"], child_path(path, "tls_ca_file"),
            "tls_ca_file is only read with tls: verify-ca or verify-full, not tls: " +
                std::string(to_string(backend.tls)));
  } else if (backend.tls_ca_file.empty() && verifies) {
    r.error(item["tls"], child_path(path, "tls"),
            "tls: " + std::string(to_string(backend.tls)) +
                " needs tls_ca_file: the CA certificates the server's certificate must chain to");
  }
  if (is_socket_path(backend.host) && backend.tls >= ServerTls::kRequire) {
    r.error(item["tls"], child_path(path, "tls"),
            "a backend on a Unix socket never uses TLS; tls: " +
                std::string(to_string(backend.tls)) + " cannot be met (use prefer or disable)");
  }
}

void read_backends(Reader& r, const YAML::Node& node, const std::string& path, ClusterDraft& d) {
  if (node.IsNull()) return;  // reported as a cluster without backends
  if (!node.IsSequence()) {
    r.error(node, path, "expected a list of backends (lines starting with '- name:')");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string item_path = index_path(path, i);
    Backend backend;
    backend.name = d.cluster.name + "-" + std::to_string(i + 1);
    backend.pool = d.pool;
    if (!read_map(r, item, item_path, backend_fields(), backend)) continue;
    backend.line = item.Mark().is_null() ? 0 : item.Mark().line + 1;

    if (backend.type == BackendType::kSqlite) {
      if (!has_value(item, "path")) r.error(item, item_path, "a sqlite backend needs a path:");
    } else if (!has_value(item, "host")) {
      r.error(item, item_path,
              "a " + std::string(to_string(backend.type)) + " backend needs a host:");
    } else {
      check_socket_path(r, item, item_path, backend);
      check_tls(r, item, item_path, backend);
    }
    if (has_value(item, "pool_size") || has_value(item, "min_idle")) {
      check_pool(r, item, item_path, backend.pool);
    }
    if (backend.type == BackendType::kRedis) {
      // A Redis database is a number, so the cluster's name is no default; empty: no SELECT.
      const auto& db = backend.database;
      if (!db.empty() && db.find_first_not_of("0123456789") != std::string::npos) {
        r.error(item["database"], child_path(item_path, "database"),
                "a Redis database is a number, got '" + db + "'");
      }
    } else if (backend.database.empty()) {
      backend.database = d.cluster.name;
    }
    d.cluster.backends.push_back(std::move(backend));
    d.backend_nodes.push_back(item);
    d.backend_paths.push_back(item_path);
  }
}

const Fields<Rule>& rule_fields() {
  static const Fields<Rule> fields = {
      field("match", &Rule::match, as_name()),
      field("match_fingerprint", &Rule::match_fingerprint, as_name()),
      field("role", &Rule::role, as_choice(kRoles)),
      field("cache_ttl", &Rule::cache_ttl, as_duration(true)),
      field("block", &Rule::block, as_bool()),
  };
  return fields;
}

void read_rules(Reader& r, const YAML::Node& node, const std::string& path, ClusterDraft& d) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    r.error(node, path, "expected a list of rules (lines starting with '- match:')");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string item_path = index_path(path, i);
    Rule rule;
    if (!read_map(r, item, item_path, rule_fields(), rule)) continue;
    rule.line = item.Mark().is_null() ? 0 : item.Mark().line + 1;
    const bool by_fingerprint = has_value(item, "match_fingerprint");
    if (has_value(item, "match") && by_fingerprint) {
      r.error(item, item_path, "a rule matches by match: or by match_fingerprint:, not both");
    } else if (!has_value(item, "match") && !by_fingerprint) {
      r.error(item, item_path,
              "a rule needs a match: regular expression or a match_fingerprint: statement shape");
    } else if (!rule.match.empty()) {
      try {
        std::regex compiled(rule.match, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        r.error(item[std::string("match")], child_path(item_path, "match"),
                "not a valid regular expression: " + std::string(e.what()));
      }
    }
    if (!rule.role && !rule.cache_ttl && !rule.block &&
        (has_value(item, "match") || by_fingerprint)) {
      r.error(item, item_path, "a rule does nothing without role:, cache_ttl: or block: true");
    }
    d.cluster.rules.push_back(std::move(rule));
  }
}

// The grammar routing::VolatileFunctions reads: name or schema.name, then an optional '*'.
bool function_pattern(std::string_view entry) {
  if (entry.ends_with('*')) entry.remove_suffix(1);
  auto identifier = [](std::string_view part) {
    return !part.empty() && !std::isdigit(static_cast<unsigned char>(part[0])) && part[0] != '$' &&
           std::all_of(part.begin(), part.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
           });
  };
  const std::size_t dot = entry.find('.');
  return dot == std::string_view::npos
             ? identifier(entry)
             : identifier(entry.substr(0, dot)) && identifier(entry.substr(dot + 1));
}

void read_volatile_functions(Reader& r, const YAML::Node& node, const std::string& path,
                             ClusterDraft& d) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    r.error(node, path, "expected a list of function names, such as [audit.log_event, lock_*]");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = index_path(path, i);
    const auto name = r.text(node[i], item_path);
    if (!name) continue;
    if (!function_pattern(*name)) {
      r.error(
          node[i], item_path,
          "expected a function name, schema.name, or a prefix ending in *, got '" + *name + "'");
      continue;
    }
    d.cluster.volatile_functions.push_back(*name);
  }
}

void read_sentinels(Reader& r, const YAML::Node& node, const std::string& path, ClusterDraft& d) {
  d.sentinels_node = node;
  if (node.IsNull()) return;
  if (!node.IsSequence() || node.size() == 0) {
    r.error(node, path, "expected a list of Sentinel addresses, such as [10.0.0.5:26379]");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = index_path(path, i);
    auto sentinel = as_endpoint()(r, node[i], item_path);
    if (!sentinel) continue;
    const std::string address = sentinel->to_string();
    if (sentinel->port == 0) {
      r.error(node[i], item_path, "a Sentinel's port cannot be 0");
    } else if (std::any_of(d.cluster.sentinels.begin(), d.cluster.sentinels.end(),
                           [&](const Endpoint& e) { return e.to_string() == address; })) {
      r.error(node[i], item_path, "Sentinel " + address + " is listed twice");
    } else {
      d.cluster.sentinels.push_back(*sentinel);
    }
  }
}

const Fields<ClusterDraft>& cluster_fields() {
  static const Fields<ClusterDraft> fields = [] {
    Fields<ClusterDraft> f = {
        {"protocol",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto protocol = as_choice(kProtocols)(r, n, path)) {
             d.cluster.protocol = *protocol;
             d.protocol_given = true;
           }
         }},
        {"pool_mode",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto mode = as_choice(kPoolModes)(r, n, path)) d.cluster.pool_mode = *mode;
         }},
        {"read_your_writes",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto value = as_choice(kReadYourWrites)(r, n, path)) {
             d.cluster.read_your_writes = *value;
           }
         }},
        {"read_your_writes_window",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto value = as_duration(true)(r, n, path)) {
             d.cluster.read_your_writes_window = *value;
             d.window_given = true;
             d.window_node = n;
           }
         }},
        {"load_balancing",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto value = as_choice(kLoadBalancing)(r, n, path))
             d.cluster.load_balancing = *value;
         }},
        {"read_from",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto value = as_choice(kReadFrom)(r, n, path)) d.cluster.read_from = *value;
         }},
        {"pipeline_reads",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto value = as_bool()(r, n, path)) d.cluster.pipeline_reads = *value;
         }},
        {"hash",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto value = as_word(kRedisHashes)(r, n, path)) d.cluster.sharding.hash = *value;
         }},
        {"hash_tag",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           auto value = as_string()(r, n, path);
           if (!value) return;
           if (!value->empty() && value->size() != 2) {
             r.error(n, path, "a hash tag is two characters, such as \"{}\"");
             return;
           }
           d.cluster.sharding.hash_tag = *value;
         }},
        {"distribution",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto value = as_word({"ketama"})(r, n, path)) {
             d.cluster.sharding.distribution = *value;
           }
         }},
        {"on_failover",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto value = as_name()(r, n, path)) d.cluster.on_failover = *value;
         }},
        {"health",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           read_map(r, n, path, health_fields(), d.cluster.health);
         }},
        {"listen",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           d.cluster.listen = as_endpoint()(r, n, path);
           d.listen_node = n;
         }},
        {"sentinels", read_sentinels},
        {"sentinel_master",
         [](Reader& r, const YAML::Node& n, const std::string& path, ClusterDraft& d) {
           if (auto name = as_name()(r, n, path)) d.cluster.sentinel_master = *name;
           d.sentinel_master_node = n;
         }},
    };
    static const Fields<AuthQuery> auth = [] {
      Fields<AuthQuery> a = {
          field("auth_user", &AuthQuery::user, as_name()),
          field("auth_query", &AuthQuery::query, as_name()),
          field("auth_database", &AuthQuery::database, as_name()),
          field("auth_query_cache_ttl", &AuthQuery::cache_ttl, as_duration(false)),
      };
      for (auto& s : secret_fields("auth_password", "auth_password_file", &AuthQuery::password)) {
        a.push_back(std::move(s));
      }
      return a;
    }();
    for (auto& key : auth) {
      f.push_back(
          {key.key, [read = key.read](Reader& r, const YAML::Node& n, const std::string& path,
                                      ClusterDraft& d) { read(r, n, path, d.cluster.auth); }});
    }
    // Pool knobs come before backends so each backend starts from the cluster's settings.
    for (auto& knob : lift(&ClusterDraft::pool, pool_fields())) f.push_back(std::move(knob));
    f.push_back({"backends", read_backends});
    f.push_back({"rules", read_rules});
    f.push_back({"volatile_functions", read_volatile_functions});
    return f;
  }();
  return fields;
}

// Whether a backend of `type` and `role` can serve a cluster speaking `protocol`.
bool compatible(Protocol protocol, const Backend& backend) {
  switch (backend.type) {
    case BackendType::kPostgres:
      return protocol == Protocol::kPostgres;
    case BackendType::kMysql:
      return protocol == Protocol::kMysql;
    // The result cache of a SQL cluster lives on a Redis backend.
    case BackendType::kRedis:
      return protocol == Protocol::kRedis || backend.role == Role::kCache;
    case BackendType::kSqlite:
      return protocol != Protocol::kRedis;
  }
  return false;
}

// Shards are for Redis clusters: all their backends name one, and each shard has exactly
// one backend configured as its primary.
void check_shards(Reader& r, const YAML::Node& node, const std::string& path,
                  const ClusterDraft& d) {
  const auto& cluster = d.cluster;
  std::map<std::string, int> primaries;
  bool any = false;
  for (const auto& backend : cluster.backends) any = any || !backend.shard.empty();
  for (std::size_t i = 0; i < cluster.backends.size(); ++i) {
    const auto& backend = cluster.backends[i];
    const auto& at = d.backend_nodes[i];
    if (!backend.shard.empty() && cluster.protocol != Protocol::kRedis) {
      r.error(at, child_path(d.backend_paths[i], "shard"), "only Redis clusters have shards");
      return;
    }
    if (!any || backend.role == Role::kCache) continue;
    if (backend.shard.empty()) {
      r.error(at, child_path(d.backend_paths[i], "shard"),
              "the other backends name their shard, so this one needs a shard: too");
      continue;
    }
    if (backend.role == Role::kPrimary) ++primaries[backend.shard];
    primaries.try_emplace(backend.shard, 0);
  }
  for (const auto& [shard, count] : primaries) {
    if (count != 1) {
      r.error(node, child_path(path, "backends"),
              "shard '" + shard + "' needs exactly one backend with role: primary, has " +
                  std::to_string(count));
    }
  }
  if (cluster.protocol != Protocol::kRedis &&
      (has_value(node, "hash") || has_value(node, "hash_tag") || has_value(node, "read_from"))) {
    r.error(node, path, "hash:, hash_tag: and read_from: are settings of Redis clusters");
  }
}

// Sentinels name a Redis master: only a Redis cluster has one, and they need its name.
void check_sentinels(Reader& r, const std::string& path, const ClusterDraft& d) {
  const bool listed = d.sentinels_node.IsDefined() && !d.sentinels_node.IsNull();
  const bool named = !d.cluster.sentinel_master.empty();
  if (listed && d.cluster.protocol != Protocol::kRedis) {
    r.error(d.sentinels_node, child_path(path, "sentinels"),
            "only a redis cluster can ask Sentinels for its master (this one is " +
                std::string(to_string(d.cluster.protocol)) + ")");
  } else if (listed && !named) {
    r.error(d.sentinels_node, child_path(path, "sentinels"),
            "Sentinels need sentinel_master: the name they monitor the master by");
  } else if (named && !listed) {
    r.error(d.sentinel_master_node, child_path(path, "sentinel_master"),
            "a master name needs sentinels: the addresses of the Sentinels that know it");
  }
}

// auth_* keys need auth_user, and only PostgreSQL and MySQL clusters look users up, each with
// its own default query.
void check_auth_query(Reader& r, const YAML::Node& node, const std::string& path, ClusterDraft& d) {
  if (!node.IsMap()) return;
  for (const auto& entry : node) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    if (!key.starts_with("auth_") || key == "auth_user") continue;
    if (!d.cluster.auth.enabled()) {
      r.error(entry.first, child_path(path, key), "needs auth_user: who runs the query");
      return;
    }
  }
  if (d.cluster.auth.enabled() && d.cluster.protocol == Protocol::kRedis) {
    r.error(node["auth_user"], child_path(path, "auth_user"),
            "only postgres and mysql clusters look users up with auth_query (this one is " +
                std::string(to_string(d.cluster.protocol)) + ")");
  }
  if (d.cluster.protocol == Protocol::kMysql && !has_value(node, "auth_query")) {
    d.cluster.auth.query = std::string(AuthQuery::kMysqlQuery);
  }
}

void check_cluster(Reader& r, const YAML::Node& node, const std::string& path, ClusterDraft& d) {
  auto& cluster = d.cluster;
  const YAML::Node backends = node.IsMap() ? node["backends"] : YAML::Node();
  if (backends.IsDefined() && !backends.IsNull() && !backends.IsSequence()) return;  // reported
  if (cluster.backends.empty()) {
    r.error(node, child_path(path, "backends"), "a cluster needs at least one backend");
    return;
  }
  if (!d.protocol_given) {
    const auto type = cluster.backends.front().type;
    cluster.protocol = type == BackendType::kMysql   ? Protocol::kMysql
                       : type == BackendType::kRedis ? Protocol::kRedis
                                                     : Protocol::kPostgres;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < cluster.backends.size(); ++i) {
    const auto& backend = cluster.backends[i];
    const auto& at = d.backend_nodes[i];
    if (!names.insert(backend.name).second) {
      r.error(at, child_path(d.backend_paths[i], "name"),
              "backend name '" + backend.name + "' is used twice in this cluster");
    }
    if (!compatible(cluster.protocol, backend)) {
      r.error(at, child_path(d.backend_paths[i], "type"),
              "a " + std::string(to_string(cluster.protocol)) + " cluster cannot use a " +
                  std::string(to_string(backend.type)) + " backend" +
                  (backend.type == BackendType::kRedis ? " except with role: cache" : ""));
    }
    if (backend.role == Role::kCache && backend.type != BackendType::kRedis) {
      r.error(at, child_path(d.backend_paths[i], "role"), "the cache role needs a redis backend");
    }
    if (backend.role == Role::kCache && cluster.protocol == Protocol::kRedis) {
      r.error(at, child_path(d.backend_paths[i], "role"),
              "the cache role is for PostgreSQL and MySQL clusters");
    }
    if (backend.role == Role::kCache && backend.tls >= ServerTls::kRequire) {
      // hiredis 0.14, which the cache is reached with, has no TLS.
      r.error(at, child_path(d.backend_paths[i], "tls"),
              "the cache backend is reached without TLS (use a loopback or private address)");
    }
  }
  int caches = 0;
  for (std::size_t i = 0; i < cluster.backends.size(); ++i) {
    if (cluster.backends[i].role != Role::kCache || ++caches == 1) continue;
    r.error(d.backend_nodes[i], child_path(d.backend_paths[i], "role"),
            "a cluster has at most one backend with role: cache");
  }
  if (caches == 0) {
    for (std::size_t i = 0; i < cluster.rules.size(); ++i) {
      if (!cluster.rules[i].cache_ttl) continue;
      const std::string rule_path = child_path(path, "rules") + "[" + std::to_string(i) + "]";
      r.error(node["rules"][i]["cache_ttl"], child_path(rule_path, "cache_ttl"),
              "the cluster has no backend with role: cache to keep results in");
      break;
    }
  }
  check_shards(r, node, path, d);
  if (d.window_given && cluster.read_your_writes != ReadYourWrites::kWindow) {
    r.error(d.window_node, child_path(path, "read_your_writes_window"),
            "only used with read_your_writes: window (here " +
                std::string(to_string(cluster.read_your_writes)) + ")");
  }
  check_sentinels(r, path, d);
  check_auth_query(r, node, path, d);
  const bool sizes_here = has_value(node, "pool_size") || has_value(node, "min_idle");
  if (sizes_here) check_pool(r, node, path, d.pool);
}

}  // namespace

void read_clusters(Reader& r, const YAML::Node& node, const std::string& path, Draft& draft) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    r.error(node, path, "expected a section of clusters, each under its name");
    return;
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar() || entry.first.Scalar().empty()) {
      r.error(entry.first, path, "a cluster needs a plain, non-empty name");
      continue;
    }
    const std::string& name = entry.first.Scalar();
    const std::string cluster_path = child_path(path, name);
    r.note_empty_value(entry.second, entry.first);
    if (!seen.insert(name).second) {
      r.error(entry.first, cluster_path, "cluster defined twice");
      continue;
    }
    if (name == "plexiproxy") {
      r.error(entry.first, cluster_path, "the name plexiproxy is the admin console's database");
      continue;
    }
    ClusterDraft d;
    d.cluster.name = name;
    d.pool = draft.config.pool;
    d.cluster.health = draft.config.health;
    if (!read_map(r, entry.second, cluster_path, cluster_fields(), d)) continue;
    check_cluster(r, entry.second, cluster_path, d);
    if (d.cluster.listen) {
      draft.bound.push_back({child_path(cluster_path, "listen"), *d.cluster.listen, d.listen_node});
    }
    draft.cluster_nodes[name] = entry.second;
    draft.config.clusters.emplace(name, std::move(d.cluster));
  }

  // A Redis client names no database, so the shared redis listener can serve only one
  // cluster; the others need their own address.
  std::string shared_by;
  for (const auto& [name, cluster] : draft.config.clusters) {
    if (cluster.protocol != Protocol::kRedis || cluster.listen) continue;
    if (shared_by.empty()) {
      shared_by = name;
      continue;
    }
    r.error(draft.cluster_nodes[name], child_path(child_path(path, name), "listen"),
            "Redis clients name no database, so only one Redis cluster (here '" + shared_by +
                "') can use the shared redis listener; give this one its own listen: address");
  }
}

}  // namespace plexi::config::detail
