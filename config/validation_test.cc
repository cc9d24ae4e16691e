// Tests that every kind of invalid configuration is reported with its line, key path and
// a message saying what is wrong, and that one load reports all problems at once.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_test_util.h"

namespace plexi::config {
namespace {

using testing::describe;
using testing::load;

struct Case {
  const char* name;
  const char* yaml;
  int line;
  const char* key;
  const char* message_part;
};

// A cluster that is valid on its own, for cases about other sections (lines 1 to 4).
#define VALID_CLUSTER "clusters:\n  appdb:\n    backends:\n      - host: db\n"

const Case kCases[] = {
    // Unknown keys, with a suggestion when one is close.
    {"typo in cluster", R"(clusters:
  appdb:
    pool_sise: 10
    backends:
      - host: db
)",
     3, "clusters.appdb.pool_sise", "did you mean 'pool_size'?"},
    {"typo at top level", VALID_CLUSTER "helth:\n  interval: 1s\n", 5, "helth",
     "did you mean 'health'?"},
    {"unknown backend key", R"(clusters:
  appdb:
    backends:
      - host: db
        colour: blue
)",
     5, "clusters.appdb.backends[0].colour", "unknown key"},
    {"repeated key", VALID_CLUSTER "threads: 2\nthreads: 3\n", 6, "threads", "repeated key"},

    // Wrong types.
    {"section expected", VALID_CLUSTER "health: 5\n", 5, "health", "expected a section"},
    {"value expected, list given", VALID_CLUSTER "threads: [1, 2]\n", 5, "threads", "not a list"},
    {"value expected, section given", VALID_CLUSTER "log:\n  level:\n    a: b\n", 7, "log.level",
     "not a section"},
    {"whole number expected", VALID_CLUSTER "threads: many\n", 5, "threads",
     "expected a whole number, got 'many'"},
    {"fraction for a count", VALID_CLUSTER "health:\n  fall: 2.5\n", 6, "health.fall",
     "expected a whole number"},
    {"boolean expected", VALID_CLUSTER "users:\n  - name: a\n    admin: maybe\n", 7,
     "users[0].admin", "expected true or false"},
    {"backends not a list", "clusters:\n  appdb:\n    backends:\n      host: db\n", 4,
     "clusters.appdb.backends", "expected a list of backends"},
    {"clusters not a section", "clusters: [a, b]\n", 1, "clusters", "expected a section"},
    {"top level not a section", "- a\n- b\n", 1, "", "at the top of the file"},

