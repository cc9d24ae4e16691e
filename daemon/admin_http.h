// The admin HTTP server: a small HTTP/1.1 server on the `admin` listener that answers the
// routes the daemon registers (/metrics, /healthz, /readyz, /status), with an optional bearer
// token and limits that keep a misbehaving client from hurting it or the proxy.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/asio.h"

namespace spdlog {
class logger;
}

namespace plexi {

// A request as a handler sees it; the server has already checked method, path and token.
struct HttpRequest {
  std::string method;  // "GET" or "HEAD", the only methods that reach a handler
  std::string path;    // percent-decoded, without the query
  // Percent-decoded query parameters ('+' is a space); a name given twice keeps its last value.
  std::map<std::string, std::string, std::less<>> query;

  // The value of query parameter `name`, if the request has it.
  std::optional<std::string_view> param(std::string_view name) const;
};

struct HttpReply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;  // left out of the answer to HEAD, though Content-Length counts it
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones, e.g. Cache-Control
};

struct AdminHttpOptions {
  // How long a connection may take to send a whole request head, or stay idle between
  // requests, or take to read an answer: past it the connection is closed (slowloris).
  std::chrono::milliseconds request_timeout{10000};
  // Connections beyond this many are closed as soon as they are accepted.
  std::size_t max_connections = 64;
  // A larger request line plus headers gets 431 and a close.
  std::uint32_t max_head_bytes = 8192;
};

class AdminHttpServer {
 public:
  // kOpen: never asks for the token (Kubernetes probes carry none). kToken: needs
  // `Authorization: Bearer <token>` while a token is set.
  enum class Access { kOpen, kToken };
  // Called on the server's executor; an exception it throws becomes a 500.
  using Handler = std::function<HttpReply(const HttpRequest&)>;

  // `executor` must not run the server's handlers on two threads at once: an io_context run
  // by one thread, or a strand.
  explicit AdminHttpServer(asio::any_io_executor executor, AdminHttpOptions options = {});
  // Stops the server if stop() was not called. Call stop() before the executor's io_context
  // is destroyed; after it, the io_context and this object may go in either order.
  ~AdminHttpServer();
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // Registers a GET/HEAD route for an exact path. Only before start().
  void route(std::string path, Handler handler, Access access);

  // Binds (with SO_REUSEADDR) and listens. On failure returns false with `error` saying why,
  // e.g. that the port is taken.
  [[nodiscard]] bool listen(const tcp::endpoint& endpoint, std::string& error);
  // Listens on a socket already bound and listening (handed over by the process this one
  // replaces), taking ownership of `fd`. On failure returns false with `error` set.
  [[nodiscard]] bool adopt(int fd, std::string& error);
  // The listening socket's descriptor (still the server's), or -1 before listen().
  int listener_handle() const;
  // The bound port (the system's choice when listen() was given port 0); 0 before listen().
  std::uint16_t port() const { return port_; }

  // Starts accepting, on the executor. Only after a successful listen().
  void start();

  // Closes the listening socket and every open connection, at once when called on the
  // executor, otherwise as soon as the executor runs. Safe from any thread, and more than once.
  void stop();

  // Closes the listening socket only: requests under way are answered. Safe from any thread.
  void stop_listening();

  // Sets the token kToken routes ask for; empty: no check. Safe from any thread at any time
  // (config reload); requests already past the check are not affected.
  void set_bearer_token(std::string_view token);

 private:
  class Connection;
  struct Route {
    Handler handler;
    Access access;
  };
  // What the accept loop and the connections share with the server. They hold it by
  // shared_ptr, so coroutines the io_context destroys or resumes after the server is gone
  // still find it.
  struct State {
    AdminHttpOptions options;
    std::unordered_map<std::string, Route> routes;
    std::shared_ptr<spdlog::logger> log;
    // Touched only on the executor (or while the io_context is being destroyed).
    std::unordered_set<Connection*> connections;
    bool stopped = false;
    // The SHA-256 of the token, compared with the digest of the one a client sends, so the
    // comparison takes the same time whatever the token and wherever the two differ.
    std::mutex token_mutex;
    std::optional<std::array<unsigned char, 32>> token_digest;

    bool authorized(std::string_view authorization_header);
  };

  static awaitable<void> accept_loop(std::shared_ptr<State> state,
                                     std::shared_ptr<tcp::acceptor> acceptor);

  asio::any_io_executor executor_;
  std::shared_ptr<State> state_;
  std::shared_ptr<tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace plexi
