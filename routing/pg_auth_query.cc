// auth_query lookups through libpq on a connection kept as auth_user.
#include "routing/pg_auth_query.h"

namespace plexi::routing {

PgAuthQuery::PgAuthQuery(asio::any_io_executor strand, AuthQuerySettings settings)
    : CheckedAuthLookup(strand, settings, pg_check_settings(settings.login)) {}

awaitable<bool> PgAuthQuery::attempt(CheckResult& result) {
  bool connected = co_await ensure_connected(result.error);
  if (!connected) co_return false;
  bool answered = co_await exchange(
      [this](PGconn* conn) {
        const char* values[] = {user_.c_str()};
        return PQsendQueryParams(conn, settings().query.c_str(), 1, nullptr, values, nullptr,
                                 nullptr, 0);
      },
      [this, &result](const PGresult* answer) {
        if (PQresultStatus(answer) != PGRES_TUPLES_OK) {
          result.error = one_line(PQresultErrorMessage(answer));
        } else if (PQnfields(answer) != 2) {
          result.error = "auth_query must return two columns (name, secret), returned " +
                         std::to_string(PQnfields(answer));
        } else {
          result.ok = true;
          answer_.found = PQntuples(answer) > 0;
          if (answer_.found && !PQgetisnull(answer, 0, 1)) answer_.secret = PQgetvalue(answer, 0, 1);
        }
      },
      result.error);
  co_return answered && result.ok;
}

}  // namespace plexi::routing
