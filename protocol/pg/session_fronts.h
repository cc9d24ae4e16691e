// The ways a logged-in PostgreSQL client is served: relayed to a server pool, answered by
// the SQLite executor, or by the admin console. Each starts after AuthenticationOk has been
// queued.
#pragma once

#include "common/asio.h"

namespace plexi::pg {

class Session;

// Logs the client in on a server; true when the relay now serves the client on its own
// (the session's coroutine may end), false when the session is over.
awaitable<bool> start_relay(Session& session);
awaitable<void> run_sqlite_front(Session& session);
// The admin console (database "plexiproxy"), for admin users.
awaitable<void> run_admin_console(Session& session);

}  // namespace plexi::pg
