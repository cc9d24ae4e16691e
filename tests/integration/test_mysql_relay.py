"""The MySQL front relaying to real MariaDB servers: a primary and a GTID replica behind a
cluster in transaction pooling with few server connections. Every check asks the server
that answered who it is (@@server_id, CONNECTION_ID()).

- PyMySQL and the mariadb client log in with mysql_native_password and caching_sha2_password
  (its full authentication over the RSA key exchange, then its fast path); a wrong password
  gets 1045, an unknown database 1049.
- Reads go to the replica, writes and transactions to the primary, a transaction never
  leaves its server connection; hints route.
- Multiplexing: many clients over few server connections; user variables pin their client
  (and SHOW CLIENTS says so); SET NAMES and sql_mode follow a client across servers while
  other clients keep theirs; USE switches the schema on whichever server.
- KILL QUERY from another client stops a running statement.
- LOAD DATA LOCAL INFILE is refused with a clear error.
- Digests in SHOW QUERIES and metrics with protocol="mysql"."""

import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import psycopg
import pymysql

from harness.libmariadb import CClient
from harness.mariadb import MariaDBServer, make_replica
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog

USER, PASSWORD = "app", "app-secret"
POOL_SIZE = 4
TEST_DEADLINE = 120


class MysqlRelayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.primary = MariaDBServer().start()
        cls.replica = None
        cls.proxy = None
        try:
            cls.replica = make_replica(cls.primary)
            cls.primary.execute("CREATE TABLE appdb.items (id INT AUTO_INCREMENT PRIMARY KEY, "
                                "name VARCHAR(100), price DOUBLE, data BLOB)")
            cls.primary.execute("CREATE DATABASE otherdb")
            cls.primary.execute("GRANT ALL PRIVILEGES ON otherdb.* TO 'app'@'%'")
            cls.primary.execute("CREATE TABLE otherdb.marker (name VARCHAR(20))")
            cls.primary.execute("INSERT INTO otherdb.marker VALUES ('other')")
            cls.replica.wait_caught_up()
            cls.proxy = Plexiproxy(cls.config()).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def config(cls) -> dict:
        def backend(server, role):
            return {"type": "mysql", "role": role, "host": server.host, "port": server.port,
                    "database": "appdb"}
        return {
            "users": [{"name": USER, "password": PASSWORD},
                      {"name": "admin", "password": "admin-secret", "admin": True}],
            "health": {"interval": "200ms", "timeout": "1s", "user": cls.primary.user,
                       "password": cls.primary.password},
            "clusters": {
                "appdb": {
                    "protocol": "mysql", "pool_mode": "transaction",
                    "read_your_writes": "off",
                    "pool_size": POOL_SIZE,
                    "backends": [backend(cls.primary, "primary"),
                                 backend(cls.replica, "replica")],
                },
                # The same servers; a client's reads wait for its writes by GTID.
                "appdb_gtid": {
                    "protocol": "mysql", "read_your_writes": "lsn",
                    "pool_size": POOL_SIZE,
                    "backends": [backend(cls.primary, "primary"),
                                 backend(cls.replica, "replica")],
                },
            },
        }

    @classmethod
    def tearDownClass(cls):
        for server in (cls.proxy, cls.replica, cls.primary):
            if server is not None:
                server.close()

    def setUp(self):
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.primary, self.replica)
        self.addCleanup(print_log_if_failed, self, self.proxy)

    def connect(self, **kwargs) -> pymysql.connections.Connection:
        options = {"host": "127.0.0.1", "port": self.proxy.mysql_port, "user": USER,
                   "password": PASSWORD, "database": "appdb", "autocommit": True,
                   "connect_timeout": 10, "read_timeout": 30}
        return pymysql.connect(**{**options, **kwargs})

    def value(self, conn, sql, params=None):
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def admin(self, sql: str) -> list[tuple]:
        with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user="admin",
                             password="admin-secret", dbname="plexiproxy",
                             autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    # ------------------------------------------------------------------ login

    def test_login_with_native_password(self):
        with self.connect() as conn:
            self.assertEqual(self.value(conn, "SELECT 1 + 1"), 2)
            self.assertEqual(self.value(conn, "SELECT DATABASE()"), "appdb")

    def test_wrong_password_and_unknown_user_get_1045(self):
        for user, password in ((USER, "wrong"), ("nobody", "x")):
            with self.assertRaises(pymysql.err.OperationalError) as caught:
                self.connect(user=user, password=password)
            self.assertEqual(caught.exception.args[0], 1045)
            self.assertIn("Access denied", caught.exception.args[1])

    def test_caching_sha2_full_authentication_then_fast_path(self):
        # PyMySQL answers with the plugin the greeting names; this one answers as a MySQL 8
        # client would, with caching_sha2_password, which the proxy accepts as offered.
        class Sha2Connection(pymysql.connections.Connection):
            def _get_server_information(self):
                super()._get_server_information()
                self._auth_plugin_name = "caching_sha2_password"

        for _ in range(2):  # the first login does the RSA exchange, the second the fast path
            conn = Sha2Connection(host="127.0.0.1", port=self.proxy.mysql_port, user=USER,
                                  password=PASSWORD, database="appdb", autocommit=True)
            with conn:
                self.assertEqual(self.value(conn, "SELECT 7"), 7)
        with self.assertRaises(pymysql.err.OperationalError) as caught:
            Sha2Connection(host="127.0.0.1", port=self.proxy.mysql_port, user=USER,
                           password="wrong", database="appdb")
        self.assertEqual(caught.exception.args[0], 1045)

    def test_mariadb_client(self):
        base = ["mariadb", "-h", "127.0.0.1", "-P", str(self.proxy.mysql_port), "-u", USER,
                f"-p{PASSWORD}", "--skip-ssl", "-N", "-B"]
        for auth in ("mysql_native_password", "caching_sha2_password"):
            out = subprocess.run([*base, f"--default-auth={auth}", "appdb", "-e",
                                  "SELECT 40 + 2; SELECT DATABASE()"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.split(), ["42", "appdb"], auth)
        # --ssl asks for TLS, which this listener does not offer (tls.client is disable): the
        # client goes on in clear, as the MariaDB 10.11 client does with a server without TLS.
        with_ssl = [arg if arg != "--skip-ssl" else "--ssl" for arg in base]
        out = subprocess.run([*with_ssl, "appdb", "-e", "SELECT 43"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual((out.returncode, out.stdout.split()), (0, ["43"]), out.stderr)
        out = subprocess.run([*base, "-e", "SELECT 1", "nosuchdb"], capture_output=True,
                             text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("1049", out.stderr)

    # ------------------------------------------------------------------ routing

    def test_reads_on_the_replica_writes_and_transactions_on_the_primary(self):
        with self.connect() as conn:
            read_servers = {self.value(conn, "SELECT @@server_id") for _ in range(10)}
            self.assertEqual(read_servers, {self.replica.server_id})
            hinted = self.value(conn, "/* plexiproxy: role=primary */ SELECT @@server_id")
            self.assertEqual(hinted, self.primary.server_id)
            with conn.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT @@server_id, CONNECTION_ID()")
                first = cursor.fetchone()
                cursor.execute("INSERT INTO items (name) VALUES ('in-tx')")
                for _ in range(5):
                    cursor.execute("SELECT @@server_id, CONNECTION_ID()")
                    self.assertEqual(cursor.fetchone(), first)
                cursor.execute("COMMIT")
            self.assertEqual(first[0], self.primary.server_id)
            with conn.cursor() as cursor:
                cursor.execute("START TRANSACTION READ ONLY")
                cursor.execute("SELECT @@server_id")
                self.assertEqual(cursor.fetchone()[0], self.replica.server_id)
                cursor.execute("COMMIT")

    def test_autocommit_off_keeps_the_transaction_on_one_server(self):
        with self.connect(autocommit=False) as conn, conn.cursor() as cursor:
            cursor.execute("INSERT INTO items (name) VALUES ('implicit-tx')")
            cursor.execute("SELECT CONNECTION_ID()")
            connection = cursor.fetchone()[0]
            for _ in range(5):
                cursor.execute("SELECT COUNT(*) FROM items WHERE name = 'implicit-tx'")
                self.assertEqual(cursor.fetchone()[0], 1)
                cursor.execute("SELECT CONNECTION_ID()")
                self.assertEqual(cursor.fetchone()[0], connection)
            conn.rollback()
        self.assertEqual(self.primary.value(
            "SELECT COUNT(*) FROM appdb.items WHERE name = 'implicit-tx'"), 0)

    def test_read_your_writes_by_gtid(self):
        # The replica stops applying: a client's reads after its write must come from the
        # primary until the replica has applied it, then from the replica again.
        self.replica.execute("STOP SLAVE SQL_THREAD")
        try:
            with self.connect(database="appdb_gtid") as conn, conn.cursor() as cursor:
                cursor.execute("SELECT @@server_id")
                self.assertEqual(cursor.fetchone()[0], self.replica.server_id)
                cursor.execute("INSERT INTO items (name) VALUES ('ryw')")
                time.sleep(0.5)  # health checks (every 200 ms) see the replica behind
                for _ in range(5):
                    cursor.execute("SELECT @@server_id, "
                                   "(SELECT COUNT(*) FROM items WHERE name = 'ryw')")
                    self.assertEqual(cursor.fetchone(), (self.primary.server_id, 1))
                self.replica.execute("START SLAVE SQL_THREAD")
                self.replica.wait_caught_up()
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    cursor.execute("SELECT @@server_id, "
                                   "(SELECT COUNT(*) FROM items WHERE name = 'ryw')")
                    server, count = cursor.fetchone()
                    self.assertEqual(count, 1)
                    if server == self.replica.server_id:
                        break
                    time.sleep(0.1)
                self.assertEqual(server, self.replica.server_id)
        finally:
            self.replica.execute("START SLAVE SQL_THREAD")

    # ------------------------------------------------------------------ multiplexing

    def test_many_clients_share_few_server_connections(self):
        errors = []
        clients = 24

        def work(i):
            try:
                with self.connect() as conn, conn.cursor() as cursor:
                    for j in range(50):
                        cursor.execute("SELECT %s + %s", (i, j))
                        if cursor.fetchone()[0] != i + j:
                            errors.append(f"client {i}: wrong answer")
                    cursor.execute("INSERT INTO items (name) VALUES (%s)", (f"mux-{i}",))
            except Exception as e:  # noqa: BLE001 - every failure is reported
                errors.append(f"client {i}: {e!r}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TEST_DEADLINE)
        self.assertEqual(errors, [])
        rows = self.primary.value("SELECT COUNT(*) FROM appdb.items WHERE name LIKE 'mux-%%'")
        self.assertEqual(rows, clients)
        app_threads = self.primary.value(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'")
        self.assertLessEqual(app_threads, POOL_SIZE)

    def test_user_variables_pin_the_client(self):
        with self.connect() as conn, self.connect() as other:
            with conn.cursor() as cursor:
                cursor.execute("SET @answer = 42")
                for _ in range(3):
                    # Another client works meanwhile; this one keeps its server.
                    self.value(other, "SELECT 1")
                    cursor.execute("SELECT @answer")
                    self.assertEqual(cursor.fetchone()[0], 42)
            pinned = [row for row in self.admin("SHOW CLIENTS") if row[9] == "user_variable"]
            self.assertEqual(len(pinned), 1, self.admin("SHOW CLIENTS"))

    def test_session_settings_follow_the_client(self):
        with self.connect() as conn, self.connect() as other:
            with conn.cursor() as cursor:
                cursor.execute("SET NAMES latin1")
                cursor.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
                seen = set()
                for i in range(6):
                    # Reads on the replica, a write transaction on the primary.
                    if i % 2:
                        cursor.execute("BEGIN")
                    cursor.execute("SELECT @@server_id, @@character_set_client, @@sql_mode")
                    server, charset, mode = cursor.fetchone()
                    if i % 2:
                        cursor.execute("COMMIT")
                    seen.add(server)
                    self.assertEqual((charset, mode), ("latin1", "ANSI_QUOTES"))
                    self.assertEqual(self.value(other, "SELECT @@character_set_client"),
                                     "utf8mb4")
                self.assertEqual(seen, {self.primary.server_id, self.replica.server_id})
                cursor.execute("SET NAMES utf8mb4")
                cursor.execute("SELECT 'é'")
                self.assertEqual(cursor.fetchone()[0], "é")

    def test_use_switches_the_schema_on_every_server(self):
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute("USE otherdb")
            self.replica.wait_caught_up()
            for _ in range(4):
                cursor.execute("SELECT name FROM marker")
                self.assertEqual(cursor.fetchone()[0], "other")
                cursor.execute("SELECT DATABASE()")
                self.assertEqual(cursor.fetchone()[0], "otherdb")
            conn.select_db("appdb")  # COM_INIT_DB
            self.assertEqual(self.value(conn, "SELECT DATABASE()"), "appdb")

    # ------------------------------------------------------------------ other commands

    def test_multi_statements_and_multi_results(self):
        with self.connect(client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS) as conn:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1; SELECT 2, 3; INSERT INTO items (name) VALUES ('multi')")
                self.assertEqual(cursor.fetchall(), ((1,),))
                self.assertTrue(cursor.nextset())
                self.assertEqual(cursor.fetchall(), ((2, 3),))
                self.assertTrue(cursor.nextset())
                self.assertEqual(cursor.rowcount, 1)
                self.assertFalse(cursor.nextset())
                cursor.execute("SELECT 4")
                self.assertEqual(cursor.fetchall(), ((4,),))

    def test_reset_connection_unpins_and_forgets(self):
        with self.connect() as conn:
            with conn.cursor() as cursor:
                cursor.execute("SET @kept = 'yes'")
                cursor.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
            pinned = [row for row in self.admin("SHOW CLIENTS") if row[9] == "user_variable"]
            self.assertEqual(len(pinned), 1)
            com_reset_connection = 0x1f  # not among PyMySQL 1.0's constants
            conn._execute_command(com_reset_connection, b"")
            conn._read_ok_packet()
            pinned = [row for row in self.admin("SHOW CLIENTS") if row[9] == "user_variable"]
            self.assertEqual(pinned, [])
            self.assertNotIn("ANSI_QUOTES", self.value(conn, "SELECT @@sql_mode"))
            self.assertIsNone(self.value(conn, "SELECT @kept"))  # (which pins again)

    def test_change_user_starts_a_clean_session(self):
        # libmariadb's own mysql_change_user() (PyMySQL has none).
        with CClient(self.proxy.mysql_port, USER, PASSWORD, "appdb") as client:
            self.assertTrue(client.query("SET @before = 'x'"), client.error())
            self.assertEqual(client.value("SELECT @before"), b"x")
            self.assertTrue(client.change_user(USER, PASSWORD, "appdb"), client.error())
            self.assertIsNone(client.value("SELECT @before"))
            self.assertEqual(client.value("SELECT 6 * 7"), b"42")
            self.assertFalse(client.change_user(USER, "wrong", "appdb"))
            self.assertEqual(client.errno(), 1045)

    def test_kill_query_from_another_client(self):
        with self.connect() as victim, self.connect() as killer:
            victim_id = victim.thread_id()
            outcome = {}

            def sleep():
                started = time.monotonic()
                try:
                    self.value(victim, "/* plexiproxy: role=primary */ SELECT SLEEP(20)")
                    outcome["result"] = "finished"
                except pymysql.err.MySQLError as e:
                    outcome["result"] = e.args[0]
                outcome["seconds"] = time.monotonic() - started

            thread = threading.Thread(target=sleep)
            thread.start()
            time.sleep(1)
            with killer.cursor() as cursor:
                cursor.execute(f"KILL QUERY {victim_id}")
            thread.join(30)
            self.assertLess(outcome["seconds"], 10)
            # SLEEP() interrupted returns 1 (MariaDB) or the statement fails with 1317.
            self.assertIn(outcome["result"], ("finished", 1317))
            self.assertEqual(self.value(victim, "SELECT 5"), 5)
            with self.assertRaises(pymysql.err.MySQLError) as caught:
                with killer.cursor() as cursor:
                    cursor.execute("KILL QUERY 999999999")
            self.assertEqual(caught.exception.args[0], 1094)

    def test_load_data_local_is_refused_clearly(self):
        with self.connect(local_infile=True) as conn, conn.cursor() as cursor:
            with self.assertRaises(pymysql.err.MySQLError) as caught:
                cursor.execute("LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE items")
            self.assertEqual(caught.exception.args[0], 1148)
            self.assertIn("plexiproxy", caught.exception.args[1])
            cursor.execute("SELECT 1")

    def test_digests_and_metrics(self):
        with self.connect() as conn:
            for i in range(3):
                self.value(conn, "SELECT COUNT(*) FROM items WHERE id = %s", (i,))
        shapes = [row for row in self.admin("SHOW QUERIES") if "SELECT count(*) FROM items WHERE id = ?" in
                  str(row)]
        self.assertTrue(shapes, self.admin("SHOW QUERIES"))
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.proxy.admin_port}/metrics", timeout=10) as response:
            text = response.read().decode()
        self.assertIn('protocol="mysql"', text)


class MysqlGarbageTest(unittest.TestCase):
    """Garbage and oversized packets from a client: an error, the connection closed, other
    clients unaffected. Uses the embedded default (no server needed for the protocol)."""

    @classmethod
    def setUpClass(cls):
        cls.proxy = Plexiproxy().start()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()

    def raw(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.proxy.mysql_port), timeout=10)
        greeting = sock.recv(4096)
        self.assertGreater(len(greeting), 4)
        return sock

    def read_all(self, sock) -> bytes:
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk

    def test_garbage_before_login_gets_an_error_and_a_close(self):
        with pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user="root",
                             autocommit=True) as bystander:
            sock = self.raw()
            sock.sendall(b"\x05\x00\x00\x01GET / HTTP/1.1\r\n\r\n")
            answer = self.read_all(sock)
            self.assertIn(b"\xff", answer[:5])
            with bystander.cursor() as cursor:
                cursor.execute("SELECT 1")
                self.assertEqual(cursor.fetchone()[0], 1)

    def test_oversized_packet_gets_1153_and_a_close(self):
        with pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user="root",
                             autocommit=True) as bystander:
            conn = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user="root",
                                   autocommit=True)
            sock = conn._sock
            # A command announcing 16 MB pieces without end: past max_message_size (64 MB).
            header = struct.pack("<I", 0xffffff)[:3]
            try:
                for sequence in range(6):
                    sock.sendall(header + bytes([sequence]) + b"\x03" + b"x" * (0xffffff - 1))
            except OSError:
                pass  # the proxy closed the connection while we were still sending
            answer = self.read_all(sock)
            self.assertIn(struct.pack("<H", 1153), answer)
            with bystander.cursor() as cursor:
                cursor.execute("SELECT 2")
                self.assertEqual(cursor.fetchone()[0], 2)


if __name__ == "__main__":
    unittest.main()
