// The configuration snapshot: what the YAML file says, validated and with defaults applied.
// A snapshot is immutable; reload builds a new one and swaps it in whole.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace plexi::config {

using Duration = std::chrono::milliseconds;

enum class Protocol { kPostgres, kMysql, kRedis };
enum class BackendType { kPostgres, kMysql, kRedis, kSqlite };
enum class Role { kPrimary, kReplica, kAnalytics, kCache };
enum class PoolMode { kSession, kTransaction, kStatement };
enum class ClientTls { kDisable, kAllow, kRequire };
// TLS towards a backend, named and ordered as libpq's sslmode: prefer uses TLS when the server
// offers it, require insists on it, verify-ca also checks the certificate's chain against
// tls_ca_file, verify-full also that the certificate names the backend's host.
enum class ServerTls { kDisable, kPrefer, kRequire, kVerifyCa, kVerifyFull };
// How a user proves who it is: its password, or a client certificate whose common name is
// the user's name (verified against tls.ca_file), as PgBouncer's and PostgreSQL's `cert`.
enum class UserAuth { kPassword, kCert };
enum class LogFormat { kText, kJson };
// After a client's write, where its reads go: lsn keeps them on the primary until a replica
// has replayed the write; window keeps them there for read_your_writes_window; off sends them
// to replicas at once.
enum class ReadYourWrites { kOff, kLsn, kWindow };
enum class LoadBalancing { kRoundRobin, kLeastOutstanding, kWeighted };
// What an access rule does with the clients it matches, named as pg_hba.conf's methods:
// trust logs them in without a password, password asks for whatever the user's secret can
// check (SCRAM, md5, MySQL's plugins, Redis AUTH), scram-sha-256 and md5 insist on that
// PostgreSQL exchange (elsewhere they mean password), cert wants a client certificate naming
// the user, reject refuses them before any authentication.
enum class AccessMethod { kTrust, kPassword, kScramSha256, kMd5, kCert, kReject };

std::string_view to_string(Protocol value);
std::string_view to_string(BackendType value);
std::string_view to_string(Role value);
std::string_view to_string(PoolMode value);
std::string_view to_string(ClientTls value);
std::string_view to_string(ServerTls value);
std::string_view to_string(UserAuth value);
std::string_view to_string(LogFormat value);
std::string_view to_string(ReadYourWrites value);
std::string_view to_string(LoadBalancing value);
std::string_view to_string(AccessMethod value);

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string to_string() const;  // "host:port", "[v6]:port"
};

// Parses a listen address: "host:port", "[::1]:6432", or a bare port meaning 127.0.0.1.
std::optional<Endpoint> parse_endpoint(std::string_view text);

// A backend host that is an absolute path names a Unix socket on this machine. For MySQL and
// Redis it is the socket file itself (as the mysql client's --socket takes it); for PostgreSQL
// it is the directory holding `.s.PGSQL.<port>` (as libpq's host takes it).
bool is_socket_path(std::string_view host);
// The socket file a backend of `type` at `host`, a socket path, and `port` connects to.
std::string socket_file(BackendType type, std::string_view host, std::uint16_t port);

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
  UserAuth auth = UserAuth::kPassword;
  int max_client_conn = 0;  // this user's connected clients; 0: limits.max_user_client_conn
};

// The stored forms of a password, which do not let anyone log in by themselves being read:
// SCRAM-SHA-256 and md5 secrets (PostgreSQL) and mysql_native_password hashes. A user's
// password that is none of them is the password itself.
bool is_hashed_secret(std::string_view text);

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
  // Redis negotiates nothing before TLS, so there prefer means no TLS and require TLS from
  // the first byte. A Unix socket backend never uses TLS (the loader refuses require and up).
  ServerTls tls = ServerTls::kPrefer;
  std::string tls_ca_file;  // the CAs verify-ca and verify-full trust; required by them
  int weight = 1;
  std::string zone;
  // Redis: the shard this backend belongs to (a primary and its replicas share one). The
  // shard's name is what the hash ring places, as twemproxy places a server's name.
  std::string shard;
  PoolSettings pool;
  int line = 0;  // where it was declared, for messages about it
};

// A rule matches by exactly one of `match` and `match_fingerprint`.
struct Rule {
  std::string match;  // regular expression on the statement text
  // A statement's shape (its text with literals as `?`, as SHOW QUERIES prints it), matched
  // exactly, or the shape's digest as 16 hexadecimal digits.
  std::string match_fingerprint;
  std::optional<Role> role;
  std::optional<Duration> cache_ttl;
  bool block = false;
  int line = 0;
};

