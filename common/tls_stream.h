// A socket that may carry TLS. Every protocol starts TLS after some plain bytes (PostgreSQL's
// SSLRequest, MySQL's SSL capability, a first byte that opens a TLS record), so a session or
// server connection keeps one stream and reads and writes through it the same way before and
// after the handshake.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <utility>

#include <boost/asio/ssl.hpp>

#include "common/asio.h"
#include "common/bytes.h"

namespace plexi {

using error_code = boost::system::error_code;

template <class Socket>
class TlsStream {
 public:
  using socket_type = Socket;
  using executor_type = typename Socket::executor_type;
  using wait_type = typename Socket::wait_type;
  static constexpr wait_type wait_read = Socket::wait_read;

  explicit TlsStream(Socket socket) : socket_(std::move(socket)) {}
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  // The plain socket, for what TLS does not change: addresses, options, close, a peek for EOF,
  // moving it to another executor (the TLS state refers to this member, not to the
  // descriptor, so it follows).
  Socket& socket() { return socket_; }
  bool is_tls() const { return tls_ != nullptr; }
  // The OpenSSL connection once TLS has started (its peer certificate, cipher, version).
  SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }

  // Starts TLS as `type` (server towards clients, client towards servers) and completes the
  // handshake. `already_read` is what was read off the socket past the plain-text part (a
  // MySQL client sends its ClientHello right behind the SSL request without waiting), used as
  // the start of the handshake. `context` must outlive the handshake only: the connection holds
  // its own reference to the OpenSSL context. `configure` may set SNI or verification on the
  // stream before the handshake starts.
  template <class Configure = void (*)(asio::ssl::stream<Socket&>&)>
  awaitable<bool> start_tls(
      asio::ssl::context& context, asio::ssl::stream_base::handshake_type type, error_code& ec,
      Bytes already_read = {},
      Configure configure = [](asio::ssl::stream<Socket&>&) {}) {
    tls_ = std::make_unique<asio::ssl::stream<Socket&>>(socket_, context);
    configure(*tls_);
    if (already_read.empty()) {
      co_await tls_->async_handshake(type, asio::redirect_error(use_awaitable, ec));
    } else {
      co_await tls_->async_handshake(type, asio::buffer(already_read.data(), already_read.size()),
                                     asio::redirect_error(use_awaitable, ec));
    }
    co_return !ec;
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

  // Completes when a read would find something: bytes on the socket, or, with TLS, bytes
  // OpenSSL holds already (decrypted, or records read with an earlier one) that the socket
  // no longer shows.
  template <class Token>
  auto async_wait(wait_type wait, Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [this](auto handler, wait_type what) {
          if (what == wait_read && tls_buffered()) {
            auto executor = asio::get_associated_executor(handler, socket_.get_executor());
            asio::post(executor, [handler = std::move(handler)]() mutable {
              std::move(handler)(error_code{});
            });
            return;
          }
          socket_.async_wait(what, std::move(handler));
        },
        token, wait);
  }

  // At least what a read returns without waiting (a hint for the read size, as for a socket).
  std::size_t available(error_code& ec) {
    std::size_t on_socket = socket_.available(ec);
    if (!tls_) return on_socket;
    int decrypted = SSL_pending(tls_->native_handle());
    return on_socket + static_cast<std::size_t>(decrypted > 0 ? decrypted : 0);
  }

  // A blocking write, for a last message on a connection being closed (a Terminate, a QUIT).
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, error_code& ec) {
    if (tls_) return tls_->write_some(buffers, ec);
    return socket_.write_some(buffers, ec);
  }

  bool is_open() const { return socket_.is_open(); }
  void close(error_code& ec) { socket_.close(ec); }
  void shutdown(typename Socket::shutdown_type what, error_code& ec) { socket_.shutdown(what, ec); }
  void cancel(error_code& ec) { socket_.cancel(ec); }

 private:
  bool tls_buffered() { return tls_ && SSL_has_pending(tls_->native_handle()) == 1; }

  Socket socket_;
  std::unique_ptr<asio::ssl::stream<Socket&>> tls_;
};

}  // namespace plexi
