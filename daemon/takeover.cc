// The listener handover's message format, the new process's end of it, and the spawning of
// a successor (SIGUSR2).
#include "daemon/takeover.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>
#include <string_view>

namespace plexi::takeover {
namespace {

// More listeners than this is not a config anyone writes (one per Redis cluster at most).
constexpr std::size_t kMaxListeners = 200;
constexpr std::size_t kMaxMessage = 64 * 1024;

std::string errno_text(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

std::optional<int> number(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    auto space = line.find(' ');
    if (space != 0) out.push_back(line.substr(0, space));
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return out;
}

}  // namespace

std::string describe(int pid, const std::vector<Listener>& listeners) {
  std::ostringstream out;
  out << "LISTENERS " << pid << ' ' << listeners.size() << '\n';
  for (const auto& listener : listeners) {
    out << listener.kind << ' ' << listener.endpoint.address().to_string() << ' '
        << listener.endpoint.port() << '\n';
  }
  out << "END\n";
  return out.str();
}

std::optional<Described> parse(std::string_view message, std::string& error) {
  std::vector<std::string_view> lines;
  while (!message.empty()) {
    auto newline = message.find('\n');
    if (newline == std::string_view::npos) {
      error = "unterminated line";
      return std::nullopt;
    }
    lines.push_back(message.substr(0, newline));
    message.remove_prefix(newline + 1);
  }
  if (lines.empty()) {
    error = "empty answer";
    return std::nullopt;
  }
  auto head = words(lines.front());
  if (head.size() == 1 && head[0] == "BUSY") {
    error = "the running process is draining or handing over already";
    return std::nullopt;
  }
  std::optional<int> pid, count;
  if (head.size() == 3 && head[0] == "LISTENERS") {
    pid = number(head[1]);
    count = number(head[2]);
  }
  if (!pid || !count || *count < 0 || static_cast<std::size_t>(*count) > kMaxListeners) {
    error = "unexpected answer '" + std::string(lines.front()) + "'";
    return std::nullopt;
  }
  if (lines.size() != static_cast<std::size_t>(*count) + 2 || lines.back() != "END") {
    error = "the answer does not list " + std::to_string(*count) + " listeners";
    return std::nullopt;
  }
  Described described{*pid, {}};
  for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
    auto fields = words(lines[i]);
    error_code ec;
    std::optional<int> port = fields.size() == 3 ? number(fields[2]) : std::nullopt;
    auto address = fields.size() == 3 ? asio::ip::make_address(std::string(fields[1]), ec)
                                      : asio::ip::address();
    if (!port || *port < 0 || *port > 65535 || ec) {
      error = "malformed listener '" + std::string(lines[i]) + "'";
      return std::nullopt;
    }
    described.listeners.push_back(
        {std::string(fields[0]), tcp::endpoint(address, static_cast<std::uint16_t>(*port)), -1});
  }
  return described;
}

ssize_t receive_with_descriptors(int fd, std::span<char> buffer, int flags, std::vector<int>& fds,
                                 bool& truncated) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxListeners)];
  iovec iov{buffer.data(), buffer.size()};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t received = ::recvmsg(fd, &message, flags | MSG_CMSG_CLOEXEC);
  if (received < 0) return received;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int received_fd;
      std::memcpy(&received_fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.push_back(received_fd);
    }
  }
  truncated = (message.msg_flags & MSG_CTRUNC) != 0;
  return received;
}

std::string default_socket_path(std::string_view runtime_dir, std::string_view data_dir) {
  std::string dir(runtime_dir.empty() ? data_dir : runtime_dir);
  if (dir.empty()) dir = ".";
  if (dir.back() != '/') dir += '/';
  return dir + "plexiproxy-upgrade.sock";
}