// Health checks. The top-level `health:` section sets the defaults; a cluster's own
// `health:` section overrides any key, and the loader stores the result in Cluster::health.
struct Health {
  Duration interval{1000};
  Duration timeout{1000};
  int fall = 3;
  int rise = 2;
  Duration max_replication_lag{0};  // replicas lagging more get no reads; 0: no limit
  // Who the checks log in as when a backend has no username of its own; empty database:
  // the backend's database.
  std::string user;
  std::string password;
  std::string database;
};

// How a Redis cluster with shards spreads keys: twemproxy's ketama ring, its key hash, and
// the hash tag (two characters, such as "{}") whose enclosed part alone is hashed.
struct Sharding {
  std::string hash = "fnv1a_64";
  std::string hash_tag;
  std::string distribution = "ketama";
};

// Users the config does not list, looked up on the cluster's write target as PgBouncer's
// auth_user does: `query` runs as `user` with the client's user name as $1 (PostgreSQL) or
// in place of each ? (MySQL, quoted) and answers (name, secret); the secret is cached for
// `cache_ttl` (0: asked at every login). PostgreSQL secrets are SCRAM-SHA-256 or md5; MySQL
// ones mysql_native_password hashes, with which the relay logs in by passthrough.
struct AuthQuery {
  // The MySQL default: the mysql_native_password hash of the account the server matches for
  // connections from where auth_user's come from (the proxy's own, USER() tells), as the
  // server would pick among a user's several user@host accounts: literal Host first, then
  // the longest pattern. An account with another plugin or no password is not found.
  static constexpr std::string_view kMysqlQuery =
      "SELECT User, authentication_string FROM mysql.user"
      " WHERE User = ? AND plugin IN ('mysql_native_password', '')"
      " AND authentication_string <> ''"
      " AND SUBSTRING_INDEX(USER(), '@', -1) LIKE Host"
      " ORDER BY Host LIKE '%\\%%' OR Host LIKE '%\\_%', LENGTH(Host) DESC LIMIT 1";

  std::string user;  // empty: no lookup, only the config's users
  std::string password;
  std::string query = "SELECT usename, passwd FROM pg_shadow WHERE usename=$1";  // or kMysqlQuery
  std::string database;  // empty: the backend's database
  Duration cache_ttl{60000};

  bool enabled() const { return !user.empty(); }
};

