"""TLS between clients and plexiproxy on its three listeners, with certificates the harness
makes with openssl:
- PostgreSQL: psql with sslmode=verify-full, psycopg with sslmode=require, the admin console,
  PostgreSQL 17's direct TLS (ALPN "postgresql"), cancel requests over TLS, a plain client
  refused under `require` with FATAL 28000 "SSL required", `auth: cert` logins by a client
  certificate's common name; the same through a real PostgreSQL relay backend;
- MySQL: the mariadb client with --ssl-verify-server-cert, PyMySQL with ssl for both auth
  plugins (caching_sha2_password's full authentication sends the password over TLS), a plain
  client refused with 3159;
- Redis: redis-cli --tls --cacert and redis-py with ssl=True against a real redis-server; a
  plain client closed under `require`;
- `allow`: plain and TLS clients side by side on every listener;
- garbage instead of a handshake closes that connection only; handshakes are counted;
- certificate reload on SIGHUP: new connections get the new certificate, open ones go on; a
  broken certificate keeps the old one; --check-config refuses an unreadable key."""

import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest

import psycopg
import pymysql
import redis
from psycopg import errors

from harness.clients import psql
from harness.plexiproxy import (Plexiproxy, binary, daemon_environment, metric,
                                print_log_if_failed)
from harness.redis import REDIS_CLI, RedisServer
from harness.relay import DB, PASSWORD, USER, app_server, relay_config
from harness.tls_certs import Certificates
from harness.watchdog import start_watchdog

import test_pg_relay

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"
CERT_USER = "certified"  # logs in with a client certificate (auth: cert)
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def sqlite_clusters(proxy: Plexiproxy) -> dict:
    """One SQLite database, served on the PostgreSQL and MySQL listeners."""
    return {"appdb": {"backends": [{"type": "sqlite", "path": str(proxy.dir / "app.db")}]}}


def users() -> list[dict]:
    return [{"name": USER, "password": PASSWORD},
            {"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True},
            {"name": CERT_USER, "auth": "cert"}]


def tls_section(certs: Certificates, mode: str, cert_file=None, key_file=None) -> dict:
    cert, key = (cert_file, key_file) if cert_file else (certs.dir / "server.crt",
                                                         certs.dir / "server.key")
    return {"client": mode, "cert_file": str(cert), "key_file": str(key),
            "ca_file": str(certs.ca_cert)}


def client_context(certs: Certificates, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca_cert))
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def startup_packet(user: str, database: str) -> bytes:
    body = struct.pack("!i", 196608)
    for key, value in (("user", user), ("database", database)):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def read_all(sock, timeout: float = 5.0) -> bytes:
    """What the peer sends until it closes the connection (or goes quiet)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (socket.timeout, ConnectionResetError, ssl.SSLError):
        pass
    return received


def read_until_closed(sock, timeout: float = 5.0) -> bytes | None:
    """What the peer sends before it closes the connection; None when it keeps it open."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return received


def handshakes(proxy: Plexiproxy, protocol: str, result: str) -> float:
    return metric(proxy, f'plexiproxy_client_tls_handshakes_total{{protocol="{protocol}",'
                         f'result="{result}"}}')


class TlsTestCase(unittest.TestCase):
    """A CA and a server certificate for the whole class, removed afterwards."""

    @classmethod
    def make_certificates(cls) -> Certificates:
        certs = Certificates()
        cls.addClassCleanup(certs.close)
        certs.server()
        certs.client(CERT_USER)
        certs.client("someone-else")
        return certs

    @classmethod
    def start_proxy(cls, mode: str, **extra) -> None:
        """A proxy with tls.client `mode`: SQLite behind the PostgreSQL and MySQL listeners, a
        real redis-server behind the Redis one."""
        cls.certs = cls.make_certificates()
        cls.redis = RedisServer().start()
        cls.addClassCleanup(cls.redis.close)
        cls.proxy = Plexiproxy()
        cls.addClassCleanup(cls.proxy.close)
        clusters = sqlite_clusters(cls.proxy)
        clusters["cache"] = {"protocol": "redis", "backends": [
            {"type": "redis", "host": cls.redis.host, "port": cls.redis.port}]}
        cls.proxy.write_config({"tls": tls_section(cls.certs, mode), "users": users(),
                                "clusters": clusters, **extra})
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy)
        start_watchdog(self, 120, self.proxy)

    def pg(self, **options) -> psycopg.Connection:
        options = {"host": "127.0.0.1", "port": self.proxy.port, "user": USER,
                   "password": PASSWORD, "dbname": "appdb", "connect_timeout": 10,
                   "sslmode": "verify-full", "sslrootcert": str(self.certs.ca_cert),
                   "autocommit": True, **options}
        conn = psycopg.connect(**options)
        self.addCleanup(conn.close)
        return conn

    def show_clients(self) -> list[dict]:
        with self.pg(user=ADMIN, password=ADMIN_PASSWORD, dbname="plexiproxy") as admin:
            cur = admin.execute("SHOW CLIENTS")
            names = [column.name for column in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]


