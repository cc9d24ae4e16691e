// A socket that may carry TLS. Every protocol starts TLS after some plain bytes (PostgreSQL's
// SSLRequest, MySQL's SSL capability, a first byte that opens a TLS record), so a session or
// server connection keeps one stream and reads and writes through it the same way before and
// after the handshake.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
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
  const Socket& socket() const { return socket_; }
  bool is_tls() const { return tls_ != nullptr; }
  // The OpenSSL connection once TLS has started (its peer certificate, cipher, version).
  SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }
  // The protocol the handshake agreed on through ALPN; empty when none.
  std::string alpn() {
    const unsigned char* name = nullptr;
    unsigned int length = 0;
    if (tls_) SSL_get0_alpn_selected(tls_->native_handle(), &name, &length);
    return name ? std::string(reinterpret_cast<const char*>(name), length) : std::string();
  }
  // The common name of the certificate the peer presented, when it verified against the
  // context's CA; empty otherwise (no certificate, or no CA to verify it with).
  std::string verified_peer_name() {
    if (!tls_) return {};
    SSL* ssl = tls_->native_handle();
    X509* certificate = SSL_get0_peer_certificate(ssl);
    if (!certificate || SSL_get_verify_result(ssl) != X509_V_OK) return {};
    X509_NAME* subject = X509_get_subject_name(certificate);
    int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index < 0) return {};
    unsigned char* utf8 = nullptr;
    int length =
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
    if (length < 0) return {};
    std::string name(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    return name;
  }

  // Starts TLS as `type` (server towards clients, client towards servers) and completes the
  // handshake. `already_read` is what was read off the socket past the plain-text part (a
  // MySQL client sends its ClientHello right behind the SSL request without waiting), used as
  // the start of the handshake; the stream reads it from a copy of its own, since what the
  // handshake leaves of it is read later. `context` must outlive the handshake only: the connection
  // holds its own reference to the OpenSSL context. `configure` may set SNI or verification on the
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
      early_.assign(already_read.begin(), already_read.end());
      co_await tls_->async_handshake(type, asio::buffer(early_.data(), early_.size()),
                                     asio::redirect_error(use_awaitable, ec));
    }
    co_return !ec;
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (tls_ && held_) {
      return asio::async_initiate<Token, void(error_code, std::size_t)>(
          [this](auto handler, const MutableBuffers& into) {
            auto executor = asio::get_associated_executor(handler, socket_.get_executor());
            std::size_t n = take_held(into);
            asio::post(executor, [handler = std::move(handler), n]() mutable {
              std::move(handler)(error_code{}, n);
            });
          },
          token, buffers);
    }
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

  // Completes when a read would find something. With TLS a readable socket proves nothing
  // (the bytes may be half a record, and a whole record may already sit in OpenSSL's or
  // Asio's buffers while the socket is empty), so the wait is a read of one byte, held for
  // the next read.
  template <class Token>
  auto async_wait(wait_type wait, Token&& token) {
    return asio::async_initiate<Token, void(error_code)>(
        [this](auto handler, wait_type what) {
          if (!tls_ || what != wait_read) {
            socket_.async_wait(what, std::move(handler));
            return;
          }
          if (held_ || SSL_pending(tls_->native_handle()) > 0) {
            auto executor = asio::get_associated_executor(handler, socket_.get_executor());
            asio::post(executor, [handler = std::move(handler)]() mutable {
              std::move(handler)(error_code{});
            });
            return;
          }
          tls_->async_read_some(
              asio::buffer(&held_byte_, 1),
              [this, handler = std::move(handler)](error_code ec, std::size_t n) mutable {
                held_ = n == 1;
                std::move(handler)(ec);
              });
        },
        token, wait);
  }

  // At least what a read returns without waiting (a hint for the read size, as for a socket).
  std::size_t available(error_code& ec) {
    std::size_t on_socket = socket_.available(ec);
    if (!tls_) return on_socket;
    int decrypted = SSL_pending(tls_->native_handle());
    return on_socket + static_cast<std::size_t>(decrypted > 0 ? decrypted : 0) + (held_ ? 1 : 0);
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
  // Copies the byte a wait read into `into`, followed by what OpenSSL has decrypted already
  // (a read of the current record's rest never touches the socket).
  template <class MutableBuffers>
  std::size_t take_held(const MutableBuffers& into) {
    asio::mutable_buffer first = *asio::buffer_sequence_begin(into);
    if (first.size() == 0) return 0;
    auto* out = static_cast<unsigned char*>(first.data());
    out[0] = held_byte_;
    held_ = false;
    std::size_t n = 1;
    int pending = SSL_pending(tls_->native_handle());
    if (pending > 0 && first.size() > 1) {
      int room = static_cast<int>(std::min<std::size_t>(first.size() - 1, 1 << 20));
      int got = SSL_read(tls_->native_handle(), out + 1, std::min(pending, room));
      if (got > 0) n += static_cast<std::size_t>(got);
    }
    return n;
  }

  Socket socket_;
  std::unique_ptr<asio::ssl::stream<Socket&>> tls_;
  ByteVector early_;  // the handshake's start, read before TLS began
  // A byte read by a wait for readability, delivered by the next read.
  unsigned char held_byte_ = 0;
  bool held_ = false;
};

}  // namespace plexi
