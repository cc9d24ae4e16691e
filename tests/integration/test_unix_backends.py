"""Backends reached over Unix sockets: a MySQL cluster whose host is MariaDB's socket file and
a PostgreSQL cluster whose host is the server's socket directory (as the mysql client's
--socket and libpq's host take them).

- Through the proxy each serves queries and multiplexes many clients over few server
  connections, which the server sees arrive over its socket (MariaDB's processlist host
  'localhost', PostgreSQL's client_addr NULL), never over TCP.
- KILL QUERY and a PostgreSQL cancel request reach the running statement.
- SHOW SERVERS lists the pooled connections, SHOW BACKENDS the backends up: the health
  checks log in over the socket too.
- A cluster whose socket does not exist gives its clients an error naming the path, and
  SHOW BACKENDS shows its backend down."""

import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pymysql
from psycopg import errors

from harness import admin_console
from harness.mariadb import MariaDBServer
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.relay import DB, PASSWORD, USER, app_server
from harness.watchdog import start_watchdog

ADMIN, ADMIN_PASSWORD = "ops", "ops-secret"
POOL_SIZE = 2
CLIENTS = 12
MISSING_DIR = "/nonexistent/plexiproxy-test"
TEST_DEADLINE = 90
HEALTH = {"interval": "200ms", "timeout": "1s", "fall": 2, "rise": 1}


