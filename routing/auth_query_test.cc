// Tests of auth_query's parts that need no server: the settings a cluster gives its lookups
// and the cache's expiry.
#include "routing/pg_auth_query.h"

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
  EXPECT_EQ(settings->login.sslmode, "verify-ca");
  EXPECT_EQ(settings->login.sslrootcert, "/etc/ssl/db-ca.pem");
  EXPECT_EQ(settings->query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
  cluster.auth.database = "postgres";
  EXPECT_EQ(auth_query_settings(cluster, backend)->login.database, "postgres");
}

}  // namespace
}  // namespace plexi::routing
