// Tests of loading valid configurations: the documented shape, defaults, pool knob
// resolution, durations, endpoints and the embedded default.
#include "config/config.h"

#include <gtest/gtest.h>

#include "config/config_test_util.h"

namespace plexi::config {
namespace {

using testing::describe;
using testing::load;

// The shape ARCHITECTURE.md documents, with every section.
constexpr std::string_view kFull = R"(listen:
  postgres: 127.0.0.1:6432
  mysql: 127.0.0.1:6033
  redis: 127.0.0.1:6380
  admin: 127.0.0.1:9930
threads: 0
tls:
  client: allow
  cert_file: /etc/plexiproxy/server.crt
  key_file: /etc/plexiproxy/server.key
users:
  - name: app
    password: ${APP_PASSWORD}
  - name: ops
    password: ${OPS_PASSWORD}
    admin: true
    pool_mode: session
clusters:
  appdb:
    protocol: postgres
    pool_mode: transaction
    read_your_writes: lsn
    backends:
      - name: pg-primary
        type: postgres
        role: primary
        host: 10.0.0.5
        port: 5432
        database: appdb
        username: app
        password: ${PG_PASSWORD}
        pool_size: 20
        max_overflow: 10
        tls: prefer
      - name: pg-replica-1
        type: postgres
        role: replica
        host: 10.0.0.6
        port: 5432
        weight: 2
        zone: eu-1b
      - name: result-cache
        type: redis
        role: cache
        host: 10.0.0.9
    rules:
      - match: '^SELECT .* FROM report_'
        role: analytics
      - match: '^SELECT .* FROM products'
        cache_ttl: 30s
      - match: '^DROP '
        block: true
health:
  interval: 1s
  timeout: 1s
  fall: 3
  rise: 2
limits:
  max_client_conn: 500
  max_message_size: 1048576
  shutdown_timeout: 10s
  startup_timeout: 5s
log:
  level: debug
  format: json
  components:
    pool: trace
  statements: true
  audit:
    file: /var/log/plexiproxy/audit.jsonl
    max_size: 1048576
    max_files: 3
admin:
  token: ${ADMIN_TOKEN}
metrics:
  enabled: false
digest:
  enabled: true
  max_entries: 200
cache:
  admission_window: 50
  admission_min_hits: 0
  admission_rest: 30s
zone: eu-1b
)";

const std::map<std::string, std::string> kPasswords = {{"APP_PASSWORD", "app-secret"},
                                                       {"OPS_PASSWORD", "ops-secret"},
                                                       {"PG_PASSWORD", "pg-secret"},
                                                       {"ADMIN_TOKEN", "admin-token"}};

TEST(ConfigLoad, FullExampleHasTheRightValues) {
  const auto result = load(kFull, kPasswords);
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  EXPECT_EQ(c.source, "test.yaml");
  EXPECT_EQ(c.listen.postgres->to_string(), "127.0.0.1:6432");
  EXPECT_EQ(c.listen.mysql->port, 6033);
  EXPECT_EQ(c.listen.redis->port, 6380);
  EXPECT_EQ(c.listen.admin->port, 9930);
  EXPECT_EQ(c.threads, 0);
  EXPECT_EQ(c.zone, "eu-1b");
  EXPECT_EQ(c.client_tls, ClientTls::kAllow);
  EXPECT_EQ(c.tls_cert_file, "/etc/plexiproxy/server.crt");
  EXPECT_EQ(c.tls_key_file, "/etc/plexiproxy/server.key");

  EXPECT_TRUE(c.users_configured);
  ASSERT_EQ(c.users.size(), 2u);
  EXPECT_EQ(c.users[0].name, "app");
  EXPECT_EQ(c.users[0].password, "app-secret");
  EXPECT_FALSE(c.users[0].admin);
  EXPECT_FALSE(c.users[0].pool_mode);
  ASSERT_NE(c.find_user("ops"), nullptr);
  EXPECT_TRUE(c.find_user("ops")->admin);
  EXPECT_EQ(c.find_user("ops")->pool_mode, PoolMode::kSession);
  EXPECT_EQ(c.find_user("nobody"), nullptr);

  const Cluster* appdb = c.find_cluster("appdb");
  ASSERT_NE(appdb, nullptr);
  EXPECT_EQ(c.find_cluster("other"), nullptr);
  EXPECT_EQ(appdb->name, "appdb");
  EXPECT_EQ(appdb->protocol, Protocol::kPostgres);
  EXPECT_EQ(appdb->pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(appdb->read_your_writes, ReadYourWrites::kLsn);
  EXPECT_FALSE(appdb->listen);
  EXPECT_FALSE(appdb->is_sqlite());
  ASSERT_EQ(appdb->backends.size(), 3u);
  EXPECT_EQ(appdb->backends[2].role, Role::kCache);
  EXPECT_EQ(appdb->backends[2].type, BackendType::kRedis);
  const Backend& primary = appdb->backends[0];
  EXPECT_EQ(primary.name, "pg-primary");
  EXPECT_EQ(primary.type, BackendType::kPostgres);
  EXPECT_EQ(primary.role, Role::kPrimary);
  EXPECT_EQ(primary.host, "10.0.0.5");
  EXPECT_EQ(primary.port, 5432);
  EXPECT_EQ(primary.database, "appdb");
  EXPECT_EQ(primary.username, "app");
  EXPECT_EQ(primary.password, "pg-secret");
  EXPECT_EQ(primary.pool.pool_size, 20);
  EXPECT_EQ(primary.pool.max_overflow, 10);
  EXPECT_EQ(primary.tls, ServerTls::kPrefer);
  EXPECT_EQ(primary.line, 24);
  const Backend& replica = appdb->backends[1];
  EXPECT_EQ(replica.role, Role::kReplica);
  EXPECT_EQ(replica.weight, 2);
  EXPECT_EQ(replica.zone, "eu-1b");
  EXPECT_EQ(replica.database, "appdb");   // the cluster's name
  EXPECT_EQ(replica.username, "");        // the client's own
  EXPECT_EQ(replica.pool.pool_size, 20);  // the built-in default
  EXPECT_EQ(replica.line, 35);

  ASSERT_EQ(appdb->rules.size(), 3u);
  EXPECT_EQ(appdb->rules[0].match, "^SELECT .* FROM report_");
  EXPECT_EQ(appdb->rules[0].role, Role::kAnalytics);
  EXPECT_FALSE(appdb->rules[0].cache_ttl);
  EXPECT_EQ(appdb->rules[0].line, 47);
  EXPECT_EQ(appdb->rules[1].cache_ttl, Duration(30000));
  EXPECT_FALSE(appdb->rules[1].role);
  EXPECT_TRUE(appdb->rules[2].block);

  EXPECT_EQ(c.health.interval, Duration(1000));
  EXPECT_EQ(c.health.timeout, Duration(1000));
  EXPECT_EQ(c.health.fall, 3);
  EXPECT_EQ(c.health.rise, 2);
  EXPECT_EQ(c.limits.max_client_conn, 500);
  EXPECT_EQ(c.limits.max_message_size, 1048576u);
  EXPECT_EQ(c.limits.shutdown_timeout, Duration(10000));
  EXPECT_EQ(c.limits.startup_timeout, Duration(5000));
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, LogFormat::kJson);
  EXPECT_EQ(c.log.components.at("pool"), "trace");
  EXPECT_TRUE(c.fallback_cluster.empty());
}

TEST(ConfigLoad, MinimalClusterGetsDefaults) {
  const auto result = load(R"(clusters:
  shop:
    backends:
      - host: db1
        type: mysql
      - host: cache1
        type: redis
        role: cache
)");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  EXPECT_FALSE(c.users_configured);
  EXPECT_TRUE(c.users.empty());
  const Cluster& shop = c.clusters.at("shop");
  EXPECT_EQ(shop.protocol, Protocol::kMysql);  // from the first backend
  EXPECT_EQ(shop.pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(shop.backends[0].name, "shop-1");
  EXPECT_EQ(shop.backends[0].port, 3306);
  EXPECT_EQ(shop.backends[0].database, "shop");
  EXPECT_EQ(shop.backends[0].tls, ServerTls::kPrefer);
  EXPECT_EQ(shop.backends[1].port, 6379);
  EXPECT_EQ(shop.backends[1].database, "");  // Redis databases are numbers: no default
  // Only the listeners this file's protocols need, plus admin.
  EXPECT_FALSE(c.listen.postgres);
  ASSERT_TRUE(c.listen.mysql);
  EXPECT_EQ(c.listen.mysql->to_string(), "127.0.0.1:6033");
  EXPECT_FALSE(c.listen.redis);
  ASSERT_TRUE(c.listen.admin);
  EXPECT_EQ(c.listen.admin->to_string(), "127.0.0.1:9930");
  EXPECT_EQ(c.health.interval, Duration(1000));
  EXPECT_EQ(c.pool.pool_size, 20);
}

TEST(ConfigLoad, BackendTlsModesWithTheirCaFile) {
  const auto result = load(R"(clusters:
  appdb:
    backends:
      - {host: db1, tls: verify-full, tls_ca_file: /etc/ssl/db-ca.crt}
      - {host: db2, tls: verify-ca, tls_ca_file: /etc/ssl/db-ca.crt}
      - {host: db3, tls: require}
      - {host: db4, tls: disable}
      - {host: /run/postgresql, tls: prefer}
)");
  ASSERT_TRUE(result.config) << describe(result);
  const auto& backends = result.config->find_cluster("appdb")->backends;
  ASSERT_EQ(backends.size(), 5u);
  EXPECT_EQ(backends[0].tls, ServerTls::kVerifyFull);
  EXPECT_EQ(backends[0].tls_ca_file, "/etc/ssl/db-ca.crt");
  EXPECT_EQ(backends[1].tls, ServerTls::kVerifyCa);
  EXPECT_EQ(backends[2].tls, ServerTls::kRequire);
  EXPECT_EQ(backends[2].tls_ca_file, "");
  EXPECT_EQ(backends[3].tls, ServerTls::kDisable);
  EXPECT_EQ(backends[4].tls, ServerTls::kPrefer);
  EXPECT_EQ(to_string(ServerTls::kVerifyCa), "verify-ca");
}

TEST(ConfigLoad, ListenDefaultsFollowTheClusters) {
  const auto sqlite = load(R"(clusters:
  local:
    backends:
      - type: sqlite
        path: /tmp/x.db
)");
  ASSERT_NE(sqlite.config, nullptr) << describe(sqlite);
  EXPECT_EQ(sqlite.config->clusters.at("local").protocol, Protocol::kPostgres);
  EXPECT_TRUE(sqlite.config->clusters.at("local").is_sqlite());
  EXPECT_EQ(sqlite.config->listen.postgres->to_string(), "127.0.0.1:6432");
  EXPECT_EQ(sqlite.config->listen.mysql->to_string(), "127.0.0.1:6033");
  EXPECT_FALSE(sqlite.config->listen.redis);

  const auto redis = load(R"(clusters:
  sessions:
    backends:
      - host: 10.0.0.9
        type: redis
)");
  ASSERT_NE(redis.config, nullptr) << describe(redis);
  EXPECT_EQ(redis.config->clusters.at("sessions").protocol, Protocol::kRedis);
  EXPECT_EQ(redis.config->listen.redis->to_string(), "127.0.0.1:6380");
  EXPECT_FALSE(redis.config->listen.postgres);
  EXPECT_FALSE(redis.config->listen.mysql);

  // An explicit listen: section is taken as it is.
  const auto explicit_listen = load(R"(listen:
  postgres: 7000
clusters:
  appdb:
    backends:
      - host: db
)");
  ASSERT_NE(explicit_listen.config, nullptr) << describe(explicit_listen);
  EXPECT_EQ(explicit_listen.config->listen.postgres->to_string(), "127.0.0.1:7000");
  EXPECT_FALSE(explicit_listen.config->listen.admin);
}

TEST(ConfigLoad, RedisClustersWithTheirOwnAddresses) {
  const auto result = load(R"(clusters:
  sessions:
    backends:
      - {host: r1, type: redis}
  queues:
    listen: "[::1]:6381"
    backends:
      - {host: r2, type: redis, database: 3}
)");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const auto& queues = result.config->clusters.at("queues");
  ASSERT_TRUE(queues.listen);
  EXPECT_EQ(queues.listen->host, "::1");
  EXPECT_EQ(queues.listen->to_string(), "[::1]:6381");
  EXPECT_EQ(queues.backends[0].database, "3");
}

TEST(ConfigLoad, RedisClusterWithSentinels) {
  const auto result = load(R"(clusters:
  sessions:
    sentinels: [10.0.0.5:26379, "[::1]:26380", sentinel-3:26381]
    sentinel_master: mymaster
    backends:
      - {host: r1, type: redis}
      - {host: r2, type: redis, role: replica}
)");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const auto& sessions = result.config->clusters.at("sessions");
  EXPECT_EQ(sessions.sentinel_master, "mymaster");
  ASSERT_EQ(sessions.sentinels.size(), 3u);
  EXPECT_EQ(sessions.sentinels[0].to_string(), "10.0.0.5:26379");
  EXPECT_EQ(sessions.sentinels[1].host, "::1");
  EXPECT_EQ(sessions.sentinels[1].port, 26380);
  EXPECT_EQ(sessions.sentinels[2].host, "sentinel-3");
  // Without them: none.
  const auto plain = load("clusters:\n  c:\n    backends:\n      - {host: r1, type: redis}\n");
  ASSERT_NE(plain.config, nullptr) << describe(plain);
  EXPECT_TRUE(plain.config->clusters.at("c").sentinels.empty());
  EXPECT_TRUE(plain.config->clusters.at("c").sentinel_master.empty());
}

TEST(ConfigLoad, SentinelMistakesAreReportedWithTheirLines) {
  const std::string redis = "clusters:\n  c:\n    backends:\n      - {host: r1, type: redis}\n";
  EXPECT_CONFIG_ERROR(load(redis + "    sentinels: [10.0.0.5:26379]\n"), 5, "clusters.c.sentinels",
                      "Sentinels need sentinel_master:");
  EXPECT_CONFIG_ERROR(load(redis + "    sentinel_master: mymaster\n"), 5,
                      "clusters.c.sentinel_master", "a master name needs sentinels:");
  EXPECT_CONFIG_ERROR(load(redis + "    sentinel_master: m\n    sentinels: 10.0.0.5:26379\n"), 6,
                      "clusters.c.sentinels", "expected a list of Sentinel addresses");
  EXPECT_CONFIG_ERROR(load(redis + "    sentinel_master: m\n    sentinels: []\n"), 6,
                      "clusters.c.sentinels", "expected a list of Sentinel addresses");
  EXPECT_CONFIG_ERROR(load(redis + "    sentinel_master: m\n    sentinels:\n      - a:1\n"
                                   "      - a:1\n"),
                      8, "clusters.c.sentinels[1]", "Sentinel a:1 is listed twice");
  EXPECT_CONFIG_ERROR(load(redis + "    sentinel_master: m\n    sentinels: [a:0]\n"), 6,
                      "clusters.c.sentinels[0]", "a Sentinel's port cannot be 0");
  EXPECT_CONFIG_ERROR(load(redis + "    sentinel_master: m\n    sentinels: [a:b]\n"), 6,
                      "clusters.c.sentinels[0]", "expected host:port");
  EXPECT_CONFIG_ERROR(load(redis + "    sentinel_master: ''\n    sentinels: [a:1]\n"), 5,
                      "clusters.c.sentinel_master", "must not be empty");
  EXPECT_CONFIG_ERROR(load("clusters:\n  appdb:\n    backends:\n      - host: db\n"
                           "    sentinels: [a:26379]\n    sentinel_master: m\n"),
                      5, "clusters.appdb.sentinels", "only a redis cluster can ask Sentinels");
}

TEST(ConfigLoad, UnixSocketBackends) {
  const auto result = load(R"(clusters:
  appdb:
    backends:
      - {host: /var/run/postgresql, port: 5433}
  shop:
    protocol: mysql
    backends:
      - {host: /run/mysqld/mysqld.sock, type: mysql}
)");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const auto& pg = result.config->clusters.at("appdb").backends[0];
  const auto& my = result.config->clusters.at("shop").backends[0];
  EXPECT_TRUE(is_socket_path(pg.host));
  EXPECT_EQ(socket_file(pg.type, pg.host, pg.port), "/var/run/postgresql/.s.PGSQL.5433");
  EXPECT_EQ(socket_file(my.type, my.host, my.port), "/run/mysqld/mysqld.sock");
  EXPECT_FALSE(is_socket_path("db.internal"));
  EXPECT_FALSE(is_socket_path("::1"));
}

TEST(ConfigLoad, FingerprintRulesAndVolatileFunctions) {
  const auto result = load(R"(clusters:
  appdb:
    backends:
      - host: db
    volatile_functions: [audit.log_event, queue_*]
    rules:
      - match_fingerprint: SELECT * FROM reports WHERE id = ?
        role: analytics
      - match_fingerprint: 0123456789ABCDEF
        block: true
)");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Cluster& appdb = result.config->clusters.at("appdb");
  EXPECT_EQ(appdb.volatile_functions, (std::vector<std::string>{"audit.log_event", "queue_*"}));
  ASSERT_EQ(appdb.rules.size(), 2u);
  EXPECT_EQ(appdb.rules[0].match, "");
  EXPECT_EQ(appdb.rules[0].match_fingerprint, "SELECT * FROM reports WHERE id = ?");
  EXPECT_EQ(appdb.rules[0].role, Role::kAnalytics);
  EXPECT_EQ(appdb.rules[1].match_fingerprint, "0123456789ABCDEF");
  EXPECT_TRUE(appdb.rules[1].block);

  const auto minimal = load("clusters:\n  appdb:\n    backends:\n      - host: db\n");
  ASSERT_NE(minimal.config, nullptr) << describe(minimal);
  EXPECT_TRUE(minimal.config->clusters.at("appdb").volatile_functions.empty());
}

TEST(ConfigLoad, PoolKnobsResolveFromTopToClusterToBackend) {
  const auto result = load(R"(pool:
  pool_size: 30
  max_overflow: 5
  min_idle: 2
  connect_timeout: 2s
  idle_timeout: 5m
  max_lifetime: 1h
  query_wait_timeout: 500ms
  reset_query: DISCARD ALL
clusters:
  appdb:
    backends:
      - name: a
        host: h1
        pool_size: 8
        min_idle: 1
      - name: b
        host: h2
    idle_timeout: 30s
    pool_size: 10
    max_overflow: 3
  other:
    backends:
      - host: h3
        max_overflow: 0
)");
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  EXPECT_EQ(c.pool.pool_size, 30);
  EXPECT_EQ(c.pool.connect_timeout, Duration(2000));

  // Cluster knobs apply even when written after the backends.
  const auto& a = c.clusters.at("appdb").backends[0].pool;
  EXPECT_EQ(a.pool_size, 8);
  EXPECT_EQ(a.max_overflow, 3);
  EXPECT_EQ(a.min_idle, 1);
  EXPECT_EQ(a.idle_timeout, Duration(30000));
  EXPECT_EQ(a.connect_timeout, Duration(2000));
  EXPECT_EQ(a.max_lifetime, Duration(3600000));
  EXPECT_EQ(a.query_wait_timeout, Duration(500));
  const auto& b = c.clusters.at("appdb").backends[1].pool;
  EXPECT_EQ(b.pool_size, 10);
  EXPECT_EQ(b.min_idle, 2);
  const auto& other = c.clusters.at("other").backends[0].pool;
  EXPECT_EQ(other.pool_size, 30);
  EXPECT_EQ(other.max_overflow, 0);
  EXPECT_EQ(other.idle_timeout, Duration(300000));
  EXPECT_EQ(other.reset_query, "DISCARD ALL");
}

TEST(ConfigLoad, ObservabilitySections) {
  const auto result = load(kFull, kPasswords);
  ASSERT_NE(result.config, nullptr) << describe(result);
  const auto& c = *result.config;
  EXPECT_TRUE(c.log.statements);
  EXPECT_EQ(c.log.audit.file, "/var/log/plexiproxy/audit.jsonl");
  EXPECT_EQ(c.log.audit.max_size, 1048576U);
  EXPECT_EQ(c.log.audit.max_files, 3);
  EXPECT_EQ(c.admin.token, "admin-token");
  EXPECT_FALSE(c.metrics.enabled);
  EXPECT_TRUE(c.digest.enabled);
  EXPECT_EQ(c.digest.max_entries, 200U);
  EXPECT_EQ(c.cache.admission_window, 50U);
  EXPECT_EQ(c.cache.admission_min_hits, 0U);
  EXPECT_EQ(c.cache.admission_rest, std::chrono::seconds(30));

  const auto defaults = load("clusters:\n  appdb:\n    backends:\n      - host: h\n");
  ASSERT_NE(defaults.config, nullptr) << describe(defaults);
  EXPECT_FALSE(defaults.config->log.statements);
  EXPECT_TRUE(defaults.config->log.audit.file.empty());
  EXPECT_TRUE(defaults.config->admin.token.empty());
  EXPECT_TRUE(defaults.config->metrics.enabled);
  EXPECT_EQ(defaults.config->digest.max_entries, 5000U);
  EXPECT_EQ(defaults.config->cache.admission_window, 200U);
  EXPECT_EQ(defaults.config->cache.admission_min_hits, 10U);
}

TEST(ConfigLoad, EmptyValuesKeepDefaults) {
  const auto result = load(R"(health:
pool:
  pool_size:
clusters:
  appdb:
    backends:
      - host: h
        port:
)");
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.config->pool.pool_size, 20);
  EXPECT_EQ(result.config->clusters.at("appdb").backends[0].port, 5432);
}

TEST(ConfigLoad, UpgradeSocket) {
  const auto given = load(
      "upgrade:\n  socket: /run/plexiproxy/upgrade.sock\n"
      "clusters:\n  appdb:\n    backends:\n      - host: h\n");
  ASSERT_NE(given.config, nullptr) << describe(given);
  EXPECT_EQ(given.config->upgrade.socket, "/run/plexiproxy/upgrade.sock");
  const auto defaults = load("clusters:\n  appdb:\n    backends:\n      - host: h\n");
  ASSERT_NE(defaults.config, nullptr) << describe(defaults);
  EXPECT_TRUE(defaults.config->upgrade.socket.empty());  // the daemon's default path
  const auto misspelt = load(
      "upgrade:\n  sock: /tmp/x\n"
      "clusters:\n  appdb:\n    backends:\n      - host: h\n");
  EXPECT_EQ(misspelt.config, nullptr);
}

TEST(Duration, ParsesUnitsAndBareSeconds) {
  EXPECT_EQ(parse_duration("500ms"), Duration(500));
  EXPECT_EQ(parse_duration("1s"), Duration(1000));
  EXPECT_EQ(parse_duration("5m"), Duration(300000));
  EXPECT_EQ(parse_duration("1h"), Duration(3600000));
  EXPECT_EQ(parse_duration("2d"), Duration(172800000));
  EXPECT_EQ(parse_duration("30"), Duration(30000));
  EXPECT_EQ(parse_duration("0"), Duration(0));
  EXPECT_EQ(parse_duration("1.5s"), Duration(1500));
  EXPECT_EQ(parse_duration("0.25"), Duration(250));
  EXPECT_EQ(parse_duration("1h30m"), Duration(5400000));
  EXPECT_EQ(parse_duration(" 10s "), Duration(10000));
}

TEST(Duration, RejectsWhatIsNotADuration) {
  for (const char* text : {"", "s", "-1s", "+1s", "1x", "1 s", "1h30", "ms", "1e3", ".s", "1..2s",
                           "10S", "99999999999999999h", "inf", "nan"}) {
    EXPECT_FALSE(parse_duration(text)) << text;
  }
}

TEST(Endpoint, ParsesHostPortIpv6AndBarePort) {
  auto e = parse_endpoint("0.0.0.0:6432");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "0.0.0.0");
  EXPECT_EQ(e->port, 6432);
  e = parse_endpoint("[::1]:6432");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->to_string(), "[::1]:6432");
  e = parse_endpoint("6433");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 6433);
  e = parse_endpoint("db.internal:0");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->to_string(), "db.internal:0");
  for (const char* text : {"", ":6432", "host:", "host:65536", "::1:6432", "[::1]", "[]:1",
                           "[::1]6432", "host:port", "-1", "host:+1"}) {
    EXPECT_FALSE(parse_endpoint(text)) << text;
  }
}

