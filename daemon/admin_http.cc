// The admin HTTP server: an accept loop and one coroutine per connection that reads a request
// head, checks it and answers it, for as long as the client keeps the connection alive.
#include "daemon/admin_http.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <sstream>

#include "daemon/logging.h"

namespace plexi {

namespace beast = boost::beast;
namespace http = beast::http;
using error_code = boost::system::error_code;

namespace {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view text) {
  Digest out{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &length, EVP_sha256(), nullptr);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' as a space in a query). False on a broken escape.
bool percent_decode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int high = hex_value(in[i + 1]);
      int low = hex_value(in[i + 2]);
      if (high < 0 || low < 0) return false;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return true;
}

// Fills the path and query of `out` from a request target (origin form, or absolute form as
// a proxy would send it). False when the target is not one a GET can have.
bool parse_target(std::string_view target, HttpRequest& out) {
  if (auto scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
    auto slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? "/" : target.substr(slash);
  }
  if (target.empty() || target[0] != '/') return false;
  auto question = target.find('?');
  if (!percent_decode(target.substr(0, question), false, out.path)) return false;
  if (question == std::string_view::npos) return true;
  std::string_view rest = target.substr(question + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    auto equals = pair.find('=');
    std::string name, value;
    if (!percent_decode(pair.substr(0, equals), true, name)) return false;
    if (equals != std::string_view::npos && !percent_decode(pair.substr(equals + 1), true, value)) {
      return false;
    }
    out.query[std::move(name)] = std::move(value);
  }
  return true;
}

// The credentials of an `Authorization: Bearer <token>` header; nullopt for another scheme.
std::optional<std::string_view> bearer_credentials(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || header[kScheme.size()] != ' ') return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    // The scheme is case-insensitive (RFC 7235).
    if ((header[i] | 0x20) != kScheme[i]) return std::nullopt;
  }
  header.remove_prefix(kScheme.size());
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) {
    header.remove_suffix(1);
  }
  return header;
}

HttpReply plain_reply(unsigned status, std::string body) {
  HttpReply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

std::string_view view(beast::string_view text) { return {text.data(), text.size()}; }

// The completion handler of the server's top-level coroutines: logs what escaped them.
auto log_escaped_errors(std::shared_ptr<spdlog::logger> log, std::string_view what) {
  return [log = std::move(log), what](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log->error("admin HTTP {} ended by an unexpected error: {}", what, e.what());
    }
  };
}

bool is_parse_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

std::optional<std::string_view> HttpRequest::param(std::string_view name) const {
  auto found = query.find(name);
  if (found == query.end()) return std::nullopt;
  return found->second;
}

bool AdminHttpServer::State::authorized(std::string_view authorization_header) {
  std::optional<Digest> expected;
  {
    std::lock_guard lock(token_mutex);
    expected = token_digest;
  }
  if (!expected) return true;
  auto given = bearer_credentials(authorization_header);
  if (!given) return false;
  Digest digest = sha256(*given);
  return CRYPTO_memcmp(digest.data(), expected->data(), digest.size()) == 0;
}

