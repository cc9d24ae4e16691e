// The libpq side of a PostgreSQL health check: non-blocking connect and query, with every
// wait on the socket done by Asio and the whole check bounded by one timer.
#include "routing/pg_check.h"

#include <charconv>
#include <cstdlib>

namespace plexi::routing {
std::string one_line(const char* text) {
  std::string out(text ? text : "");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (std::size_t at; (at = out.find('\n')) != std::string::npos;) out.replace(at, 1, "; ");
  return out.empty() ? "unknown libpq error" : out;
}

namespace {

std::optional<std::uint32_t> parse_hex(std::string_view text) {
  std::uint32_t value = 0;
  if (text.empty() || text.size() > 8) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

// The CASE keeps a primary from calling the replay function (NULL there) and a replica from
// calling pg_current_wal_lsn() (an error during recovery).
const char* const kHealthQuery =
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, "
    "pg_last_wal_receive_lsn(), "
    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())";

std::optional<PgCheckSettings> pg_check_settings(const config::Cluster& cluster,
                                                 const config::Backend& backend) {
  auto login = check_login(cluster, backend);
  if (!login) return std::nullopt;
  return pg_check_settings(*login);
}

PgCheckSettings pg_check_settings(const CheckLogin& login) {
  return PgCheckSettings{login.host,        login.port,
                         login.database,    login.user,
                         login.password,    std::string(config::to_string(login.tls)),
                         login.tls_ca_file, login.timeout};
}

std::optional<Lsn> parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto high = parse_hex(text.substr(0, slash));
  const auto low = parse_hex(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return (Lsn{*high} << 32) | *low;
}

void read_health_row(const PGresult* answer, CheckResult& result) {
  result.ok = false;
  if (PQresultStatus(answer) != PGRES_TUPLES_OK) {
    result.error = one_line(PQresultErrorMessage(answer));
    return;
  }
  if (PQntuples(answer) != 1 || PQnfields(answer) != 4) {
    result.error = "the health query returned an unexpected shape";
    return;
  }
  auto value = [answer](int column) -> std::optional<std::string_view> {
    if (PQgetisnull(answer, 0, column)) return std::nullopt;
    return std::string_view(PQgetvalue(answer, 0, column));
  };
  const auto recovery = value(0);
  if (!recovery || (*recovery != "t" && *recovery != "f")) {
    result.error = "the health query returned no recovery state";
    return;
  }
  result.in_recovery = *recovery == "t";
  result.wal_lsn = 0;
  if (const auto text = value(1)) {
    const auto lsn = parse_lsn(*text);
    if (!lsn) {
      result.error = "unreadable WAL position '" + std::string(*text) + "'";
      return;
    }
    result.wal_lsn = *lsn;
  }
  result.receive_lsn.reset();
  if (const auto text = value(2)) result.receive_lsn = parse_lsn(*text);
  result.replay_age_seconds.reset();
  // libpq's values end in a NUL, so the view's data is a C string.
  if (const auto text = value(3)) result.replay_age_seconds = std::strtod(text->data(), nullptr);
  result.error.clear();
  result.ok = true;
}

PgCheck::PgCheck(asio::any_io_executor executor, PgCheckSettings settings)
    : BackendCheck(executor, settings.timeout, "libpq"), settings_(std::move(settings)) {}

PgCheck::~PgCheck() {
  forget();  // our dup first; PQfinish then closes libpq's descriptor
}

void PgCheck::reset() {
  forget();
  conn_.reset();
}

awaitable<bool> PgCheck::ensure_connected(std::string& error) {
  if (conn_) co_return true;
  bool connected = co_await connect(error);
  co_return connected;
}

awaitable<bool> PgCheck::attempt(CheckResult& result) {
  bool connected = co_await ensure_connected(result.error);
  if (!connected) co_return false;
  bool answered = co_await exchange(
      [](PGconn* conn) { return PQsendQuery(conn, kHealthQuery); },
      [&result](const PGresult* answer) { read_health_row(answer, result); }, result.error);
  co_return answered && result.ok;
}

awaitable<bool> PgCheck::connect(std::string& error) {
  std::string hostaddr;
  bool resolved = co_await resolve(settings_.host, settings_.port, hostaddr, error);
  if (!resolved) co_return false;

  const std::string port = std::to_string(settings_.port);
  // Empty values are ignored by libpq. GSSAPI stays off: its negotiation can block.
  const char* keys[] = {"host",       "hostaddr",         "port",    "dbname",
                        "user",       "password",         "sslmode", "sslrootcert",
                        "gssencmode", "application_name", nullptr};
  const char* values[] = {settings_.host.c_str(),
                          hostaddr.c_str(),
                          port.c_str(),
                          settings_.database.c_str(),
                          settings_.user.c_str(),
                          settings_.password.c_str(),
                          settings_.sslmode.c_str(),
                          settings_.sslrootcert.c_str(),
                          "disable",
                          "plexiproxy health check",
                          nullptr};
  conn_.reset(PQconnectStartParams(keys, values, 0));
  if (!conn_) {
    error = "libpq could not allocate a connection";
    co_return false;
  }
  // libpq's rule: before the first PQconnectPoll, act as if it had asked to wait for writing.
  PostgresPollingStatusType status =
      PQstatus(conn_.get()) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED) {
      error = one_line(PQerrorMessage(conn_.get()));
      co_return false;
    }
    // libpq may change sockets while connecting (another address, SSL refused), so the
    // descriptor is taken afresh before every wait.
    bool ready = co_await wait(PQsocket(conn_.get()), status == PGRES_POLLING_WRITING, true, error);
    if (!ready) {
      if (error.empty()) error = failure("connecting");
      co_return false;
    }
    status = PQconnectPoll(conn_.get());
  }
  if (PQsetnonblocking(conn_.get(), 1) != 0) {
    error = one_line(PQerrorMessage(conn_.get()));
    co_return false;
  }
  co_return true;
}

awaitable<bool> PgCheck::exchange(const std::function<int(PGconn*)>& send,
                                  const std::function<void(const PGresult*)>& read,
                                  std::string& error) {
  PGconn* conn = conn_.get();
  if (!send(conn)) {
    error = one_line(PQerrorMessage(conn));
    co_return false;
  }
  while (true) {
    const int flushed = PQflush(conn);
    if (flushed < 0) {
      error = one_line(PQerrorMessage(conn));
      co_return false;
    }
    if (flushed == 0) break;
    bool ready = co_await wait(PQsocket(conn), true, false, error);
    if (!ready) {
      if (error.empty()) error = failure("sending the query");
      co_return false;
    }
  }
  bool answered = false;
  while (true) {
    while (PQisBusy(conn)) {
      bool ready = co_await wait(PQsocket(conn), false, false, error);
      if (!ready) {
        if (error.empty()) error = failure("waiting for the answer");
        co_return false;
      }
      if (!PQconsumeInput(conn)) {
        error = one_line(PQerrorMessage(conn));
        co_return false;
      }
    }
    PGresult* answer = PQgetResult(conn);
    if (answer == nullptr) break;
    if (!answered) {
      read(answer);
      answered = true;
    }
    PQclear(answer);
  }
  if (!answered) error = "the query returned nothing";
  co_return answered;
}

}  // namespace plexi::routing
