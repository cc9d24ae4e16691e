// auth_query's lookups on PostgreSQL servers (see auth_query.h): the query run through libpq
// with the client's user name as $1.
#pragma once

#include <optional>
#include <string>

#include "routing/auth_query.h"
#include "routing/pg_check.h"

namespace plexi::routing {

// Like a health check, one lookup at a time, on its strand.
class PgAuthQuery : public CheckedAuthLookup<PgCheck> {
 public:
  PgAuthQuery(asio::any_io_executor strand, AuthQuerySettings settings);

 private:
  awaitable<bool> attempt(CheckResult& result) override;
};

}  // namespace plexi::routing
