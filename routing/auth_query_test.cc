// Tests of auth_query's parts that need no server: the settings a cluster gives its lookups
// and the cache's expiry.
#include "routing/auth_query.h"

#include <gtest/gtest.h>

namespace plexi::routing {
namespace {

TEST(AuthSecretCache, KeepsASecretForItsClustersTtl) {
  AuthSecretCache::Clock::time_point now{};
  AuthSecretCache cache([&now] { return now; });
  const config::Duration ttl(5000);
  EXPECT_FALSE(cache.get("appdb", "alice", ttl));
  cache.put("appdb", "alice", {true, "SCRAM-SHA-256$old"});
  now += std::chrono::milliseconds(4999);
  ASSERT_TRUE(cache.get("appdb", "alice", ttl));
  EXPECT_EQ(cache.get("appdb", "alice", ttl)->secret, "SCRAM-SHA-256$old");
  EXPECT_FALSE(cache.get("otherdb", "alice", ttl));  // per cluster
  now += std::chrono::milliseconds(1);
  EXPECT_FALSE(cache.get("appdb", "alice", ttl));
  cache.put("appdb", "alice", {true, "SCRAM-SHA-256$new"});
  EXPECT_EQ(cache.get("appdb", "alice", ttl)->secret, "SCRAM-SHA-256$new");
  // A user the query did not find is remembered as such.
  cache.put("appdb", "nobody", {false, ""});
  EXPECT_FALSE(cache.get("appdb", "nobody", ttl)->found);
}

TEST(AuthQuerySettings, LogInAsTheAuthUserOnTheBackend) {
  config::Cluster cluster;
  cluster.name = "appdb";
  config::Backend backend;
  backend.host = "10.0.0.5";
  backend.port = 5433;
  backend.database = "app";
  backend.username = "app";  // not who looks users up
  backend.tls = config::ServerTls::kVerifyCa;
  backend.tls_ca_file = "/etc/ssl/db-ca.pem";
  EXPECT_FALSE(auth_query_settings(cluster, backend));

  cluster.auth.user = "lookup";
  cluster.auth.password = "pw";
  auto settings = auth_query_settings(cluster, backend);
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->login.user, "lookup");
  EXPECT_EQ(settings->login.password, "pw");
  EXPECT_EQ(settings->login.host, "10.0.0.5");
  EXPECT_EQ(settings->login.port, 5433);
  EXPECT_EQ(settings->login.database, "app");
  EXPECT_EQ(settings->login.tls, config::ServerTls::kVerifyCa);
  EXPECT_EQ(settings->login.tls_ca_file, "/etc/ssl/db-ca.pem");
  EXPECT_EQ(settings->protocol, config::Protocol::kPostgres);
  EXPECT_EQ(settings->query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
  cluster.auth.database = "postgres";
  EXPECT_EQ(auth_query_settings(cluster, backend)->login.database, "postgres");
}

TEST(AuthQuerySettings, MysqlClustersLookUpOverMysql) {
  config::Cluster cluster;
  cluster.name = "shop";
  cluster.protocol = config::Protocol::kMysql;
  cluster.auth.user = "lookup";
  cluster.auth.query = "SELECT User, authentication_string FROM mysql.user WHERE User = ?";
  config::Backend backend;
  backend.host = "127.0.0.1";
  backend.port = 3306;
  auto settings = auth_query_settings(cluster, backend);
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->protocol, config::Protocol::kMysql);
  EXPECT_EQ(settings->login.port, 3306);
  EXPECT_EQ(settings->query, cluster.auth.query);
  // Settings of the other protocol never share a connection.
  auto postgres = cluster;
  postgres.protocol = config::Protocol::kPostgres;
  EXPECT_FALSE(*settings == *auth_query_settings(postgres, backend));
}

}  // namespace
}  // namespace plexi::routing
