"""A replicated PostgreSQL setup for routing and failover tests: a primary, streaming replicas
of it and a separate analytics server, all with the same login user and database; the
backends: entries of a plexiproxy cluster that name them; a watcher of plexiproxy's log, and
the report of what a failover test measured."""

import re
import sys
import time

from .plexiproxy import Plexiproxy
from .postgres import PostgresServer
from .replication import ReplicaServer


class ReplicatedServers:
    """primary (pg1), replicas (pg2, pg3, ...) and, unless analytics=False, a stand-alone
    analytics server (olap). Each has `user` (owner of `database`) with `password`. close()
    stops exactly the servers start() started, so it is safe after a failed start."""

    def __init__(self, user: str, password: str, database: str, replicas: int = 2,
                 analytics: bool = True):
        self.user, self.password, self.database = user, password, database
        self.primary = PostgresServer()
        self.replicas = [ReplicaServer(self.primary) for _ in range(replicas)]
        self.analytics = PostgresServer() if analytics else None

    @property
    def servers(self) -> list[PostgresServer]:
        return [self.primary, *self.replicas, *([self.analytics] if self.analytics else [])]

    def names(self) -> dict[str, PostgresServer]:
        """Backend name -> server: pg1 the primary, pg2... the replicas, olap the analytics."""
        named = {"pg1": self.primary}
        named.update({f"pg{i + 2}": replica for i, replica in enumerate(self.replicas)})
        if self.analytics:
            named["olap"] = self.analytics
        return named

    def start(self) -> "ReplicatedServers":
        self.primary.start()
        self.primary.create_user(self.user, self.password)
        self.primary.create_database(self.database, owner=self.user)
        for replica in self.replicas:  # pg_basebackup copies the user and the database
            replica.start()
        if self.analytics:
            self.analytics.start()
            self.analytics.create_user(self.user, self.password)
            self.analytics.create_database(self.database, owner=self.user)
        return self

    def close(self) -> None:
        for server in reversed(self.servers):  # the primary last, as its replicas follow it
            server.close()

    def backend(self, name: str, role: str | None = None, pool_size: int = 2, **extra) -> dict:
        """The backends: entry for the server called `name`; its role defaults to what the
        server was started as."""
        server = self.names()[name]
        if role is None:
            role = ("primary" if server is self.primary else
                    "analytics" if server is self.analytics else "replica")
        return {"name": name, "type": "postgres", "role": role, "host": server.host,
                "port": server.port, "database": self.database, "username": self.user,
                "password": self.password, "pool_size": pool_size, **extra}

    def backends(self, pool_size: int = 2) -> list[dict]:
        """Every server, as backends: entries with the roles they were started as."""
        return [self.backend(name, pool_size=pool_size) for name in self.names()]

    def wait_replicas_caught_up(self, timeout: float = 30.0) -> None:
        for replica in self.replicas:
            replica.wait_caught_up(timeout)


class LogWatcher:
    """Waits for lines in plexiproxy's log written after the last mark()."""

    def __init__(self, proxy: Plexiproxy):
        self.proxy = proxy
        self.offset = 0

    def text(self) -> str:
        return self.proxy.log_path.read_text(errors="replace")[self.offset:]

    def mark(self) -> None:
        self.offset = len(self.proxy.log_path.read_text(errors="replace"))

    def wait_for(self, pattern: str, since: float, timeout: float = 15.0) -> float:
        """Seconds from `since` (time.monotonic()) until a line matching pattern is seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return time.monotonic() - since
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout}s; log since "
                             f"mark:\n{self.text()}")


def report(what: str, seconds: float) -> None:
    """Prints a measured time beside the test's name in unittest's verbose output."""
    print(f"\n  measured: {what}: {seconds:.2f}s", file=sys.stderr, end="")
