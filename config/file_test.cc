// Tests of loading from files: the shipped example config, and errors that name the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "config/config.h"
#include "config/config_test_util.h"

namespace plexi::config {
namespace {

using testing::describe;

const std::map<std::string, std::string> kExampleSecrets = {{"APP_PASSWORD", "a"},
                                                            {"REPORTING_PASSWORD", "r"},
                                                            {"OPS_PASSWORD", "o"},
                                                            {"PG_PASSWORD", "p"},
                                                            {"MYSQL_PASSWORD", "m"}};

TEST(ExampleConfig, LoadsWithoutErrors) {
  const std::string path = std::string(PLEXI_SOURCE_DIR) + "/deploy/examples/plexiproxy.yaml";
  const auto result = load_config_file(path, Environment::from_map(kExampleSecrets));
  ASSERT_NE(result.config, nullptr) << describe(result);
  const Config& c = *result.config;
  EXPECT_EQ(c.source, path);
  EXPECT_EQ(c.clusters.size(), 5u);
  EXPECT_EQ(c.users.size(), 3u);
  EXPECT_EQ(c.clusters.at("appdb").backends[0].host, "10.0.0.5");
  EXPECT_EQ(c.clusters.at("appdb").backends[0].pool.min_idle, 2);
  EXPECT_EQ(c.clusters.at("appdb").backends[1].pool.pool_size, 25);
  EXPECT_EQ(c.clusters.at("appdb").backends[1].pool.query_wait_timeout, Duration(30000));
  EXPECT_EQ(c.clusters.at("shop").protocol, Protocol::kMysql);
  EXPECT_EQ(c.clusters.at("sessions").protocol, Protocol::kRedis);
  EXPECT_TRUE(c.clusters.at("local").is_sqlite());

  // Without its secrets it names each missing variable.
  const auto missing = load_config_file(path, Environment());
  EXPECT_EQ(missing.config, nullptr);
  EXPECT_EQ(missing.errors.size(), kExampleSecrets.size()) << describe(missing);
}

using ConfigFile = testing::ConfigDir;

TEST_F(ConfigFile, ErrorsNameTheFile) {
  const auto path = write("bad.yaml", "clusters:\n  appdb:\n    backends:\n      - hots: db\n");
  const auto result = load_config_file(path, Environment());
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors[0].to_string(),
            path + ":4: clusters.appdb.backends[0].hots: unknown key; did you mean 'host'?");
}

TEST_F(ConfigFile, SyntaxErrorHasItsLine) {
  const auto path = write("syntax.yaml", "threads: 1\nclusters:\n  appdb: {backends: [}\n");
  const auto result = load_config_file(path, Environment());
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].file, path);
  EXPECT_EQ(result.errors[0].line, 3);
  EXPECT_NE(result.errors[0].message.find("YAML syntax error"), std::string::npos);
}

TEST_F(ConfigFile, MissingOrUnreadableFile) {
  const auto missing = load_config_file((dir_ / "absent.yaml").string(), Environment());
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].file, (dir_ / "absent.yaml").string());
  EXPECT_NE(missing.errors[0].message.find("No such file"), std::string::npos)
      << missing.errors[0].to_string();

  const auto directory = load_config_file(dir_.string(), Environment());
  ASSERT_EQ(directory.errors.size(), 1u);
  EXPECT_NE(directory.errors[0].message.find("is a directory"), std::string::npos);
}

TEST_F(ConfigFile, EmptyFileHasNothingToServe) {
  const auto result = load_config_file(write("empty.yaml", ""), Environment());
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].key, "clusters");
}

}  // namespace
}  // namespace plexi::config
