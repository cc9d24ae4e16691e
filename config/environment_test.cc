// Tests of what the configuration takes from the environment: ${VAR} expansion and
// PLEXIPROXY_* overrides, including the errors each can cause.
#include <gtest/gtest.h>

#include <cstdlib>

#include "config/config.h"
#include "config/config_test_util.h"
#include "config/reader.h"

namespace plexi::config {
namespace {

using testing::describe;
using testing::load;

std::string expand(std::string_view text, std::map<std::string, std::string> variables = {}) {
  auto result = detail::expand_variables(text, Environment::from_map(std::move(variables)));
  EXPECT_EQ(result.error, "") << text;
  return result.text;
}

std::string expansion_error(std::string_view text) {
  return detail::expand_variables(text, Environment::from_map({{"SET", "x"}, {"EMPTY", ""}})).error;
}

TEST(Expansion, ReplacesVariablesAndDefaults) {
  const std::map<std::string, std::string> vars = {
      {"HOST", "db1"}, {"PORT", "5433"}, {"EMPTY", ""}};
  EXPECT_EQ(expand("${HOST}", vars), "db1");
  EXPECT_EQ(expand("${HOST}:${PORT}", vars), "db1:5433");
  EXPECT_EQ(expand("postgres://${HOST}/x", vars), "postgres://db1/x");
  EXPECT_EQ(expand("${MISSING:-fallback}", vars), "fallback");
  EXPECT_EQ(expand("${HOST:-fallback}", vars), "db1");
  EXPECT_EQ(expand("${EMPTY:-fallback}", vars), "fallback");  // as in the shell
  EXPECT_EQ(expand("${EMPTY}", vars), "");
  EXPECT_EQ(expand("${MISSING:-}", vars), "");
  EXPECT_EQ(expand("${MISSING:-${HOST}}", vars), "db1");
  EXPECT_EQ(expand("${MISSING:-a:b-c}", vars), "a:b-c");
  EXPECT_EQ(expand("${MISSING:-{x}}", vars), "{x}");  // the first } closes; the rest is text
}

TEST(Expansion, DollarsThatAreNotVariables) {
  EXPECT_EQ(expand("$$"), "$");
  EXPECT_EQ(expand("pa$$word"), "pa$word");
  EXPECT_EQ(expand("$${HOME}"), "${HOME}");
  EXPECT_EQ(expand("cost $5"), "cost $5");
  EXPECT_EQ(expand("trailing $"), "trailing $");
  EXPECT_EQ(expand("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"),
            "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy");
  EXPECT_EQ(expand("md5$abc"), "md5$abc");
}

TEST(Expansion, ErrorsNameTheProblem) {
  EXPECT_NE(expansion_error("${UNSET}").find("environment variable UNSET is not set"),
            std::string::npos);
  EXPECT_NE(expansion_error("a ${SET} ${UNSET2}").find("UNSET2"), std::string::npos);
  EXPECT_NE(expansion_error("${SET").find("without a closing"), std::string::npos);
  EXPECT_NE(expansion_error("${1X}").find("is not ${NAME}"), std::string::npos);
  EXPECT_NE(expansion_error("${SET-x}").find("is not ${NAME}"), std::string::npos);
  EXPECT_NE(expansion_error("${}").find("is not ${NAME}"), std::string::npos);
  EXPECT_NE(expansion_error("${UNSET:-${ALSO_UNSET}}").find("ALSO_UNSET"), std::string::npos);
}

constexpr std::string_view kBase = R"(listen:
  postgres: 127.0.0.1:6432
  admin: 127.0.0.1:9930
clusters:
  appdb:
    pool_mode: transaction
    backends:
      - name: pg
        host: ${PGHOST:-localhost}
        port: ${PGPORT:-5432}
        password: ${PG_PASSWORD}
)";

TEST(Expansion, AppliesToEveryValueInTheFile) {
  const auto result = load(kBase, {{"PG_PASSWORD", "s3cret"}, {"PGPORT", "6000"}});
  ASSERT_NE(result.config, nullptr) << describe(result);
  const auto& backend = result.config->clusters.at("appdb").backends[0];
  EXPECT_EQ(backend.host, "localhost");
  EXPECT_EQ(backend.port, 6000);  // expanded before it is read as a number
  EXPECT_EQ(backend.password, "s3cret");
}

TEST(Expansion, MissingVariableNamesVariableAndKey) {
  const auto result = load(kBase, {{"PGPORT", "many"}});
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 2u) << describe(result);
  // Shown as written: a variable's content never reaches a message (it may be a secret).
  EXPECT_EQ(result.errors[0].to_string(),
            "test.yaml:10: clusters.appdb.backends[0].port: expected a whole number, got "
            "'${PGPORT:-5432}'");
  EXPECT_EQ(result.errors[1].line, 11);
  EXPECT_EQ(result.errors[1].key, "clusters.appdb.backends[0].password");
  EXPECT_NE(result.errors[1].message.find("PG_PASSWORD"), std::string::npos);
}