class RequireTest(TlsTestCase):
    """tls.client: require."""

    @classmethod
    def setUpClass(cls):
        cls.start_proxy("require")

    # ------------------------------------------------------------ PostgreSQL

    def test_psql_verify_full(self):
        conninfo = (f"dbname=appdb sslmode=verify-full sslrootcert={self.certs.ca_cert}")
        result = psql(self.proxy.port, USER, conninfo, PASSWORD, "-A", "-t", "-c",
                      "SELECT 40 + 2")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "42")

    def test_psycopg_require_and_show_clients(self):
        conn = self.pg(sslmode="require")
        self.assertTrue(conn.pgconn.ssl_in_use)
        self.assertEqual(conn.execute("SELECT 7").fetchone(), (7,))
        mine = [c for c in self.show_clients() if c["user"] == USER]
        self.assertEqual(len(mine), 1)
        self.assertIn(mine[0]["tls"], ("TLSv1.2", "TLSv1.3"))
        self.assertGreater(handshakes(self.proxy, "postgres", "ok"), 0)

    def test_plain_client_refused(self):
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.pg(sslmode="disable")
        self.assertIn("SSL required", str(caught.exception))
        # The SQLSTATE, read off the wire as psycopg does not keep it for a failed login.
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5) as sock:
            sock.sendall(startup_packet(USER, "appdb"))
            reply = read_all(sock)
        self.assertEqual(reply[:1], b"E")
        self.assertIn(b"C28000\0", reply)
        self.assertIn(b"MSSL required\0", reply)
        self.assertGreater(metric(self.proxy, 'plexiproxy_errors_total{kind="tls_required"}'), 0)

    def test_certificate_login(self):
        stem = self.certs.dir / f"client-{CERT_USER}"
        conn = self.pg(user=CERT_USER, password="", sslcert=f"{stem}.crt", sslkey=f"{stem}.key")
        self.assertEqual(conn.execute("SELECT 1").fetchone(), (1,))
        # Without a certificate, or with one naming someone else, there is no login.
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.pg(user=CERT_USER, password="")
        self.assertIn("valid client certificate", str(caught.exception))
        other = self.certs.dir / "client-someone-else"
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.pg(user=CERT_USER, password="", sslcert=f"{other}.crt", sslkey=f"{other}.key")
        self.assertIn("certificate authentication failed", str(caught.exception))

    def test_direct_tls_needs_alpn(self):
        context = client_context(self.certs, alpn=["postgresql"])
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as sock:
                self.assertEqual(sock.selected_alpn_protocol(), "postgresql")
                sock.sendall(startup_packet(USER, "appdb"))
                sock.settimeout(5)
                reply = sock.recv(1024)
        # AuthenticationSASL: the login goes on over TLS.
        self.assertEqual(reply[:1], b"R")
        self.assertEqual(struct.unpack("!i", reply[5:9])[0], 10)
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5) as raw:
            with client_context(self.certs).wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(startup_packet(USER, "appdb"))
                reply = read_all(sock)
        self.assertIn(b"ALPN", reply)

    def test_garbage_instead_of_handshake(self):
        failed = handshakes(self.proxy, "postgres", "failed")
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5) as sock:
            sock.sendall(SSL_REQUEST)
            self.assertEqual(sock.recv(1), b"S")
            sock.sendall(b"\x16\x03\x01\x00\x05hello" + bytes(range(256)) * 4)
            reply = read_until_closed(sock)
        # Closed, with at most a TLS alert record (type 0x15) before.
        self.assertIsNotNone(reply)
        self.assertIn(reply[:1], (b"", b"\x15"))
        with socket.create_connection(("127.0.0.1", self.proxy.mysql_port), timeout=5) as sock:
            sock.recv(1024)  # the greeting
            # An SSL request (protocol 4.1, SSL, secure connection, plugin auth), then no TLS.
            capabilities = 0x200 | 0x800 | 0x8000 | 0x80000
            sock.sendall(b"\x20\x00\x00\x01" + struct.pack("<IIB", capabilities, 1 << 24, 45)
                         + bytes(23))
            sock.sendall(b"not a client hello at all\r\n" * 10)
            reply = read_until_closed(sock)
        self.assertIsNotNone(reply)
        self.assertIn(reply[:1], (b"", b"\x15"))
        self.assertGreaterEqual(handshakes(self.proxy, "postgres", "failed"), failed + 1)
        self.assertGreaterEqual(handshakes(self.proxy, "mysql", "failed"), 1)
        # Everyone else is served as before.
        self.assertEqual(self.pg().execute("SELECT 2").fetchone(), (2,))
        with self.redis_client() as r:
            self.assertTrue(r.ping())

    # ------------------------------------------------------------ MySQL

    def mysql(self, **options) -> pymysql.connections.Connection:
        options = {"host": "127.0.0.1", "port": self.proxy.mysql_port, "user": USER,
                   "password": PASSWORD, "database": "appdb", "connect_timeout": 10,
                   "ssl": {"ca": str(self.certs.ca_cert)}, "autocommit": True, **options}
        conn = pymysql.connect(**options)
        self.addCleanup(conn.close)
        return conn

    def test_mariadb_client_ssl(self):
        stranger = Certificates("another CA")
        self.addCleanup(stranger.close)

        def run(ca) -> subprocess.CompletedProcess:
            return subprocess.run(
                ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P",
                 str(self.proxy.mysql_port), "-u", USER, f"-p{PASSWORD}", "--ssl",
                 f"--ssl-ca={ca}", "--ssl-verify-server-cert", "-N", "-B", "appdb", "-e",
                 "SELECT 40 + 3"],
                capture_output=True, text=True, timeout=30)

        out = run(self.certs.ca_cert)
        self.assertEqual((out.returncode, out.stdout.split()), (0, ["43"]), out.stderr)
        # The certificate is checked: against another CA the client refuses the proxy.
        out = run(stranger.ca_cert)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("SSL", out.stderr)

    def test_pymysql_both_plugins(self):
        class Sha2Connection(pymysql.connections.Connection):
            def _get_server_information(self):
                super()._get_server_information()
                self._auth_plugin_name = "caching_sha2_password"

        conn = self.mysql()
        with conn.cursor() as cur:
            cur.execute("SELECT 5")
            self.assertEqual(cur.fetchone(), (5,))
        # A fresh password, so the first login cannot take caching_sha2's fast path: the full
        # authentication, with the password in clear inside TLS.
        for password, works in ((PASSWORD, True), ("wrong", False)):
            with self.subTest(password=password):
                connect = lambda: Sha2Connection(
                    host="127.0.0.1", port=self.proxy.mysql_port, user=USER, password=password,
                    database="appdb", ssl={"ca": str(self.certs.ca_cert)}, connect_timeout=10)
                if works:
                    with connect() as sha2:
                        with sha2.cursor() as cur:
                            cur.execute("SELECT 6")
                            self.assertEqual(cur.fetchone(), (6,))
                else:
                    with self.assertRaises(pymysql.err.OperationalError) as caught:
                        connect()
                    self.assertEqual(caught.exception.args[0], 1045)
        clients = [c for c in self.show_clients() if c["user"] == USER and c["address"]]
        self.assertTrue(any(c["tls"] for c in clients))

    def test_mysql_plain_client_refused(self):
        with self.assertRaises(pymysql.err.OperationalError) as caught:
            self.mysql(ssl=None)
        self.assertEqual(caught.exception.args[0], 3159)

    def test_mysql_certificate_login(self):
        cert = self.certs.dir / f"client-{CERT_USER}"
        conn = self.mysql(user=CERT_USER, password="",
                          ssl={"ca": str(self.certs.ca_cert), "cert": f"{cert}.crt",
                               "key": f"{cert}.key"})
        with conn.cursor() as cur:
            cur.execute("SELECT 8")
            self.assertEqual(cur.fetchone(), (8,))
        with self.assertRaises(pymysql.err.OperationalError) as caught:
            self.mysql(user=CERT_USER, password="")
        self.assertEqual(caught.exception.args[0], 1045)

    # ------------------------------------------------------------ Redis

    def redis_client(self, **options) -> redis.Redis:
        options = {"host": "127.0.0.1", "port": self.proxy.redis_port, "username": USER,
                   "password": PASSWORD, "socket_timeout": 10, "decode_responses": True,
                   "ssl": True, "ssl_ca_certs": str(self.certs.ca_cert), **options}
        return redis.Redis(**options)

    def test_redis_cli_tls(self):
        base = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.proxy.redis_port), "--user", USER,
                "--pass", PASSWORD, "--no-auth-warning", "--tls", "--cacert",
                str(self.certs.ca_cert)]
        run = lambda *args: subprocess.run([*base, *args], capture_output=True, text=True,
                                           timeout=30)
        self.assertEqual(run("SET", "tls-key", "over tls").stdout.strip(), "OK")
        self.assertEqual(run("GET", "tls-key").stdout.strip(), "over tls")
        with self.redis.client() as direct:
            self.assertEqual(direct.get("tls-key"), "over tls")

    def test_redis_py_ssl_pipeline(self):
        with self.redis_client() as r:
            with r.pipeline(transaction=False) as pipe:
                for i in range(500):
                    pipe.set(f"k{i}", "v" * i)
                pipe.execute()
            self.assertEqual(r.mget([f"k{i}" for i in range(0, 500, 100)]),
                             ["v" * i for i in range(0, 500, 100)])
        self.assertGreater(handshakes(self.proxy, "redis", "ok"), 0)

    def test_redis_certificate_login(self):
        stem = self.certs.dir / f"client-{CERT_USER}"
        with self.redis_client(username=CERT_USER, password="any",
                               ssl_certfile=f"{stem}.crt", ssl_keyfile=f"{stem}.key") as r:
            self.assertTrue(r.ping())
        # Without the certificate no password opens it, not even the empty one.
        for password in ("", "any"):
            with self.assertRaisesRegex(redis.RedisError, "WRONGPASS"):
                with self.redis_client(username=CERT_USER, password=password) as r:
                    r.ping()

    def test_redis_plain_client_closed(self):
        with self.assertRaises(redis.ConnectionError):
            with self.redis_client(ssl=False, socket_timeout=5) as r:
                r.ping()


