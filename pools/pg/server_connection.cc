// Opens and authenticates relay connections to PostgreSQL servers.
#include "pools/pg/server_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "common/socket_io.h"
#include "protocol/pg/auth.h"
#include "protocol/pg/decoder.h"
#include "protocol/pg/encoder.h"

namespace plexi::pg {

ServerConnection::~ServerConnection() { close(); }

void ServerConnection::move_to(const asio::any_io_executor& executor) {
  if (!move_socket(stream_.socket(), executor)) broken_ = true;
}

awaitable<std::unique_ptr<ServerConnection>> ServerConnection::connect(const ServerAddress& address,
                                                                       std::string& error,
                                                                       ErrorFields* server_error) {
  auto executor = co_await asio::this_coro::executor;
  // The deadline watches the connection's own socket, so it bounds the login as well.
  std::unique_ptr<ServerConnection> connection(new ServerConnection(executor));
  Deadline deadline(executor, address.connect_timeout, connection->stream_.socket());

  const std::string target =
      config::is_socket_path(address.host)
          ? config::socket_file(config::BackendType::kPostgres, address.host, address.port)
          : address.host;
  bool connected =
      co_await pools::connect_server(connection->stream_.socket(), target, address.port, error);
  if (!connected) {
    if (deadline.expired()) error = "connect timeout";
    co_return nullptr;
  }
  error_code ec;
  connection->endpoint_ = connection->stream_.socket().remote_endpoint(ec);
  bool started = true;
  if (address.tls.wanted() && !config::is_socket_path(address.host)) {
    started = co_await connection->negotiate_tls(address, error);
  }
  if (started) started = co_await connection->startup(address, error, server_error);
  if (!started) {
    connection->mark_broken();  // never logged in: nothing to say Terminate to
    if (deadline.expired()) error = "connect timeout";
    co_return nullptr;
  }
  co_return connection;
}

awaitable<bool> ServerConnection::negotiate_tls(const ServerAddress& address, std::string& error) {
  ByteVector out;
  encode_ssl_request(out);
  error_code ec;
  bool sent = co_await write_all(stream_, out, ec);
  if (!sent) {
    error = ec.message();
    co_return false;
  }
  // Exactly one byte: whatever followed it in plain text before the handshake could have been
  // injected by someone on the path, and must not pass for what the server said over TLS.
  char answer = 0;
  co_await asio::async_read(stream_.socket(), asio::buffer(&answer, 1),
                            asio::redirect_error(use_awaitable, ec));
  if (ec) {
    error = "server closed the connection after SSLRequest";
    if (ec != asio::error::eof) error += ": " + ec.message();
    co_return false;
  }
  if (answer == 'N') {
    if (!address.tls.required()) co_return true;
    error = "server does not support TLS (backend tls: " +
            std::string(config::to_string(address.tls.mode)) + ")";
    co_return false;
  }
  if (answer != 'S') {
    error = "unexpected answer to SSLRequest from server";
    co_return false;
  }
  if (stream_.socket().available(ec) > 0) {
    error = "server sent unencrypted data after accepting TLS";
    co_return false;
  }
  co_return co_await pools::start_server_tls(stream_, address.tls, address.host, error);
}

awaitable<bool> ServerConnection::startup(const ServerAddress& address, std::string& error,
                                          ErrorFields* server_error) {
  ByteVector out;
  std::array<std::pair<std::string_view, std::string_view>, 2> params{
      {{"user", address.user}, {"database", address.database}}};
  encode_startup_message(out, params);
  error_code ec;
  bool sent = co_await write_all(stream_, out, ec);
  if (!sent) {
    error = ec.message();
    co_return false;
  }

  std::unique_ptr<ScramClient> scram;
  while (true) {
    auto frame = decode_frame(input_.readable());
    if (frame.status == DecodeStatus::kError) {
      error = "invalid message from server: " + frame.error;
      co_return false;
    }
    if (frame.status == DecodeStatus::kNeedMore) {
      std::size_t received = co_await read_some(stream_, input_, ec);
      if (received == 0) {
        error = "server closed the connection during startup";
        if (ec && ec != asio::error::eof) error += ": " + ec.message();
        co_return false;
      }
      continue;
    }
    const Frame& message = frame.message;
    out.clear();
    switch (message.type) {
      case backend::kAuthentication: {
        auto auth = parse_authentication(message.body);
        if (!auth) {
          error = "malformed authentication request from server";
          co_return false;
        }
        switch (auth->code) {
          case AuthCode::kOk:
            break;
          case AuthCode::kCleartextPassword:
            encode_password_message(out, address.password);
            break;
          case AuthCode::kMd5Password: {
            if (auth->data.size() != 4) {
              error = "malformed md5 request from server";
              co_return false;
            }
            std::span<const std::byte, 4> salt(auth->data.data(), 4);
            std::string secret = is_md5_secret(address.password)
                                     ? address.password
                                     : md5_password_secret(address.password, address.user);
            encode_password_message(out, md5_salted_response(secret, salt));
            break;
          }
          case AuthCode::kSasl: {
            if (as_chars(auth->data).find(kScramSha256) == std::string_view::npos) {
              error = "server offers no SASL mechanism plexiproxy supports";
              co_return false;
            }
            scram = address.scram_keys ? std::make_unique<ScramClient>(*address.scram_keys)
                                       : std::make_unique<ScramClient>(address.password);
            encode_sasl_initial_response(out, kScramSha256, scram->client_first());
            break;
          }
          case AuthCode::kSaslContinue: {
            if (!scram) {
              error = "unexpected SASL message from server";
              co_return false;
            }
            auto reply = scram->handle_server_first(as_chars(auth->data), error);
            if (!reply) co_return false;
            encode_sasl_response(out, *reply);
            break;
          }
          case AuthCode::kSaslFinal:
            if (!scram || !scram->verify_server_final(as_chars(auth->data))) {
              error = "server's SCRAM signature is invalid";
              co_return false;
            }
            break;
          default:
            error = "server asks for an authentication method plexiproxy does not support";
            co_return false;
        }
        break;
      }
      case backend::kParameterStatus:
        if (auto status = parse_parameter_status(message.body)) {
          reported_[std::string(status->first)] = std::string(status->second);
        }
        break;
      case backend::kBackendKeyData:
        if (auto key = parse_backend_key_data(message.body)) {
          backend_pid_ = key->first;
          backend_secret_ = key->second;
        }
        break;
      case backend::kErrorResponse: {
        auto fields = parse_error_fields(message.body);
        error = fields ? fields->message : "server refused the connection";
        if (fields && server_error) *server_error = *fields;
        co_return false;
      }
      case backend::kReadyForQuery:
        input_.consume(frame.consumed);
        co_return true;
      default:  // NoticeResponse, NegotiateProtocolVersion: nothing to do
        break;
    }
    input_.consume(frame.consumed);
    if (!out.empty() && !co_await write_all(stream_, out, ec)) {
      error = ec.message();
      co_return false;
    }
  }
}

bool ServerConnection::alive() {
  if (broken_ || !stream_.is_open()) return false;
  std::byte probe;
  ssize_t n = ::recv(stream_.socket().native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  // Nothing to read is the healthy state of an idle server; EOF or unsolicited bytes (a
  // shutdown notice) mean it is going away.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void ServerConnection::close() {
  if (stream_.is_open()) {
    if (!broken_ && tx_status_ == TxStatus::kIdle && !busy_) {
      ByteVector out;
      encode_terminate(out);
      error_code ignored;
      asio::write(stream_, asio::buffer(out.data(), out.size()), ignored);
    }
    error_code ignored;
    stream_.close(ignored);
  }
  broken_ = true;
}

awaitable<void> send_cancel(pools::ServerEndpoint endpoint, std::int32_t pid, std::int32_t secret) {
  auto executor = co_await asio::this_coro::executor;
  pools::ServerSocket socket(executor);
  Deadline deadline(executor, std::chrono::seconds(5), socket);
  error_code ec;
  co_await socket.async_connect(endpoint, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  ByteVector out;
  encode_cancel_request(out, pid, secret);
  co_await write_all(socket, out, ec);
  // The server closes the connection once it has read the request.
  ReadBuffer scratch;
  co_await read_some(socket, scratch, ec);
}

}  // namespace plexi::pg