def proxy_config(user: str, password: str, clusters: dict, health_login: dict) -> dict:
    return {
        "threads": 2,  # sessions and server connections cross between workers
        "users": [{"name": user, "password": password},
                  {"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True}],
        "health": {**HEALTH, **health_login},
        "clusters": clusters,
    }


class UnixBackendTestCase(unittest.TestCase):
    """What both protocols' tests share: the admin console and clients run side by side."""

    proxy: Plexiproxy
    server = None

    def setUp(self):
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.server)
        self.addCleanup(print_log_if_failed, self, self.proxy, self.server)

    def show(self, what: str) -> list[dict]:
        return admin_console.show(self.proxy, ADMIN, ADMIN_PASSWORD, what)

    def pooled_server_ids(self, backend: str) -> set[int]:
        """What SHOW SERVERS gives as the server-side ids (PostgreSQL's backend PID, MySQL's
        connection id) of the backend's pooled connections."""
        return {int(row["pid"]) for row in self.show("SERVERS") if row["backend"] == backend}

    def wait_for_state(self, backend: str, state: str, timeout: float = 10.0) -> dict:
        """The backend's row of SHOW BACKENDS once the health checks give it `state`."""
        return admin_console.wait_for_state(self, self.proxy, ADMIN, ADMIN_PASSWORD, state,
                                            timeout, backend=backend)

    def run_clients(self, work) -> list[str]:
        """Runs work(client) for CLIENTS clients at once; returns their failures."""
        failures = []

        def guarded(client):
            try:
                work(client)
            except Exception as error:  # reported by the caller
                failures.append(f"client {client}: {error!r}")

        threads = [threading.Thread(target=guarded, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        return failures


class MysqlUnixBackendTest(UnixBackendTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MariaDBServer()
        cls.addClassCleanup(cls.server.close)
        cls.server.start()
        cls.socket = str(cls.server.dir / "mysqld.sock")
        cls.missing = f"{MISSING_DIR}/mysqld.sock"

        def cluster(name: str, host: str) -> dict:
            return {"protocol": "mysql", "pool_size": POOL_SIZE,
                    "backends": [{"name": name, "type": "mysql", "host": host,
                                  "database": cls.server.database}]}

        cls.proxy = Plexiproxy(proxy_config(
            cls.server.app_user, cls.server.app_password,
            {"appdb": cluster("my-unix", cls.socket), "nowhere": cluster("my-missing", cls.missing)},
            {"user": cls.server.user, "password": cls.server.password}))
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)  # runs first: a clean exit is part of the test

    def connect(self, database: str = "appdb") -> pymysql.connections.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port,
                               user=self.server.app_user, password=self.server.app_password,
                               database=database, autocommit=True, connect_timeout=10,
                               read_timeout=30)

    @staticmethod
    def value(conn, sql: str):
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]

    def server_hosts(self, user: str) -> list[str]:
        """Where the server sees `user`'s connections come from: 'localhost' over its
        socket, 127.0.0.1:<port> over TCP."""
        rows = self.server.execute(
            "SELECT host FROM information_schema.processlist WHERE user = %s", (user,))
        return [row[0] for row in rows]

    def test_queries_pooled_and_multiplexed_over_the_socket(self):
        connected = threading.Barrier(CLIENTS, timeout=30)
        server_ids = set()

        def work(client):
            with self.connect() as conn:
                connected.wait()  # every client logged in at once
                for n in range(5):
                    answer = self.value(conn, f"SELECT {client} * 100 + {n}")
                    if answer != client * 100 + n:
                        raise AssertionError(f"got {answer}")
                    server_ids.add(self.value(conn, "SELECT CONNECTION_ID()"))

        self.assertEqual(self.run_clients(work), [])
        self.assertLessEqual(len(server_ids), POOL_SIZE)
        pooled = self.pooled_server_ids("my-unix")  # idle in the pool now, as SHOW SERVERS shows
        self.assertTrue(pooled)
        self.assertLessEqual(pooled, server_ids)
        hosts = self.server_hosts(self.server.app_user)
        self.assertTrue(hosts)
        self.assertLessEqual(len(hosts), POOL_SIZE)
        self.assertEqual(set(hosts), {"localhost"})

    def test_health_check_marks_the_backend_up(self):
        row = self.wait_for_state("my-unix", "up")
        self.assertEqual(row["host"], self.socket)
        self.assertIn("localhost", self.server_hosts(self.server.user))  # the check's own

    def test_kill_query_reaches_the_statement(self):
        with self.connect() as victim, self.connect() as killer, \
                ThreadPoolExecutor(1) as background:
            started = time.monotonic()
            sleeping = background.submit(self.value, victim, "SELECT SLEEP(20)")
            time.sleep(1)
            with killer.cursor() as cursor:
                cursor.execute(f"KILL QUERY {victim.thread_id()}")
            try:
                outcome = sleeping.result(timeout=30)
            except pymysql.err.MySQLError as error:
                outcome = error.args[0]
            # SLEEP() interrupted returns 1, or the statement fails with 1317.
            self.assertIn(outcome, (1, 1317))
            self.assertLess(time.monotonic() - started, 10)
            self.assertEqual(self.value(victim, "SELECT 5"), 5)

    def test_missing_socket_is_named_to_the_client(self):
        with self.assertRaises(pymysql.err.MySQLError) as caught:
            with self.connect("nowhere") as conn:
                self.value(conn, "SELECT 1")
        message = str(caught.exception)
        self.assertIn("cannot connect to server", message)
        self.assertIn(f"{self.missing}: No such file or directory", message)
        row = self.wait_for_state("my-missing", "down")
        self.assertIn(self.missing, row["last_error"])


class PostgresUnixBackendTest(UnixBackendTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = app_server(cls)
        cls.directory = str(cls.server.dir)  # unix_socket_directories (harness.postgres)

        def cluster(name: str, host: str) -> dict:
            return {"pool_mode": "transaction",
                    "backends": [{"name": name, "host": host, "port": cls.server.port,
                                  "database": DB, "username": USER, "password": PASSWORD,
                                  "pool_size": POOL_SIZE}]}

        cls.proxy = Plexiproxy(proxy_config(
            USER, PASSWORD,
            {DB: cluster("pg-unix", cls.directory), "nowhere": cluster("pg-missing", MISSING_DIR)},
            {}))  # the checks log in as the backends' username
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def connect(self, database: str = DB) -> psycopg.Connection:
        conn = psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=USER,
                               password=PASSWORD, dbname=database, autocommit=True,
                               connect_timeout=10)
        self.addCleanup(conn.close)
        return conn

    def server_addresses(self, checks: bool) -> list:
        """client_addr of the app's connections (NULL over the socket); the health checks'
        or the pooled ones."""
        return [row[0] for row in self.server.execute(
            "SELECT client_addr FROM pg_stat_activity WHERE usename = %s"
            " AND (application_name = 'plexiproxy health check') = %s", (USER, checks))]

    def test_queries_pooled_and_multiplexed_over_the_socket(self):
        connected = threading.Barrier(CLIENTS, timeout=30)
        server_pids = set()

        def work(client):
            with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=USER,
                                 password=PASSWORD, dbname=DB, connect_timeout=10) as conn:
                connected.wait()
                for n in range(5):
                    with conn.transaction():
                        answer, pid = conn.execute("SELECT %s::int * 100 + %s, pg_backend_pid()",
                                                   (client, n)).fetchone()
                    if answer != client * 100 + n:
                        raise AssertionError(f"got {answer}")
                    server_pids.add(pid)

        self.assertEqual(self.run_clients(work), [])
        self.assertLessEqual(len(server_pids), POOL_SIZE)
        pooled = self.pooled_server_ids("pg-unix")  # idle in the pool now, as SHOW SERVERS shows
        self.assertTrue(pooled)
        self.assertLessEqual(pooled, server_pids)
        addresses = self.server_addresses(checks=False)
        self.assertTrue(addresses)
        self.assertLessEqual(len(addresses), POOL_SIZE)
        self.assertEqual(set(addresses), {None})

    def test_health_check_marks_the_backend_up(self):
        row = self.wait_for_state("pg-unix", "up")
        self.assertEqual(row["host"], self.directory)
        self.assertIn(None, self.server_addresses(checks=True))

    def test_cancel_reaches_the_statement(self):
        sleeper = self.connect()
        outcome = {}

        def sleep():
            try:
                sleeper.execute("SELECT pg_sleep(30)")
                outcome["result"] = "finished"
            except psycopg.Error as error:
                outcome["result"] = error
            outcome["at"] = time.monotonic()

        thread = threading.Thread(target=sleep)
        thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.server.execute(
                "SELECT 1 FROM pg_stat_activity WHERE state = 'active'"
                " AND query = 'SELECT pg_sleep(30)'"):
            time.sleep(0.05)
        cancelled_at = time.monotonic()
        sleeper.cancel()
        thread.join(35)
        self.assertIsInstance(outcome["result"], errors.QueryCanceled)
        self.assertLess(outcome["at"] - cancelled_at, 1.0)
        self.assertEqual(sleeper.execute("SELECT 1").fetchone(), (1,))

    def test_missing_socket_is_named_to_the_client(self):
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.connect("nowhere").execute("SELECT 1")
        message = str(caught.exception)
        socket_file = f"{MISSING_DIR}/.s.PGSQL.{self.server.port}"
        self.assertIn("cannot connect to server", message)
        self.assertIn(f"{socket_file}: No such file or directory", message)
        row = self.wait_for_state("pg-missing", "down")
        self.assertIn(socket_file, row["last_error"])


if __name__ == "__main__":
    unittest.main()
