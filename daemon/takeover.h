// Binary upgrade without downtime: the running process hands its listening sockets to a new
// one over a Unix control socket (SCM_RIGHTS), so the kernel's accept queues, and every
// connection waiting in them, pass from one to the other; the old process then drains.
//
// The exchange, one text line each way plus the descriptors:
//   new -> old   TAKEOVER <new pid>
//   old -> new   LISTENERS <old pid> <n>, n lines "<kind> <address> <port>", END
//                (the n descriptors ride on the same message, in the same order)
//                or BUSY when it is already draining or handing over to another process
//   new -> old   SERVING, once the new process accepts on them; closing instead says it
//                failed, and the old process keeps serving.
//   old -> new   its idle clients as they become idle, then END (common/client_handover.h)
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/asio.h"
#include "common/client_handover.h"

namespace spdlog {
class logger;
}

namespace plexi::takeover {

using error_code = boost::system::error_code;

// One listening socket: what it serves ("postgres", "mysql", "redis", "admin") and where.
struct Listener {
  std::string kind;
  tcp::endpoint endpoint;
  int fd = -1;  // borrowed when sent; owned by the Handover when received
};

// The LISTENERS message for `listeners` from process `pid` (without descriptors).
std::string describe(int pid, const std::vector<Listener>& listeners);

// The listeners a complete LISTENERS message names (fds left at -1) and the sender's pid;
// nullopt with `error` set when it is malformed.
struct Described {
  int pid = 0;
  std::vector<Listener> listeners;
};
std::optional<Described> parse(std::string_view message, std::string& error);

// The default control socket path: plexiproxy-upgrade.sock in `runtime_dir` when it is not
// empty (systemd's $RUNTIME_DIRECTORY), else in `data_dir`.
std::string default_socket_path(std::string_view runtime_dir, std::string_view data_dir);

// The running process's end: serves the control socket on the control thread.
class Server {
 public:
  struct Hooks {
    // The listeners to hand over, their descriptors still owned by the daemon.
    std::function<std::vector<Listener>()> listeners;
    // False while the daemon drains: a takeover is then refused.
    std::function<bool()> accepting;
    // The process `pid` serves on the listeners now: time to stop accepting and drain,
    // sending idle clients over `connection`.
    std::function<void(int pid, asio::local::stream_protocol::socket connection)> taken_over;
  };

  Server(asio::io_context& context, Hooks hooks, std::shared_ptr<spdlog::logger> log);
  // Removes the socket file if it is still this server's.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds `path` (mode 0600) and listens. A path a live daemon answers on is refused unless
  // `replace` (a new process taking over puts its own socket in place of the old one's); a
  // stale one is replaced. False with `error` set when it cannot.
  [[nodiscard]] bool listen(const std::string& path, bool replace, std::string& error);
  // Serves takeover requests, one at a time. Only after a successful listen().
  void start();
  // Stops serving requests (the socket file is left for whoever holds the path now).
  void close();

 private:
  awaitable<void> accept_loop();
  awaitable<void> serve(asio::local::stream_protocol::socket socket);

  asio::io_context& context_;
  Hooks hooks_;
  std::shared_ptr<spdlog::logger> log_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  ino_t inode_ = 0;  // of the socket file bound, to tell it from a successor's
};

// The new process's end: the listeners received from the running process.
class Handover {
 public:
  // Connects to the control socket at `path` and receives the listeners, waiting at most
  // `timeout` for the answer. Nullopt with `error` set when no daemon answers or it refuses.
  static std::optional<Handover> request(const std::string& path, std::chrono::milliseconds timeout,
                                         std::string& error);
  Handover(Handover&& other) noexcept;
  Handover& operator=(Handover&& other) noexcept;
  // Closes the descriptors nobody took, and the connection (which, before confirm(), tells
  // the old process the takeover failed).
  ~Handover();

  // The descriptor of the listener of `kind` bound to `endpoint`, now the caller's; -1 when
  // the old process had none.
  int take(std::string_view kind, const tcp::endpoint& endpoint);
  // Tells the old process this one is serving. False with `error` set when it cannot.
  [[nodiscard]] bool confirm(std::string& error);
  // After confirm(): the connection the old process sends its clients on, now the caller's.
  int release_connection() { return std::exchange(connection_, -1); }
  int old_pid() const { return old_pid_; }
  std::size_t size() const { return listeners_.size(); }

 private:
  Handover(int connection, Described described);
  void close_all();

  int connection_ = -1;
  int old_pid_ = 0;
  std::vector<Listener> listeners_;
};

// Sends one client (its descriptor with the frame's first byte) on the connection to the new
// process; false when the connection failed. The client's descriptor stays the caller's.
awaitable<bool> send_client(asio::local::stream_protocol::socket& connection,
                            const HandedClient& client);
// Tells the new process no more clients come.
awaitable<bool> send_end(asio::local::stream_protocol::socket& connection);
// Receives clients until END or the connection closes, passing each to `adopt`; how many came.
awaitable<std::size_t> receive_clients(asio::local::stream_protocol::socket& connection,
                                       std::function<void(HandedClient)> adopt,
                                       spdlog::logger& log);

// recvmsg() into `buffer`, appending the descriptors that came with it (close-on-exec) to
// `fds`; `truncated` when some were lost for want of room. As recvmsg() returns.
ssize_t receive_with_descriptors(int fd, std::span<char> buffer, int flags, std::vector<int>& fds,
                                 bool& truncated);

// Starts `executable` with `arguments` (argv[1]...) as a child process that inherits no
// descriptor but stdin, stdout and stderr. Its pid, or -1 with `error` set.
pid_t spawn(const std::string& executable, const std::vector<std::string>& arguments,
            std::string& error);

}  // namespace plexi::takeover
