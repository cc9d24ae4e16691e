// libFuzzer target for the config loader: the input is a config file, loaded as the daemon
// loads one (with the files it names checked), then again with every secret in it marked,
// to check that no error ever quotes a secret.
//
// The loader only reads files, never writes them. The config is a file in a fresh folder of
// its own, which relative paths in it resolve against (the working directory stays, for
// libFuzzer's own relative paths). The folder holds the files the seeds name: a secret, an
// empty file, a certificate and its key, a FIFO and a link to /dev/zero (which must be
// refused, not waited on or read for ever).
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/test_certificates.h"
#include "config/config.h"
#include "config/loader.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace plexi::config;
using plexi::fuzz::check;

// Part of every secret the target gives the loader: in a password file, in a variable, in an
// override, and appended to each secret written in the input.
constexpr std::string_view kMarker = "Fz9SecretMarker";

struct Sandbox {
  std::filesystem::path dir;
  std::string config_path;
  Environment env;

  Sandbox() {
    char name[] = "/tmp/plexiproxy-config-fuzz-XXXXXX";
    check(::mkdtemp(name) != nullptr, "a temporary folder");
    dir = name;
    config_path = (dir / "plexiproxy.yaml").string();
    write("secret.txt", std::string(kMarker) + "file\n");
    write("empty.txt", "\n");
    auto [cert, key] = plexi::testing::self_signed("plexiproxy");
    write("cert.pem", cert);
    write("key.pem", key);
    check(::mkfifo((dir / "fifo").c_str(), 0600) == 0, "a FIFO");
    std::filesystem::create_symlink("/dev/zero", dir / "zero");
    env = Environment::from_map({{"SECRET", std::string(kMarker) + "variable"},
                                 {"EMPTY", ""},
                                 {"HOST", "db.internal"},
                                 {"PLEXIPROXY_ADMIN__TOKEN", std::string(kMarker) + "override"}});
  }
  ~Sandbox() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  void write(const std::string& name, std::string_view text) const {
    std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << text;
    ::chmod((dir / name).c_str(), 0600);
  }
};

void check_no_secret(const std::vector<ConfigError>& errors) {
  for (const auto& error : errors) {
    check(error.to_string().find(kMarker) == std::string::npos, "an error quotes a secret");
  }
}

// Every node reachable from `node`, keys included, up to `budget` visits (aliases can make
// a tree exponentially large, or a cycle); false when the budget ran out.
bool collect(const YAML::Node& node, std::vector<YAML::Node>& out, std::size_t budget) {
  if (out.size() >= budget) return false;
  out.push_back(node);
  if (node.IsSequence()) {
    for (const auto& item : node) {
      if (!collect(item, out, budget)) return false;
    }
  } else if (node.IsMap()) {
    for (const auto& entry : node) {
      if (!collect(entry.first, out, budget) || !collect(entry.second, out, budget)) return false;
    }
  }
  return true;
}

// The values of `key` in `node` when it is a map (all of them: a repeated key is reported,
// and its value must not be quoted either).
std::vector<YAML::Node> values_of(const YAML::Node& node, std::string_view key) {
  std::vector<YAML::Node> out;
  if (!node.IsMap()) return out;
  for (const auto& entry : node) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) out.push_back(entry.second);
  }
  return out;
}

// The items of a list, or the values of a map (clusters by name).
std::vector<YAML::Node> items(const YAML::Node& node) {
  std::vector<YAML::Node> out;
  if (node.IsSequence()) {
    for (const auto& item : node) out.push_back(item);
  } else if (node.IsMap()) {
    for (const auto& entry : node) out.push_back(entry.second);
  }
  return out;
}

// The nodes at `path` below `node`: each step a key, or "*" for every item or value.
void walk(const YAML::Node& node, const std::vector<std::string_view>& path,
          std::vector<YAML::Node>& out, std::size_t step = 0) {
  if (step == path.size()) {
    out.push_back(node);
    return;
  }
  for (const auto& next : path[step] == "*" ? items(node) : values_of(node, path[step])) {
    walk(next, path, out, step + 1);
  }
}

// Appends the marker to every secret where the loader reads one. A secret node also used
// elsewhere through an alias is left alone: the other place may quote it legitimately.
// False when the tree is too large to tell aliases apart.
bool mark_secrets(const YAML::Node& root) {
  std::vector<YAML::Node> secrets;
  walk(root, {"users", "*", "password"}, secrets);
  walk(root, {"health", "password"}, secrets);
  walk(root, {"admin", "token"}, secrets);
  walk(root, {"clusters", "*", "auth_password"}, secrets);
  walk(root, {"clusters", "*", "health", "password"}, secrets);
  walk(root, {"clusters", "*", "backends", "*", "password"}, secrets);
  std::vector<YAML::Node> all;
  if (!collect(root, all, 20000)) return false;
  for (auto secret : secrets) {
    if (!secret.IsScalar()) continue;
    std::size_t uses = 0;
    for (const auto& node : all) uses += node.is(secret) ? 1 : 0;
    // The handle shares the tree's node: assigning a value changes it in the tree.
    if (uses == 1) secret = secret.Scalar() + std::string(kMarker);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Sandbox sandbox;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // An input that holds the marker itself may quote it anywhere.
  const bool checkable = text.find(kMarker) == std::string_view::npos;

  // As the daemon loads it; an odd-sized input is readable by others, which plain secrets
  // forbid.
  sandbox.write("plexiproxy.yaml", text);
  if (size % 2) ::chmod(sandbox.config_path.c_str(), 0644);
  auto loaded = load_config_file(sandbox.config_path, sandbox.env);
  check((loaded.config == nullptr) == !loaded.errors.empty(), "a config or its errors");
  if (checkable) check_no_secret(loaded.errors);

  // The same text with its secrets marked.
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception&) {
    return 0;
  }
  if (!checkable || !mark_secrets(root)) return 0;
  auto marked = detail::build_config(root, sandbox.config_path, sandbox.env);
  check_no_secret(marked.errors);
  if (marked.config) check_no_secret(detail::check_tls_files(*marked.config));
  return 0;
}
