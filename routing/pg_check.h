// One PostgreSQL backend's health check through libpq's non-blocking API, its socket waited
// on with Asio: a connection kept between checks, one query, and what it says as a
// CheckResult, all within the check's timeout.
#pragma once

#include <libpq-fe.h>

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

// Where and as whom a check logs in. Two equal settings describe the same check.
struct PgCheckSettings {
  std::string host;
  std::uint16_t port = 5432;
  std::string database;
  std::string user;
  std::string password;
  std::string sslmode = "prefer";
  std::chrono::milliseconds timeout{1000};

  bool operator==(const PgCheckSettings&) const = default;
};

// The backend's own username and password; without a username, the cluster's health.user and
// health.password. The database is health.database, else the backend's. None when there
// is no user to log in as: the backend then goes unchecked.
std::optional<PgCheckSettings> pg_check_settings(const config::Cluster& cluster,
                                                 const config::Backend& backend);

// Parses PostgreSQL's text form of an LSN ("16/B374D848").
std::optional<Lsn> parse_lsn(std::string_view text);

// The one statement a check runs: role, WAL position, received position, replay age.
extern const char* const kHealthQuery;

// Reads kHealthQuery's answer into `result` (ok, or the reason it is unusable).
void read_health_row(const PGresult* answer, CheckResult& result);

class PgCheck {
 public:
  // `executor` must be a strand, or any executor whose handlers never run concurrently:
  // run() and cancel() share the connection and the socket.
  PgCheck(asio::any_io_executor executor, PgCheckSettings settings);
  ~PgCheck();
  PgCheck(const PgCheck&) = delete;
  PgCheck& operator=(const PgCheck&) = delete;

  // Connects if there is no connection, sends the query and reads its answer. Past the
  // timeout the connection is abandoned and the result says so. A failure on a connection
  // kept from an earlier check is retried once on a new one (the server may simply have
  // closed an idle connection), within the same timeout.
  awaitable<CheckResult> run();

  // Makes a run() in progress return soon with a failure. Called on the executor.
  void cancel();

 private:
  struct Watch;
  struct ConnCloser {
    void operator()(PGconn* conn) const { PQfinish(conn); }
  };

  awaitable<bool> attempt(Watch& watch, CheckResult& result);
  awaitable<bool> connect(Watch& watch, std::string& error);
  awaitable<bool> query(Watch& watch, CheckResult& result);
  // Waits until libpq's socket is readable (or writable); false when interrupted.
  awaitable<bool> wait(Watch& watch, bool for_write, bool new_socket, std::string& error);
  std::string failure(const Watch& watch, std::string_view doing) const;
  void reset();

  asio::any_io_executor executor_;
  PgCheckSettings settings_;
  asio::steady_timer timer_;
  asio::ip::tcp::resolver resolver_;
  std::unique_ptr<PGconn, ConnCloser> conn_;
  // A dup() of libpq's socket, so closing it never closes libpq's own descriptor.
  std::optional<asio::posix::stream_descriptor> socket_;
  std::shared_ptr<Watch> watch_;  // of the run() in progress
  bool cancelled_ = false;
};

}  // namespace plexi::routing
