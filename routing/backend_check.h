// What every backend health check shares, whatever its client library: who it logs in as, one
// timeout for a whole check, host names resolved and the library's socket waited on through
// Asio, and a connection kept between checks that is retried once when it has gone stale.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/asio.h"
#include "config/config.h"
#include "routing/backend_health.h"

namespace plexi::routing {

// Where and as whom a check logs in, and how long it may take.
struct CheckLogin {
  std::string host;
  std::uint16_t port = 0;
  std::string database;
  std::string user;
  std::string password;
  config::ServerTls tls = config::ServerTls::kPrefer;  // the backend's tls and tls_ca_file
  std::string tls_ca_file;
  std::chrono::milliseconds timeout{1000};

  bool operator==(const CheckLogin&) const = default;
};

// The backend's own username and password; without a username, the cluster's health.user and
// health.password. The database is health.database, else the backend's. None when there
// is no user to log in as: the backend then goes unchecked.
std::optional<CheckLogin> check_login(const config::Cluster& cluster,
                                      const config::Backend& backend);

// One backend's check: a subclass speaks its database's protocol through a C library's
// non-blocking API and waits on the library's socket with wait().
class BackendCheck {
 public:
  virtual ~BackendCheck();
  BackendCheck(const BackendCheck&) = delete;
  BackendCheck& operator=(const BackendCheck&) = delete;

  // Connects if there is no connection, asks the server what it is and reads the answer.
  // Past the timeout the connection is abandoned and the result says so. A failure on a
  // connection kept from an earlier check is retried once on a new one (the server may
  // simply have closed an idle connection), within the same timeout.
  awaitable<CheckResult> run();

  // Makes a run() in progress return soon with a failure. Called on the executor.
  void cancel();

 protected:
  // `executor` must be a strand, or any executor whose handlers never run concurrently:
  // run() and cancel() share the connection and the socket. `library` names the client
  // library in messages ("libpq").
  BackendCheck(asio::any_io_executor executor, std::chrono::milliseconds timeout,
               std::string library);

  virtual bool connected() const = 0;
  // One try, on the kept connection or a new one: fills `result` (its error on failure) and
  // says whether the server answered usably.
  virtual awaitable<bool> attempt(CheckResult& result) = 0;
  // Closes the connection. Subclasses call forget() before their library closes its socket.
  virtual void reset() = 0;
  // The run in progress timed out or was cancelled: a subclass that waits on something other
  // than wait() (a connection of the proxy's own) ends that wait here.
  virtual void interrupt() {}
  const asio::any_io_executor& executor() const { return executor_; }

  // The address to connect to: `host` itself when it is an IP address, empty for a Unix
  // socket path, else what Asio resolves it to (the libraries would resolve it themselves
  // and block the worker). False, with `error`, when it cannot be resolved in time.
  awaitable<bool> resolve(const std::string& host, std::uint16_t port, std::string& address,
                          std::string& error);
  // Waits until the library's socket `fd` is readable (or writable). `new_socket`: the library
  // may have changed sockets since the last wait (while connecting). False when interrupted
  // (`error` left empty: the caller names the stage with failure()) or on an error.
  awaitable<bool> wait(int fd, bool for_write, bool new_socket, std::string& error);
  // Stops watching the library's socket (closes our dup of it).
  void forget();
  // The run in progress ran out of time, or cancel() was called.
  bool interrupted() const;
  // Why a run was cut short while `doing` something.
  std::string failure(std::string_view doing) const;

 private:
  struct Watch;

  asio::any_io_executor executor_;
  std::chrono::milliseconds timeout_;
  std::string library_;
  asio::steady_timer timer_;
  tcp::resolver resolver_;
  // A dup() of the library's socket, so closing it never closes the library's own descriptor.
  std::optional<asio::posix::stream_descriptor> socket_;
  std::shared_ptr<Watch> watch_;  // of the run() in progress
  bool cancelled_ = false;
};

}  // namespace plexi::routing