struct Cluster {
  std::string name;
  Protocol protocol = Protocol::kPostgres;
  PoolMode pool_mode = PoolMode::kTransaction;
  ReadYourWrites read_your_writes = ReadYourWrites::kWindow;
  Duration read_your_writes_window{1000};
  LoadBalancing load_balancing = LoadBalancing::kRoundRobin;
  // Redis: where read-only commands go, the primary (the default: Redis replicas lag) or
  // the replicas.
  Role read_from = Role::kPrimary;
  Sharding sharding;
  // MySQL: autocommit reads of clients that changed nothing in their session run on a few
  // server connections each worker shares among its clients, written back to back (see
  // pools/mysql/shared_link.h); off: every statement gets a connection of its own.
  bool pipeline_reads = true;
  Health health;  // the top-level health section with this cluster's overrides applied
  // Run when the write target changes: the command, then the cluster, the old write target
  // (empty when there was none) and the new one as arguments.
  std::string on_failover;
  std::optional<Endpoint> listen;
  std::vector<Backend> backends;
  std::vector<Rule> rules;
  // Functions whose calls keep a SELECT on the primary, added to the built-in list: names,
  // schema.name, or prefixes ending in '*'.
  std::vector<std::string> volatile_functions;
  // Redis clusters only: Sentinels to ask for the master's address (host:port each), and the
  // name they monitor it by. Both or neither.
  std::vector<Endpoint> sentinels;
  std::string sentinel_master;
  AuthQuery auth;  // PostgreSQL and MySQL clusters

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

struct Limits {
  int max_client_conn = 10000;
  int max_user_client_conn = 0;  // per user, over every listener; 0: no limit
  std::size_t max_message_size = 64 * 1024 * 1024;
  Duration shutdown_timeout{30000};
  // From the connection to the end of authentication (TLS handshake included).
  Duration startup_timeout{15000};
  // A logged-in client that holds no server connection and has sent nothing for this long
  // is closed (as PgBouncer's client_idle_timeout); 0: never.
  Duration client_idle_timeout{0};
  // Redis: requests of one client read ahead of its replies; beyond it the client's socket
  // is not read until replies have gone out.
  std::size_t max_pipelined = 4096;
};

// An address block of an access rule: "10.0.0.0/8", "::1/128", or one address. IPv4 is kept
// as IPv4-mapped IPv6 (::ffff:a.b.c.d) so one comparison serves both families.
struct AddressBlock {
  std::array<std::uint8_t, 16> bytes{};
  int prefix = 128;
};

// One line of the access rules (as one of pg_hba.conf): a client matching every condition
// given gets the rule's method; the first matching rule wins and a client no rule matches
// is refused.
struct AccessRule {
  std::vector<Protocol> listeners;    // empty: every listener
  std::vector<std::string> clusters;  // empty: every cluster; "plexiproxy": the admin console
  std::vector<std::string> users;     // empty: every user
  std::vector<AddressBlock> addresses;  // empty: every client address
  std::optional<bool> tls;  // true: TLS connections only; false: plain ones only
  AccessMethod method = AccessMethod::kPassword;
  int line = 0;
};

// One JSON line per statement relayed, to a file rotated by size.
struct AuditLog {
  std::string file;  // empty: no audit log
  std::size_t max_size = 100 * 1024 * 1024;
  int max_files = 5;  // rotated files kept besides the current one
};

struct Logging {
  std::string level = "info";
  LogFormat format = LogFormat::kText;
  std::map<std::string, std::string> components;  // component → level
  // Statement text (with its literals, which may be secrets) in logs and the audit log.
  bool statements = false;
  AuditLog audit;
};

struct Admin {
  // When set, /metrics and /status need `Authorization: Bearer <token>`; /healthz and
  // /readyz never do (probes carry no secrets).
  std::string token;
};

// Binary upgrade without downtime (daemon/takeover.h).
struct Upgrade {
  // The Unix socket a new process takes the listeners over through. Empty: the default,
  // plexiproxy-upgrade.sock in $RUNTIME_DIRECTORY when systemd sets it, else in the data
  // directory (--data, the working directory by default).
  std::string socket;
};

struct Metrics {
  bool enabled = true;  // off: the per-statement counters and histograms are not kept
};

// Query digests: statements aggregated per (cluster, user, shape).
struct Digest {
  bool enabled = true;
  std::size_t max_entries = 5000;  // least recently used shapes are evicted beyond it
};

// The result cache: statements a rule or hint gives a cache_ttl are answered from the
// cluster's `role: cache` Redis backend (routing/result_cache.h).
struct Cache {
  // Larger results are not stored (they are relayed as usual).
  std::size_t max_result_bytes = 1024 * 1024;
  // How long a lookup may wait for Redis before the statement goes to the database.
  Duration timeout{100};
  // After Redis failed or timed out, how long statements skip the cache before the proxy
  // connects to it again.
  Duration retry_interval{1000};
  // Statement shapes whose lookups rarely hit skip the cache for a while (see
  // routing/cache_admission.h): judged over admission_window lookups on each worker, fewer
  // than admission_min_hits hits and the shape rests for admission_rest. A window of 0 looks
  // every cacheable statement up (for expensive reads, worth even a few hits).
  std::uint32_t admission_window = 200;
  std::uint32_t admission_min_hits = 10;
  Duration admission_rest{10000};
};

struct Config {
  std::string source;  // the file it came from, or "<embedded default>"
  Listen listen;
  int threads = 0;  // 0: half the cores, at least one
  // Where this proxy runs (an availability zone); replicas with the same backend `zone` are
  // preferred for reads. Empty: no preference.
  std::string zone;
  ClientTls client_tls = ClientTls::kDisable;
  std::string tls_cert_file;  // required when client_tls is not kDisable
  std::string tls_key_file;
  // Client certificates: with a CA file, a client's certificate is asked for and verified
  // against it; with tls_verify_client, a client without a valid one is refused.
  std::string tls_ca_file;
  bool tls_verify_client = false;
  int tls_line = 0;  // where the tls section is, for messages about its files
  // Empty with users_configured false: clients are trusted from loopback only.
  std::vector<User> users;
  // Empty: every client may try to authenticate (see config/access.h).
  std::vector<AccessRule> access;
  bool users_configured = false;
  std::map<std::string, Cluster> clusters;
  // The cluster a client reaches when it names a database no cluster has (the embedded
  // default serves every name from its one SQLite file); empty: unknown names are refused.
  std::string fallback_cluster;
  PoolSettings pool;
  Health health;
  Limits limits;
  Logging log;
  Admin admin;
  Upgrade upgrade;
  Metrics metrics;
  Digest digest;
  Cache cache;

  const User* find_user(std::string_view name) const;
  const Cluster* find_cluster(std::string_view name) const;
};

// A client session's view of the configuration: the snapshot it runs under, its cluster and
// its user there, and the snapshot that user lives in once a reload dropped it.
struct SessionView {
  std::shared_ptr<const Config>& config;
  const Cluster*& cluster;
  const User*& user;
  std::shared_ptr<const Config>& user_config;
};

// Moves `view` to `latest` when latest has its cluster still served the same way (same
// protocol, relayed to servers rather than answered by SQLite); false when it stays. A user
// that latest no longer lists is kept as it was, as PgBouncer lets a removed user's sessions
// run until they end.
bool adopt(const std::shared_ptr<const Config>& latest, const SessionView& view);

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
  // Key paths of passwords and tokens written in plain text in the file itself: neither a
  // SCRAM-SHA-256, md5 or mysql_native_password hash, nor ${VAR}, *_file or an override.
  std::vector<std::string> plain_secrets{};
};