    // Numbers out of range.
    {"backend port too high", R"(clusters:
  appdb:
    backends:
      - host: db
        port: 70000
)",
     5, "clusters.appdb.backends[0].port", "70000 is out of range (1 to 65535)"},
    {"backend port zero", "clusters:\n  appdb:\n    backends:\n      - {host: db, port: 0}\n", 4,
     "clusters.appdb.backends[0].port", "out of range"},
    {"negative threads", VALID_CLUSTER "threads: -1\n", 5, "threads", "out of range (0 to"},
    {"pool_size zero", VALID_CLUSTER "pool:\n  pool_size: 0\n", 6, "pool.pool_size",
     "out of range"},
    {"min_idle above pool_size", VALID_CLUSTER "pool:\n  pool_size: 5\n  min_idle: 6\n", 7,
     "pool.min_idle", "min_idle (6) exceeds pool_size (5)"},
    {"backend min_idle above its pool_size", R"(clusters:
  appdb:
    backends:
      - host: db
        pool_size: 2
        min_idle: 3
)",
     6, "clusters.appdb.backends[0].min_idle", "exceeds pool_size"},

    // Listen addresses.
    {"listen without port", "listen:\n  postgres: localhost\n" VALID_CLUSTER, 2, "listen.postgres",
     "expected host:port"},
    {"listen port too high", "listen:\n  admin: 127.0.0.1:99999\n" VALID_CLUSTER, 2, "listen.admin",
     "expected host:port"},
    {"listen unbracketed ipv6", "listen:\n  postgres: ::1:6432\n" VALID_CLUSTER, 2,
     "listen.postgres", "[ipv6-address]:port"},
    {"cluster listen", R"(clusters:
  appdb:
    listen: here
    backends:
      - host: db
)",
     3, "clusters.appdb.listen", "expected host:port"},
    {"two listeners on one address",
     "listen:\n  postgres: 6432\n  admin: 127.0.0.1:6432\n" VALID_CLUSTER, 3, "listen.admin",
     "127.0.0.1:6432 is also listen.postgres"},
    {"cluster listen on a default address", R"(clusters:
  appdb:
    listen: 127.0.0.1:9930
    backends:
      - host: db
)",
     3, "clusters.appdb.listen", "is also listen.admin (its default)"},
    {"no listener for the cluster's protocol", R"(listen:
  mysql: 3307
clusters:
  appdb:
    backends:
      - host: db
)",
     5, "clusters.appdb", "no listener serves this postgres cluster"},

    // Enumerations.
    {"protocol", "clusters:\n  appdb:\n    protocol: oracle\n    backends:\n      - host: db\n", 3,
     "clusters.appdb.protocol", "expected postgres | mysql | redis, got 'oracle'"},
    {"backend type", "clusters:\n  appdb:\n    backends:\n      - {host: db, type: mongo}\n", 4,
     "clusters.appdb.backends[0].type", "expected postgres | mysql | redis | sqlite"},
    {"role", "clusters:\n  appdb:\n    backends:\n      - {host: db, role: leader}\n", 4,
     "clusters.appdb.backends[0].role", "expected primary | replica | analytics | cache"},
    {"pool_mode", "clusters:\n  appdb:\n    pool_mode: batch\n    backends:\n      - host: db\n", 3,
     "clusters.appdb.pool_mode", "expected session | transaction | statement"},
    {"user pool_mode", VALID_CLUSTER "users:\n  - name: a\n    pool_mode: Session\n", 7,
     "users[0].pool_mode", "got 'Session'"},
    {"client tls", VALID_CLUSTER "tls:\n  client: prefer\n", 6, "tls.client",
     "expected disable | allow | require"},
    {"backend tls", "clusters:\n  appdb:\n    backends:\n      - {host: db, tls: verify}\n", 4,
     "clusters.appdb.backends[0].tls",
     "expected disable | prefer | require | verify-ca | verify-full"},
    {"read_your_writes",
     "clusters:\n  appdb:\n    read_your_writes: yes\n    backends:\n      - host: db\n", 3,
     "clusters.appdb.read_your_writes", "expected lsn | window | off"},
    {"log format", VALID_CLUSTER "log:\n  format: xml\n", 6, "log.format", "expected text | json"},
    {"log level", VALID_CLUSTER "log:\n  level: loud\n", 6, "log.level", "expected trace | debug"},
    {"component log level", VALID_CLUSTER "log:\n  components:\n    pool: chatty\n", 7,
     "log.components.pool", "got 'chatty'"},

    // Durations.
    {"bad duration", VALID_CLUSTER "health:\n  interval: 1 second\n", 6, "health.interval",
     "expected a duration such as 500ms, 1s, 5m or 1h, got '1 second'"},
    {"zero duration where one is needed", VALID_CLUSTER "pool:\n  connect_timeout: 0s\n", 6,
     "pool.connect_timeout", "must be longer than 0"},
    {"bad cache_ttl", R"(clusters:
  appdb:
    backends:
      - host: db
    rules:
      - match: ^SELECT
        cache_ttl: soon
)",
     7, "clusters.appdb.rules[0].cache_ttl", "expected a duration"},

    // Clusters and backends.
    {"cluster without backends", "clusters:\n  appdb:\n    protocol: postgres\n", 3,
     "clusters.appdb.backends", "at least one backend"},
    {"cluster with an empty section",
     "clusters:\n  appdb:\n  other:\n    backends:\n      - host: db\n", 2,
     "clusters.appdb.backends", "at least one backend"},
    {"duplicate backend names", R"(clusters:
  appdb:
    backends:
      - name: pg
        host: db1
      - name: pg
        host: db2
)",
     6, "clusters.appdb.backends[1].name", "backend name 'pg' is used twice"},
    {"sqlite without path", "clusters:\n  local:\n    backends:\n      - type: sqlite\n", 4,
     "clusters.local.backends[0]", "a sqlite backend needs a path"},
    {"postgres without host",
     "clusters:\n  appdb:\n    backends:\n      - name: pg\n        port: 5433\n", 4,
     "clusters.appdb.backends[0]", "a postgres backend needs a host"},
    {"empty host", "clusters:\n  appdb:\n    backends:\n      - host: ''\n", 4,
     "clusters.appdb.backends[0].host", "must not be empty"},
    {"relative socket path", "clusters:\n  appdb:\n    backends:\n      - host: run/postgresql\n",
     4, "clusters.appdb.backends[0].host",
     "a Unix socket path must be absolute (start with '/'), got 'run/postgresql'"},
    // The directory fits, but not with the file name PostgreSQL adds to it.
    {"socket path too long",
     "clusters:\n  appdb:\n    backends:\n      - host: "
     "/dddddddddddddddddddddddddddddddddddddddddddddddddd"
     "dddddddddddddddddddddddddddddddddddddddddddddddddd\n",
     4, "clusters.appdb.backends[0].host", "is longer than the 107 bytes a socket address holds"},
    {"mysql backend in a postgres cluster", R"(clusters:
  appdb:
    backends:
      - host: db1
      - host: db2
        type: mysql
)",
     5, "clusters.appdb.backends[1].type", "a postgres cluster cannot use a mysql backend"},
    {"two cache backends", R"(clusters:
  appdb:
    backends:
      - host: db
      - {host: r1, type: redis, role: cache}
      - {host: r2, type: redis, role: cache}
)",
     6, "clusters.appdb.backends[2].role", "at most one backend with role: cache"},
    {"cache role in a redis cluster", R"(clusters:
  sessions:
    backends:
      - {host: r1, type: redis}
      - {host: r2, type: redis, role: cache}
)",
     5, "clusters.sessions.backends[1].role", "the cache role is for PostgreSQL and MySQL"},
    {"cache backend with tls", R"(clusters:
  appdb:
    backends:
      - host: db
      - {host: r1, type: redis, role: cache, tls: require}
)",
     5, "clusters.appdb.backends[1].tls", "reached without TLS"},
    {"cache_ttl without a cache backend", R"(clusters:
  appdb:
    backends:
      - host: db
    rules:
      - match: ^SELECT
        cache_ttl: 30s
)",
     7, "clusters.appdb.rules[0].cache_ttl", "the cluster has no backend with role: cache"},
    {"cache section", VALID_CLUSTER "cache:\n  max_result_bytes: 0\n", 6, "cache.max_result_bytes",
     "0 is out of range (1 to"},
    {"admission asking more hits than lookups",
     VALID_CLUSTER "cache:\n  admission_window: 20\n  admission_min_hits: 30\n", 7,
     "cache.admission_min_hits", "every shape would rest (admission_window is 20)"},
    {"cache role on postgres",
     "clusters:\n  appdb:\n    backends:\n      - {host: db, role: cache}\n", 4,
     "clusters.appdb.backends[0].role", "the cache role needs a redis backend"},
    {"redis database name", R"(clusters:
  cache:
    backends:
      - host: r
        type: redis
        database: sessions
)",
     6, "clusters.cache.backends[0].database", "a Redis database is a number"},
    {"two redis clusters on the shared listener", R"(clusters:
  a:
    backends:
      - {host: r1, type: redis}
  b:
    backends:
      - {host: r2, type: redis}
)",
     6, "clusters.b.listen", "only one Redis cluster (here 'a')"},
    {"reserved cluster name", "clusters:\n  plexiproxy:\n    backends:\n      - host: db\n", 2,
     "clusters.plexiproxy", "admin console"},
    {"cluster defined twice",
     "clusters:\n  appdb:\n    backends: [{host: a}]\n  appdb:\n    backends: [{host: b}]\n", 4,
     "clusters.appdb", "cluster defined twice"},
    {"no clusters", "threads: 2\n", 0, "clusters", "no clusters"},
    {"empty clusters", "clusters: {}\n", 1, "clusters", "no clusters"},
    {"clusters without entries", "clusters:\nthreads: 1\n", 1, "clusters", "no clusters"},

    // Rules.
    {"regex that does not compile", R"(clusters:
  appdb:
    backends:
      - host: db
    rules:
      - match: '^SELECT (.* FROM'
        role: replica
)",
     6, "clusters.appdb.rules[0].match", "not a valid regular expression"},
    {"rule without match", R"(clusters:
  appdb:
    backends:
      - host: db
    rules:
      - role: replica
)",
     6, "clusters.appdb.rules[0]", "a rule needs a match"},
    {"rule that does nothing", R"(clusters:
  appdb:
    backends:
      - host: db
    rules:
      - match: ^SELECT
)",
     6, "clusters.appdb.rules[0]", "a rule does nothing"},
    {"rule with both matches", R"(clusters:
  appdb:
    backends:
      - host: db
    rules:
      - match: ^SELECT
        match_fingerprint: SELECT ?
        role: replica
)",
     6, "clusters.appdb.rules[0]", "not both"},
    {"empty fingerprint", R"(clusters:
  appdb:
    backends:
      - host: db
    rules:
      - match_fingerprint: ''
        role: replica
)",
     6, "clusters.appdb.rules[0].match_fingerprint", "must not be empty"},

    // Volatile functions.
    {"volatile functions not a list", R"(clusters:
  appdb:
    backends:
      - host: db
    volatile_functions: nextval
)",
     5, "clusters.appdb.volatile_functions", "expected a list of function names"},
    {"volatile function that is not a name", R"(clusters:
  appdb:
    backends:
      - host: db
    volatile_functions:
      - audit.log_event
      - log_event()
)",
     7, "clusters.appdb.volatile_functions[1]", "got 'log_event()'"},

    // Users.
    {"user without a name", VALID_CLUSTER "users:\n  - name: a\n  - password: x\n", 7, "users[1]",
     "a user needs a name"},
    {"user defined twice", VALID_CLUSTER "users:\n  - name: a\n  - name: b\n  - name: a\n", 8,
     "users[2].name", "user 'a' is defined twice"},
    {"empty users", VALID_CLUSTER "users: []\n", 5, "users", "no users"},
    {"users without entries", VALID_CLUSTER "users:\nthreads: 1\n", 5, "users", "no users"},
    {"users not a list", VALID_CLUSTER "users:\n  app: secret\n", 6, "users",
     "expected a list of users"},

    // TLS towards clients.
    {"tls without certificate", VALID_CLUSTER "tls:\n  client: require\n  key_file: /k\n", 6,
     "tls.cert_file", "tls.client require needs cert_file"},
    {"verify_client without a CA",
     VALID_CLUSTER "tls:\n  client: allow\n  cert_file: /c\n  key_file: /k\n  verify_client: "
                   "true\n",
     6, "tls.verify_client", "verify_client needs ca_file"},
    {"cert user without a CA", VALID_CLUSTER "users:\n  - name: r\n    auth: cert\n", 7,
     "users[0].auth", "auth: cert needs tls.client allow or require and tls.ca_file"},
    {"unknown auth", VALID_CLUSTER "users:\n  - name: r\n    auth: ldap\n", 7, "users[0].auth",
     "password"},

    // TLS towards servers.
    {"verify without CA file",
     "clusters:\n  appdb:\n    backends:\n      - host: db\n        tls: verify-full\n", 5,
     "clusters.appdb.backends[0].tls", "tls: verify-full needs tls_ca_file"},
    {"CA file that is not read",
     "clusters:\n  appdb:\n    backends:\n      - host: db\n        tls: require\n"
     "        tls_ca_file: /etc/ca.crt\n",
     6, "clusters.appdb.backends[0].tls_ca_file",
     "tls_ca_file is only read with tls: verify-ca or verify-full, not tls: require"},
    {"TLS over a Unix socket",
     "clusters:\n  appdb:\n    backends:\n      - host: /run/postgresql\n        tls: require\n", 5,
     "clusters.appdb.backends[0].tls", "a backend on a Unix socket never uses TLS"},

    // Environment expansion in the file.
    {"unset variable", VALID_CLUSTER "users:\n  - name: app\n    password: ${APP_PASSWORD}\n", 7,
     "users[0].password", "environment variable APP_PASSWORD is not set"},
};

