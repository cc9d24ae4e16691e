// The small value functions of the configuration: names of enums, endpoints, durations,
// lookups in a snapshot and the text of an error.
#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "protocol/pg/auth.h"

namespace plexi::config {

bool is_hashed_secret(std::string_view text) {
  const bool native_hash =
      text.size() == 41 && text[0] == '*' &&
      std::all_of(text.begin() + 1, text.end(), [](unsigned char c) { return std::isxdigit(c); });
  return native_hash || pg::is_md5_secret(text) || pg::parse_scram_secret(text).has_value();
}

std::string_view to_string(Protocol value) {
  switch (value) {
    case Protocol::kPostgres:
      return "postgres";
    case Protocol::kMysql:
      return "mysql";
    case Protocol::kRedis:
      return "redis";
  }
  return "?";
}

std::string_view to_string(BackendType value) {
  switch (value) {
    case BackendType::kPostgres:
      return "postgres";
    case BackendType::kMysql:
      return "mysql";
    case BackendType::kRedis:
      return "redis";
    case BackendType::kSqlite:
      return "sqlite";
  }
  return "?";
}

std::string_view to_string(Role value) {
  switch (value) {
    case Role::kPrimary:
      return "primary";
    case Role::kReplica:
      return "replica";
    case Role::kAnalytics:
      return "analytics";
    case Role::kCache:
      return "cache";
  }
  return "?";
}

std::string_view to_string(PoolMode value) {
  switch (value) {
    case PoolMode::kSession:
      return "session";
    case PoolMode::kTransaction:
      return "transaction";
    case PoolMode::kStatement:
      return "statement";
  }
  return "?";
}

std::string_view to_string(ClientTls value) {
  switch (value) {
    case ClientTls::kDisable:
      return "disable";
    case ClientTls::kAllow:
      return "allow";
    case ClientTls::kRequire:
      return "require";
  }
  return "?";
}

std::string_view to_string(ServerTls value) {
  switch (value) {
    case ServerTls::kDisable:
      return "disable";
    case ServerTls::kPrefer:
      return "prefer";
    case ServerTls::kRequire:
      return "require";
    case ServerTls::kVerifyCa:
      return "verify-ca";
    case ServerTls::kVerifyFull:
      return "verify-full";
  }
  return "?";
}

std::string_view to_string(UserAuth value) {
  return value == UserAuth::kCert ? "cert" : "password";
}

std::string_view to_string(LogFormat value) {
  switch (value) {
    case LogFormat::kText:
      return "text";
    case LogFormat::kJson:
      return "json";
  }
  return "?";
}

std::string_view to_string(ReadYourWrites value) {
  switch (value) {
    case ReadYourWrites::kOff:
      return "off";
    case ReadYourWrites::kLsn:
      return "lsn";
    case ReadYourWrites::kWindow:
      return "window";
  }
  return "?";
}

std::string_view to_string(LoadBalancing value) {
  switch (value) {
    case LoadBalancing::kRoundRobin:
      return "round_robin";
    case LoadBalancing::kLeastOutstanding:
      return "least_outstanding";
    case LoadBalancing::kWeighted:
      return "weighted";
  }
  return "?";
}

std::string Endpoint::to_string() const {
  // An IPv6 address keeps its brackets so the text parses back to the same endpoint.
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint endpoint;
  std::string_view port_text;
  if (text.find(':') == std::string_view::npos) {
    port_text = text;  // a bare port keeps the loopback default host
  } else if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close == 1 || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return std::nullopt;
    }
    endpoint.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.find(':');
    // More than one colon without brackets is an IPv6 address whose port cannot be told apart.
    if (colon == 0 || text.find(':', colon + 1) != std::string_view::npos) return std::nullopt;
    endpoint.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  const auto port = parse_port(port_text);
  if (!port) return std::nullopt;
  endpoint.port = *port;
  return endpoint;
}

bool is_socket_path(std::string_view host) { return host.starts_with('/'); }

std::string socket_file(BackendType type, std::string_view host, std::uint16_t port) {
  std::string file(host);
  if (type == BackendType::kPostgres) file += "/.s.PGSQL." + std::to_string(port);
  return file;
}

std::optional<Duration> parse_duration(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;

  long double total_ms = 0;
  bool bare = true;
  std::size_t i = 0;
  while (i < text.size()) {
    // A number: digits with an optional fraction; signs and exponents are not durations.
    const std::size_t start = i;
    long double number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      number = number * 10 + (text[i++] - '0');
    }
    bool digits = i > start;
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        number += (text[i++] - '0') * scale;
        scale /= 10;
        digits = true;
      }
    }
    if (!digits) return std::nullopt;

    const std::size_t unit_start = i;
    while (i < text.size() &&
           ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z'))) {
      ++i;
    }
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    long double unit_ms = 0;
    if (unit.empty()) {
      // A bare number means seconds, but only as the whole text: "1h30" is a typo.
      if (!bare || i != text.size()) return std::nullopt;
      unit_ms = 1000;
    } else if (unit == "ms") {
      unit_ms = 1;
    } else if (unit == "s") {
      unit_ms = 1000;
    } else if (unit == "m") {
      unit_ms = 60 * 1000;
    } else if (unit == "h") {
      unit_ms = 60 * 60 * 1000;
    } else if (unit == "d") {
      unit_ms = 24 * 60 * 60 * 1000;
    } else {
      return std::nullopt;
    }
    bare = false;
    total_ms += number * unit_ms;
  }
  // About 30,000 years: far beyond any timeout, and safely inside the representation.
  if (total_ms > 1e15L) return std::nullopt;
  return Duration(static_cast<Duration::rep>(std::llround(static_cast<double>(total_ms))));
}

const User* Config::find_user(std::string_view name) const {
  for (const auto& user : users) {
    if (user.name == name) return &user;
  }
  return nullptr;
}

const Cluster* Config::find_cluster(std::string_view name) const {
  const auto it = clusters.find(std::string(name));
  return it == clusters.end() ? nullptr : &it->second;
}

bool adopt(const std::shared_ptr<const Config>& latest, const SessionView& view) {
  const Cluster* cluster = latest->find_cluster(view.cluster->name);
  if (latest == view.config || !cluster || cluster->protocol != view.cluster->protocol ||
      cluster->is_sqlite() || view.cluster->is_sqlite() || cluster->backends.empty()) {
    return false;
  }
  if (view.user) {
    if (const User* user = latest->find_user(view.user->name)) {
      view.user = user;
      view.user_config.reset();
    } else if (!view.user_config) {
      view.user_config = view.config;
    }
  }
  view.config = latest;
  view.cluster = cluster;
  return true;
}

std::string ConfigError::to_string() const {
  std::string text = file;
  if (line > 0) text += ":" + std::to_string(line);
  text += ": ";
  if (!key.empty()) text += key + ": ";
  text += message;
  return text;
}

}  // namespace plexi::config