class AllowTest(TlsTestCase):
    """tls.client: allow: plain and TLS clients side by side, on every listener."""

    @classmethod
    def setUpClass(cls):
        cls.start_proxy("allow", limits={"startup_timeout": "1s"})

    def test_plain_and_tls_side_by_side(self):
        secure = self.pg(application_name="secure")
        plain = self.pg(sslmode="disable", application_name="plain")
        self.assertTrue(secure.pgconn.ssl_in_use)
        self.assertFalse(plain.pgconn.ssl_in_use)
        for conn in (secure, plain):
            self.assertEqual(conn.execute("SELECT 3").fetchone(), (3,))
        for ssl_options in ({"ca": str(self.certs.ca_cert)}, None):
            with pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=USER,
                                 password=PASSWORD, database="appdb", ssl=ssl_options,
                                 connect_timeout=10) as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT 4")
                    self.assertEqual(cur.fetchone(), (4,))
        for options in ({"ssl": True, "ssl_ca_certs": str(self.certs.ca_cert)}, {}):
            with redis.Redis(host="127.0.0.1", port=self.proxy.redis_port, username=USER,
                             password=PASSWORD, socket_timeout=10, **options) as r:
                self.assertTrue(r.set("allow", "1"))
                self.assertEqual(r.get("allow"), b"1")
        # A plain Redis client may be silent before its first request for longer than the
        # startup timeout, as without TLS: the sniff for a handshake does not close it.
        with socket.create_connection(("127.0.0.1", self.proxy.redis_port), timeout=5) as sock:
            time.sleep(1.5)
            sock.sendall(f"AUTH {USER} {PASSWORD}\r\n".encode())
            self.assertEqual(sock.recv(64), b"+OK\r\n")
        tls = {c["application_name"]: c["tls"] for c in self.show_clients()
               if c["application_name"] in ("secure", "plain")}
        self.assertIn(tls["secure"], ("TLSv1.2", "TLSv1.3"))
        self.assertIsNone(tls["plain"])


