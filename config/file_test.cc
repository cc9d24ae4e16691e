// Tests of loading from files: the shipped example config, and errors that name the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "common/test_certificates.h"
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

TEST_F(ConfigFile, TlsFilesAreChecked) {
  auto [cert, key] = plexi::testing::self_signed("plexiproxy");
  auto [other_cert, other_key] = plexi::testing::self_signed("other");
  const auto cert_path = write("server.crt", cert);
  const auto key_path = write("server.key", key);
  const auto other_key_path = write("other.key", other_key);
  auto config = [&](const std::string& key_file, const std::string& ca_file) {
    return write("tls.yaml",
                 "clusters:\n  appdb:\n    backends:\n      - host: db\ntls:\n"
                 "  client: require\n  cert_file: " +
                     cert_path + "\n  key_file: " + key_file + "\n  ca_file: " + ca_file + "\n");
  };
  const auto good = load_config_file(config(key_path, cert_path), Environment());
  ASSERT_NE(good.config, nullptr) << describe(good);
  EXPECT_EQ(good.config->tls_ca_file, cert_path);

  const auto mismatched = load_config_file(config(other_key_path, cert_path), Environment());
  ASSERT_EQ(mismatched.errors.size(), 1u) << describe(mismatched);
  EXPECT_EQ(mismatched.errors[0].key, "tls.key_file");
  EXPECT_EQ(mismatched.errors[0].line, 6);
  EXPECT_NE(mismatched.errors[0].message.find("is not the key of"), std::string::npos);

  const auto missing =
      load_config_file(config(key_path, (dir_ / "absent.crt").string()), Environment());
  ASSERT_EQ(missing.errors.size(), 1u) << describe(missing);
  EXPECT_EQ(missing.errors[0].key, "tls.ca_file");
  EXPECT_NE(missing.errors[0].message.find("No such file"), std::string::npos);

  const auto not_pem = load_config_file(config(cert_path, key_path), Environment());
  ASSERT_EQ(not_pem.errors.size(), 2u) << describe(not_pem);  // key_file and ca_file swapped
  EXPECT_EQ(not_pem.errors[0].key, "tls.key_file");
  EXPECT_EQ(not_pem.errors[1].key, "tls.ca_file");
}

// Paths that are not regular files are refused before anything is read: a TLS file that is a
// FIFO nobody writes to used to block --check-config (and start-up) for ever.
TEST_F(ConfigFile, SpecialFilesAreRefusedWithoutBlocking) {
  const auto fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& special : {fifo, std::string("/dev/zero")}) {
    const auto tls =
        load_config_file(write("tls.yaml",
                               "clusters:\n  appdb:\n    backends:\n      - host: db\ntls:\n"
                               "  client: require\n  cert_file: " +
                                   special + "\n  key_file: " + special + "\n"),
                         Environment());
    ASSERT_EQ(tls.errors.size(), 2u) << describe(tls);
    EXPECT_EQ(tls.errors[0].key, "tls.cert_file");
    EXPECT_EQ(tls.errors[0].message, special + " is not a regular file");
    EXPECT_EQ(tls.errors[1].key, "tls.key_file");

    const auto secret = load_config_file(
        write("secret.yaml", "users:\n  - name: a\n    password_file: " + special +
                                 "\nclusters:\n  appdb:\n    backends:\n      - host: db\n"),
        Environment());
    EXPECT_CONFIG_ERROR(secret, 3, "users[0].password_file", special + " is not a regular file");
  }
}

}  // namespace
}  // namespace plexi::config