LoadResult load_with(std::map<std::string, std::string> variables) {
  variables.emplace("PG_PASSWORD", "pw");
  return load(kBase, std::move(variables));
}

TEST(Overrides, ReplaceScalarsNestedKeysAndListEntries) {
  const auto result = load_with({{"PLEXIPROXY_THREADS", "4"},
                                 {"PLEXIPROXY_LISTEN__POSTGRES", "127.0.0.1:7000"},
                                 {"PLEXIPROXY_CLUSTERS__APPDB__POOL_MODE", "session"},
                                 {"PLEXIPROXY_CLUSTERS__APPDB__BACKENDS__0__PORT", "5433"},
                                 {"UNRELATED__THREADS", "9"}});
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  EXPECT_EQ(c.threads, 4);
  EXPECT_EQ(c.listen.postgres->to_string(), "127.0.0.1:7000");
  EXPECT_EQ(c.clusters.at("appdb").pool_mode, PoolMode::kSession);
  EXPECT_EQ(c.clusters.at("appdb").backends[0].port, 5433);
  EXPECT_EQ(c.clusters.at("appdb").backends[0].host, "localhost");
}

TEST(Overrides, AppendToListsAndCreateSections) {
  const auto result = load_with({{"PLEXIPROXY_CLUSTERS__APPDB__BACKENDS__1__HOST", "replica"},
                                 {"PLEXIPROXY_CLUSTERS__APPDB__BACKENDS__1__ROLE", "replica"},
                                 {"PLEXIPROXY_CLUSTERS__REPORTS__BACKENDS__0__HOST", "olap"},
                                 {"PLEXIPROXY_HEALTH__INTERVAL", "250ms"},
                                 {"PLEXIPROXY_USERS__0__NAME", "app"},
                                 {"PLEXIPROXY_USERS__0__PASSWORD", "pa$$${word}"}});
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  const auto& appdb = c.clusters.at("appdb");
  ASSERT_EQ(appdb.backends.size(), 2u);
  EXPECT_EQ(appdb.backends[1].host, "replica");
  EXPECT_EQ(appdb.backends[1].role, Role::kReplica);
  EXPECT_EQ(appdb.backends[1].line, 0);  // not from the file
  ASSERT_TRUE(c.clusters.contains("reports"));
  EXPECT_EQ(c.clusters.at("reports").backends[0].database, "reports");
  EXPECT_EQ(c.health.interval, Duration(250));
  EXPECT_TRUE(c.users_configured);
  ASSERT_EQ(c.users.size(), 1u);
  EXPECT_EQ(c.users[0].password, "pa$$${word}");  // values from the environment are literal
}

TEST(Overrides, MatchKeysRegardlessOfCaseAndDashes) {
  const auto result = load(R"(clusters:
  App-DB:
    backends:
      - host: db
)",
                           {{"PLEXIPROXY_CLUSTERS__APP_DB__BACKENDS__0__HOST", "other"}});
  ASSERT_NE(result.config, nullptr) << describe(result);
  ASSERT_EQ(result.config->clusters.size(), 1u);
  EXPECT_EQ(result.config->clusters.at("App-DB").backends[0].host, "other");
}

TEST(Overrides, KeepDefaultListenersWhenTheFileHasNone) {
  const auto result = load("clusters:\n  appdb:\n    backends:\n      - host: db\n",
                           {{"PLEXIPROXY_LISTEN__POSTGRES", "0.0.0.0:6432"}});
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.config->listen.postgres->to_string(), "0.0.0.0:6432");
  ASSERT_TRUE(result.config->listen.admin);
  EXPECT_EQ(result.config->listen.admin->to_string(), "127.0.0.1:9930");
}