struct LoadOptions {
  // Load a file that group or others may read although it holds plain secrets
  // (--allow-insecure-config); refused otherwise.
  bool allow_insecure_config = false;
};

// Where ${VAR} values and PLEXIPROXY_* overrides come from; tests pass their own.
// It looks variables up (for ${VAR}) and lists them by prefix (overrides cannot be looked up
// by name: PLEXIPROXY_CLUSTERS__NEWDB__... may name a cluster the file does not have, and a
// misspelt override must be reported, not ignored). Any callable taking a name converts to
// an Environment, so a lambda still serves; it lists nothing, so it expands ${VAR} but
// applies no overrides. from_map() and process_environment() do both.
class Environment {
 public:
  using Lookup = std::function<std::optional<std::string>(std::string_view name)>;
  using Variables = std::vector<std::pair<std::string, std::string>>;  // (name, value)
  using List = std::function<Variables(std::string_view prefix)>;

  Environment() = default;  // holds no variables
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, Environment> &&
             std::is_invocable_r_v<std::optional<std::string>, const F&, std::string_view>)
  Environment(F lookup) : lookup_(std::move(lookup)) {}
  Environment(Lookup lookup, List list) : lookup_(std::move(lookup)), list_(std::move(list)) {}

  // An environment holding exactly these variables.
  static Environment from_map(std::map<std::string, std::string> variables);

  std::optional<std::string> operator()(std::string_view name) const {
    return lookup_ ? lookup_(name) : std::nullopt;
  }
  // The variables whose names start with `prefix`, sorted by name.
  Variables list(std::string_view prefix) const { return list_ ? list_(prefix) : Variables{}; }

 private:
  Lookup lookup_;
  List list_;
};

// The real process environment, both looked up and listed.
Environment process_environment();

// Reads YAML, expands ${VAR} and ${VAR:-default} in scalars, applies PLEXIPROXY_* overrides
// (PLEXIPROXY_LISTEN__POSTGRES=..., path segments joined by "__"), validates everything and
// collects every error rather than stopping at the first.
// Overrides: every variable env.list("PLEXIPROXY_") gives, its name after the prefix split
// at "__" into lower-cased path segments (a numeric segment indexes a list; an index equal
// to the list's length appends; a segment matches an existing key case-insensitively with
// "_" standing for "-"). Its value replaces the key's, taken literally (no ${VAR}
// expansion), and is validated like the file's. Errors it causes name the file
// "<environment>" and the variable.
// Listeners: when the file has no listen: section, each protocol its clusters use gets its
// default (postgres 6432, mysql 6033, redis 6380, on 127.0.0.1; an SQLite cluster counts as
// postgres and mysql) and admin 127.0.0.1:9930 is always on; an override sets one listener
// without turning the others' defaults off. With a listen: section, exactly what it says.
// A file readable by group or others (mode & 044) that holds plain secrets is refused unless
// options.allow_insecure_config. A file's config also has the TLS files it names checked
// (readable, a certificate and the key that matches it, a CA), so --check-config and a reload
// catch them.
LoadResult load_config_file(const std::string& path, const Environment& env,
                            const LoadOptions& options = {});
LoadResult load_config_text(std::string_view yaml, const std::string& source_name,
                            const Environment& env);

// No file: PostgreSQL and MySQL listeners on an SQLite file in `data_dir`, trust for
// loopback clients, the admin listener on. Every cluster name maps to that one database.
// It has one cluster "sqlite" (backend "sqlite", path <data_dir>/plexiproxy.db, or
// plexiproxy.db in the working directory when data_dir is empty), which is also the
// fallback cluster, and listeners postgres 127.0.0.1:6432, mysql 127.0.0.1:6033 and admin
// 127.0.0.1:9930. This form applies no overrides and cannot fail.
std::shared_ptr<const Config> embedded_default_config(const std::string& data_dir);
// The same with the environment's PLEXIPROXY_* overrides applied (PLEXIPROXY_LISTEN__POSTGRES=
// 0.0.0.0:6432 in a container); errors only when an override is invalid.
LoadResult embedded_default_config(const std::string& data_dir, const Environment& env);

// Parses "500ms", "1s", "5m", "1h", or a bare number of seconds. Also days ("2d"),
// fractions ("1.5s", "0.5") and sums of units ("1h30m"); nothing negative.
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace plexi::config
