// The two ways a logged-in PostgreSQL client is served: relayed to a server pool, or
// answered by the SQLite executor. Both start after AuthenticationOk has been queued.
#pragma once

#include "common/asio.h"

namespace plexi::pg {

class Session;

// Logs the client in on a server; true when the relay now serves the client on its own
// (the session's coroutine may end), false when the session is over.
awaitable<bool> start_relay(Session& session);
awaitable<void> run_sqlite_front(Session& session);

}  // namespace plexi::pg