TEST(Overrides, InvalidValuesNameTheVariable) {
  const auto result = load_with(
      {{"PLEXIPROXY_THREADS", "lots"}, {"PLEXIPROXY_CLUSTERS__APPDB__BACKENDS__0__PORT", "99999"}});
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 2u) << describe(result);
  for (const auto& error : result.errors) {
    EXPECT_EQ(error.file, "<environment>");
    EXPECT_EQ(error.line, 0);
  }
  const auto port = testing::error_for(result, "clusters.appdb.backends[0].port");
  EXPECT_NE(port.message.find("(set by PLEXIPROXY_CLUSTERS__APPDB__BACKENDS__0__PORT)"),
            std::string::npos);
  EXPECT_EQ(testing::error_for(result, "threads").to_string(),
            "<environment>: threads: expected a whole number, got 'lots' (set by "
            "PLEXIPROXY_THREADS)");
}

TEST(Overrides, MisspeltOverridesAreReported) {
  const auto result =
      load_with({{"PLEXIPROXY_THREDS", "4"}, {"PLEXIPROXY_CLUSTERS__APPDB__POOL_SISE", "4"}});
  EXPECT_EQ(result.config, nullptr);
  const auto threds = testing::error_for(result, "threds");
  EXPECT_EQ(threds.file, "<environment>");
  EXPECT_NE(threds.message.find("did you mean 'threads'?"), std::string::npos);
  EXPECT_NE(threds.message.find("PLEXIPROXY_THREDS"), std::string::npos);
  EXPECT_NE(testing::error_for(result, "clusters.appdb.pool_sise").message.find("pool_size"),
            std::string::npos);
}

TEST(Overrides, PathsThatCannotBeFollowed) {
  const auto result = load_with({{"PLEXIPROXY_THREADS__X", "1"},
                                 {"PLEXIPROXY_LISTEN____POSTGRES", "1"},
                                 {"PLEXIPROXY_CLUSTERS__APPDB__BACKENDS__5__HOST", "h"},
                                 {"PLEXIPROXY_CLUSTERS__APPDB__BACKENDS__NAME", "h"}});
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 4u) << describe(result);
  for (const auto& error : result.errors) EXPECT_EQ(error.file, "<environment>");
  // THREADS__X: "threads" does not exist in the file, so it becomes a section that the
  // loader then reports as the wrong type.
  EXPECT_NE(describe(result).find("PLEXIPROXY_LISTEN____POSTGRES: empty path segment"),
            std::string::npos);
  EXPECT_NE(describe(result).find("index 5 is past the end of 'clusters.appdb.backends' (1 "
                                  "entries; the next one is 1)"),
            std::string::npos);
  EXPECT_NE(describe(result).find("is a list; expected an index, got 'name'"), std::string::npos);
}

TEST(Overrides, CannotDescendThroughAValue) {
  const auto result = load(R"(threads: 2
clusters:
  appdb:
    backends:
      - host: db
)",
                           {{"PLEXIPROXY_THREADS__X", "1"}});
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].to_string(),
            "<environment>: threads: PLEXIPROXY_THREADS__X: 'threads' is a single value, not a "
            "section");
}

TEST(Overrides, LookupOnlyEnvironmentsExpandButDoNotOverride) {
  const Environment lookup_only = [](std::string_view name) -> std::optional<std::string> {
    if (name == "PG_PASSWORD") return "pw";
    if (name == "PLEXIPROXY_THREADS") return "4";
    return std::nullopt;
  };
  const auto result = load_config_text(kBase, "x.yaml", lookup_only);
  ASSERT_NE(result.config, nullptr) << describe(result);
  EXPECT_EQ(result.config->threads, 0);
  EXPECT_EQ(result.config->clusters.at("appdb").backends[0].password, "pw");
}

TEST(ProcessEnvironment, LooksUpAndListsTheRealEnvironment) {
  ASSERT_EQ(::setenv("PLEXIPROXY_TEST_CONFIG_B", "2", 1), 0);
  ASSERT_EQ(::setenv("PLEXIPROXY_TEST_CONFIG_A", "1=one", 1), 0);
  const auto env = process_environment();
  EXPECT_EQ(env("PLEXIPROXY_TEST_CONFIG_A"), "1=one");
  EXPECT_EQ(env("PLEXIPROXY_TEST_CONFIG_UNSET"), std::nullopt);
  const auto listed = env.list("PLEXIPROXY_TEST_CONFIG_");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0], (std::pair<std::string, std::string>{"PLEXIPROXY_TEST_CONFIG_A", "1=one"}));
  EXPECT_EQ(listed[1].first, "PLEXIPROXY_TEST_CONFIG_B");
  ::unsetenv("PLEXIPROXY_TEST_CONFIG_A");
  ::unsetenv("PLEXIPROXY_TEST_CONFIG_B");
}

}  // namespace
}  // namespace plexi::config