class AccessRulesTlsTest(TlsTestCase):
    """Access rules that depend on TLS: a rule for plain clients only (as pg_hba.conf's
    hostnossl), and the cert method for a user whose config holds a password."""

    OTHER = "someone-else"  # has a password in users:, but the rules want its certificate

    @classmethod
    def setUpClass(cls):
        cls.start_proxy("allow",
                        users=users() + [{"name": cls.OTHER, "password": "unused-pw"}],
                        access=[{"tls": False, "user": USER, "method": "reject"},
                                {"user": cls.OTHER, "method": "cert"},
                                {"method": "password"}])

    def test_plain_clients_only_rule(self):
        self.assertEqual(self.pg(sslmode="require").execute("SELECT 1").fetchone(), (1,))
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.pg(sslmode="disable")
        self.assertIn("access rules refuse", str(caught.exception))
        self.assertIn("no TLS", str(caught.exception))

    def test_cert_method_wants_the_certificate_not_the_password(self):
        stem = self.certs.dir / f"client-{self.OTHER}"
        conn = self.pg(user=self.OTHER, password="", sslcert=f"{stem}.crt",
                       sslkey=f"{stem}.key")
        self.assertEqual(conn.execute("SELECT 2").fetchone(), (2,))
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.pg(user=self.OTHER, password="unused-pw")
        self.assertIn("requires a valid client certificate", str(caught.exception))
        cert = self.certs.dir / f"client-{CERT_USER}"
        with self.assertRaises(psycopg.OperationalError):
            self.pg(user=self.OTHER, password="unused-pw", sslcert=f"{cert}.crt",
                    sslkey=f"{cert}.key")


