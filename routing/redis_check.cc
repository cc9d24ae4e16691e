// The hiredis side of a Redis health check: connect, AUTH, PING, ROLE and, on a replica,
// INFO replication, each answer read into a CheckResult.
#include "routing/redis_check.h"

#include <charconv>

namespace plexi::routing {
namespace {

std::optional<long long> parse_integer(std::string_view text) {
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The value of `key` in INFO's "key:value" lines; none when the key is absent.
std::optional<std::string_view> info_field(std::string_view info, std::string_view key) {
  while (!info.empty()) {
    const auto end = info.find('\n');
    std::string_view line = info.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ':') {
      return line.substr(key.size() + 1);
    }
    if (end == std::string_view::npos) break;
    info.remove_prefix(end + 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<RedisCheckSettings> redis_check_settings(const config::Cluster& cluster,
                                                       const config::Backend& backend) {
  RedisCheckSettings settings;
  settings.host = backend.host;
  settings.port = backend.port;
  settings.database = backend.database;
  settings.tls = config::is_socket_path(backend.host) ? config::ServerTls::kDisable : backend.tls;
  settings.tls_ca_file = backend.tls_ca_file;
  settings.timeout = cluster.health.timeout;
  const bool own = !backend.username.empty() || !backend.password.empty();
  settings.user = own ? backend.username : cluster.health.user;
  settings.password = own ? backend.password : cluster.health.password;
  return settings;
}

void read_role(const resp::Value& reply, CheckResult& result) {
  result.ok = false;
  result.in_recovery = false;
  result.wal_lsn = 0;
  result.receive_lsn.reset();
  result.replay_age_seconds.reset();
  if (reply.is_error()) {
    result.error = "ROLE: " + reply.text;
    return;
  }
  const auto& parts = reply.elements;
  if (reply.type != resp::Type::kArray || parts.empty() || !parts[0].is_string()) {
    result.error = "ROLE returned an unexpected shape";
    return;
  }
  const std::string& role = parts[0].text;
  if (role == "master") {
    // ["master", offset, [[replica ip, port, offset], ...]]
    if (parts.size() < 2 || parts[1].type != resp::Type::kInteger || parts[1].integer < 0) {
      result.error = "ROLE gave a master no replication offset";
      return;
    }
    result.wal_lsn = static_cast<Lsn>(parts[1].integer);
  } else if (role == "slave") {
    // ["slave", master ip, master port, link state, offset]; the offset is -1 until the
    // replica has synchronised once.
    if (parts.size() < 5 || !parts[3].is_string() || parts[4].type != resp::Type::kInteger) {
      result.error = "ROLE returned an unexpected shape for a replica";
      return;
    }
    result.in_recovery = true;
    const long long offset = parts[4].integer;
    result.wal_lsn = offset > 0 ? static_cast<Lsn>(offset) : 0;
    if (parts[3].text == "connected" && offset >= 0) result.receive_lsn = result.wal_lsn;
  } else if (role == "sentinel") {
    result.error = "the server is a sentinel, not a data server";
    return;
  } else {
    result.error = "ROLE answered an unknown role '" + role + "'";
    return;
  }
  result.error.clear();
  result.ok = true;
}

void read_replication_info(const resp::Value& reply, CheckResult& result) {
  if (reply.is_error() || !reply.is_string()) {
    result.ok = false;
    result.error =
        reply.is_error() ? "INFO replication: " + reply.text : "INFO replication returned no text";
    return;
  }
  const std::string_view info = reply.text;
  const auto link = info_field(info, "master_link_status");
  if (link == "up") {
    if (const auto io = info_field(info, "master_last_io_seconds_ago")) {
      if (const auto seconds = parse_integer(*io); seconds && *seconds >= 0) {
        result.replay_age_seconds = static_cast<double>(*seconds);
      }
    }
    return;
  }
  // Down, or syncing: nothing arrives, so nothing received can be said to be applied.
  result.receive_lsn.reset();
  result.replay_age_seconds.reset();
  if (const auto since = info_field(info, "master_link_down_since_seconds")) {
    if (const auto seconds = parse_integer(*since); seconds && *seconds >= 0) {
      result.replay_age_seconds = static_cast<double>(*seconds);
    }
  }
}

RedisCheck::RedisCheck(asio::any_io_executor executor, RedisCheckSettings settings)
    : BackendCheck(executor, settings.timeout, "hiredis"),
      settings_(std::move(settings)),
      connection_([this](int fd, bool for_write, bool new_socket, std::string& error) {
        return wait(fd, for_write, new_socket, error);
      }),
      waker_(executor) {}

RedisCheck::~RedisCheck() { reset(); }

void RedisCheck::reset() {
  forget();  // our dup first; hiredis then closes its own descriptor
  connection_.close();
  if (link_) {
    link_->close("the check closed its connection");
    link_.reset();
  }
}

void RedisCheck::interrupt() {
  // The replies still awaited come back as errors and wake ask_link(), which sees why.
  if (link_) link_->close("the check was interrupted");
}

awaitable<bool> RedisCheck::attempt(CheckResult& result) {
  if (tls() && !link_) {
    pools::redis::LinkTarget target;
    target.host = settings_.host;
    target.port = settings_.port;
    target.user = settings_.user;
    target.password = settings_.password;
    target.connect_timeout = settings_.timeout;
    target.tls = {settings_.tls, settings_.tls_ca_file};
    link_ = std::make_shared<pools::redis::ServerLink>(executor(), std::move(target));
  } else if (!tls() && !connection_.connected()) {
    const bool connected = co_await connect(result.error);
    if (!connected) co_return false;
  }
  std::vector<std::string> ping = {"PING"}, role_question = {"ROLE"},
                           info_question = {"INFO", "replication"};
  const auto pong = co_await ask(std::move(ping), result.error);
  if (!pong) co_return false;
  const auto role = co_await ask(std::move(role_question), result.error);
  if (!role) co_return false;
  read_role(*role, result);
  if (!result.ok || !result.in_recovery) co_return result.ok;
  const auto info = co_await ask(std::move(info_question), result.error);
  if (!info) {
    result.ok = false;
    co_return false;
  }
  read_replication_info(*info, result);
  co_return result.ok;
}

awaitable<bool> RedisCheck::connect(std::string& error) {
  std::string address;
  const bool resolved = co_await resolve(settings_.host, settings_.port, address, error);
  if (!resolved) co_return false;
  // An empty address is a Unix socket path.
  const bool connected = co_await connection_.connect(address.empty() ? settings_.host : address,
                                                      settings_.port, error);
  if (!connected) {
    if (error.empty()) error = failure("connecting");
    co_return false;
  }
  if (settings_.password.empty()) co_return true;
  std::vector<std::string> auth = {"AUTH"};
  if (!settings_.user.empty()) auth.push_back(settings_.user);
  auth.push_back(settings_.password);
  const auto accepted = co_await ask(std::move(auth), error);
  co_return accepted.has_value();
}

awaitable<std::optional<resp::Value>> RedisCheck::ask(std::vector<std::string> command,
                                                      std::string& error) {
  const std::string name = command.front();
  std::optional<resp::Value> reply;
  if (link_) {
    reply = co_await ask_link(command, error);
  } else {
    reply = co_await connection_.command(std::move(command), error);
  }
  if (!reply) {
    if (error.empty()) error = failure("waiting for " + name + "'s answer");
    co_return std::nullopt;
  }
  if (reply->is_error()) {
    error = name + ": " + reply->text;
    co_return std::nullopt;
  }
  co_return reply;
}

awaitable<std::optional<resp::Value>> RedisCheck::ask_link(const std::vector<std::string>& command,
                                                           std::string& error) {
  std::vector<std::string_view> args(command.begin(), command.end());
  auto slot = std::make_shared<pools::redis::ReplySlot>();
  slot->waker = &waker_;
  link_->send_command(args, slot);
  while (!slot->done) co_await waker_.wait();
  if (interrupted()) co_return std::nullopt;  // ask() names the stage
  if (slot->link_failed) {
    // The link's own error reply: "-ERR plexiproxy: <why> (server host:port)\r\n".
    constexpr std::string_view kPrefix = "-ERR plexiproxy: ";
    const std::string& text = slot->reply;
    const std::size_t from = text.starts_with(kPrefix) ? kPrefix.size() : 1;
    error = text.substr(from, text.find_first_of("\r\n") - from);
    co_return std::nullopt;
  }
  auto value = resp::parse_value(slot->reply, resp::Limits{});
  if (!value) error = "unreadable reply to " + command.front();
  co_return value;
}

}  // namespace plexi::routing
