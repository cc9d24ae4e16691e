// Error collection and the generic parts of reading sections: key paths, unknown and
// repeated keys, scalar text with ${VAR} expansion.
#include "config/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <system_error>

namespace plexi::config::detail {

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_size,
                                           std::string& error) {
  auto failed = [&](const char* what) {
    error = std::string(what) + " " + path + ": " +
            std::error_code(errno, std::generic_category()).message();
    return std::nullopt;
  };
  // O_NONBLOCK: opening a FIFO no one writes to would wait for a writer, and reading a file
  // such as /proc/kmsg would wait for data.
  struct Descriptor {
    int fd;
    ~Descriptor() {
      if (fd >= 0) ::close(fd);
    }
  } const file{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
  const int fd = file.fd;
  if (fd < 0) return failed("cannot read");
  struct stat status {};
  if (::fstat(fd, &status) != 0) return failed("cannot read");
  if (!S_ISREG(status.st_mode)) {
    error = path + " is not a regular file";
    return std::nullopt;
  }
  // /proc files report size 0 whatever they hold, so the read itself is bounded too.
  std::string contents;
  char buffer[8192];
  while (contents.size() <= max_size) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      return failed("cannot read");
    }
    contents.append(buffer, static_cast<std::size_t>(got));
  }
  if (contents.size() > max_size) {
    error = path + " is larger than the " + std::to_string(max_size) + " bytes it may hold";
    return std::nullopt;
  }
  return contents;
}

std::string child_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index_path(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

void Reader::error(const YAML::Node& at, const std::string& key, std::string message) {
  for (const auto& [value, as_written] : expanded_values_) {
    for (std::size_t at_value = message.find(value); at_value != std::string::npos;
         at_value = message.find(value, at_value + as_written.size())) {
      message.replace(at_value, value.size(), as_written);
    }
  }
  ConfigError error{file_, 0, key, std::move(message)};
  if (const auto it = overridden_.find(key); it != overridden_.end()) {
    // The file's line would point at the value the variable replaced.
    error.file = std::string(kEnvironmentSource);
    error.message += " (set by " + it->second + ")";
  } else if (!at.IsDefined() || at.Mark().is_null()) {
    // Only nodes an override created have no place in the file.
    error.file = std::string(kEnvironmentSource);
  } else {
    error.line = at.Mark().line + 1;
    if (at.IsNull()) {
      for (const auto& [value, line] : empty_value_lines_) {
        if (value.is(at)) error.line = line;
      }
    }
  }
  errors_.push_back(std::move(error));
}

void Reader::note_empty_value(const YAML::Node& value, const YAML::Node& key) {
  if (value.IsNull() && !key.Mark().is_null()) {
    empty_value_lines_.emplace_back(value, key.Mark().line + 1);
  }
}

void Reader::file_error(int line, const std::string& key, std::string message) {
  errors_.push_back({file_, line, key, std::move(message)});
}

std::vector<ConfigError> Reader::take_errors() {
  // File order reads best; errors without a line (the environment's) come last.
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    const bool a_unplaced = a.line == 0, b_unplaced = b.line == 0;
    if (a_unplaced != b_unplaced) return b_unplaced;
    return a.line < b.line;
  });
  return std::move(errors_);
}

std::optional<std::string> Reader::text(const YAML::Node& node, const std::string& key) {
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;
  if (!node.IsScalar()) {
    error(node, key,
          node.IsMap() ? "expected a single value, not a section"
                       : "expected a single value, not a list");
    return std::nullopt;
  }
  auto expanded = expand_variables(node.Scalar(), env_);
  if (!expanded.error.empty()) {
    error(node, key, std::move(expanded.error));
    return std::nullopt;
  }
  if (!expanded.text.empty() && expanded.text != node.Scalar()) {
    expanded_values_.emplace_back(expanded.text, node.Scalar());
  }
  return std::move(expanded.text);
}

namespace {

// Longest secret file read: secrets are short, and a wrong path must not load a disk image.
constexpr std::size_t kMaxSecretFile = 64 * 1024;

}  // namespace

