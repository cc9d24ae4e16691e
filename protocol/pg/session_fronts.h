// The two ways a logged-in PostgreSQL client is served: relayed to a server pool, or
// answered by the SQLite executor. Both start after AuthenticationOk has been queued.
#pragma once

#include "common/asio.h"

namespace plexi::pg {

class Session;

awaitable<void> run_relay(Session& session);
awaitable<void> run_sqlite_front(Session& session);

}  // namespace plexi::pg
