"""The admin console (database `plexiproxy`) through psql and psycopg against a proxy in front
of a real PostgreSQL: what SHOW answers after the test's own traffic, PAUSE/RESUME without
losing a transaction, KILL, RELOAD of a broken file, and who may use it."""

import threading
import time

import psycopg

from harness.clients import psql
from harness.relay import DB, PASSWORD, USER, RelayTestCase, backend_pid, relay_config

ADMIN, ADMIN_PASSWORD = "ops", "ops-secret"


def users() -> list[dict]:
    return [{"name": USER, "password": PASSWORD},
            {"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True}]


class AdminConsoleTest(RelayTestCase):
    proxy_extra = {"users": users()}

    def admin(self) -> psycopg.Connection:
        conn = psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=ADMIN,
                               password=ADMIN_PASSWORD, dbname="plexiproxy", autocommit=True)
        self.addCleanup(conn.close)
        return conn

    def show(self, what: str) -> list[dict]:
        """SHOW <what> as a list of rows keyed by column name."""
        cursor = self.admin().execute(f"SHOW {what}")
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def test_psql_prints_the_tables(self):
        self.connect().execute("SELECT 1")
        result = psql(self.proxy.port, ADMIN, "plexiproxy", ADMIN_PASSWORD, "-c", "SHOW POOLS",
                      "-c", "SHOW VERSION")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("sv_idle", result.stdout)
        self.assertIn(f" {DB} ", result.stdout)
        self.assertIn("plexiproxy 0.1.0", result.stdout)
        unknown = psql(self.proxy.port, ADMIN, "plexiproxy", ADMIN_PASSWORD, "-c", "SHOW TABLES")
        self.assertNotEqual(unknown.returncode, 0)
        self.assertIn('unknown SHOW subject "TABLES"', unknown.stderr)

    def test_clients_and_pools_show_what_is_connected(self):
        client = self.connect(application_name="billing-worker")
        client.execute("SELECT 1")
        clients = [row for row in self.show("CLIENTS")
                   if row["application_name"] == "billing-worker"]
        self.assertEqual(len(clients), 1, self.show("CLIENTS"))
        self.assertEqual(clients[0]["user"], USER)
        self.assertEqual(clients[0]["cluster"], DB)
        self.assertEqual(clients[0]["state"], "idle")

        client.execute("BEGIN")
        pid = backend_pid(client)
        busy = [row for row in self.show("CLIENTS") if row["application_name"] == "billing-worker"]
        self.assertEqual(busy[0]["backend"], "pg1")
        self.assertEqual(busy[0]["server_pid"], str(pid))
        pool = [row for row in self.show("POOLS") if row["cluster"] == DB][0]
        self.assertGreaterEqual(int(pool["sv_active"]), 1)
        servers = [row for row in self.show("SERVERS") if row["pid"] == str(pid)]
        self.assertEqual([row["state"] for row in servers], ["active"])
        client.execute("COMMIT")

    def test_queries_are_counted_per_shape(self):
        client = self.connect()
        client.execute("CREATE TABLE IF NOT EXISTS digest_probe (id int, note text)")
        for i in range(7):
            client.execute(f"SELECT count(*) FROM digest_probe WHERE id = {i} AND note <> 'x{i}'")
        rows = [row for row in self.show("QUERIES") if "digest_probe WHERE" in row["query"]]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["calls"], "7")
        self.assertEqual(rows[0]["rows"], "7")
        self.assertEqual(rows[0]["last_backend"], "pg1")
        self.assertNotIn("x6", rows[0]["query"])  # literals are not kept
        self.assertIn("$1", rows[0]["query"])

        for i in range(4):  # the extended protocol: Parse, Bind, Execute
            client.execute("SELECT %s::int AS extended_probe", (i,))
        rows = [row for row in self.show("QUERIES") if "extended_probe" in row["query"]]
        self.assertEqual([(r["calls"], r["rows"]) for r in rows], [("4", "4")], rows)

        before = sum(int(r["statements"]) for r in self.show("STATS") if r["cluster"] == DB)
        for _ in range(5):
            client.execute("SELECT 1")
        after = sum(int(r["statements"]) for r in self.show("STATS") if r["cluster"] == DB)
        self.assertEqual(after - before, 5)

    def test_pause_waits_for_transactions_and_holds_new_ones_until_resume(self):
        setup = self.connect()
        setup.execute("CREATE TABLE IF NOT EXISTS paused_writes (n int)")
        setup.execute("TRUNCATE paused_writes")
        running = self.connect()
        running.execute("BEGIN")
        running.execute("INSERT INTO paused_writes VALUES (1)")
        admin = self.admin()
        paused = threading.Event()
        pause_error = []

        def pause():
            try:
                admin.execute(f"PAUSE {DB}")
                paused.set()
            except Exception as e:  # reported by the assertions below
                pause_error.append(e)

        pauser = threading.Thread(target=pause)
        pauser.start()
        time.sleep(0.5)
        self.assertFalse(paused.is_set(), "PAUSE returned while a transaction was open")
        running.execute("COMMIT")  # a running transaction is let finish
        pauser.join(10)
        self.assertTrue(paused.is_set(), pause_error)

        waiter = self.connect()
        done = threading.Event()

        def write():
            waiter.execute("INSERT INTO paused_writes VALUES (2)")
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)
        self.assertFalse(done.is_set(), "a new transaction ran while the cluster was paused")
        self.admin().execute(f"RESUME {DB}")
        writer.join(10)
        self.assertTrue(done.is_set())
        self.assertEqual(sorted(r[0] for r in self.direct().execute(
            "SELECT n FROM paused_writes").fetchall()), [1, 2])

    def test_kill_closes_that_client_only(self):
        victim = self.connect(application_name="victim")
        bystander = self.connect(application_name="bystander")
        victim.execute("SELECT 1")
        rows = [r for r in self.show("CLIENTS") if r["application_name"] == "victim"]
        self.admin().execute(f"KILL {rows[0]['id']}")
        with self.assertRaises(psycopg.OperationalError):
            for _ in range(20):  # the close reaches the client within a moment
                victim.execute("SELECT 1")
                time.sleep(0.05)
        self.assertEqual(bystander.execute("SELECT 2").fetchone()[0], 2)
        with self.assertRaises(psycopg.errors.UndefinedObject):
            self.admin().execute("KILL 1")

    def test_reload_of_a_broken_file_keeps_the_old_config_and_says_why(self):
        client = self.connect()
        self.proxy.write_config("clusters:\n  appdb:\n    pool_mode: sometimes\n")
        try:
            with self.assertRaises(psycopg.Error) as refused:
                self.admin().execute("RELOAD")
            message = str(refused.exception)
            self.assertIn("reload rejected", message)
            self.assertIn("pool_mode", message)
            self.assertIn(":3", message)  # the line of the bad value
            self.assertEqual(client.execute("SELECT 3").fetchone()[0], 3)
        finally:
            self.proxy.write_config(relay_config(self.pg, users=users()))
        self.admin().execute("RELOAD")
        self.assertEqual(self.connect().execute("SELECT 4").fetchone()[0], 4)

    def test_only_admin_users_get_in(self):
        with self.assertRaises(psycopg.OperationalError) as refused:
            psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=USER, password=PASSWORD,
                            dbname="plexiproxy")
        self.assertIn("may not use the admin console", str(refused.exception))
        with self.assertRaises(psycopg.OperationalError):
            psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=ADMIN,
                            password="wrong", dbname="plexiproxy")
