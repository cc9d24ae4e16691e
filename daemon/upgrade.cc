// The daemon's side of a binary upgrade: its control socket, the listeners it hands over,
// and the successor it starts on SIGUSR2 (the handover itself is in daemon/takeover.h).
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "daemon/daemon.h"
#include "daemon/logging.h"
#include "protocol/mysql/session.h"
#include "protocol/resp/session.h"

namespace plexi {

std::string Daemon::upgrade_socket_path() const {
  auto config = this->config();
  if (!config->upgrade.socket.empty()) return config->upgrade.socket;
  const char* runtime = std::getenv("RUNTIME_DIRECTORY");
  return takeover::default_socket_path(runtime ? runtime : "", options_.data_dir);
}

bool Daemon::open_upgrade_socket() {
  takeover::Server::Hooks hooks;
  hooks.listeners = [this] { return listeners_to_hand_over(); };
  // Not while this one is draining, or still taking over itself: one handover at a time.
  hooks.accepting = [this] { return !stopping_.load() && !handover_; };
  hooks.taken_over = [this](int, asio::local::stream_protocol::socket connection) {
    successor_link_.emplace(std::move(connection));
    asio::co_spawn(workers_.main(), shutdown(Stop::kHandedOver), asio::detached);
  };
  upgrade_server_ = std::make_unique<takeover::Server>(workers_.main(), std::move(hooks),
                                                       component_logger("upgrade"));
  std::string path = upgrade_socket_path();
  std::string error;
  // Taking over, the old process's socket is replaced by this one's: further upgrades go here.
  if (!upgrade_server_->listen(path, handover_.has_value(), error)) {
    log_->critical("cannot open the upgrade socket: {}", error);
    upgrade_server_.reset();
    return false;
  }
  upgrade_socket_ = path;
  upgrade_server_->start();
  return true;
}

std::vector<takeover::Listener> Daemon::listeners_to_hand_over() const {
  std::vector<takeover::Listener> listeners;
  for (const auto& listening : acceptors_) {
    error_code ec;
    auto endpoint = listening.acceptor->local_endpoint(ec);
    if (ec) continue;
    listeners.push_back({listening.kind, endpoint, listening.acceptor->native_handle()});
  }
  if (admin_http_ && admin_http_->listener_handle() >= 0) {
    error_code ec;
    tcp::endpoint endpoint;
    // The admin server owns its acceptor; its descriptor tells where it is bound.
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(admin_http_->listener_handle(), reinterpret_cast<sockaddr*>(&address),
                      &length) == 0) {
      endpoint.resize(length);
      std::memcpy(endpoint.data(), &address, length);
      listeners.push_back({"admin", endpoint, admin_http_->listener_handle()});
    }
  }
  return listeners;
}

void Daemon::start_successor() {
  if (stopping_.load()) return;
  if (successor_ > 0) {
    log_->warn("SIGUSR2: process {} is taking over already", successor_);
    return;
  }
  if (options_.executable.empty() || upgrade_socket_.empty()) {
    log_->error("SIGUSR2: cannot start a successor: {}",
                upgrade_socket_.empty() ? "no upgrade socket" : "the executable is unknown");
    return;
  }
  // The same arguments, but the successor connects to this process's own socket (the config
  // it reads may name another).
  std::vector<std::string> arguments;
  for (std::size_t i = 0; i < options_.arguments.size(); ++i) {
    const auto& argument = options_.arguments[i];
    if (argument.starts_with("--takeover=")) continue;
    if (argument == "--takeover") {
      bool has_value =
          i + 1 < options_.arguments.size() && !options_.arguments[i + 1].starts_with("-");
      if (has_value) ++i;
      continue;
    }
    arguments.push_back(argument);
  }
  arguments.push_back("--takeover=" + upgrade_socket_);
  std::string error;
  pid_t pid = takeover::spawn(options_.executable, arguments, error);
  if (pid < 0) {
    log_->error("SIGUSR2: cannot start {}: {}", options_.executable, error);
    return;
  }
  successor_ = pid;
  log_->info("SIGUSR2: started {} as process {} to take over", options_.executable, pid);
  asio::co_spawn(workers_.main(), watch_successor(pid), asio::detached);
}