class AdminHttpServer::Connection {
 public:
  Connection(std::shared_ptr<State> state, tcp::socket socket)
      : state_(std::move(state)),
        stream_(std::move(socket)),
        // Room for one full head beside what a pipelining client sent after the last one.
        buffer_(std::max<std::size_t>(16384, 2 * std::size_t{state_->options.max_head_bytes})) {
    error_code ignored;
    peer_ = stream_.socket().remote_endpoint(ignored);
    state_->connections.insert(this);
  }
  ~Connection() { state_->connections.erase(this); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close() { stream_.close(); }

  awaitable<void> run() {
    bool more = true;
    while (more && !state_->stopped) more = co_await serve_one();
    co_await linger_close();
  }

 private:
  // Reads and answers one request. Returns whether the connection stays open.
  awaitable<bool> serve_one() {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(state_->options.max_head_bytes);
    stream_.expires_after(state_->options.request_timeout);
    error_code ec;
    co_await http::async_read_header(stream_, buffer_, parser,
                                     asio::redirect_error(use_awaitable, ec));
    if (ec == http::error::header_limit) {
      client_error("request head too large");
      co_await send(plain_reply(431, "request head too large\n"), 11, false, false);
      co_return false;
    }
    if (is_parse_error(ec)) {
      client_error(ec.message());
      co_await send(plain_reply(400, "malformed request\n"), 11, false, false);
      co_return false;
    }
    if (ec) {
      // The client left, went silent past the timeout, or the server is stopping.
      if (ec != http::error::end_of_stream) client_error(ec.message());
      co_return false;
    }

    const auto& head = parser.get();
    unsigned version = head.version() == 10 ? 10 : 11;
    bool keep_alive = head.keep_alive();
    bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
    bool is_head = head.method() == http::verb::head;
    HttpReply reply;
    if (!is_head && head.method() != http::verb::get) {
      reply = plain_reply(405, "method not allowed\n");
      reply.headers.emplace_back("Allow", "GET, HEAD");
      // The body is not read, so what follows it cannot be parsed as the next request.
      keep_alive = keep_alive && !has_body;
    } else if (has_body) {
      client_error("request body on " + std::string(view(head.method_string())));
      reply = plain_reply(400, "GET and HEAD take no body\n");
      keep_alive = false;
    } else {
      reply = answer(head, keep_alive);
    }
    bool sent = co_await send(reply, version, keep_alive, is_head);
    bool more = sent && keep_alive;
    co_return more;
  }

  // The reply to a GET or HEAD; clears `keep_alive` when the request is malformed.
  HttpReply answer(const http::request_header<>& head, bool& keep_alive) {
    HttpRequest request;
    request.method = head.method() == http::verb::head ? "HEAD" : "GET";
    if (!parse_target(view(head.target()), request)) {
      client_error("bad request target");
      keep_alive = false;
      return plain_reply(400, "bad request target\n");
    }
    auto found = state_->routes.find(request.path);
    if (found == state_->routes.end()) return plain_reply(404, "not found\n");
    const Route& route = found->second;
    if (route.access == Access::kToken &&
        !state_->authorized(view(head[http::field::authorization]))) {
      client_error("missing or wrong bearer token for " + request.path);
      HttpReply reply = plain_reply(401, "bearer token required\n");
      reply.headers.emplace_back("WWW-Authenticate", "Bearer");
      return reply;
    }
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      state_->log->error("admin HTTP handler for {} failed: {}", request.path, e.what());
      return plain_reply(500, "internal error\n");
    }
  }

  awaitable<bool> send(const HttpReply& reply, unsigned version, bool keep_alive, bool is_head) {
    http::response<http::string_body> response;
    response.version(version);
    response.result(reply.status);
    response.set(http::field::server, "plexiproxy/" PLEXI_VERSION);
    response.set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) response.insert(name, value);
    response.set(http::field::connection, keep_alive ? "keep-alive" : "close");
    // HEAD: the length the body would have, and no body.
    response.content_length(reply.body.size());
    if (!is_head) response.body() = reply.body;
    stream_.expires_after(state_->options.request_timeout);
    error_code ec;
    co_await http::async_write(stream_, response, asio::redirect_error(use_awaitable, ec));
    if (ec) client_error(ec.message());
    co_return !ec;
  }

  // Closing a socket with unread bytes in it makes the kernel send a reset, which can
  // destroy the answer before the client reads it (a refused oversized head, a body the
  // server did not read). So: end the sending side, read and drop what the client still
  // sends for a short while, then close.
  awaitable<void> linger_close() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::min<std::chrono::milliseconds>(state_->options.request_timeout,
                                                              std::chrono::seconds(2)));
    std::array<char, 4096> scratch;
    std::size_t dropped = 0;
    while (!ec && dropped < 65536) {
      dropped += co_await stream_.async_read_some(asio::buffer(scratch),
                                                  asio::redirect_error(use_awaitable, ec));
    }
    stream_.close();
  }

  void client_error(std::string_view what) {
    state_->log->debug("admin HTTP client {}: {}", peer_.address().to_string(), what);
  }

  std::shared_ptr<State> state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  tcp::endpoint peer_;
};