class RelayTlsTest(TlsTestCase):
    """A real PostgreSQL server behind the proxy: TLS between client and proxy, the relay's
    traffic unchanged; a cancel request sent over TLS stops the query."""

    @classmethod
    def setUpClass(cls):
        cls.certs = cls.make_certificates()
        cls.pg_server = app_server(cls)
        cls.proxy = Plexiproxy(relay_config(cls.pg_server, tls=tls_section(cls.certs, "require"),
                                            users=users()))
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def test_queries_through_the_relay(self):
        conn = self.pg(dbname=DB)
        self.assertTrue(conn.pgconn.ssl_in_use)
        conn.execute("CREATE TABLE IF NOT EXISTS tls_rows (id int, t text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO tls_rows VALUES (%s, %s)",
                            [(i, "x" * i) for i in range(200)])
        big = conn.execute("SELECT string_agg(t, '') FROM tls_rows").fetchone()[0]
        self.assertEqual(len(big), sum(range(200)))
        self.assertEqual(self.pg_server.execute("SELECT count(*) FROM tls_rows",
                                                dbname=DB), [(200,)])
        conn.execute("DROP TABLE tls_rows")

    def tls_socket(self, cert_user: str | None = None) -> ssl.SSLSocket:
        """A connection to the PostgreSQL listener past SSLRequest and the handshake."""
        context = client_context(self.certs)
        if cert_user:
            stem = self.certs.dir / f"client-{cert_user}"
            context.load_cert_chain(f"{stem}.crt", f"{stem}.key")
        raw = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10)
        raw.sendall(SSL_REQUEST)
        self.assertEqual(raw.recv(1), b"S")
        sock = context.wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(sock.close)
        return sock

    def test_cancel_over_tls(self):
        # A client logged in by its certificate needs no SCRAM here; libpq would not show
        # the cancel key, and its own cancel request goes in clear.
        sock = self.tls_socket(CERT_USER)
        sock.sendall(startup_packet(CERT_USER, DB))
        key, received = None, b""
        while not received.endswith(b"Z\0\0\0\x05I"):
            chunk = sock.recv(65536)
            self.assertTrue(chunk, received)
            received += chunk
        at = 0
        while at < len(received):
            kind, length = received[at:at + 1], struct.unpack("!i", received[at + 1:at + 5])[0]
            if kind == b"K":
                key = struct.unpack("!ii", received[at + 5:at + 13])
            at += 1 + length
        self.assertIsNotNone(key)
        query = b"SELECT pg_sleep(30)\0"
        started = time.monotonic()
        sock.sendall(b"Q" + struct.pack("!i", len(query) + 4) + query)
        time.sleep(0.5)
        canceller = self.tls_socket()
        canceller.sendall(struct.pack("!iiii", 16, 80877102, *key))
        read_all(canceller)
        reply = b""
        while b"Z\0\0\0\x05" not in reply:
            chunk = sock.recv(65536)
            self.assertTrue(chunk, reply)
            reply += chunk
        self.assertIn(b"C57014\0", reply)  # query_canceled
        self.assertLess(time.monotonic() - started, 15)