std::optional<Handover> Handover::request(const std::string& path,
                                          std::chrono::milliseconds timeout, std::string& error) {
  sockaddr_un address{};
  if (path.size() >= sizeof(address.sun_path)) {
    error = path + ": path too long for a Unix socket";
    return std::nullopt;
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket");
    return std::nullopt;
  }
  Handover handover(fd, {});
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error = errno_text(path);
    return std::nullopt;
  }
  std::string hello = "TAKEOVER " + std::to_string(::getpid()) + "\n";
  if (::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size())) {
    error = errno_text("sending the request");
    return std::nullopt;
  }
  // The answer's text may come in pieces; its descriptors ride on its first byte.
  std::string text;
  std::vector<int> fds;
  while (!text.ends_with("END\n") && !text.starts_with("BUSY\n")) {
    char buffer[4096];
    std::vector<int> arrived;
    bool truncated = false;
    ssize_t received = receive_with_descriptors(fd, buffer, 0, arrived, truncated);
    for (int received_fd : arrived) {
      fds.push_back(received_fd);
      handover.listeners_.push_back({{}, {}, received_fd});  // closed with it on error
    }
    if (received <= 0 || truncated) {
      error = received < 0    ? errno_text("waiting for the listeners")
              : received == 0 ? std::string("the running process closed the connection")
                              : std::string("too many descriptors");
      return std::nullopt;
    }
    text.append(buffer, static_cast<std::size_t>(received));
    if (text.size() > kMaxMessage) {
      error = "answer too long";
      return std::nullopt;
    }
  }
  auto described = parse(text, error);
  if (!described) return std::nullopt;
  if (described->listeners.size() != fds.size()) {
    error = "the answer names " + std::to_string(described->listeners.size()) +
            " listeners but carries " + std::to_string(fds.size()) + " descriptors";
    return std::nullopt;
  }
  for (std::size_t i = 0; i < fds.size(); ++i) described->listeners[i].fd = fds[i];
  handover.old_pid_ = described->pid;
  handover.listeners_ = std::move(described->listeners);  // the same descriptors, described
  return handover;
}

Handover::Handover(int connection, Described described)
    : connection_(connection),
      old_pid_(described.pid),
      listeners_(std::move(described.listeners)) {}

Handover::Handover(Handover&& other) noexcept
    : connection_(std::exchange(other.connection_, -1)),
      old_pid_(other.old_pid_),
      listeners_(std::move(other.listeners_)) {
  other.listeners_.clear();
}

Handover& Handover::operator=(Handover&& other) noexcept {
  if (this == &other) return *this;
  close_all();
  connection_ = std::exchange(other.connection_, -1);
  old_pid_ = other.old_pid_;
  listeners_ = std::move(other.listeners_);
  other.listeners_.clear();
  return *this;
}

Handover::~Handover() { close_all(); }

void Handover::close_all() {
  for (auto& listener : listeners_) {
    if (listener.fd >= 0) ::close(listener.fd);
    listener.fd = -1;
  }
  if (connection_ >= 0) ::close(connection_);
  connection_ = -1;
}

int Handover::take(std::string_view kind, const tcp::endpoint& endpoint) {
  for (auto& listener : listeners_) {
    if (listener.fd >= 0 && listener.kind == kind && listener.endpoint == endpoint) {
      return std::exchange(listener.fd, -1);
    }
  }
  return -1;
}

bool Handover::confirm(std::string& error) {
  constexpr std::string_view kServing = "SERVING\n";
  bool sent = connection_ >= 0 && ::send(connection_, kServing.data(), kServing.size(),
                                         MSG_NOSIGNAL) == static_cast<ssize_t>(kServing.size());
  if (!sent) error = errno_text("telling the running process");
  // The listeners not taken are closed; the connection stays for the clients that follow.
  int connection = std::exchange(connection_, -1);
  close_all();
  connection_ = sent ? connection : -1;
  if (!sent && connection >= 0) ::close(connection);
  return sent;
}

pid_t spawn(const std::string& executable, const std::vector<std::string>& arguments,
            std::string& error) {
  // Everything the child needs is made before fork(): after it, in a process with threads,
  // only async-signal-safe calls are allowed.
  std::vector<std::string> strings{executable};
  strings.insert(strings.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  // systemd's WATCHDOG_PID names this process: the child, which becomes the main process,
  // would take the watchdog for someone else's and never ping.
  std::vector<char*> envp;
  for (char** variable = environ; *variable; ++variable) {
    if (!std::string_view(*variable).starts_with("WATCHDOG_PID=")) envp.push_back(*variable);
  }
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    error = errno_text("fork");
    return -1;
  }
  if (pid == 0) {
    // Client sockets and the listeners must not outlive this process in the child: a client
    // the old process closes would otherwise stay connected to nobody.
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace plexi::takeover
