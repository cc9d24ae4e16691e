// One PostgreSQL backend's health check through libpq's non-blocking API, its socket waited
// on with Asio: a connection kept between checks, one query, and what it says as a
// CheckResult, all within the check's timeout.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/asio.h"
#include "config/config.h"
#include "routing/backend_check.h"
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
  std::string sslrootcert;  // the backend's tls_ca_file
  std::chrono::milliseconds timeout{1000};

  bool operator==(const PgCheckSettings&) const = default;
};

// check_login()'s user, password and database, with the backend's tls as the sslmode (the same
// names) and its tls_ca_file as the sslrootcert. None
// when there is no user to log in as: the backend then goes unchecked.
std::optional<PgCheckSettings> pg_check_settings(const config::Cluster& cluster,
                                                 const config::Backend& backend);
// The same from a login worked out already.
PgCheckSettings pg_check_settings(const CheckLogin& login);

// A libpq message on one line: its trailing newline gone, inner ones as "; ".
std::string one_line(const char* text);

// Parses PostgreSQL's text form of an LSN ("16/B374D848").
std::optional<Lsn> parse_lsn(std::string_view text);

// The one statement a check runs: role, WAL position, received position, replay age.
extern const char* const kHealthQuery;

// Reads kHealthQuery's answer into `result` (ok, or the reason it is unusable).
void read_health_row(const PGresult* answer, CheckResult& result);

class PgCheck : public BackendCheck {
 public:
  // `executor`: as for BackendCheck, a strand or the like.
  PgCheck(asio::any_io_executor executor, PgCheckSettings settings);
  ~PgCheck() override;

 protected:
  // Connects when there is no connection yet.
  awaitable<bool> ensure_connected(std::string& error);
  // Sends a query with `send` (PQsendQuery or PQsendQueryParams on the connection) and hands
  // its first result to `read`. False with `error` when no result came.
  awaitable<bool> exchange(const std::function<int(PGconn*)>& send,
                           const std::function<void(const PGresult*)>& read, std::string& error);

 private:
  struct ConnCloser {
    void operator()(PGconn* conn) const { PQfinish(conn); }
  };

  bool connected() const override { return conn_ != nullptr; }
  awaitable<bool> attempt(CheckResult& result) override;
  void reset() override;
  awaitable<bool> connect(std::string& error);

  PgCheckSettings settings_;
  std::unique_ptr<PGconn, ConnCloser> conn_;
};

}  // namespace plexi::routing
