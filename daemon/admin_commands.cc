// Parsing of admin console commands: a keyword, sometimes a second one, and at most one name.
#include <algorithm>
#include <cctype>

#include "daemon/admin_console.h"

namespace plexi::admin {
namespace {

std::string upper(std::string_view word) {
  std::string out(word);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Words split at white space; a double-quoted name is one word, without its quotes.
bool split_words(std::string_view text, std::vector<std::string>& words, std::string& error) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::string word;
    if (text[i] == '"') {
      ++i;
      while (true) {
        if (i >= text.size()) {
          error = "unterminated quoted name";
          return false;
        }
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            word += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        word += text[i++];
      }
    } else {
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])))
        word += text[i++];
    }
    words.push_back(std::move(word));
  }
  return true;
}

}  // namespace

const std::vector<std::string_view>& show_subjects() {
  static const std::vector<std::string_view> subjects = {
      "BACKENDS", "CLIENTS", "CONFIG", "HELP", "POOLS", "QUERIES", "SERVERS", "STATS", "VERSION"};
  return subjects;
}

std::optional<Command> parse_command(std::string_view text, std::string& error) {
  while (!text.empty() &&
         (text.back() == ';' || std::isspace(static_cast<unsigned char>(text.back())))) {
    text.remove_suffix(1);
  }
  std::vector<std::string> words;
  if (!split_words(text, words, error)) return std::nullopt;
  Command command;
  if (words.empty()) return command;
  const std::string verb = upper(words[0]);
  const std::size_t arguments = words.size() - 1;
  auto no_more = [&](std::size_t allowed) {
    if (arguments <= allowed) return true;
    error = "too many words after " + verb;
    return false;
  };

  if (verb == "SET") {
    command.kind = Command::Kind::kSet;
    return command;
  }
  if (verb == "SHOW") {
    if (arguments == 0) {
      error = "SHOW needs a subject; SHOW HELP lists them";
      return std::nullopt;
    }
    if (!no_more(1)) return std::nullopt;
    command.kind = Command::Kind::kShow;
    command.argument = upper(words[1]);
    const auto& subjects = show_subjects();
    if (std::find(subjects.begin(), subjects.end(), command.argument) == subjects.end()) {
      error = "unknown SHOW subject \"" + words[1] + "\"; SHOW HELP lists them";
      return std::nullopt;
    }
    return command;
  }
  if (verb == "RELOAD" || verb == "SHUTDOWN") {
    if (!no_more(0)) return std::nullopt;
    command.kind = verb == "RELOAD" ? Command::Kind::kReload : Command::Kind::kShutdown;
    return command;
  }
  if (verb == "PAUSE" || verb == "RESUME") {
    if (!no_more(1)) return std::nullopt;
    command.kind = verb == "PAUSE" ? Command::Kind::kPause : Command::Kind::kResume;
    if (arguments == 1) command.argument = words[1];
    return command;
  }
  if (verb == "DISABLE" || verb == "ENABLE") {
    if (arguments != 2 || upper(words[1]) != "BACKEND") {
      error = verb + " takes BACKEND and a backend name (cluster.backend, or a name)";
      return std::nullopt;
    }
    command.kind = verb == "DISABLE" ? Command::Kind::kDisable : Command::Kind::kEnable;
    command.argument = words[2];
    return command;
  }
  if (verb == "KILL") {
    bool numeric = arguments == 1 && !words[1].empty() && words[1].size() <= 10 &&
                   std::all_of(words[1].begin(), words[1].end(),
                               [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!numeric) {
      error = "KILL takes a client id, as SHOW CLIENTS lists them";
      return std::nullopt;
    }
    command.kind = Command::Kind::kKill;
    command.argument = words[1];
    return command;
  }
  if (verb == "INVALIDATE") {
    if (arguments < 2 || upper(words[1]) != "CACHE") {
      error =
          "INVALIDATE takes CACHE, a cluster, and the tables whose cached results go (none: "
          "every result of the cluster)";
      return std::nullopt;
    }
    command.kind = Command::Kind::kInvalidateCache;
    command.argument = words[2];
    command.tables.assign(words.begin() + 3, words.end());
    return command;
  }
  error = "unknown command \"" + words[0] + "\"; SHOW HELP lists the commands";
  return std::nullopt;
}

}  // namespace plexi::admin