class RelayProtocolOverTlsTest(test_pg_relay.RelayProtocolTest):
    """test_pg_relay's protocol tests again with TLS offered: libpq's default sslmode, prefer,
    takes it, so psql and every psycopg client run COPY, large rows, cursors, pipelines,
    notices and LISTEN/NOTIFY over TLS, through the relay's readiness waits on a TLS stream
    (the proxy's own connections to the server stay plain)."""

    @classmethod
    def setUpClass(cls):
        certs = Certificates()
        cls.addClassCleanup(certs.close)
        certs.server()
        cls.proxy_extra = {"tls": tls_section(certs, "allow")}
        super().setUpClass()

    def test_clients_use_tls(self):
        self.assertTrue(self.connect().pgconn.ssl_in_use)


class ReloadTest(TlsTestCase):
    """Certificates replaced on disk and SIGHUP: new connections get the new certificate,
    connections already open go on; a broken pair keeps the old certificate."""

    @classmethod
    def setUpClass(cls):
        cls.certs = cls.make_certificates()
        cls.live_cert = cls.certs.dir / "live.crt"
        cls.live_key = cls.certs.dir / "live.key"
        cls.install("server")
        cls.proxy = Plexiproxy()
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.write_config({
            "tls": tls_section(cls.certs, "require", cls.live_cert, cls.live_key),
            "users": users(), "clusters": sqlite_clusters(cls.proxy)})
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    @classmethod
    def install(cls, stem: str) -> None:
        cls.live_cert.write_bytes((cls.certs.dir / f"{stem}.crt").read_bytes())
        cls.live_key.write_bytes((cls.certs.dir / f"{stem}.key").read_bytes())

    def served_certificate(self) -> bytes:
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5) as raw:
            raw.sendall(SSL_REQUEST)
            self.assertEqual(raw.recv(1), b"S")
            with client_context(self.certs).wrap_socket(raw, server_hostname="localhost") as sock:
                return sock.getpeercert(binary_form=True)

    def der(self, stem: str) -> bytes:
        return ssl.PEM_cert_to_DER_cert((self.certs.dir / f"{stem}.crt").read_text())

    def reload_and_wait(self, reloads_before: float, result: str) -> None:
        self.proxy.reload()
        key = f'plexiproxy_config_reloads_total{{result="{result}"}}'
        deadline = time.monotonic() + 10
        while metric(self.proxy, key) <= reloads_before:
            self.assertLess(time.monotonic(), deadline, f"no {result} reload")
            time.sleep(0.05)

    def test_reload_swaps_certificate_without_dropping_connections(self):
        self.assertEqual(self.served_certificate(), self.der("server"))
        old = self.pg()
        self.assertEqual(old.execute("SELECT 1").fetchone(), (1,))

        self.certs.server("renewed", name="plexiproxy renewed")
        self.install("renewed")
        ok = metric(self.proxy, 'plexiproxy_config_reloads_total{result="success"}')
        self.reload_and_wait(ok, "success")
        self.assertEqual(self.served_certificate(), self.der("renewed"))
        self.assertEqual(old.execute("SELECT 2").fetchone(), (2,))  # still open, still TLS
        self.assertTrue(old.pgconn.ssl_in_use)

        # A key that is not the certificate's: the reload is refused, the renewed one stays.
        self.live_key.write_bytes((self.certs.dir / "server.key").read_bytes())
        failed = metric(self.proxy, 'plexiproxy_config_reloads_total{result="failure"}')
        self.reload_and_wait(failed, "failure")
        self.assertEqual(self.served_certificate(), self.der("renewed"))
        self.assertIn("is not the key of", self.proxy.log())
        self.install("renewed")

    def test_check_config_refuses_unreadable_files(self):
        config = self.proxy.config_path.read_text().replace(str(self.live_key),
                                                            str(self.certs.dir / "missing.key"))
        path = self.proxy.dir / "broken.yaml"
        path.write_text(config)
        out = subprocess.run([binary(), "--check-config", "--config", str(path)],
                             capture_output=True, text=True, timeout=30,
                             env=daemon_environment())
        self.assertEqual(out.returncode, 1)
        self.assertIn("tls.key_file", out.stdout + out.stderr)
        self.assertIn("missing.key", out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()
