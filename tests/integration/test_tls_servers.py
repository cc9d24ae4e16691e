"""TLS from the proxy to its servers, for PostgreSQL, MariaDB and Redis, against servers the
harness starts with a certificate from its own CA. The certificate names 127.0.0.1 only (an
IP subjectAltName), so a backend reached as `localhost` is one whose name it does not match.

- require, verify-ca and verify-full backends serve queries, and the server says the
  connection is encrypted (pg_stat_ssl, Ssl_cipher; a Redis server here has only a TLS port,
  and the PostgreSQL and MariaDB ones refuse plain TCP).
- verify-full against a certificate for another name fails, with the reason given to the
  client and in the log; verify-ca does not check the name.
- prefer against a server without TLS works in plain text; require refuses it.
- For Redis those two failures are met first by the health check (it needs no user), which
  marks the backend down with the reason; its clients are refused.
- The health checks reach TLS backends (Redis's through the proxy's own connection, which
  hiredis 0.14 cannot do) and mark them up, and SHOW SERVERS says the idle connections use
  TLS."""

import time
import unittest

import psycopg
import pymysql
import redis

from harness import admin_console
from harness.clients import connect
from harness.mariadb import MariaDBServer, TlsMariaDBServer
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.ports import free_port
from harness.postgres import PostgresServer
from harness.redis import RedisServer
from harness.tls_certs import Certificates
from harness.watchdog import start_watchdog

USER, PASSWORD, DB = "app", "apppass", "appdb"
ADMIN, ADMIN_PASSWORD = "ops", "ops-secret"
TEST_DEADLINE = 90
HEALTH = {"interval": "200ms", "timeout": "2s", "fall": 1, "rise": 1}
MISMATCH = "server certificate verify failed: hostname mismatch"
NO_TLS = "server does not support TLS (backend tls: require)"

certs: Certificates | None = None
cert_files: tuple = ()  # (certificate, key, CA certificate) of the servers


def setUpModule():
    global certs, cert_files
    certs = Certificates()
    cert, key = certs.server(name="plexiproxy test server", alt_names="IP:127.0.0.1")
    cert_files = (cert, key, certs.ca_cert)


def tearDownModule():
    certs.close()


# Every test class's clusters, one backend each: the server it reaches ("tls" or "plain"),
# the host it names that server by, and its tls mode.
CLUSTERS = {
    "required": ("tls", "127.0.0.1", "require"),
    "verified": ("tls", "127.0.0.1", "verify-full"),
    "by_ca": ("tls", "localhost", "verify-ca"),
    "wrong_name": ("tls", "localhost", "verify-full"),
    "plain": ("plain", "127.0.0.1", "prefer"),
    "plain_required": ("plain", "127.0.0.1", "require"),
}
# A check that fails marks its backend down, and then a client hears only that there is no
# backend to use. These clusters' SQL backends name no user (so the relay logs in as the
# client and, with no health.user, nothing checks them): their clients get the relay's own
# error. A Redis check needs no user: those clusters' backends are checked.
FAILING = {"wrong_name", "plain_required"}


def tls_settings(mode: str) -> dict:
    """A backend's tls keys for `mode`: the CA file where the mode reads one."""
    settings = {"tls": mode}
    if mode.startswith("verify"):
        settings["tls_ca_file"] = str(certs.ca_cert)
    return settings


