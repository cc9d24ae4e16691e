// Internal to config/: the state shared by the files that turn a YAML tree into a Config.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/reader.h"

namespace plexi::config::detail {

// A listen address given in the file (or a default, with no node), for the check that no
// two listeners share one.
struct Bound {
  std::string key;
  Endpoint endpoint;
  YAML::Node node;
  bool is_default = false;
};

// The Config being built, with what the checks after reading need to know.
struct Draft {
  Config config;
  bool listen_given = false;  // the file has a listen: section (overrides do not count)
  std::vector<Bound> bound;
  std::map<std::string, YAML::Node> cluster_nodes;  // name → its section, for later errors
  // Users with auth: cert, for the check that client certificates are verified.
  std::vector<std::pair<YAML::Node, std::string>> cert_users;
};

// The pool knobs, shared by the top-level `pool:` section, clusters and backends.
const Fields<PoolSettings>& pool_fields();

// Reports min_idle above pool_size, under `path` (the section that set either).
void check_pool(Reader& r, const YAML::Node& at, const std::string& path, const PoolSettings& pool);

// The health check keys, shared by the top-level `health:` section and clusters'.
const Fields<Health>& health_fields();

// Reads `clusters:`; the top-level pool must already be in draft.config.pool.
void read_clusters(Reader& r, const YAML::Node& node, const std::string& path, Draft& draft);

// Reads `access:`; clusters and tls must already be in the draft.
void read_access(Reader& r, const YAML::Node& node, const std::string& path, Draft& draft);

// The TLS files `config` names that cannot be used: unreadable, not PEM, a key that is not
// the certificate's. Files are checked when a file is loaded, not for text (tests, defaults).
std::vector<ConfigError> check_tls_files(const Config& config);

// Applies overrides, reads and validates; the tree comes from a file or is built in code.
LoadResult build_config(YAML::Node root, const std::string& source, const Environment& env);

}  // namespace plexi::config::detail
