// The running process's end of the listener handover: the control socket, and the
// exchange with a process that takes over.
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "daemon/takeover.h"

namespace plexi::takeover {
namespace {

using local = asio::local::stream_protocol;

// Whether a process accepts connections on the Unix socket at `path`.
bool answers(const std::string& path) {
  asio::io_context context;
  local::socket probe(context);
  error_code ec;
  probe.connect(local::endpoint(path), ec);
  return !ec;
}

ino_t inode_of(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? info.st_ino : 0;
}

// One line, at most `limit` bytes; empty at EOF, error or timeout.
awaitable<std::string> read_line(local::socket& socket, std::size_t limit,
                                 std::chrono::milliseconds timeout) {
  asio::steady_timer watchdog(socket.get_executor());
  if (timeout.count() > 0) {
    watchdog.expires_after(timeout);
    watchdog.async_wait([&socket](error_code ec) {
      if (!ec) socket.cancel(ec);
    });
  }
  std::string line;
  error_code ec;
  co_await asio::async_read_until(socket, asio::dynamic_buffer(line, limit), '\n',
                                  asio::redirect_error(use_awaitable, ec));
  watchdog.cancel();
  if (ec) co_return std::string();
  co_return line;
}

}  // namespace

Server::Server(asio::io_context& context, Hooks hooks, std::shared_ptr<spdlog::logger> log)
    : context_(context), hooks_(std::move(hooks)), log_(std::move(log)), acceptor_(context) {}

Server::~Server() {
  error_code ignored;
  acceptor_.close(ignored);
  // After a takeover the path holds the successor's socket: leave that one alone.
  if (inode_ != 0 && inode_of(path_) == inode_) ::unlink(path_.c_str());
}

bool Server::listen(const std::string& path, bool replace, std::string& error) {
  if (!replace && answers(path)) {
    error = path + ": a running plexiproxy answers there (start with --takeover to replace it)";
    return false;
  }
  // Bound beside the path and renamed onto it, so the path never names a socket nobody
  // serves, and never one others could connect to before its mode is set.
  std::string temporary = path + "." + std::to_string(::getpid());
  ::unlink(temporary.c_str());
  error_code ec;
  acceptor_.open(local(), ec);
  if (!ec) acceptor_.bind(local::endpoint(temporary), ec);
  if (!ec && ::chmod(temporary.c_str(), 0600) != 0)
    ec.assign(errno, boost::system::system_category());
  if (!ec) acceptor_.listen(8, ec);
  if (!ec && ::rename(temporary.c_str(), path.c_str()) != 0) {
    ec.assign(errno, boost::system::system_category());
  }
  if (ec) {
    error = path + ": " + ec.message();
    acceptor_.close(ec);
    ::unlink(temporary.c_str());
    return false;
  }
  path_ = path;
  inode_ = inode_of(path);
  return true;
}

void Server::start() {
  asio::co_spawn(context_, accept_loop(), [log = log_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log->error("upgrade socket: {}", ex.what());
    }
  });
}

void Server::close() {
  error_code ignored;
  acceptor_.close(ignored);
}

awaitable<void> Server::accept_loop() {
  while (acceptor_.is_open()) {
    local::socket socket(context_);
    error_code ec;
    co_await acceptor_.async_accept(socket, asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      log_->warn("upgrade socket: accept failed: {}", ec.message());
      continue;
    }
    co_await serve(std::move(socket));
  }
}