class TlsServersTestCase(unittest.TestCase):
    """A proxy with CLUSTERS in front of a server with TLS and one without."""

    proxy: Plexiproxy
    servers: tuple = ()

    def setUp(self):
        start_watchdog(self, TEST_DEADLINE, self.proxy, *self.servers)
        self.addCleanup(print_log_if_failed, self, self.proxy, *self.servers)

    @classmethod
    def start_proxy(cls, cluster, user: str = USER, password: str = PASSWORD) -> None:
        """Starts the proxy with cluster(name, server, host, settings) for CLUSTERS, where
        settings are the backend's tls keys and, outside FAILING, `user` as its username;
        clients log in to the proxy as `user`."""
        servers = {"tls": cls.tls_server, "plain": cls.plain_server}
        clusters = {}
        for name, (kind, host, mode) in CLUSTERS.items():
            settings = tls_settings(mode)
            if name not in FAILING:
                settings.update(username=user, password=password)
            clusters[name] = cluster(name, servers[kind], host, settings)
        cls.proxy = Plexiproxy({
            "threads": 2,
            "users": [{"name": user, "password": password},
                      {"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True}],
            "health": HEALTH,
            "clusters": clusters,
        })
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)  # runs first: a clean exit is part of the test

    def show(self, what: str) -> list[dict]:
        return admin_console.show(self.proxy, ADMIN, ADMIN_PASSWORD, what)

    def wait_for_state(self, cluster: str, state: str) -> dict:
        """The cluster's backend's row of SHOW BACKENDS once the checks give it `state`."""
        return admin_console.wait_for_state(self, self.proxy, ADMIN, ADMIN_PASSWORD, state,
                                            cluster=cluster)

    def assert_checked_up(self) -> None:
        """The health checks mark the backends up, all but FAILING's."""
        for cluster in CLUSTERS.keys() - FAILING:
            with self.subTest(cluster=cluster):
                self.wait_for_state(cluster, "up")

    def assert_logged(self, text: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.proxy.log():
            if time.monotonic() > deadline:
                self.fail(f"'{text}' not in the proxy's log")
            time.sleep(0.1)

    def assert_idle_connections_use_tls(self, cluster: str, expected: str) -> None:
        rows = [row for row in self.show("SERVERS")
                if row["cluster"] == cluster and row["state"] == "idle"]
        self.assertTrue(rows, self.show("SERVERS"))
        self.assertEqual({row["tls"] for row in rows}, {expected})


class PostgresTlsTest(TlsServersTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tls_server = cls.app_server(PostgresServer(ssl_files=cert_files[:2], ssl_only=True))
        cls.plain_server = cls.app_server(PostgresServer())
        cls.servers = (cls.tls_server, cls.plain_server)

        cls.start_proxy(lambda name, server, host, settings: {
            "backends": [{"name": "pg", "host": host, "port": server.port, "database": DB,
                          "pool_size": 2, **settings}]})

    @classmethod
    def app_server(cls, server: PostgresServer) -> PostgresServer:
        cls.addClassCleanup(server.close)
        server.start()
        server.create_user(USER, PASSWORD)
        server.create_database(DB, owner=USER)
        return server

    def connect(self, cluster: str) -> psycopg.Connection:
        conn = connect(self.proxy.port, USER, cluster, PASSWORD)
        self.addCleanup(conn.close)
        return conn

    def server_ssl(self, cluster: str) -> tuple:
        """What the server says of the connection a query through `cluster` ran on."""
        return self.connect(cluster).execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()

    def test_require_and_verify_connect_with_tls(self):
        for cluster in ("required", "verified", "by_ca"):
            with self.subTest(cluster=cluster):
                encrypted, version = self.server_ssl(cluster)
                self.assertTrue(encrypted)
                self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
        self.assert_idle_connections_use_tls("required", "yes")

    def test_prefer_is_plain_text_against_a_server_without_tls(self):
        self.assertEqual(self.server_ssl("plain"), (False, None))
        self.assert_idle_connections_use_tls("plain", "no")

    def test_verify_full_refuses_a_certificate_for_another_name(self):
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.connect("wrong_name").execute("SELECT 1")
        self.assertIn(MISMATCH, str(caught.exception))
        self.assert_logged(MISMATCH)

    def test_require_refuses_a_server_without_tls(self):
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.connect("plain_required").execute("SELECT 1")
        self.assertIn(NO_TLS, str(caught.exception))

    def test_health_checks_use_tls_and_mark_the_backends_up(self):
        self.assert_checked_up()
        checks = self.tls_server.execute(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
            " WHERE a.application_name = 'plexiproxy health check'")
        self.assertTrue(checks)
        self.assertEqual({row[0] for row in checks}, {True})


class MysqlTlsTest(TlsServersTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tls_server = TlsMariaDBServer(cert_files, ssl_only=True)
        cls.plain_server = MariaDBServer()
        for server in (cls.tls_server, cls.plain_server):
            cls.addClassCleanup(server.close)
            server.start()
        cls.servers = (cls.tls_server, cls.plain_server)

        cls.start_proxy(lambda name, server, host, settings: {
            "protocol": "mysql",
            "backends": [{"name": "my", "type": "mysql", "host": host, "port": server.port,
                          "database": server.database, "pool_size": 2, **settings}]},
            cls.tls_server.app_user, cls.tls_server.app_password)

    def connect(self, cluster: str) -> pymysql.connections.Connection:
        conn = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port,
                               user=self.tls_server.app_user,
                               password=self.tls_server.app_password, database=cluster,
                               autocommit=True,
                               connect_timeout=10, read_timeout=30)
        self.addCleanup(conn.close)
        return conn

    def cipher(self, cluster: str) -> str:
        """Ssl_cipher of the server connection a statement through `cluster` ran on."""
        with self.connect(cluster).cursor() as cursor:
            cursor.execute("SHOW STATUS LIKE 'Ssl_cipher'")
            return cursor.fetchone()[1]

    def test_require_and_verify_connect_with_tls(self):
        for cluster in ("required", "verified", "by_ca"):
            with self.subTest(cluster=cluster):
                self.assertTrue(self.cipher(cluster))
        self.assert_idle_connections_use_tls("required", "yes")

    def test_prefer_is_plain_text_against_a_server_without_tls(self):
        self.assertEqual(self.cipher("plain"), "")
        self.assert_idle_connections_use_tls("plain", "no")

    def test_verify_full_refuses_a_certificate_for_another_name(self):
        with self.assertRaises(pymysql.err.MySQLError) as caught:
            self.cipher("wrong_name")
        self.assertIn(MISMATCH, str(caught.exception))
        self.assert_logged(MISMATCH)

    def test_require_refuses_a_server_without_tls(self):
        with self.assertRaises(pymysql.err.MySQLError) as caught:
            self.cipher("plain_required")
        self.assertIn(NO_TLS, str(caught.exception))

    def test_health_checks_use_tls_and_mark_the_backends_up(self):
        self.assert_checked_up()
        # The server refuses plain TCP, so the checks logged in over TLS.
        checks = self.tls_server.execute(
            "SELECT COUNT(*) FROM information_schema.processlist WHERE user = %s",
            (self.tls_server.app_user,))
        self.assertGreater(checks[0][0], 0)


class RedisTlsTest(TlsServersTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tls_server = RedisServer(tls_files=cert_files)
        cls.plain_server = RedisServer()
        for server in (cls.tls_server, cls.plain_server):
            cls.addClassCleanup(server.close)
            server.start()
        cls.servers = (cls.tls_server, cls.plain_server)
        # A Redis client names no cluster: each has a listener of its own.
        cls.ports = {name: free_port() for name in CLUSTERS}
        # The servers have no password: the backends log in as nobody.
        cls.start_proxy(lambda name, server, host, settings: {
            "protocol": "redis", "listen": f"127.0.0.1:{cls.ports[name]}",
            "backends": [{"name": "r", "type": "redis", "host": host, "port": server.port,
                          **{key: settings[key] for key in settings if key.startswith("tls")}}]})

    def client(self, cluster: str) -> redis.Redis:
        client = redis.Redis(host="127.0.0.1", port=self.ports[cluster], username=USER,
                             password=PASSWORD, socket_timeout=10, decode_responses=True)
        self.addCleanup(client.close)
        return client

    def test_require_and_verify_reach_the_tls_port(self):
        for cluster in ("required", "verified", "by_ca"):
            with self.subTest(cluster=cluster):
                client = self.client(cluster)
                self.assertTrue(client.set(f"key-{cluster}", "over tls"))
                self.assertEqual(client.get(f"key-{cluster}"), "over tls")
        # The server has no plain port: what the proxy wrote came over TLS.
        with self.tls_server.client() as direct:
            self.assertEqual(direct.get("key-verified"), "over tls")

    def test_prefer_is_plain_text_for_redis(self):
        client = self.client("plain")
        self.assertTrue(client.set("key-plain", "plain"))
        with self.plain_server.client() as direct:
            self.assertEqual(direct.get("key-plain"), "plain")

    # The check of a Redis backend that fails TLS marks it down (a Redis check needs no
    # user, see FAILING): the reason is in SHOW BACKENDS and the log, and clients are refused.
    def test_verify_full_refuses_a_certificate_for_another_name(self):
        self.assertIn(MISMATCH, self.wait_for_state("wrong_name", "down")["last_error"])
        self.assert_logged(MISMATCH)
        with self.assertRaises(redis.exceptions.ResponseError):
            self.client("wrong_name").get("anything")

    def test_require_refuses_a_server_without_tls(self):
        # A plain Redis server takes a TLS ClientHello for an unfinished command and waits.
        self.wait_for_state("plain_required", "down")
        with self.assertRaises(redis.exceptions.ResponseError):
            self.client("plain_required").get("anything")

    def test_health_checks_reach_tls_backends(self):
        self.assert_checked_up()


if __name__ == "__main__":
    unittest.main()
