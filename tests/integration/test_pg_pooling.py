"""Transaction pooling through plexiproxy stays transparent: pgbench in every protocol mode,
many clients over few server connections, cancel, session settings that follow the client
from server to server, session mode, and the client limit."""

import threading
import time
import unittest

import psycopg
from psycopg import errors

from harness.clients import pgbench, pgbench_counts
from harness.relay import (DB, PASSWORD, POOL_SIZE, SMALL_POOL_SIZE, USER, WARM_DB,
                           RelayTestCase, backend_pid)
from harness.wire import login_error

DEFAULT_SEARCH_PATH = '"$user", public'


class TransactionPoolingTest(RelayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with psycopg.connect(cls.pg.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
            conn.execute("CREATE SCHEMA plexi_sp")
            conn.execute("CREATE TABLE plexi_sp.marker (v text)")
            conn.execute("INSERT INTO plexi_sp.marker VALUES ('in plexi_sp')")
            conn.execute("CREATE TABLE public.marker (v text)")
            conn.execute("INSERT INTO public.marker VALUES ('in public')")

    def run_pgbench(self, *args: str) -> str:
        result = pgbench(self.proxy.port, USER, DB, PASSWORD, *args)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout

    def test_pgbench_every_protocol_mode(self):
        self.run_pgbench("-i", "-s", "1", "-q")
        for mode in ("simple", "extended", "prepared"):
            with self.subTest(mode=mode):
                output = self.run_pgbench("-c", "16", "-j", "2", "-T", "5", "-M", mode)
                processed, failed = pgbench_counts(output)
                self.assertGreater(processed, 0, output)
                self.assertEqual(failed, 0, output)

    def server_connections(self) -> int:
        """Pooled connections: the health monitor's own (one per backend) do not count."""
        return self.pg.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s"
                               " AND application_name <> 'plexiproxy health check'",
                               (USER,))[0][0]

    def test_min_idle_connections_are_opened_ahead_of_clients(self):
        self.pg.create_database(WARM_DB, owner=USER)
        with self.connect(database="warmdb") as client:
            client.execute("SELECT 1")

        def warm_connections(state: str | None = None) -> int:
            query = ("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                     " AND application_name <> 'plexiproxy health check'")
            if state is None:
                return self.pg.execute(query, (WARM_DB,))[0][0]
            return self.pg.execute(query + " AND state = %s", (WARM_DB, state))[0][0]

        # min_idle counts idle connections: the janitor keeps two idle. If it ran while the
        # client held its connection, it opened two besides that one, so three at most.
        deadline = time.monotonic() + 10
        while warm_connections("idle") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertGreaterEqual(warm_connections("idle"), 2)
        opened = warm_connections()
        self.assertLessEqual(opened, 3)
        time.sleep(1.5)  # and no more are opened while nobody uses them
        self.assertEqual(warm_connections(), opened)

    def test_many_clients_over_few_server_connections(self):
        self.connect().execute("CREATE TABLE many_clients (client int, n int)")
        clients = 50
        all_connected = threading.Barrier(clients + 1, timeout=60)
        done = threading.Barrier(clients + 1, timeout=120)
        failures = []

        def work(client):
            try:
                with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=USER,
                                     password=PASSWORD, dbname=DB, autocommit=True) as conn:
                    all_connected.wait()
                    for n in range(5):
                        with conn.transaction():
                            conn.execute("INSERT INTO many_clients VALUES (%s, %s)", (client, n))
                    done.wait()
            except Exception as error:  # reported below
                failures.append((client, repr(error)))
                all_connected.abort()
                done.abort()

        threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        try:
            all_connected.wait()
            done.wait()
            # All clients are connected at once, yet the proxy uses at most its pools' sizes.
            self.assertLessEqual(self.server_connections(), POOL_SIZE + SMALL_POOL_SIZE + 1)
        except threading.BrokenBarrierError:
            pass  # a client failed: its error is reported below
        for thread in threads:
            thread.join(60)
        self.assertEqual(failures, [])
        count = self.connect().execute("SELECT count(*) FROM many_clients").fetchone()[0]
        self.assertEqual(count, clients * 5)

    def test_cancel_reaches_the_right_server(self):
        sleeper = self.connect()
        bystanders = [self.connect() for _ in range(2)]
        outcome = {}

        def run(conn, key, seconds):
            try:
                conn.execute(f"SELECT pg_sleep({seconds})")
                outcome[key] = "finished"
            except psycopg.Error as error:
                outcome[key] = error
            outcome[key + " at"] = time.monotonic()

        threads = [threading.Thread(target=run, args=(sleeper, "sleeper", 30))]
        threads += [threading.Thread(target=run, args=(conn, f"bystander {i}", 3))
                    for i, conn in enumerate(bystanders)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND query LIKE 'SELECT pg_sleep(%%'")[0][0] < 3:
            time.sleep(0.05)
        cancelled_at = time.monotonic()
        sleeper.cancel()
        for thread in threads:
            thread.join(35)
        self.assertIsInstance(outcome["sleeper"], errors.QueryCanceled)
        self.assertLess(outcome["sleeper at"] - cancelled_at, 1.0)
        self.assertEqual(outcome["bystander 0"], "finished")
        self.assertEqual(outcome["bystander 1"], "finished")
        self.assertEqual(sleeper.execute("SELECT 1").fetchone(), (1,))

    def test_search_path_survives_server_change(self):
        client = self.connect("small")
        client.execute("SET search_path TO plexi_sp, public")
        with self.holding_server_of(client) as held:
            self.assertNotEqual(backend_pid(client), held)
            self.assertEqual(client.execute("SHOW search_path").fetchone()[0], "plexi_sp, public")
            self.assertEqual(client.execute("SELECT v FROM marker").fetchone()[0], "in plexi_sp")

    def test_session_parameters_survive_server_change(self):
        client = self.connect("small")
        client.execute("SET TimeZone = 'Asia/Kolkata'")
        client.execute("SET application_name = 'plexi-pooling-test'")
        client.execute("SET DateStyle = 'SQL, DMY'")
        with self.holding_server_of(client) as held:
            self.assertNotEqual(backend_pid(client), held)
            self.assertEqual(client.execute("SHOW TimeZone").fetchone()[0], "Asia/Kolkata")
            self.assertEqual(client.execute("SHOW application_name").fetchone()[0],
                             "plexi-pooling-test")
            self.assertEqual(client.execute("SHOW DateStyle").fetchone()[0], "SQL, DMY")
            stamp = client.execute(
                "SELECT '2024-01-02 03:04:05+00'::timestamptz::text").fetchone()[0]
            self.assertEqual(stamp, "02/01/2024 08:34:05 IST")

    def test_session_settings_do_not_leak_to_other_clients(self):
        client = self.connect("small")
        client.execute("SET search_path TO plexi_sp")
        client.execute("SET application_name = 'plexi-leaky'")
        held = backend_pid(client)
        others = []
        for _ in range(SMALL_POOL_SIZE):  # the second one must get it if the first did not
            other = self.connect("small")
            other.execute("BEGIN")
            others.append(other)
            if backend_pid(other) == held:
                break
        self.assertEqual(backend_pid(other), held)
        self.assertEqual(other.execute("SHOW search_path").fetchone()[0], DEFAULT_SEARCH_PATH)
        self.assertNotEqual(other.execute("SHOW application_name").fetchone()[0], "plexi-leaky")
        self.assertEqual(other.execute("SELECT v FROM marker").fetchone()[0], "in public")

    def test_session_mode_keeps_the_server_and_resets_it(self):
        client = self.connect("sessiondb")
        client.execute("SET search_path TO plexi_sp, public")
        pid = backend_pid(client)
        for _ in range(5):
            with client.transaction():
                self.assertEqual(backend_pid(client), pid)
            self.assertEqual(client.execute("SHOW search_path").fetchone()[0], "plexi_sp, public")
        client.close()
        # pool_size 1: the next client gets the same server, reset for it (DISCARD ALL).
        successor = self.connect("sessiondb")
        self.assertEqual(backend_pid(successor), pid)
        self.assertEqual(successor.execute("SHOW search_path").fetchone()[0], DEFAULT_SEARCH_PATH)


    def test_statement_mode_refuses_transaction_blocks(self):
        client = self.connect("statementdb")
        other = self.connect("statementdb")
        # One server connection serves both clients, statement by statement.
        for _ in range(3):
            self.assertEqual(client.execute("SELECT 1").fetchone(), (1,))
            self.assertEqual(other.execute("SELECT 2").fetchone(), (2,))
        with self.assertRaises(psycopg.Error) as raised:
            client.execute("BEGIN")
        self.assertIn("statement pooling", str(raised.exception))
        self.assertTrue(client.closed or client.broken)
        self.assertEqual(other.execute("SELECT 3").fetchone(), (3,))


class ClientLimitTest(RelayTestCase):
    proxy_extra = {"limits": {"max_client_conn": 5}}

    def test_max_client_conn(self):
        clients = [self.connect() for _ in range(5)]
        self.assertEqual(login_error(self.proxy.port, USER, DB, PASSWORD), "53300")
        for conn in clients:
            self.assertEqual(conn.execute("SELECT 1").fetchone(), (1,))
        clients.pop().close()
        deadline = time.monotonic() + 5
        while (code := login_error(self.proxy.port, USER, DB, PASSWORD)) == "53300":
            self.assertLess(time.monotonic(), deadline, "a freed slot was never reused")
            time.sleep(0.1)
        self.assertIsNone(code)


if __name__ == "__main__":
    unittest.main()
