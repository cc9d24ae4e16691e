// Tests of how the configuration holds secrets: *_file keys, which secrets count as written
// in plain text, the refusal of a file others may read that holds them, and errors that
// never quote a secret.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/config_test_util.h"

namespace plexi::config {
namespace {

using testing::describe;
using testing::load;

constexpr std::string_view kScramSecret =
    "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$"
    "A0Aw3K3d5m0NvXgAm1HvvQy9XCcYx6Bx0e1xJYb4q4w=:"
    "6wLdGmgDYgGf0l/xGBxYBPd2eNE+oKo7B3gvX7Ns1c0=";

using Secrets = testing::ConfigDir;

std::string cluster_with(std::string_view backend_extra) {
  return "clusters:\n  appdb:\n    backends:\n      - host: db\n" + std::string(backend_extra);
}

TEST_F(Secrets, PasswordFilesAreReadWithoutTheirNewline) {
  write("app.pw", "app secret\n");
  write("db.pw", "db secret\r\n");
  write("health.pw", "health secret");
  write("token", "t0ken\n");
  const auto path = write("plexiproxy.yaml",
                          "users:\n  - name: app\n    password_file: app.pw\n"
                          "health:\n  user: monitor\n  password_file: " +
                              (dir_ / "health.pw").string() +
                              "\nadmin:\n  token_file: token\n" +
                              cluster_with("        username: u\n        password_file: db.pw\n"));
  const auto result = load_config_file(path, Environment());
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  EXPECT_EQ(c.users[0].password, "app secret");
  EXPECT_EQ(c.clusters.at("appdb").backends[0].password, "db secret");
  EXPECT_EQ(c.clusters.at("appdb").health.password, "health secret");
  EXPECT_EQ(c.admin.token, "t0ken");
  // Nothing is written in the file itself.
  EXPECT_TRUE(result.plain_secrets.empty());
}

TEST_F(Secrets, PasswordFileProblemsNameTheKey) {
  write("empty.pw", "\n");
  const auto path = write("plexiproxy.yaml",
                          "users:\n"
                          "  - name: a\n    password_file: absent.pw\n"
                          "  - name: b\n    password: x\n    password_file: empty.pw\n"
                          "  - name: c\n    password_file: empty.pw\n" +
                              cluster_with(""));
  const auto result = load_config_file(path, Environment());
  EXPECT_CONFIG_ERROR(result, 3, "users[0].password_file", "cannot read");
  EXPECT_CONFIG_ERROR(result, 6, "users[1].password_file", "give password or password_file");
  EXPECT_CONFIG_ERROR(result, 8, "users[2].password_file", "is empty");
}

TEST_F(Secrets, APasswordFileNamedFromTheEnvironmentIsShownAsWritten) {
  // A password put by mistake in the variable meant to name its file must not reach the log.
  const auto path = write("plexiproxy.yaml",
                          "users:\n  - name: a\n    password_file: ${APP_PW}\n" + cluster_with(""));
  const auto result = load_config_file(path, Environment::from_map({{"APP_PW", "hunter2"}}));
  EXPECT_CONFIG_ERROR(result, 3, "users[0].password_file", "cannot read the file named ${APP_PW}");
  for (const auto& error : result.errors) {
    EXPECT_EQ(error.to_string().find("hunter2"), std::string::npos) << error.to_string();
  }
}

TEST(PlainSecrets, OnlyPasswordsWrittenInTheFileCount) {
  const auto result =
      load("users:\n"
           "  - name: plain\n    password: hunter2\n"
           "  - name: scram\n    password: " +
               std::string(kScramSecret) +
               "\n"
               "  - name: md5\n    password: md5" +
               std::string(32, 'a') +
               "\n"
               "  - name: native\n    password: \"*" +
               std::string(40, 'A') +
               "\"\n"
               "  - name: env\n    password: ${APP_PASSWORD}\n" +
               cluster_with("        username: u\n        password: dbpw\n"),
           {{"APP_PASSWORD", "from the environment"}});
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.plain_secrets,
            (std::vector<std::string>{"users[0].password", "clusters.appdb.backends[0].password"}));
}

TEST(PlainSecrets, AnOverrideIsNotInTheFile) {
  const auto result = load_config_text(
      "users:\n  - name: app\n    password: ${X:-}\n" + cluster_with(""), "test.yaml",
      Environment::from_map({{"PLEXIPROXY_USERS__0__PASSWORD", "from override"}}));
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.config->users[0].password, "from override");
  EXPECT_TRUE(result.plain_secrets.empty());
}