TEST(ConfigNames, EnumsHaveTheirConfigNames) {
  EXPECT_EQ(to_string(Protocol::kMysql), "mysql");
  EXPECT_EQ(to_string(BackendType::kSqlite), "sqlite");
  EXPECT_EQ(to_string(Role::kAnalytics), "analytics");
  EXPECT_EQ(to_string(PoolMode::kStatement), "statement");
  EXPECT_EQ(to_string(ClientTls::kRequire), "require");
  EXPECT_EQ(to_string(LogFormat::kJson), "json");
}

TEST(ConfigError, ReadsAsFileLineKeyMessage) {
  EXPECT_EQ((ConfigError{"a.yaml", 3, "threads", "bad"}).to_string(), "a.yaml:3: threads: bad");
  EXPECT_EQ((ConfigError{"a.yaml", 0, "", "cannot open"}).to_string(), "a.yaml: cannot open");
}

TEST(EmbeddedDefault, ServesOneSqliteFileOnPostgresAndMysql) {
  const auto config = embedded_default_config("/var/lib/plexiproxy");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->source, "<embedded default>");
  EXPECT_EQ(config->listen.postgres->to_string(), "127.0.0.1:6432");
  EXPECT_EQ(config->listen.mysql->to_string(), "127.0.0.1:6033");
  EXPECT_EQ(config->listen.admin->to_string(), "127.0.0.1:9930");
  EXPECT_FALSE(config->listen.redis);
  EXPECT_FALSE(config->users_configured);
  EXPECT_EQ(config->fallback_cluster, "sqlite");
  ASSERT_EQ(config->clusters.size(), 1u);
  const Cluster& sqlite = config->clusters.at("sqlite");
  EXPECT_TRUE(sqlite.is_sqlite());
  EXPECT_EQ(sqlite.backends[0].path, "/var/lib/plexiproxy/plexiproxy.db");
  EXPECT_EQ(sqlite.backends[0].name, "sqlite");

  EXPECT_EQ(embedded_default_config("")->clusters.at("sqlite").backends[0].path, "plexiproxy.db");
  // A directory name is not a template.
  EXPECT_EQ(embedded_default_config("/tmp/$HOME${X}")->clusters.at("sqlite").backends[0].path,
            "/tmp/$HOME${X}/plexiproxy.db");
}

TEST(EmbeddedDefault, TakesOverrides) {
  const auto result = embedded_default_config(
      "data", Environment::from_map(
                  {{"PLEXIPROXY_LISTEN__POSTGRES", "0.0.0.0:5000"}, {"PLEXIPROXY_THREADS", "2"}}));
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.config->listen.postgres->to_string(), "0.0.0.0:5000");
  EXPECT_EQ(result.config->listen.mysql->to_string(), "127.0.0.1:6033");
  EXPECT_EQ(result.config->threads, 2);
  EXPECT_EQ(result.config->fallback_cluster, "sqlite");

  const auto bad = embedded_default_config(
      "data", Environment::from_map({{"PLEXIPROXY_LISTEN__POSTGRES", "nowhere"}}));
  EXPECT_EQ(bad.config, nullptr);
  ASSERT_EQ(bad.errors.size(), 1u) << describe(bad);
  EXPECT_EQ(bad.errors[0].file, "<environment>");
  EXPECT_EQ(bad.errors[0].key, "listen.postgres");
  EXPECT_NE(bad.errors[0].message.find("PLEXIPROXY_LISTEN__POSTGRES"), std::string::npos);
}

}  // namespace
}  // namespace plexi::config