awaitable<void> Server::serve(local::socket socket) {
  std::string request = co_await read_line(socket, 128, std::chrono::seconds(5));
  std::optional<int> pid;
  if (request.starts_with("TAKEOVER ")) {
    int value = 0;
    if (std::sscanf(request.c_str() + 9, "%d", &value) == 1 && value > 0) pid = value;
  }
  if (!pid) {
    // Empty: a process checking whether this one runs (or a timeout).
    if (!request.empty()) log_->warn("upgrade socket: unexpected request, ignored");
    co_return;
  }
  error_code ec;
  if (!hooks_.accepting()) {
    log_->warn("process {} asked to take over, but this one is draining: refused", *pid);
    co_await asio::async_write(socket, asio::buffer(std::string_view("BUSY\n")),
                               asio::redirect_error(use_awaitable, ec));
    co_return;
  }
  auto listeners = hooks_.listeners();
  std::string text = describe(::getpid(), listeners);
  std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(1, listeners.size())));
  iovec iov{text.data(), text.size()};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  if (!listeners.empty()) {
    message.msg_control = control.data();
    message.msg_controllen = CMSG_SPACE(sizeof(int) * listeners.size());
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * listeners.size());
    for (std::size_t i = 0; i < listeners.size(); ++i) {
      std::memcpy(CMSG_DATA(c) + i * sizeof(int), &listeners[i].fd, sizeof(int));
    }
  }
  // A few hundred bytes into an empty socket buffer: one call sends it all.
  if (::sendmsg(socket.native_handle(), &message, MSG_NOSIGNAL) !=
      static_cast<ssize_t>(text.size())) {
    log_->error("cannot hand the listeners to process {}: {}", *pid, std::strerror(errno));
    co_return;
  }
  log_->info("handed {} listeners to process {}; serving until it says it serves them",
             listeners.size(), *pid);
  // The new process may take a while (TLS files, resolving names): no deadline. It either
  // confirms or closes (exits) the connection.
  std::string answer = co_await read_line(socket, 64, std::chrono::milliseconds(0));
  if (answer != "SERVING\n") {
    log_->error("process {} failed to take over: still serving", *pid);
    co_return;
  }
  log_->info("process {} took over the listeners: draining and exiting", *pid);
  hooks_.taken_over(*pid, std::move(socket));
}

namespace {

// Writes `bytes` (the first call carrying `fd` when it is not -1), waiting while the
// connection is full.
awaitable<bool> send_all(local::socket& connection, std::string_view bytes, int fd) {
  while (!bytes.empty()) {
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&message);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t sent = ::sendmsg(connection.native_handle(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      error_code ec;
      co_await connection.async_wait(local::socket::wait_write,
                                     asio::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
      continue;
    }
    if (sent <= 0) co_return false;
    fd = -1;  // gone with the first byte
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  co_return true;
}

}  // namespace

awaitable<bool> send_client(local::socket& connection, const HandedClient& client) {
  std::string frame = client_frame_header(client.protocol, client.state.size());
  frame.append(client.state);
  bool sent = co_await send_all(connection, frame, client.fd);
  co_return sent;
}

awaitable<bool> send_end(local::socket& connection) {
  bool sent = co_await send_all(connection, kHandoverEnd, -1);
  co_return sent;
}

awaitable<std::size_t> receive_clients(local::socket& connection,
                                       std::function<void(HandedClient)> adopt,
                                       spdlog::logger& log) {
  ClientFrameReader reader;
  std::size_t received = 0;
  while (true) {
    HandedClient client;
    std::string error;
    auto status = reader.next(client, error);
    if (status == ClientFrameReader::Status::kClient) {
      adopt(std::move(client));
      ++received;
      continue;
    }
    if (status == ClientFrameReader::Status::kEnd) break;
    if (status == ClientFrameReader::Status::kError) {
      log.error("clients handed over: {}; no more are taken", error);
      break;
    }
    char buffer[65536];
    std::vector<int> fds;
    bool truncated = false;
    ssize_t n =
        receive_with_descriptors(connection.native_handle(), buffer, MSG_DONTWAIT, fds, truncated);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      error_code ec;
      co_await connection.async_wait(local::socket::wait_read,
                                     asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      continue;
    }
    for (int fd : fds) reader.add_descriptor(fd);
    if (n <= 0) {
      if (n < 0) {
        log.error("clients handed over: {}", std::strerror(errno));
      } else {
        log.error("clients handed over: the old process closed the connection before END");
      }
      break;
    }
    if (truncated) {
      log.error("clients handed over: descriptors were lost; no more are taken");
      break;
    }
    reader.add_bytes({buffer, static_cast<std::size_t>(n)});
  }
  co_return received;
}

}  // namespace plexi::takeover
