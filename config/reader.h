// Internal to config/: the machinery that reads a YAML tree into structs, one table of
// known keys per section, collecting every error with its file, line and key path.
#pragma once

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace plexi::config::detail {

// The file name used in errors caused by PLEXIPROXY_* variables rather than by the file.
inline constexpr std::string_view kEnvironmentSource = "<environment>";

// Expands ${VAR} and ${VAR:-default} (default when unset or empty) in one scalar; "$$" is a
// literal "$" and a "$" before anything else stays as it is (md5 and SCRAM secrets hold
// them). On failure `error` says why and names the variable.
struct Expanded {
  std::string text;
  std::string error;
  bool error_quotes_text = false;  // the error shows part of the value (kept out of secrets')
};
Expanded expand_variables(std::string_view text, const Environment& env);

// Applies the environment's PLEXIPROXY_* variables to `root` (see load_config_text in
// config.h). Returns key path → variable name for each one applied, so that errors about
// those keys can name the variable instead of the file.
std::map<std::string, std::string> apply_overrides(YAML::Node& root, const Environment& env,
                                                   std::vector<ConfigError>& errors);

// The contents of the regular file `path`, at most `max_size` bytes; nullopt with `error`
// set when it cannot be opened or read, is not a regular file, or is larger. A FIFO, device
// or /proc file (which a config may name by mistake, or a hostile one on purpose) can
// neither block the load nor feed it without end: the file is opened and read without
// blocking and checked with fstat() on the open descriptor.
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_size,
                                           std::string& error);

std::string child_path(const std::string& path, std::string_view key);
std::string index_path(const std::string& path, std::size_t index);

class Reader {
 public:
  Reader(std::string file, const Environment& env, std::map<std::string, std::string> overridden)
      : file_(std::move(file)), env_(env), overridden_(std::move(overridden)) {}

  // Records a problem with the value at `at` (its line) under key path `key`.
  void error(const YAML::Node& at, const std::string& key, std::string message);
  // Records a problem in the file with no node to point at (line 0: the file as a whole).
  void file_error(int line, const std::string& key, std::string message);
  // yaml-cpp places an empty value where the next token starts, often the next line; errors
  // about `value` should point at its key instead.
  void note_empty_value(const YAML::Node& value, const YAML::Node& key);
  std::vector<ConfigError> take_errors();
  bool has_errors() const { return !errors_.empty(); }

  // The scalar's text after ${VAR} expansion. Null (an empty value) is absent, silently;
  // a map or list where a value belongs is an error.
  std::optional<std::string> text(const YAML::Node& node, const std::string& key);

  // A secret (password, token) written in the file or expanded from the environment. Errors
  // about it never quote it. One written in plain text in the file itself (neither a SCRAM,
  // md5 or mysql_native_password hash, nor a ${VAR}, nor set by a PLEXIPROXY_* variable) is
  // recorded in plain_secrets().
  std::optional<std::string> secret(const YAML::Node& node, const std::string& key);
  // A secret read from the file `node` names (relative to the config file's folder), its
  // trailing newline stripped. `key` is the *_file key; the secret's own key beside it
  // must not be given as well.
  std::optional<std::string> secret_file(const YAML::Node& node, const std::string& key,
                                         const std::string& secret_key);
  // Key paths of the secrets written in plain text in the file.
  const std::vector<std::string>& plain_secrets() const { return plain_secrets_; }

 private:
  std::string file_;
  const Environment& env_;
  std::map<std::string, std::string> overridden_;
  std::vector<ConfigError> errors_;
  std::vector<std::pair<YAML::Node, int>> empty_value_lines_;
  // Values a ${VAR} changed, with the text as written: an error that quotes a value shows it
  // as written, so no variable's content (a secret, perhaps) reaches a message.
  std::vector<std::pair<std::string, std::string>> expanded_values_;
  std::vector<std::string> plain_secrets_;
  std::vector<std::string> secret_keys_;  // secrets given inline, to refuse a *_file beside
};

// One known key of a section and how to read its value into the section's struct.
template <typename T>
struct Field {
  std::string_view key;
  std::function<void(Reader&, const YAML::Node& value, const std::string& path, T& target)> read;
};
template <typename T>
using Fields = std::vector<Field<T>>;

// A field stored in a member by a parser: (Reader&, node, path) → std::optional<value>.
template <typename T, typename M, typename Parse>
Field<T> field(std::string_view key, M T::*member, Parse parse) {
  return {key, [member, parse](Reader& r, const YAML::Node& n, const std::string& path, T& out) {
            if (auto value = parse(r, n, path)) out.*member = std::move(*value);
          }};
}

// The fields of a nested struct, read as fields of the outer one (a cluster's pool knobs).
template <typename Outer, typename Inner>
Fields<Outer> lift(Inner Outer::*member, const Fields<Inner>& fields) {
  Fields<Outer> out;
  for (const auto& f : fields) {
    out.push_back(
        {f.key, [member, read = f.read](Reader& r, const YAML::Node& n, const std::string& path,
                                        Outer& target) { read(r, n, path, target.*member); }});
  }
  return out;
}

// Reports keys of `map` that are not in `known` (suggesting the nearest one) and repeated
// keys; returns the first value of every known key present.
std::map<std::string, YAML::Node, std::less<>> scan_map(Reader& r, const YAML::Node& map,
                                                        const std::string& path,
                                                        const std::vector<std::string_view>& known);

