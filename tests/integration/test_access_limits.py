"""Access rules and client limits on all three listeners, against a real PostgreSQL and Redis
(MySQL clients reach the embedded SQLite database, which is enough for what happens before
a server is chosen):
- rules are evaluated before any authentication: a rejected user or address gets its
  protocol's own error (PostgreSQL FATAL 28000, MySQL 1045, Redis -ERR/-NOPERM) and nothing
  reaches a server; a client no rule matches is refused; trust logs in without a password;
  md5 and scram-sha-256 choose the PostgreSQL exchange; the refusal is logged with the rule's
  line and counted in errors_total{kind="access_rule"};
- max_client_conn per user counts a user's clients over every listener;
- client_idle_timeout closes clients that hold no server connection, not one inside a
  transaction;
- 10,000 connections left silent are each closed at startup_timeout while another client is
  served, and the proxy's memory returns to about where it started."""

import re
import resource
import selectors
import socket
import struct
import time
import unittest

import psycopg
import pymysql

from harness.clients import connect
from harness.libmariadb import CClient
from harness.plexiproxy import Plexiproxy, built_with_sanitizer, metric, print_log_if_failed
from harness.postgres import PostgresServer
from harness.redis import RedisServer
from harness.relay import DB, PASSWORD, USER, app_server
from harness.watchdog import start_watchdog
from harness.wire import WireClient, error_fields, startup_packet

TRUSTED = "trusted"            # trust on the PostgreSQL and MySQL listeners
BLOCKED = "blocked"            # rejected everywhere
MD5_USER = "legacy"            # method md5 on the PostgreSQL listener
STRANGER = "stranger"          # in users:, but no rule names it
LIMITED = "limited"            # max_client_conn 2, over every listener
ADMIN, ADMIN_PASSWORD = "ops", "ops-secret"
OTHER_ADDRESS = "127.0.0.2"    # a loopback address the rules refuse


def clusters(pg: PostgresServer, redis: RedisServer, proxy: Plexiproxy) -> dict:
    """appdb on the PostgreSQL server, litedb on SQLite (both listeners), cache on Redis."""
    return {
        DB: {"backends": [{"name": "pg1", "type": "postgres", "host": pg.host, "port": pg.port,
                           "username": USER, "password": PASSWORD, "pool_size": 4}]},
        "litedb": {"backends": [{"type": "sqlite", "path": str(proxy.dir / "l.db")}]},
        "cache": {"protocol": "redis",
                  "backends": [{"type": "redis", "host": redis.host, "port": redis.port}]},
    }


def start_servers(test_class) -> None:
    test_class.pg = app_server(test_class)
    test_class.redis = RedisServer()
    test_class.addClassCleanup(test_class.redis.close)
    test_class.redis.start()
    test_class.proxy = Plexiproxy()
    test_class.addClassCleanup(test_class.proxy.close)


def errors_of(proxy: Plexiproxy, kind: str) -> float:
    return metric(proxy, f'plexiproxy_errors_total{{kind="{kind}"}}')


def first_authentication_request(port: int, user: str, database: str) -> int | dict:
    """What the proxy answers a startup packet with: the authentication request's code
    (0 ok, 5 md5, 10 SASL), or the ErrorResponse's fields."""
    with WireClient(port) as client:
        client.send(startup_packet(user, database))
        kind, body = client.read_message()
        if kind == b"E":
            return error_fields(body)
        assert kind == b"R", kind
        return struct.unpack("!I", body[:4])[0]


def connect_from(address: str, port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(address, 0))


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def resp_command(sock: socket.socket, *args: str) -> bytes:
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        request += f"${len(arg.encode())}\r\n".encode() + arg.encode() + b"\r\n"
    sock.sendall(request)
    return sock.recv(65536)


class AccessRulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        start_servers(cls)
        named = [USER, LIMITED, ADMIN]
        cls.proxy.write_config({
            "threads": 2,
            "users": [{"name": name, "password": f"{name}-pw"}
                      for name in (TRUSTED, BLOCKED, MD5_USER, STRANGER)]
                     + [{"name": USER, "password": PASSWORD},
                        {"name": LIMITED, "password": "limited-pw", "max_client_conn": 2},
                        {"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True}],
            "limits": {"max_user_client_conn": 50},
            "access": [
                {"address": f"{OTHER_ADDRESS}/32", "method": "reject"},
                {"user": BLOCKED, "method": "reject"},
                {"listener": ["postgres", "mysql"], "user": TRUSTED, "method": "trust"},
                {"listener": "postgres", "user": MD5_USER, "method": "md5"},
                {"listener": "postgres", "cluster": "plexiproxy", "user": ADMIN,
                 "method": "scram-sha-256"},
                {"address": "127.0.0.0/8", "user": [*named, MD5_USER, BLOCKED],
                 "method": "password"},
            ],
            "clusters": clusters(cls.pg, cls.redis, cls.proxy),
        })
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy, self.pg)
        start_watchdog(self, 120, self.proxy, self.pg)

    def server_connections_of(self, user: str) -> int:
        with self.pg.connect() as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                                (user,)).fetchone()[0]

    # --- PostgreSQL -------------------------------------------------------------------------

    def test_rejected_user_gets_28000_before_any_password_and_reaches_no_server(self):
        before_servers = self.server_connections_of(USER)
        before = errors_of(self.proxy, "access_rule")
        answer = first_authentication_request(self.proxy.port, BLOCKED, DB)
        self.assertIsInstance(answer, dict, "refused before any authentication request")
        self.assertEqual(answer["C"], "28000")
        self.assertIn('user "blocked"', answer["M"])
        self.assertIn("access rules", answer["M"])
        with self.assertRaises(psycopg.OperationalError) as raised:
            connect(self.proxy.port, BLOCKED, DB, f"{BLOCKED}-pw")
        self.assertIn("access rules refuse", str(raised.exception))
        self.assertEqual(errors_of(self.proxy, "access_rule"), before + 2)
        self.assertEqual(self.server_connections_of(USER), before_servers)
        self.assertIn("refused by the access rule at line", self.proxy.log())

    def test_a_flood_of_refused_clients_is_counted_and_logged_a_few_times(self):
        """A client knocking at a closed door in a loop must not fill the log: each refusal
        is counted, a few per ten seconds are logged, and the next one logged says how many
        were not."""
        line = "refused by the access rule at line"
        before = errors_of(self.proxy, "access_rule")
        logged_before = self.proxy.log().count(line)
        for _ in range(200):
            answer = first_authentication_request(self.proxy.port, BLOCKED, DB)
            self.assertEqual(answer["C"], "28000")
        self.assertEqual(errors_of(self.proxy, "access_rule"), before + 200)
        self.assertLessEqual(self.proxy.log().count(line) - logged_before, 20)
        time.sleep(10.5)  # the interval of the daemon's throttle for these warnings
        first_authentication_request(self.proxy.port, BLOCKED, DB)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            summary = re.findall(r"\((\d+) more refused since the last one logged\)",
                                 self.proxy.log())
            if summary:
                break
            time.sleep(0.1)
        self.assertTrue(summary, "no summary of the refusals that were not logged")
        self.assertGreaterEqual(int(summary[-1]), 180)

    def test_client_no_rule_matches_is_refused(self):
        answer = first_authentication_request(self.proxy.port, STRANGER, DB)
        self.assertIsInstance(answer, dict)
        self.assertEqual(answer["C"], "28000")
        self.assertIn("no access rule matches", self.proxy.log())

    def test_rejected_address_is_refused_whoever_the_user(self):
        with WireClient(self.proxy.port, source=OTHER_ADDRESS) as client:
            client.send(startup_packet(USER, DB))
            kind, body = client.read_message()
            self.assertEqual(kind, b"E")
            fields = error_fields(body)
            self.assertEqual(fields["C"], "28000")
            self.assertIn(f'host "{OTHER_ADDRESS}"', fields["M"])
            self.assertIsNone(client.read_message(), "the connection is closed")

    def test_trust_logs_in_without_a_password(self):
        self.assertEqual(first_authentication_request(self.proxy.port, TRUSTED, "litedb"), 0)
        with connect(self.proxy.port, TRUSTED, "litedb", "not-the-password") as conn:
            self.assertEqual(conn.execute("SELECT 41 + 1").fetchone()[0], 42)

    def test_methods_choose_the_postgresql_exchange(self):
        self.assertEqual(first_authentication_request(self.proxy.port, MD5_USER, "litedb"), 5)
        self.assertEqual(first_authentication_request(self.proxy.port, USER, DB), 10)
        with connect(self.proxy.port, MD5_USER, "litedb", f"{MD5_USER}-pw") as conn:
            self.assertEqual(conn.execute("SELECT 1").fetchone()[0], 1)
        with self.assertRaises(psycopg.OperationalError) as raised:
            connect(self.proxy.port, MD5_USER, "litedb", "wrong")
        self.assertIn("password authentication failed", str(raised.exception))

    def test_admin_console_is_a_cluster_of_the_rules(self):
        self.assertEqual(first_authentication_request(self.proxy.port, ADMIN, "plexiproxy"), 10)
        with connect(self.proxy.port, ADMIN, "plexiproxy", ADMIN_PASSWORD) as console:
            self.assertTrue(console.execute("SHOW CLIENTS").fetchall())
        # Trusted on this listener, but not an administrator.
        with self.assertRaises(psycopg.OperationalError) as raised:
            connect(self.proxy.port, TRUSTED, "plexiproxy")
        self.assertIn("may not use the admin console", str(raised.exception))

    def test_allowed_user_still_needs_its_password(self):
        with connect(self.proxy.port, USER, DB, PASSWORD) as conn:
            self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], USER)
        with self.assertRaises(psycopg.OperationalError) as raised:
            connect(self.proxy.port, USER, DB, "wrong")
        self.assertIn("password authentication failed", str(raised.exception))

    # --- MySQL --------------------------------------------------------------------------------

    def test_mysql_rejected_user_gets_1045(self):
        with self.assertRaises(pymysql.err.OperationalError) as raised:
            pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=BLOCKED,
                            password=f"{BLOCKED}-pw", database="litedb", connect_timeout=10)
        self.assertEqual(raised.exception.args[0], 1045)
        self.assertIn("access rules", raised.exception.args[1])

    def test_mysql_trust_and_password(self):
        conn = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=TRUSTED,
                               password="anything", database="litedb", connect_timeout=10)
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT 6 * 7")
            self.assertEqual(cursor.fetchone()[0], 42)
        with self.assertRaises(pymysql.err.OperationalError) as raised:
            pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=LIMITED,
                            password="wrong", database="litedb", connect_timeout=10)
        self.assertEqual(raised.exception.args[0], 1045)

    def test_mysql_change_user_is_held_to_the_rules(self):
        with CClient(self.proxy.mysql_port, USER, PASSWORD, "litedb") as client:
            self.assertFalse(client.change_user(BLOCKED, f"{BLOCKED}-pw", "litedb"))
            self.assertEqual(client.errno(), 1045)
            self.assertIn("access rules", client.error())
        with CClient(self.proxy.mysql_port, USER, PASSWORD, "litedb") as client:
            self.assertTrue(client.change_user(TRUSTED, "anything", "litedb"), client.error())
            self.assertEqual(client.value("SELECT 40 + 2"), b"42")

    # --- Redis --------------------------------------------------------------------------------

    def test_redis_rejected_address_is_refused_at_connection(self):
        sock = connect_from(OTHER_ADDRESS, self.proxy.redis_port)
        with sock:
            # As redis-cli does: the command goes out before the refusal is read.
            sock.sendall(b"PING\r\n")
            answer = read_until_closed(sock)
        self.assertTrue(answer.startswith(b"-ERR plexiproxy access rules refuse"), answer)

    def test_redis_rule_naming_a_user_is_decided_at_auth(self):
        with socket.create_connection(("127.0.0.1", self.proxy.redis_port), timeout=10) as sock:
            self.assertTrue(resp_command(sock, "AUTH", BLOCKED, f"{BLOCKED}-pw")
                            .startswith(b"-NOPERM plexiproxy access rules refuse"))
            self.assertEqual(read_until_closed(sock), b"")
        with socket.create_connection(("127.0.0.1", self.proxy.redis_port), timeout=10) as sock:
            self.assertTrue(resp_command(sock, "PING").startswith(b"-NOAUTH"))
            self.assertEqual(resp_command(sock, "AUTH", USER, PASSWORD), b"+OK\r\n")
            self.assertEqual(resp_command(sock, "SET", "access:key", "v"), b"+OK\r\n")
            self.assertEqual(resp_command(sock, "AUTH", STRANGER, f"{STRANGER}-pw")[:7],
                             b"-NOPERM")

    # --- per-user limit -------------------------------------------------------------------------

    def test_user_limit_counts_clients_over_every_listener(self):
        before = errors_of(self.proxy, "max_user_client_conn")
        pg_client = connect(self.proxy.port, LIMITED, "litedb", "limited-pw")
        self.addCleanup(pg_client.close)
        mysql_client = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=LIMITED,
                                       password="limited-pw", database="litedb",
                                       connect_timeout=10)
        with socket.create_connection(("127.0.0.1", self.proxy.redis_port), timeout=10) as sock:
            self.assertEqual(resp_command(sock, "AUTH", LIMITED, "limited-pw"),
                             b"-ERR max number of clients reached\r\n")
            self.assertEqual(read_until_closed(sock), b"")
        with self.assertRaises(psycopg.OperationalError) as raised:
            connect(self.proxy.port, LIMITED, "litedb", "limited-pw")
        self.assertIn('too many connections for role "limited"', str(raised.exception))
        with self.assertRaises(pymysql.err.OperationalError) as mysql_raised:
            pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=LIMITED,
                            password="limited-pw", database="litedb", connect_timeout=10)
        self.assertEqual(mysql_raised.exception.args[0], 1203)
        self.assertEqual(errors_of(self.proxy, "max_user_client_conn"), before + 3)
        # A slot is given back when its client leaves.
        mysql_client.close()
        deadline = time.monotonic() + 5
        while True:
            try:
                with connect(self.proxy.port, LIMITED, "litedb", "limited-pw") as again:
                    self.assertEqual(again.execute("SELECT 1").fetchone()[0], 1)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