AdminHttpServer::AdminHttpServer(asio::any_io_executor executor, AdminHttpOptions options)
    : executor_(std::move(executor)), state_(std::make_shared<State>()) {
  state_->options = options;
  state_->log = component_logger("admin");
}

AdminHttpServer::~AdminHttpServer() { stop(); }

void AdminHttpServer::route(std::string path, Handler handler, Access access) {
  state_->routes[std::move(path)] = Route{std::move(handler), access};
}

bool AdminHttpServer::listen(const tcp::endpoint& endpoint, std::string& error) {
  auto acceptor = std::make_shared<tcp::acceptor>(executor_);
  error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  tcp::endpoint bound;
  if (!ec) bound = acceptor->local_endpoint(ec);
  if (ec) {
    std::ostringstream where;
    where << endpoint;
    error = "cannot listen on " + where.str() + ": " + ec.message();
    return false;
  }
  acceptor_ = std::move(acceptor);
  port_ = bound.port();
  return true;
}

bool AdminHttpServer::adopt(int fd, std::string& error) {
  auto acceptor = std::make_shared<tcp::acceptor>(executor_);
  error_code ec;
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ec.assign(errno, boost::system::system_category());
  }
  if (!ec) acceptor->assign(address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  tcp::endpoint bound;
  if (!ec) bound = acceptor->local_endpoint(ec);
  if (ec) {
    error = "cannot use the admin listener handed over: " + ec.message();
    if (!acceptor->is_open()) ::close(fd);
    return false;
  }
  acceptor_ = std::move(acceptor);
  port_ = bound.port();
  return true;
}

int AdminHttpServer::listener_handle() const {
  return acceptor_ ? acceptor_->native_handle() : -1;
}

void AdminHttpServer::stop_listening() {
  asio::dispatch(executor_, [acceptor = acceptor_] {
    error_code ignored;
    if (acceptor) acceptor->close(ignored);
  });
}

void AdminHttpServer::start() {
  asio::co_spawn(executor_, accept_loop(state_, acceptor_),
                 log_escaped_errors(state_->log, "accept loop"));
}

void AdminHttpServer::stop() {
  if (stop_requested_.exchange(true)) return;
  asio::dispatch(executor_, [state = state_, acceptor = std::move(acceptor_)] {
    state->stopped = true;
    error_code ignored;
    if (acceptor) acceptor->close(ignored);
    // Each connection's pending read or write now fails, and its coroutine ends.
    for (Connection* connection : state->connections) connection->close();
  });
}

void AdminHttpServer::set_bearer_token(std::string_view token) {
  std::optional<Digest> digest;
  if (!token.empty()) digest = sha256(token);
  std::lock_guard lock(state_->token_mutex);
  state_->token_digest = digest;
}

awaitable<void> AdminHttpServer::accept_loop(std::shared_ptr<State> state,
                                             std::shared_ptr<tcp::acceptor> acceptor) {
  auto executor = co_await asio::this_coro::executor;
  while (true) {
    tcp::socket socket(executor);
    error_code ec;
    co_await acceptor->async_accept(socket, asio::redirect_error(use_awaitable, ec));
    if (state->stopped || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors and the like: pause rather than spin on the same error.
      state->log->warn("admin HTTP accept failed: {}", ec.message());
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    if (state->connections.size() >= state->options.max_connections) {
      state->log->debug("admin HTTP: {} connections open, closing a new one",
                        state->connections.size());
      continue;  // the socket closes as it goes out of scope
    }
    auto connection = std::make_shared<Connection>(state, std::move(socket));
    asio::co_spawn(
        executor, [connection]() { return connection->run(); },
        log_escaped_errors(state->log, "connection"));
  }
}

}  // namespace plexi
