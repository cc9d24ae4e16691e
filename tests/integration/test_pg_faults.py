"""plexiproxy under faults: the PostgreSQL server dying under connected clients, a server
that accepts connections but never answers a login, clients sending garbage or oversized
messages, and logins that must be refused with the right SQLSTATE."""

import base64
import hashlib
import hmac
import os
import signal
import socket
import struct
import threading
import time
import unittest

import psycopg

from harness.faulty_link import FaultyLink
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.relay import DB, PASSWORD, USER, RelayTestCase, app_server
from harness.wire import WireClient, error_fields, login_error, message

TWO_GIB = 0x80000000


def scram_secret(password: str) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL would store for password."""
    salt, iterations = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    salt, stored_key, server_key = (base64.b64encode(v).decode()
                                    for v in (salt, stored_key, server_key))
    return f"SCRAM-SHA-256${iterations}:{salt}${stored_key}:{server_key}"


def md5_secret(user: str, password: str) -> str:
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


class ServerFailureTest(RelayTestCase):
    # While the server is down, clients get their error quickly instead of queueing.
    proxy_extra = {"pool": {"connect_timeout": "2s", "query_wait_timeout": "5s"}}

    def query_new_client(self):
        with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=USER,
                             password=PASSWORD, dbname=DB, connect_timeout=10) as conn:
            return conn.execute("SELECT 1").fetchone()

    def assert_new_clients_work(self):
        """Soon after the server is back, every new client works: no broken server
        connection is ever handed out."""
        deadline = time.monotonic() + 5
        while True:
            try:
                self.query_new_client()
                break
            except psycopg.OperationalError:
                self.assertLess(time.monotonic(), deadline, "the proxy never recovered")
                time.sleep(0.2)
        for _ in range(10):
            self.assertEqual(self.query_new_client(), (1,))

    def check_failure(self, break_server):
        in_transaction = self.connect()
        in_transaction.execute("BEGIN")
        in_transaction.execute("SELECT 1")
        idle = self.connect()
        idle.execute("SELECT 1")
        break_server()
        with self.assertRaises(psycopg.OperationalError):
            in_transaction.execute("SELECT 1")
        with self.assertRaises(psycopg.OperationalError):
            idle.execute("SELECT 1")  # the server is still down
        self.pg.restart()
        self.assert_new_clients_work()

    def test_server_killed(self):
        self.check_failure(lambda: self.pg.kill(signal.SIGKILL))

    def test_server_stopped(self):
        self.check_failure(self.pg.stop)


class MalformedInputTest(RelayTestCase):

    def setUp(self):
        super().setUp()
        self.bystander = self.connect()
        self.bystander.execute("BEGIN")
        self.bystander.execute("SELECT 1")

    def assert_refused_and_closed(self, client: WireClient):
        messages = client.read_until_close()
        codes = [error_fields(body).get("C") for kind, body in messages if kind == b"E"]
        self.assertIn("08P01", codes, f"messages before the close: {messages}")
        # The other client, in the middle of a transaction, carries on.
        self.assertEqual(self.bystander.execute("SELECT 2").fetchone(), (2,))

    def logged_in(self) -> WireClient:
        client = WireClient(self.proxy.port)
        self.addCleanup(client.close)
        self.assertIsNone(client.login(USER, DB, PASSWORD))
        return client

    def raw(self) -> WireClient:
        client = WireClient(self.proxy.port)
        self.addCleanup(client.close)
        return client

    def test_startup_packet_of_two_gib(self):
        client = self.raw()
        client.send(struct.pack("!II", TWO_GIB, 196608))
        self.assert_refused_and_closed(client)

    def test_startup_packet_too_short(self):
        client = self.raw()
        client.send(struct.pack("!II", 3, 196608))
        self.assert_refused_and_closed(client)

    def test_http_request_instead_of_startup(self):
        client = self.raw()
        client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assert_refused_and_closed(client)

    def test_message_of_two_gib(self):
        client = self.logged_in()
        client.send(b"Q" + struct.pack("!I", TWO_GIB))
        self.assert_refused_and_closed(client)

    def test_message_length_below_minimum(self):
        client = self.logged_in()
        client.send(b"Q" + struct.pack("!I", 2))
        self.assert_refused_and_closed(client)

    def test_unknown_message_type(self):
        client = self.logged_in()
        client.send(message(b"\x01", b"garbage!"))
        self.assert_refused_and_closed(client)


class LoginTest(RelayTestCase):
    proxy_extra = {"users": [
        {"name": USER, "password": PASSWORD},
        {"name": "scram_user", "password": scram_secret("scram pass")},
        {"name": "md5_user", "password": md5_secret("md5_user", "md5 pass")},
    ]}

    def test_bad_password(self):
        self.assertEqual(login_error(self.proxy.port, USER, DB, "wrong"), "28P01")

    def test_unknown_user(self):
        self.assertEqual(login_error(self.proxy.port, "nobody", DB, PASSWORD), "28P01")

    def test_unknown_database(self):
        self.assertEqual(login_error(self.proxy.port, USER, "nosuchdb", PASSWORD), "3D000")

    def test_good_password(self):
        self.assertIsNone(login_error(self.proxy.port, USER, DB, PASSWORD))

    def test_password_secrets_in_config(self):
        for user, password in (("scram_user", "scram pass"), ("md5_user", "md5 pass")):
            with self.subTest(user=user):
                conn = self.connect(user=user, password=password)
                # The backend is reached with the cluster's credentials.
                self.assertEqual(conn.execute("SELECT current_user").fetchone(), (USER,))
                self.assertEqual(login_error(self.proxy.port, user, DB, "wrong"), "28P01")

    def test_psycopg_sees_the_refusal(self):
        started = time.monotonic()
        with self.assertRaises(psycopg.OperationalError):
            psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=USER,
                            password="wrong", dbname=DB, connect_timeout=10)
        self.assertLess(time.monotonic() - started, 5)


class SilentServerTest(unittest.TestCase):
    """A server that accepts the proxy's connections but never answers its startup message:
    the proxy's login to it is bounded by connect_timeout, so its client gets an error
    rather than waiting for ever."""

    CONNECT_TIMEOUT = 1.0

    @classmethod
    def setUpClass(cls):
        cls.listener = socket.create_server(("127.0.0.1", 0))
        cls.addClassCleanup(cls.listener.close)
        cls.accepted = []  # kept open: a close would end the proxy's login at once
        cls.addClassCleanup(lambda: [conn.close() for conn in cls.accepted])
        threading.Thread(target=cls.accept, daemon=True).start()
        cls.proxy = Plexiproxy({
            "users": [{"name": USER, "password": PASSWORD}],
            "pool": {"connect_timeout": f"{int(cls.CONNECT_TIMEOUT * 1000)}ms"},
            "clusters": {DB: {"backends": [{"name": "silent", "host": "127.0.0.1",
                                            "port": cls.listener.getsockname()[1]}]}},
        })
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    @classmethod
    def accept(cls):
        while True:
            try:
                cls.accepted.append(cls.listener.accept()[0])
            except OSError:  # the listener was closed
                return

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy)

    def test_login_to_the_server_times_out(self):
        started = time.monotonic()
        with self.assertRaises(psycopg.OperationalError) as caught:
            psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=USER,
                            password=PASSWORD, dbname=DB, connect_timeout=20)
        waited = time.monotonic() - started
        self.assertIn("cannot connect to server: connect timeout", str(caught.exception))
        self.assertGreaterEqual(waited, self.CONNECT_TIMEOUT * 0.9)
        self.assertLess(waited, self.CONNECT_TIMEOUT + 4)
        self.assertTrue(self.accepted, "the proxy never reached the listener")


class ReadRetryTest(unittest.TestCase):
    """A read whose replica drops the connection after receiving it is answered by another
    backend; a read inside a transaction that already ran there is not retried. The replica
    is the same server reached through a link the test can cut (backends with no username
    are not health-checked, so the proxy takes their configured roles)."""

    @classmethod
    def setUpClass(cls):
        cls.pg = app_server(cls)
        cls.link = FaultyLink(cls.pg.host, cls.pg.port)
        cls.addClassCleanup(cls.link.close)
        backends = [
            {"name": "pg1", "role": "primary", "host": cls.pg.host, "port": cls.pg.port},
            {"name": "rep", "role": "replica", "host": "127.0.0.1", "port": cls.link.port},
        ]
        cls.proxy = Plexiproxy({
            "threads": 2,
            "users": [{"name": USER, "password": PASSWORD}],
            "clusters": {DB: {"pool_mode": "transaction", "pool_size": 2,
                              "backends": backends}},
        })
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy, self.pg)

    def connect(self) -> psycopg.Connection:
        conn = psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=USER,
                               password=PASSWORD, dbname=DB, autocommit=True)
        self.addCleanup(conn.close)
        return conn

    def test_a_read_cut_off_on_the_replica_is_answered_by_another_backend(self):
        client = self.connect()
        for _ in range(3):  # the replica's pooled connection exists
            self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
        for protocol in ("simple", "extended"):
            with self.subTest(protocol=protocol):
                cuts = self.link.cuts
                self.link.cut_on_next_request()
                if protocol == "simple":
                    row = client.execute("SELECT 40 + 2").fetchone()
                else:
                    row = client.execute("SELECT %s::int + 2", (40,)).fetchone()
                self.assertEqual(row[0], 42)
                self.assertEqual(self.link.cuts, cuts + 1, "the read did not go to the replica")
                self.assertIn("backend rep failed before answering a read; sending it to "
                              "backend pg1", self.proxy.log())

    def test_a_read_in_a_transaction_that_began_there_is_not_retried(self):
        client = self.connect()
        client.execute("BEGIN READ ONLY")
        client.execute("SELECT 1")
        self.link.cut_on_next_request()
        with self.assertRaises(psycopg.OperationalError):
            client.execute("SELECT 2")
        self.assertEqual(self.connect().execute("SELECT 3").fetchone()[0], 3)


if __name__ == "__main__":
    unittest.main()