class TimeoutsTest(unittest.TestCase):
    """startup_timeout and client_idle_timeout, with a proxy of their own."""

    STARTUP_TIMEOUT = 3.0
    IDLE_TIMEOUT = 2.0
    SILENT_CLIENTS = 10_000

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        needed = cls.SILENT_CLIENTS + 1000
        if soft < needed:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
        start_servers(cls)
        cls.proxy.write_config({
            "threads": 2,
            "users": [{"name": USER, "password": PASSWORD}],
            "limits": {"startup_timeout": f"{int(cls.STARTUP_TIMEOUT * 1000)}ms",
                       "client_idle_timeout": f"{int(cls.IDLE_TIMEOUT * 1000)}ms",
                       "max_client_conn": 20000},
            "clusters": clusters(cls.pg, cls.redis, cls.proxy),
        })
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy, self.pg)
        start_watchdog(self, 180, self.proxy, self.pg)

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proxy.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def test_idle_clients_are_closed_but_not_inside_a_transaction(self):
        before = errors_of(self.proxy, "client_idle_timeout")
        idle = connect(self.proxy.port, USER, DB, PASSWORD)
        self.addCleanup(idle.close)
        idle.execute("SELECT 1")
        busy = connect(self.proxy.port, USER, DB, PASSWORD, autocommit=False)
        self.addCleanup(busy.close)
        busy.execute("SELECT 1")  # opens a transaction: the client holds a server connection
        mysql_client = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=USER,
                                       password=PASSWORD, database="litedb", connect_timeout=10)
        self.addCleanup(mysql_client.close)
        redis_client = socket.create_connection(("127.0.0.1", self.proxy.redis_port), timeout=10)
        self.addCleanup(redis_client.close)
        self.assertEqual(resp_command(redis_client, "AUTH", USER, PASSWORD), b"+OK\r\n")

        time.sleep(self.IDLE_TIMEOUT + 2.0)

        with self.assertRaises(psycopg.OperationalError) as raised:
            idle.execute("SELECT 1")
        self.assertIn("idle-session timeout", str(raised.exception))
        self.assertEqual(busy.execute("SELECT 2").fetchone()[0], 2)
        busy.commit()
        with self.assertRaises(pymysql.err.OperationalError):
            mysql_client.ping(reconnect=False)
        redis_client.settimeout(5)
        self.assertEqual(redis_client.recv(100), b"", "the Redis client was closed")
        self.assertGreaterEqual(errors_of(self.proxy, "client_idle_timeout"), before + 3)

    def test_ten_thousand_silent_connections_close_at_startup_timeout(self):
        # Warm up first, so the baseline includes what any first clients allocate.
        for _ in range(3):
            with connect(self.proxy.port, USER, DB, PASSWORD) as conn:
                conn.execute("SELECT 1")
        time.sleep(1.5)
        baseline = self.rss_kib()
        timeouts_before = errors_of(self.proxy, "startup_timeout")

        # Connected first: psycopg waits with select(), which takes descriptors below 1024.
        served = connect(self.proxy.port, USER, DB, PASSWORD)
        self.addCleanup(served.close)
        selector = selectors.DefaultSelector()
        opened = time.monotonic()
        sockets = []
        try:
            for n in range(self.SILENT_CLIENTS):
                sock = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10)
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
                sockets.append(sock)
                if n % 500 == 0:
                    # Served while they arrive (and not left idle past client_idle_timeout
                    # where opening them all is slow, as under a sanitizer).
                    self.assertEqual(served.execute("SELECT %s::int", (n,)).fetchone()[0], n)
            opening_took = time.monotonic() - opened
            peak = self.rss_kib()

            # Another client is served throughout.
            started = time.monotonic()
            for i in range(20):
                self.assertEqual(served.execute("SELECT %s::int", (i,)).fetchone()[0], i)
            self.assertLess(time.monotonic() - started, 5.0)

            open_count = len(sockets)
            closed_early = 0
            deadline = opened + opening_took + self.STARTUP_TIMEOUT + 10
            while open_count and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=1.0):
                    sock = key.fileobj
                    try:
                        data = sock.recv(4096)
                    except (ConnectionResetError, BlockingIOError):
                        data = b""
                    self.assertEqual(data, b"", "a silent client is sent nothing")
                    if time.monotonic() - opened < self.STARTUP_TIMEOUT - 0.5:
                        closed_early += 1
                    selector.unregister(sock)
                    open_count -= 1
            self.assertEqual(open_count, 0, "every silent connection is closed")
            self.assertEqual(closed_early, 0, "none before startup_timeout")
        finally:
            selector.close()
            for sock in sockets:
                sock.close()
        self.assertGreaterEqual(errors_of(self.proxy, "startup_timeout"),
                                timeouts_before + self.SILENT_CLIENTS)

        deadline = time.monotonic() + 10
        while self.rss_kib() > baseline + 8 * 1024 and time.monotonic() < deadline:
            time.sleep(0.5)
        after = self.rss_kib()
        print(f"\nRSS: baseline {baseline} KiB, with {self.SILENT_CLIENTS} silent clients "
              f"{peak} KiB, after {after} KiB")
        if not built_with_sanitizer():  # a sanitizer's allocator keeps freed memory on purpose
            self.assertLess(after, baseline + 8 * 1024, "memory returns to its baseline")
        with connect(self.proxy.port, USER, DB, PASSWORD) as conn:
            self.assertEqual(conn.execute("SELECT 1").fetchone()[0], 1)


if __name__ == "__main__":
    unittest.main()