TEST(PlainSecrets, ErrorsDoNotQuoteASecret) {
  const auto result = load("users:\n  - name: app\n    password: \"pa${ss word}\"\n" +
                           cluster_with(""));
  EXPECT_CONFIG_ERROR(result, 3, "users[0].password", "${NAME}");
  for (const auto& error : result.errors) {
    EXPECT_EQ(error.to_string().find("ss word"), std::string::npos) << error.to_string();
  }
}

TEST(PlainSecrets, AValueQuotedByAnErrorIsShownAsWritten) {
  // A quoted scalar left open runs on over the lines below it, variables and all.
  const auto result =
      load("tls:\n  client: 'allow\nadmin:\n  token: ${TOKEN}\n" + cluster_with(""),
           {{"TOKEN", "s3cret-token"}});
  EXPECT_CONFIG_ERROR(result, 2, "tls.client", "token: ${TOKEN}");
  for (const auto& error : result.errors) {
    EXPECT_EQ(error.to_string().find("s3cret"), std::string::npos) << error.to_string();
  }
}

TEST_F(Secrets, FileOthersMayReadIsRefusedWhileItHoldsPlainPasswords) {
  const std::string text = "users:\n  - name: app\n    password: hunter2\n" + cluster_with("");
  const auto readable = write("readable.yaml", text, 0644);
  const auto refused = load_config_file(readable, Environment());
  EXPECT_EQ(refused.config, nullptr);
  ASSERT_EQ(refused.errors.size(), 1u) << describe(refused);
  EXPECT_NE(refused.errors[0].message.find("mode 0644"), std::string::npos);
  EXPECT_NE(refused.errors[0].message.find("users[0].password"), std::string::npos);
  EXPECT_NE(refused.errors[0].message.find("--allow-insecure-config"), std::string::npos);
  EXPECT_EQ(refused.errors[0].message.find("hunter2"), std::string::npos);

  EXPECT_NE(load_config_file(readable, Environment(), {.allow_insecure_config = true}).config,
            nullptr);
  EXPECT_NE(load_config_file(write("private.yaml", text, 0600), Environment()).config, nullptr);
  EXPECT_EQ(load_config_file(write("group.yaml", text, 0640), Environment()).config, nullptr);

  // Secrets that are hashes or come from elsewhere leave the file harmless to read.
  const auto hashed = write("hashed.yaml",
                            "users:\n  - name: app\n    password: " + std::string(kScramSecret) +
                                "\n  - name: ops\n    password: ${OPS}\n" + cluster_with(""),
                            0644);
  const auto result = load_config_file(hashed, Environment::from_map({{"OPS", "o"}}));
  EXPECT_NE(result.config, nullptr) << describe(result);
}

TEST(AuthQueryConfig, DefaultsAndKeys) {
  const auto result = load(
      "clusters:\n  appdb:\n    auth_user: lookup\n    auth_password: ${LOOKUP_PASSWORD}\n"
      "    auth_query_cache_ttl: 2s\n    backends:\n      - host: db\n"
      "  other:\n    backends:\n      - host: db\n",
      {{"LOOKUP_PASSWORD", "pw"}});
  ASSERT_NE(result.config, nullptr) << describe(result);
  const auto& auth = result.config->clusters.at("appdb").auth;
  EXPECT_TRUE(auth.enabled());
  EXPECT_EQ(auth.user, "lookup");
  EXPECT_EQ(auth.password, "pw");
  EXPECT_EQ(auth.query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
  EXPECT_EQ(auth.cache_ttl, Duration(2000));
  EXPECT_FALSE(result.config->clusters.at("other").auth.enabled());
}

TEST(AuthQueryConfig, MysqlClustersHaveTheirOwnDefault) {
  const auto result = load(
      "clusters:\n  shop:\n    auth_user: lookup\n    auth_password: pw\n"
      "    backends:\n      - {type: mysql, host: db}\n"
      "  own:\n    auth_user: lookup\n    auth_query: SELECT User, Password FROM t WHERE User=?\n"
      "    backends:\n      - {type: mysql, host: db}\n");
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.config->clusters.at("shop").auth.query, AuthQuery::kMysqlQuery);
  EXPECT_EQ(result.config->clusters.at("own").auth.query,
            "SELECT User, Password FROM t WHERE User=?");
}

TEST(AuthQueryConfig, NeedsAUserAndASqlCluster) {
  EXPECT_CONFIG_ERROR(load("clusters:\n  appdb:\n    auth_query: SELECT 1\n"
                           "    backends:\n      - host: db\n"),
                      3, "clusters.appdb.auth_query", "needs auth_user");
  EXPECT_CONFIG_ERROR(load("clusters:\n  cache:\n    auth_user: lookup\n"
                           "    backends:\n      - {type: redis, host: db}\n"),
                      3, "clusters.cache.auth_user", "only postgres and mysql clusters");
}

}  // namespace
}  // namespace plexi::config
