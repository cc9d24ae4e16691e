// A relay connection to a PostgreSQL server: the client side of startup and authentication
// done natively, then a socket and what pooling must remember about the server's session.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/asio.h"
#include "common/bytes.h"
#include "pools/pool.h"
#include "pools/server_socket.h"
#include "pools/server_tls.h"
#include "protocol/pg/auth.h"
#include "protocol/pg/messages.h"

namespace plexi::pg {

struct ServerAddress {
  std::string host;  // a host name or address, or the directory of a Unix socket (libpq's host)
  std::uint16_t port = 5432;
  std::string database;
  std::string user;
  std::string password;
  // SCRAM passthrough: when set, a SCRAM login uses these instead of the password.
  std::optional<ScramKeys> scram_keys;
  std::chrono::milliseconds connect_timeout{5000};
  // SSLRequest first unless disabled; the server's 'N' is accepted only below require.
  pools::TlsTarget tls;
};

class ServerConnection {
 public:
  // Connects, starts TLS as address.tls says, authenticates (trust, cleartext, md5,
  // SCRAM-SHA-256) and reads the server's
  // parameters up to the first ReadyForQuery. On failure returns null with `error` set; a
  // server's own ErrorResponse is kept in `server_error` so a client can be told exactly.
  static awaitable<std::unique_ptr<ServerConnection>> connect(const ServerAddress& address,
                                                              std::string& error,
                                                              ErrorFields* server_error = nullptr);
  ~ServerConnection();

  // Reads and writes go through TLS when the connection started it.
  pools::ServerStream& socket() { return stream_; }
  bool tls() const { return stream_.is_tls(); }
  asio::any_io_executor executor() { return stream_.get_executor(); }
  // Re-registers the socket with `executor`'s worker (a no-op when it is already there):
  // the session using the connection then completes its I/O on its own thread.
  void move_to(const asio::any_io_executor& executor);
  ReadBuffer& input() { return input_; }
  const pools::ServerEndpoint& endpoint() const { return endpoint_; }
  std::int32_t backend_pid() const { return backend_pid_; }
  std::int32_t backend_secret() const { return backend_secret_; }

  // Reported parameters (ParameterStatus) as the server last sent them.
  std::map<std::string, std::string>& reported() { return reported_; }
  // Settings applied with SET on this server, as the client wrote them; compared with a
  // client's own to decide what to replay.
  std::map<std::string, std::string>& settings() { return settings_; }
  // Proxy-named prepared statements that exist on this server.
  std::set<std::string>& prepared() { return prepared_; }

  TxStatus tx_status() const { return tx_status_; }
  void set_tx_status(TxStatus status) { tx_status_ = status; }
  // Set while requests are outstanding; a connection in this state cannot be reused.
  void set_busy(bool busy) { busy_ = busy; }
  void mark_broken() { broken_ = true; }
  bool broken() const { return broken_; }

  // Pool requirements.
  bool alive();
  bool reusable() const { return !broken_ && !busy_ && tx_status_ == TxStatus::kIdle; }
  pools::Clock::time_point created_at() const { return created_at_; }
  pools::Clock::time_point last_used_at() const { return last_used_at_; }
  void touch() { last_used_at_ = pools::Clock::now(); }
  void close();

 private:
  explicit ServerConnection(const asio::any_io_executor& executor)
      : stream_(pools::ServerSocket(executor)) {}
  // SSLRequest and, on the server's 'S', the TLS handshake.
  awaitable<bool> negotiate_tls(const ServerAddress& address, std::string& error);
  awaitable<bool> startup(const ServerAddress& address, std::string& error,
                          ErrorFields* server_error);

  pools::ServerStream stream_;
  pools::ServerEndpoint endpoint_;
  ReadBuffer input_;
  std::int32_t backend_pid_ = 0;
  std::int32_t backend_secret_ = 0;
  std::map<std::string, std::string> reported_;
  std::map<std::string, std::string> settings_;
  std::set<std::string> prepared_;
  TxStatus tx_status_ = TxStatus::kIdle;
  bool busy_ = false;
  bool broken_ = false;
  pools::Clock::time_point created_at_ = pools::Clock::now();
  pools::Clock::time_point last_used_at_ = created_at_;
};

// Sends a CancelRequest for the query a server connection is running (a new connection,
// as the protocol requires).
awaitable<void> send_cancel(pools::ServerEndpoint endpoint, std::int32_t pid, std::int32_t secret);

}  // namespace plexi::pg
