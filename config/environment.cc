// What the configuration takes from the environment: ${VAR} expansion in scalars and
// PLEXIPROXY_* variables that override keys of the YAML tree before it is validated.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "config/reader.h"

extern char** environ;  // POSIX: the only way to list the environment

namespace plexi::config {

Environment Environment::from_map(std::map<std::string, std::string> variables) {
  auto shared = std::make_shared<const std::map<std::string, std::string>>(std::move(variables));
  return Environment(
      [shared](std::string_view name) -> std::optional<std::string> {
        const auto it = shared->find(std::string(name));
        if (it == shared->end()) return std::nullopt;
        return it->second;
      },
      [shared](std::string_view prefix) {
        Variables found;
        for (const auto& [name, value] : *shared) {
          if (std::string_view(name).starts_with(prefix)) found.emplace_back(name, value);
        }
        return found;
      });
}

Environment process_environment() {
  return Environment(
      [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
      },
      [](std::string_view prefix) {
        Environment::Variables found;
        for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
          const std::string_view text(*entry);
          const auto equals = text.find('=');
          if (equals == std::string_view::npos || !text.starts_with(prefix)) continue;
          found.emplace_back(std::string(text.substr(0, equals)),
                             std::string(text.substr(equals + 1)));
        }
        std::sort(found.begin(), found.end());
        return found;
      });
}

namespace detail {

namespace {

bool is_variable_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

}  // namespace

Expanded expand_variables(std::string_view text, const Environment& env) {
  Expanded result;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$' || i + 1 == text.size() || (text[i + 1] != '$' && text[i + 1] != '{')) {
      result.text += text[i++];
      continue;
    }
    if (text[i + 1] == '$') {
      result.text += '$';
      i += 2;
      continue;
    }
    // Find the brace that closes this ${, skipping the ones of ${...} nested in a default.
    std::size_t depth = 1, close = i + 2;
    for (; close < text.size(); ++close) {
      if (text[close] == '$' && close + 1 < text.size() && text[close + 1] == '$') {
        ++close;
      } else if (text[close] == '$' && close + 1 < text.size() && text[close + 1] == '{') {
        ++depth;
        ++close;
      } else if (text[close] == '}' && --depth == 0) {
        break;
      }
    }
    if (close >= text.size()) {
      result.error = "'${' without a closing '}' (write $$ for a literal $)";
      return result;
    }
    const std::string_view body = text.substr(i + 2, close - i - 2);
    const auto separator = body.find(":-");
    const std::string_view name = body.substr(0, separator);
    if (!is_variable_name(name)) {
      result.error = "'${" + std::string(body) +
                     "}' is not ${NAME} or ${NAME:-default} (write $$ for a literal $)";
      result.error_quotes_text = true;
      return result;
    }
    const auto value = env(name);
    if (separator == std::string_view::npos) {
      if (!value) {
        result.error = "environment variable " + std::string(name) + " is not set (write ${" +
                       std::string(name) + ":-default} to give a default)";
        return result;
      }
      result.text += *value;
    } else if (value && !value->empty()) {
      result.text += *value;
    } else {
      auto fallback = expand_variables(body.substr(separator + 2), env);
      if (!fallback.error.empty()) return fallback;
      result.text += fallback.text;
    }
    i = close + 1;
  }
  return result;
}

namespace {

constexpr std::string_view kOverridePrefix = "PLEXIPROXY_";

// How an override segment is compared with the file's keys: environment names are upper
// case and cannot hold "-", so "APP_DB" must find a cluster named "app-db".
std::string normalized(std::string_view key) {
  std::string out(key);
  for (auto& c : out) {
    c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::optional<std::size_t> parse_index(std::string_view segment) {
  if (segment.empty() || segment.size() > 6) return std::nullopt;
  std::size_t index = 0;
  for (const char c : segment) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<std::size_t>(c - '0');
  }
  return index;
}

std::vector<std::string> split_segments(std::string_view rest) {
  std::vector<std::string> segments;
  while (true) {
    const auto separator = rest.find("__");
    segments.push_back(normalized(rest.substr(0, separator)));
    if (separator == std::string_view::npos) return segments;
    rest.remove_prefix(separator + 2);
  }
}

std::string escape_dollars(std::string_view value) {
  std::string out;
  for (const char c : value) {
    out += c;
    if (c == '$') out += '$';
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> apply_overrides(YAML::Node& root, const Environment& env,
                                                   std::vector<ConfigError>& errors) {
  std::map<std::string, std::string> applied;
  for (const auto& variable : env.list(kOverridePrefix)) {
    const std::string& name = variable.first;  // a plain reference: lambdas capture it
    const auto segments = split_segments(std::string_view(name).substr(kOverridePrefix.size()));
    auto fail = [&](const std::string& key, const std::string& message) {
      errors.push_back({std::string(kEnvironmentSource), 0, key, name + ": " + message});
    };
    if (std::any_of(segments.begin(), segments.end(), [](const auto& s) { return s.empty(); })) {
      fail("", "empty path segment (segments are joined by a double underscore)");
      continue;
    }

    // Walk with reset(): assigning one Node to another would overwrite the first's value.
    YAML::Node current;
    current.reset(root);
    std::string path;
    bool ok = true;
    for (const auto& segment : segments) {
      YAML::Node next;
      const auto index = parse_index(segment);
      if (current.IsScalar()) {
        fail(path, "'" + path + "' is a single value, not a section");
        ok = false;
        break;
      }
      if (current.IsSequence() || (!current.IsMap() && index)) {
        const std::size_t size = current.IsSequence() ? current.size() : 0;
        if (!index) {
          fail(path, "'" + path + "' is a list; expected an index, got '" + segment + "'");
          ok = false;
          break;
        }
        if (*index > size) {
          fail(path, "index " + segment + " is past the end of '" + path + "' (" +
                         std::to_string(size) + " entries; the next one is " +
                         std::to_string(size) + ")");
          ok = false;
          break;
        }
        next.reset(current[*index]);
        path = index_path(path, *index);
      } else {
        std::string key = segment;
        if (current.IsMap()) {
          for (const auto& entry : current) {
            if (entry.first.IsScalar() && normalized(entry.first.Scalar()) == segment) {
              key = entry.first.Scalar();
              break;
            }
          }
        }
        next.reset(current[key]);
        path = child_path(path, key);
      }
      current.reset(next);
    }
    if (!ok) continue;
    // Read back through ${VAR} expansion like every scalar, the value must stay literal.
    current = escape_dollars(variable.second);
    applied[path] = name;
  }
  return applied;
}

}  // namespace detail
}  // namespace plexi::config