// Reads a section. Fields are applied in table order, not file order, so a table can put
// what later fields depend on first (a cluster's pool knobs before its backends). An empty
// value is an empty section. Returns false when the node is not a map (reported).
template <typename T>
bool read_map(Reader& r, const YAML::Node& node, const std::string& path, const Fields<T>& fields,
              T& target) {
  if (node.IsNull()) return true;
  if (!node.IsMap()) {
    r.error(node, path, "expected a section of key: value lines");
    return false;
  }
  std::vector<std::string_view> known;
  for (const auto& f : fields) known.push_back(f.key);
  const auto entries = scan_map(r, node, path, known);
  for (const auto& f : fields) {
    if (auto it = entries.find(f.key); it != entries.end()) {
      f.read(r, it->second, child_path(path, f.key), target);
    }
  }
  return true;
}

// Parsers. Each returns nullopt for an absent value and for an invalid one (reported).

inline auto as_string() {
  return [](Reader& r, const YAML::Node& n, const std::string& key) { return r.text(n, key); };
}

inline auto as_name() {
  return [](Reader& r, const YAML::Node& n, const std::string& key) -> std::optional<std::string> {
    auto value = r.text(n, key);
    if (value && value->empty()) {
      r.error(n, key, "must not be empty");
      return std::nullopt;
    }
    return value;
  };
}

template <typename T>
auto as_int(long long min, long long max) {
  return [min, max](Reader& r, const YAML::Node& n, const std::string& key) -> std::optional<T> {
    const auto value = r.text(n, key);
    if (!value) return std::nullopt;
    long long number = 0;
    const char* end = value->data() + value->size();
    auto [stop, ec] = std::from_chars(value->data(), end, number);
    if (value->empty() || stop != end || ec == std::errc::invalid_argument) {
      r.error(n, key, "expected a whole number, got '" + *value + "'");
      return std::nullopt;
    }
    if (ec == std::errc::result_out_of_range || number < min || number > max) {
      r.error(
          n, key,
          *value + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
      return std::nullopt;
    }
    return static_cast<T>(number);
  };
}

inline auto as_port() { return as_int<std::uint16_t>(1, 65535); }

std::optional<bool> parse_bool(std::string_view text);
inline auto as_bool() {
  return [](Reader& r, const YAML::Node& n, const std::string& key) -> std::optional<bool> {
    const auto value = r.text(n, key);
    if (!value) return std::nullopt;
    const auto parsed = parse_bool(*value);
    if (!parsed) r.error(n, key, "expected true or false, got '" + *value + "'");
    return parsed;
  };
}

// `positive`: zero is refused too (a timeout of nothing); otherwise zero means "never".
inline auto as_duration(bool positive) {
  return [positive](Reader& r, const YAML::Node& n,
                    const std::string& key) -> std::optional<Duration> {
    const auto value = r.text(n, key);
    if (!value) return std::nullopt;
    const auto parsed = parse_duration(*value);
    if (!parsed) {
      r.error(n, key, "expected a duration such as 500ms, 1s, 5m or 1h, got '" + *value + "'");
      return std::nullopt;
    }
    if (positive && parsed->count() == 0) {
      r.error(n, key, "must be longer than 0");
      return std::nullopt;
    }
    return parsed;
  };
}

template <typename E>
using Choices = std::vector<std::pair<std::string_view, E>>;

std::string describe_choices(const std::vector<std::string_view>& names);

template <typename E>
auto as_choice(Choices<E> choices) {
  return [choices](Reader& r, const YAML::Node& n, const std::string& key) -> std::optional<E> {
    const auto value = r.text(n, key);
    if (!value) return std::nullopt;
    std::vector<std::string_view> names;
    for (const auto& [name, choice] : choices) {
      if (name == *value) return choice;
      names.push_back(name);
    }
    r.error(n, key, "expected " + describe_choices(names) + ", got '" + *value + "'");
    return std::nullopt;
  };
}

// A choice kept as its text (backend tls, read_your_writes, log levels).
inline auto as_word(std::vector<std::string_view> words) {
  return [words](Reader& r, const YAML::Node& n,
                 const std::string& key) -> std::optional<std::string> {
    auto value = r.text(n, key);
    if (!value) return std::nullopt;
    for (const auto word : words) {
      if (word == *value) return value;
    }
    r.error(n, key, "expected " + describe_choices(words) + ", got '" + *value + "'");
    return std::nullopt;
  };
}

// A secret's two keys: `key` with the value in the file (or ${VAR}), `file_key` naming a file
// that holds it. Both keys must outlive the table (string literals).
template <typename T>
Fields<T> secret_fields(std::string_view key, std::string_view file_key, std::string T::*member) {
  return {
      {key,
       [member](Reader& r, const YAML::Node& n, const std::string& path, T& out) {
         if (auto value = r.secret(n, path)) out.*member = std::move(*value);
       }},
      {file_key,
       [member, key](Reader& r, const YAML::Node& n, const std::string& path, T& out) {
         const auto dot = path.rfind('.');
         const std::string secret_path =
             dot == std::string::npos ? std::string(key) : child_path(path.substr(0, dot), key);
         if (auto value = r.secret_file(n, path, secret_path)) out.*member = std::move(*value);
       }},
  };
}

// A listen address; port 0 is allowed (the system picks one, which tests read back).
inline auto as_endpoint() {
  return [](Reader& r, const YAML::Node& n, const std::string& key) -> std::optional<Endpoint> {
    const auto value = r.text(n, key);
    if (!value) return std::nullopt;
    const auto parsed = parse_endpoint(*value);
    if (!parsed) {
      r.error(
          n, key,
          "expected host:port, [ipv6-address]:port or a port (0 to 65535), got '" + *value + "'");
    }
    return parsed;
  };
}

}  // namespace plexi::config::detail