TEST(ConfigValidation, EveryProblemIsReportedWithLineAndKey) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const auto result = load(c.yaml);
    EXPECT_CONFIG_ERROR(result, c.line, c.key, c.message_part);
    for (const auto& error : result.errors) EXPECT_EQ(error.file, "test.yaml");
  }
}

TEST(ConfigValidation, CollectsEveryErrorInFileOrder) {
  const auto result = load(R"(threads: -2
clusters:
  appdb:
    pool_sise: 3
    backends:
      - host: db
        port: 0
      - name: x
        type: sqlite
health:
  interval: never
)");
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 5u) << describe(result);
  EXPECT_EQ(result.errors[0].to_string(), "test.yaml:1: threads: -2 is out of range (0 to 1024)");
  EXPECT_EQ(result.errors[1].key, "clusters.appdb.pool_sise");
  EXPECT_EQ(result.errors[1].line, 4);
  EXPECT_EQ(result.errors[2].key, "clusters.appdb.backends[0].port");
  EXPECT_EQ(result.errors[2].line, 7);
  EXPECT_EQ(result.errors[3].key, "clusters.appdb.backends[1]");
  EXPECT_EQ(result.errors[3].line, 8);
  EXPECT_EQ(result.errors[4].key, "health.interval");
  EXPECT_EQ(result.errors[4].line, 11);
}

TEST(ConfigValidation, YamlSyntaxErrorHasItsLine) {
  const auto result = load("clusters:\n  appdb:\n    backends: [\n      {host: db}\n");
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].file, "test.yaml");
  EXPECT_GT(result.errors[0].line, 0);
  EXPECT_NE(result.errors[0].message.find("YAML syntax error"), std::string::npos);

  const auto tab = load("clusters:\n  appdb:\n\tbackends: []\n");
  ASSERT_EQ(tab.errors.size(), 1u) << describe(tab);
  EXPECT_EQ(tab.errors[0].line, 3);
}

}  // namespace
}  // namespace plexi::config
