"""The fixture the PostgreSQL relay tests share: a PostgreSQL server with user `app` and
database `appdb`, and a plexiproxy in front of it, both for a whole test class."""

import contextlib
import unittest

import psycopg

from .clients import connect
from .plexiproxy import Plexiproxy, print_log_if_failed
from .postgres import PostgresServer
from .watchdog import start_watchdog

USER, PASSWORD, DB = "app", "apppass", "appdb"
TEST_DEADLINE = 120  # seconds for one test method before the watchdog ends it
POOL_SIZE = 4        # cluster appdb, transaction mode
SMALL_POOL_SIZE = 2  # cluster small: the same database, so tests can force server changes
WARM_DB = "plexi_warm"  # cluster warmdb's database: min_idle 2 of pool_size 3


def app_server(test_class) -> PostgresServer:
    """A started PostgreSQL server with user `app` owning database `appdb`, closed when the
    test class is done."""
    pg = PostgresServer()
    test_class.addClassCleanup(pg.close)
    pg.start()
    pg.create_user(USER, PASSWORD)
    pg.create_database(DB, owner=USER)
    return pg


def backend(pg: PostgresServer, pool_size: int, database: str = DB, name: str = "pg1") -> dict:
    return {"name": name, "type": "postgres", "role": "primary", "host": pg.host,
            "port": pg.port, "database": database, "username": USER, "password": PASSWORD,
            "pool_size": pool_size}


def relay_config(pg: PostgresServer, **extra) -> dict:
    """Clusters appdb (transaction, 4), small (transaction, 2), sessiondb (session, 1), all
    on database appdb; extra top-level keys are added as given."""
    return {
        # Two workers whatever the machine, so sessions and server connections cross
        # between threads (migrations, hand-offs) in every relay test.
        "threads": 2,
        "users": [{"name": USER, "password": PASSWORD}],
        "clusters": {
            DB: {"pool_mode": "transaction", "backends": [backend(pg, POOL_SIZE)]},
            "small": {"pool_mode": "transaction", "backends": [backend(pg, SMALL_POOL_SIZE)]},
            "sessiondb": {"pool_mode": "session", "backends": [backend(pg, 1)]},
            "statementdb": {"pool_mode": "statement", "backends": [backend(pg, 1)]},
            # Its database is created by the test that uses it.
            "warmdb": {"pool_mode": "transaction", "min_idle": 2,
                       "backends": [backend(pg, 3, database=WARM_DB)]},
        },
        **extra,
    }


def backend_pid(conn: psycopg.Connection) -> int:
    """The PID of the server process this client's statement ran on."""
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


class RelayTestCase(unittest.TestCase):
    """Starts the server and the proxy once per class and stops both by PID afterwards."""

    proxy_extra: dict = {}

    @classmethod
    def setUpClass(cls):
        cls.pg = app_server(cls)
        cls.proxy = Plexiproxy(relay_config(cls.pg, **cls.proxy_extra))
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)  # runs first: a clean exit is part of the test

    def setUp(self):
        if not self.proxy.running():  # a watchdog killed it in an earlier test
            self.proxy.start()
        self.addCleanup(print_log_if_failed, self, self.proxy, self.pg)
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.pg)

    def connect(self, database: str = DB, user: str = USER, password: str | None = PASSWORD,
                **kwargs) -> psycopg.Connection:
        """A psycopg connection through the proxy, closed when the test ends."""
        conn = connect(self.proxy.port, user, database, password, **kwargs)
        self.addCleanup(conn.close)
        return conn

    def direct(self) -> psycopg.Connection:
        """A connection as `app` straight to the server, bypassing the proxy."""
        conn = psycopg.connect(self.pg.dsn(DB, USER, PASSWORD), autocommit=True)
        self.addCleanup(conn.close)
        return conn

    @contextlib.contextmanager
    def holding_server_of(self, client: psycopg.Connection, database: str = "small"):
        """Keeps the server connection the client last used busy inside other clients'
        transactions, so the client's next transaction has to run on another one.
        Yields the held server's PID."""
        held = backend_pid(client)
        holders = []
        try:
            for _ in range(SMALL_POOL_SIZE):
                holder = connect(self.proxy.port, USER, database, PASSWORD)
                holders.append(holder)
                holder.execute("BEGIN")
                if backend_pid(holder) == held:
                    break
            else:
                self.fail(f"no client got server {held} in {len(holders)} tries")
            for other in holders[:-1]:
                other.execute("COMMIT")
            yield held
        finally:
            for holder in holders:
                holder.close()