// Reaps the successor if it fails: until it takes over, this process serves on.
awaitable<void> Daemon::watch_successor(pid_t pid) {
  asio::steady_timer timer(workers_.main());
  while (true) {
    int status = 0;
    pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid || reaped < 0) break;
    timer.expires_after(std::chrono::milliseconds(100));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
  }
  successor_ = 0;
  if (!stopping_.load()) {
    log_->error("the new process {} exited before taking over: this one keeps serving", pid);
  }
}

awaitable<void> Daemon::let_accepted_clients_start() {
  auto config = this->config();
  auto now = std::chrono::steady_clock::now;
  auto limit = std::min(config->limits.startup_timeout, config->limits.shutdown_timeout);
  auto deadline = now() + limit;
  asio::steady_timer timer(workers_.main());
  error_code ignored;
  auto pause = [&timer, &ignored](std::chrono::milliseconds length) {
    timer.expires_after(length);
    return timer.async_wait(asio::redirect_error(use_awaitable, ignored));
  };
  // A client is counted when its session starts on its worker, and registered once it has
  // logged in (a PostgreSQL client) or from its first byte (MySQL and Redis, which show
  // their phase); draining now would refuse the logins under way.
  auto logging_in = [this] {
    if (static_cast<std::size_t>(std::max(0, clients_.load())) > client_registry_.size()) {
      return true;
    }
    for (const auto& [id, client] : client_registry_.clients()) {
      if (client->logging_in()) return true;
    }
    return false;
  };
  co_await pause(std::chrono::milliseconds(100));
  while (logging_in() && now() < deadline) co_await pause(std::chrono::milliseconds(20));
  // From here each session ends after its transaction (or goes to the new process, which
  // then serves its next one).
  client_handover_.open();
  shutting_down_ = true;
  if (successor_link_) co_return;
  // Without a new process to take them, idle ones are not closed yet: a client that has
  // just logged in has not sent its first request (pgbench -C connects all its clients
  // before any sends one), and closing it would fail that request.
  deadline = now() + std::min<std::chrono::milliseconds>(limit, kFirstRequestGrace);
  while (clients_.load() > 0 && now() < deadline) co_await pause(std::chrono::milliseconds(50));
}

awaitable<void> Daemon::send_handed_clients() {
  for (auto& client : client_handover_.take_all()) {
    bool sent = false;
    if (successor_link_) sent = co_await takeover::send_client(*successor_link_, client);
    ::close(client.fd);  // the new process has its own descriptor now (or the client is lost)
    client.fd = -1;
    if (sent) {
      ++clients_handed_;
    } else if (successor_link_) {
      log_->error("cannot hand clients to the new process any more: those left are closed");
      successor_link_.reset();
    }
  }
}

awaitable<void> Daemon::receive_handed_clients(int connection, int old_pid) {
  asio::local::stream_protocol::socket link(workers_.main());
  error_code ec;
  link.assign(asio::local::stream_protocol(), connection, ec);
  if (ec) {
    ::close(connection);
    co_return;
  }
  std::size_t received = co_await takeover::receive_clients(
      link, [this](HandedClient client) { adopt_client(std::move(client)); }, *log_);
  log_->info("process {} handed over {} idle clients", old_pid, received);
}

void Daemon::adopt_client(HandedClient client) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  pg::SessionEnvironment* environment = client.protocol == "postgres" ? &pg_environment_
                                        : client.protocol == "mysql"  ? &mysql_environment_
                                        : client.protocol == "redis"  ? &redis_environment_
                                                                      : nullptr;
  bool tcp_socket = ::getsockname(client.fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
                    (address.ss_family == AF_INET || address.ss_family == AF_INET6);
  if (!environment || !tcp_socket) {
    log_->error("a client handed over ({}) cannot be served here: closed", client.protocol);
    ::close(client.fd);
    return;
  }
  tcp protocol = address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
  auto worker = workers_.next();
  // As an accepted client: the session is made on its worker.
  asio::post(worker, [environment, worker, protocol, client = std::move(client)]() mutable {
    tcp::socket socket(worker);
    error_code ec;
    socket.assign(protocol, client.fd, ec);
    if (ec) {
      ::close(client.fd);
      return;
    }
    if (client.protocol == "postgres") {
      pg::resume_client(std::move(socket), *environment, client.state);
    } else if (client.protocol == "mysql") {
      mysql::resume_client(std::move(socket), *environment, client.state);
    } else {
      resp::resume_client(std::move(socket), *environment, client.state);
    }
  });
}

}  // namespace plexi
