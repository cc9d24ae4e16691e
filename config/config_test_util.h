// Helpers shared by the configuration tests: loading text with a given environment and
// finding the error reported for a key.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>

#include "config/config.h"

namespace plexi::config::testing {

inline LoadResult load(std::string_view yaml, std::map<std::string, std::string> variables = {}) {
  return load_config_text(yaml, "test.yaml", Environment::from_map(std::move(variables)));
}

inline std::string describe(const LoadResult& result) {
  std::string text;
  for (const auto& error : result.errors) text += "\n  " + error.to_string();
  return text.empty() ? "no errors" : text;
}

// The one error reported under `key`, or a test failure listing what was reported.
inline ConfigError error_for(const LoadResult& result, std::string_view key) {
  const ConfigError* found = nullptr;
  for (const auto& error : result.errors) {
    if (error.key != key) continue;
    EXPECT_EQ(found, nullptr) << "two errors for " << key << ":" << describe(result);
    found = &error;
  }
  EXPECT_NE(found, nullptr) << "no error for " << key << ":" << describe(result);
  return found ? *found : ConfigError{};
}

// A fresh folder for the test's files, removed afterwards.
class ConfigDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plexiproxy-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Writes `text` to `name` in the folder, readable by its owner only unless `mode` says.
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::filesystem::path dir_;
};

// Asserts that `yaml` fails with an error at `line` under `key` whose text holds `part`.
#define EXPECT_CONFIG_ERROR(result, expected_line, expected_key, part)              \
  do {                                                                              \
    const auto& result_ = (result);                                                 \
    EXPECT_EQ(result_.config, nullptr);                                             \
    const auto error_ = ::plexi::config::testing::error_for(result_, expected_key); \
    EXPECT_EQ(error_.line, expected_line) << error_.to_string();                    \
    EXPECT_NE(error_.message.find(part), std::string::npos) << error_.to_string();  \
  } while (false)

}  // namespace plexi::config::testing
