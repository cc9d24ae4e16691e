// The configuration used when there is no file: one SQLite database on the PostgreSQL and
// MySQL ports, trust for loopback clients, the admin listener on.
#include <filesystem>

#include "config/loader.h"

namespace plexi::config {
namespace {

// Built as a tree and read by the loader like a file, so that PLEXIPROXY_* overrides apply
// to it exactly as they would to a file and the result is validated the same way.
YAML::Node embedded_tree(const std::string& data_dir) {
  const std::string path = data_dir.empty()
                               ? "plexiproxy.db"
                               : (std::filesystem::path(data_dir) / "plexiproxy.db").string();
  std::string escaped;  // the loader expands ${VAR}; a directory name is taken literally
  for (const char c : path) {
    escaped += c;
    if (c == '$') escaped += '$';
  }
  YAML::Node root;
  root["listen"]["postgres"] = "127.0.0.1:6432";
  root["listen"]["mysql"] = "127.0.0.1:6033";
  root["listen"]["admin"] = "127.0.0.1:9930";
  YAML::Node backend;
  backend["name"] = "sqlite";
  backend["type"] = "sqlite";
  backend["path"] = escaped;
  root["clusters"]["sqlite"]["backends"].push_back(backend);
  return root;
}

}  // namespace

LoadResult embedded_default_config(const std::string& data_dir, const Environment& env) {
  auto result = detail::build_config(embedded_tree(data_dir), "<embedded default>", env);
  if (!result.config) return result;
  auto config = std::make_shared<Config>(*result.config);
  // Every database name a client gives reaches the one SQLite file.
  if (config->clusters.contains("sqlite")) config->fallback_cluster = "sqlite";
  result.config = std::move(config);
  return result;
}

std::shared_ptr<const Config> embedded_default_config(const std::string& data_dir) {
  return embedded_default_config(data_dir, Environment()).config;
}

}  // namespace plexi::config
