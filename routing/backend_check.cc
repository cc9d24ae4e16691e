// The Asio side of a health check: the timeout that bounds a whole run, name resolution,
// waits on a dup of the client library's socket, and the retry of a stale connection.
#include "routing/backend_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace plexi::routing {

using error_code = boost::system::error_code;

// Shared by a run() and its timer: the timer may fire after run() has finished, when the
// owner pointer is already cleared.
struct BackendCheck::Watch {
  explicit Watch(BackendCheck* check) : owner(check) {}
  BackendCheck* owner;
  bool fired = false;
};

std::optional<CheckLogin> check_login(const config::Cluster& cluster,
                                      const config::Backend& backend) {
  CheckLogin login;
  login.host = backend.host;
  login.port = backend.port;
  login.tls = backend.tls;
  login.tls_ca_file = backend.tls_ca_file;
  login.timeout = cluster.health.timeout;
  if (!backend.username.empty()) {
    login.user = backend.username;
    login.password = backend.password;
  } else {
    login.user = cluster.health.user;
    login.password = cluster.health.password;
  }
  login.database = cluster.health.database.empty() ? backend.database : cluster.health.database;
  if (login.user.empty()) return std::nullopt;
  return login;
}

BackendCheck::BackendCheck(asio::any_io_executor executor, std::chrono::milliseconds timeout,
                           std::string library)
    : executor_(executor),
      timeout_(timeout),
      library_(std::move(library)),
      timer_(executor),
      resolver_(executor) {}

BackendCheck::~BackendCheck() {
  if (watch_) watch_->owner = nullptr;
}

void BackendCheck::cancel() {
  cancelled_ = true;
  error_code ignored;
  if (socket_) socket_->cancel(ignored);
  resolver_.cancel();
  interrupt();
}

void BackendCheck::forget() { socket_.reset(); }

bool BackendCheck::interrupted() const { return cancelled_ || (watch_ && watch_->fired); }

std::string BackendCheck::failure(std::string_view doing) const {
  if (cancelled_) return "check stopped";
  if (watch_ && watch_->fired) {
    return "no answer within " + std::to_string(timeout_.count()) + "ms (" + std::string(doing) +
           ")";
  }
  return "interrupted while " + std::string(doing);
}

awaitable<CheckResult> BackendCheck::run() {
  CheckResult result;
  if (cancelled_) {
    result.error = "check stopped";
    result.at = WallClock::now();
    co_return result;
  }
  auto watch = std::make_shared<Watch>(this);
  watch_ = watch;
  timer_.expires_after(timeout_);
  timer_.async_wait([watch](const error_code& ec) {
    if (ec || watch->owner == nullptr) return;
    watch->fired = true;
    error_code ignored;
    // Cancelling the one wait in progress is enough: every wait checks `fired` on return.
    if (watch->owner->socket_) watch->owner->socket_->cancel(ignored);
    watch->owner->resolver_.cancel();
    watch->owner->interrupt();
  });

  const bool reused = connected();
  bool ok = co_await attempt(result);
  if (!ok && reused && !watch->fired && !cancelled_) {
    reset();
    result = CheckResult{};
    ok = co_await attempt(result);
  }
  watch->owner = nullptr;
  watch_.reset();
  timer_.cancel();
  if (!ok) reset();
  result.ok = ok;
  result.at = WallClock::now();
  co_return result;
}

awaitable<bool> BackendCheck::resolve(const std::string& host, std::uint16_t port,
                                      std::string& address, std::string& error) {
  error_code ec;
  address.clear();
  const auto ip = asio::ip::make_address(host, ec);
  if (!ec) {
    address = ip.to_string();
    co_return true;
  }
  if (config::is_socket_path(host)) co_return true;
  ec.clear();
  auto found = co_await resolver_.async_resolve(host, std::to_string(port),
                                                asio::redirect_error(use_awaitable, ec));
  if (interrupted()) {
    error = failure("resolving " + host);
    co_return false;
  }
  if (ec || found.empty()) {
    error = "cannot resolve " + host + ": " + (ec ? ec.message() : "no address");
    co_return false;
  }
  address = found.begin()->endpoint().address().to_string();
  co_return true;
}

awaitable<bool> BackendCheck::wait(int fd, bool for_write, bool new_socket, std::string& error) {
  if (new_socket || !socket_) {
    socket_.reset();
    if (fd < 0) {
      error = library_ + " has no socket";
      co_return false;
    }
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
      error = "cannot duplicate " + library_ + "'s socket: " + std::strerror(errno);
      co_return false;
    }
    error_code ec;
    socket_.emplace(executor_);
    socket_->assign(copy, ec);
    if (ec) {
      ::close(copy);
      socket_.reset();
      error = "cannot watch " + library_ + "'s socket: " + ec.message();
      co_return false;
    }
  }
  error_code ec;
  co_await socket_->async_wait(for_write ? asio::posix::stream_descriptor::wait_write
                                         : asio::posix::stream_descriptor::wait_read,
                               asio::redirect_error(use_awaitable, ec));
  if (interrupted()) co_return false;  // the caller names the stage
  if (ec) {
    error = "waiting on the socket: " + ec.message();
    co_return false;
  }
  co_return true;
}

}  // namespace plexi::routing