std::optional<std::string> Reader::secret(const YAML::Node& node, const std::string& key) {
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;
  if (!node.IsScalar()) return text(node, key);  // reports the shape; quotes nothing
  auto expanded = expand_variables(node.Scalar(), env_);
  if (!expanded.error.empty()) {
    error(node, key,
          expanded.error_quotes_text
              ? "a ${ in this secret is not ${NAME} or ${NAME:-default} (write $$ for a literal $)"
              : std::move(expanded.error));
    return std::nullopt;
  }
  const bool from_environment =
      overridden_.count(key) != 0 || node.Scalar().find("${") != std::string::npos;
  if (!from_environment && !expanded.text.empty() && !is_hashed_secret(expanded.text)) {
    plain_secrets_.push_back(key);
  }
  secret_keys_.push_back(key);
  return std::move(expanded.text);
}

std::optional<std::string> Reader::secret_file(const YAML::Node& node, const std::string& key,
                                               const std::string& secret_key) {
  auto name = text(node, key);
  if (!name) return std::nullopt;
  if (std::find(secret_keys_.begin(), secret_keys_.end(), secret_key) != secret_keys_.end()) {
    error(node, key, "give " + secret_key.substr(secret_key.rfind('.') + 1) + " or " +
                         key.substr(key.rfind('.') + 1) + ", not both");
    return std::nullopt;
  }
  if (name->empty()) {
    error(node, key, "must not be empty");
    return std::nullopt;
  }
  std::filesystem::path path(*name);
  if (path.is_relative()) path = std::filesystem::path(file_).parent_path() / path;
  // A name built from ${VAR} is shown as written: the variable may hold the password itself,
  // put there by mistake, and errors reach logs.
  const std::string written = node.IsScalar() ? node.Scalar() : *name;
  const std::string shown =
      written.find("${") == std::string::npos ? path.string() : "the file named " + written;
  std::string read_error;
  auto value = read_small_file(path.string(), kMaxSecretFile, read_error);
  if (!value) {
    if (auto at = read_error.find(path.string()); at != std::string::npos) {
      read_error.replace(at, path.string().size(), shown);
    }
    error(node, key, std::move(read_error));
    return std::nullopt;
  }
  // Editors and `echo` end files with a newline that is no part of the secret.
  if (value->ends_with('\n')) value->pop_back();
  if (value->ends_with('\r')) value->pop_back();
  if (value->empty()) {
    error(node, key, shown + " is empty");
    return std::nullopt;
  }
  return value;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string unknown_key_message(std::string_view key, const std::vector<std::string_view>& known) {
  std::string_view best;
  std::size_t best_distance = std::max<std::size_t>(2, key.size() / 4) + 1;
  for (const auto candidate : known) {
    const auto distance = edit_distance(key, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  std::string message = "unknown key";
  if (!best.empty()) {
    message += "; did you mean '" + std::string(best) + "'?";
  } else if (!known.empty()) {
    message += "; expected " + describe_choices(known);
  }
  return message;
}

}  // namespace

std::map<std::string, YAML::Node, std::less<>> scan_map(
    Reader& r, const YAML::Node& map, const std::string& path,
    const std::vector<std::string_view>& known) {
  std::map<std::string, YAML::Node, std::less<>> entries;
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) {
      r.error(entry.first, path, "keys must be plain names");
      continue;
    }
    const std::string& key = entry.first.Scalar();
    const std::string key_path = child_path(path, key);
    r.note_empty_value(entry.second, entry.first);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      r.error(entry.first, key_path, unknown_key_message(key, known));
    } else if (!entries.emplace(key, entry.second).second) {
      // yaml-cpp keeps both; silently using one would hide an edit that has no effect.
      r.error(entry.first, key_path, "repeated key");
    }
  }
  return entries;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

std::string describe_choices(const std::vector<std::string_view>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += " | ";
    text += names[i];
  }
  return text;
}

}  // namespace plexi::config::detail
