"""Autocommit reads on shared server connections (`pipeline_reads`, on by default): the reads
of many clients go back to back over a few server connections per worker, and each client
gets exactly its own answers, whole, in order, even when the answers are large, when a client
leaves halfway through one, or when one statement is slow. Against a real MariaDB server; the
server tells which connection ran each statement (@@pseudo_thread_id, its CONNECTION_ID())."""

import collections
import threading
import time
import unittest

import psycopg
import pymysql
import pymysql.cursors

from harness.mariadb import MariaDBServer
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog

USER, PASSWORD = "app", "app-secret"
POOL_SIZE = 8  # two shared connections per worker (a quarter of the pool), the rest for others
# Two workers whatever the machine, so each keeps its own shared connections while clients on
# both use the pool at once (what the TSan build checks).
WORKERS = 2
TEST_DEADLINE = 120


class MysqlSharedReadsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MariaDBServer().start()
        cls.proxy = None
        try:
            cls.server.execute("CREATE TABLE appdb.items (id INT PRIMARY KEY, name VARCHAR(100))")
            cls.server.execute("INSERT INTO appdb.items SELECT seq, CONCAT('item-', seq) "
                               "FROM appdb.seq_1_to_1000")
            backend = {"type": "mysql", "host": cls.server.host, "port": cls.server.port,
                       "database": "appdb"}
            cls.proxy = Plexiproxy({
                "threads": WORKERS,
                "users": [{"name": USER, "password": PASSWORD},
                          {"name": "admin", "password": "admin-secret", "admin": True}],
                "clusters": {
                    "appdb": {"protocol": "mysql", "pool_size": POOL_SIZE,
                              "backends": [backend]},
                    "unshared": {"protocol": "mysql", "pool_size": POOL_SIZE,
                                 "pipeline_reads": False, "backends": [backend]},
                },
            }).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for process in (cls.proxy, cls.server):
            if process is not None:
                process.close()

    def setUp(self):
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.server)
        self.addCleanup(print_log_if_failed, self, self.proxy)

    def connect(self, database="appdb", **kwargs) -> pymysql.connections.Connection:
        options = {"host": "127.0.0.1", "port": self.proxy.mysql_port, "user": USER,
                   "password": PASSWORD, "database": database, "autocommit": True,
                   "connect_timeout": 10, "read_timeout": 60}
        return pymysql.connect(**{**options, **kwargs})

    def run_clients(self, count, work):
        errors = []

        def guarded(i):
            try:
                work(i)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                errors.append(f"client {i}: {e!r}")

        threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TEST_DEADLINE)
        self.assertEqual(errors, [])

    def test_each_client_gets_its_own_answers_over_few_connections(self):
        server_threads = collections.Counter()
        lock = threading.Lock()

        def work(i):
            with self.connect() as conn, conn.cursor() as cursor:
                for j in range(200):
                    cursor.execute("SELECT %s, name, @@pseudo_thread_id FROM items WHERE id = %s",
                                   (i * 1000 + j, j % 1000 + 1))
                    rows = cursor.fetchall()
                    self.assertEqual(len(rows), 1)
                    self.assertEqual(rows[0][0], i * 1000 + j)
                    self.assertEqual(rows[0][1], f"item-{j % 1000 + 1}")
                    with lock:
                        server_threads[rows[0][2]] += 1

        self.run_clients(16, work)
        # Sixteen clients' reads ran mostly on the two shared connections of each worker (the
        # rest, while those were busy, on the other connections of the pool, which has 8).
        busiest = sum(count for _, count in server_threads.most_common(2 * WORKERS))
        self.assertGreater(busiest, sum(server_threads.values()) / 2, server_threads)
        # The links keep their connections: counted as shared, not as running transactions.
        # (The clients are gone: what they took from the pool is released, or about to be.)
        deadline = time.monotonic() + 5
        while True:
            pools = [row for row in self.admin_show("POOLS") if row["cluster"] == "appdb"]
            active = sum(int(row["sv_active"]) for row in pools)
            if active == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(active, 0, pools)
        self.assertGreaterEqual(sum(int(row["sv_shared"]) for row in pools), 1, pools)

    def test_without_pipeline_reads_each_read_takes_a_connection_of_its_own(self):
        with self.connect("unshared") as conn, conn.cursor() as cursor:
            cursor.execute("SELECT name FROM items WHERE id = 7")
            self.assertEqual(cursor.fetchone()[0], "item-7")
        shown = {row[0]: row[1] for row in self.proxy_config()}
        self.assertEqual(shown.get("clusters.unshared.pipeline_reads"), "false")
        self.assertEqual(shown.get("clusters.appdb.pipeline_reads"), "true")

    def admin_show(self, what: str) -> list[dict]:
        with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user="admin",
                             password="admin-secret", dbname="plexiproxy",
                             autocommit=True) as conn:
            cursor = conn.execute(f"SHOW {what}")
            columns = [column.name for column in cursor.description]
            return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def proxy_config(self):
        with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user="admin",
                             password="admin-secret", dbname="plexiproxy",
                             autocommit=True) as conn:
            return conn.execute("SHOW CONFIG").fetchall()

    def test_large_answers_arrive_whole_while_small_ones_go_on(self):
        def work(i):
            with self.connect() as conn, conn.cursor() as cursor:
                if i < 3:
                    # About 5 MB each, handed over in pieces.
                    cursor.execute("SELECT seq, REPEAT(%s, 1000) FROM seq_1_to_5000",
                                   (chr(65 + i),))
                    rows = cursor.fetchall()
                    self.assertEqual(len(rows), 5000)
                    self.assertEqual([row[0] for row in rows], list(range(1, 5001)))
                    self.assertTrue(all(row[1] == chr(65 + i) * 1000 for row in rows))
                else:
                    for j in range(100):
                        cursor.execute("SELECT %s", (j,))
                        self.assertEqual(cursor.fetchone()[0], j)

        self.run_clients(10, work)

    def test_a_client_leaving_halfway_through_an_answer_harms_no_one(self):
        for _ in range(3):
            leaver = self.connect(cursorclass=pymysql.cursors.SSCursor)
            cursor = leaver.cursor()
            cursor.execute("SELECT seq, REPEAT('z', 2000) FROM seq_1_to_20000")
            self.assertEqual(cursor.fetchone()[0], 1)
            # Gone without a word, 40 MB still to come (PyMySQL's reader holds the socket).
            leaver._result.unbuffered_active = False  # nothing left to read on our side
            leaver._rfile.close()
            leaver._sock.close()

            def work(i):
                with self.connect() as conn, conn.cursor() as cursor:
                    for j in range(50):
                        cursor.execute("SELECT %s, name FROM items WHERE id = 3", (j,))
                        self.assertEqual(cursor.fetchone(), (j, "item-3"))

            self.run_clients(6, work)

    def test_a_slow_read_does_not_hold_up_the_others(self):
        slow_done = {}

        def slow():
            with self.connect() as conn, conn.cursor() as cursor:
                started = time.monotonic()
                cursor.execute("SELECT SLEEP(3)")
                slow_done["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.5)
        latencies = []

        def work(i):
            with self.connect() as conn, conn.cursor() as cursor:
                for j in range(20):
                    started = time.monotonic()
                    cursor.execute("SELECT %s", (j,))
                    self.assertEqual(cursor.fetchone()[0], j)
                    latencies.append(time.monotonic() - started)

        self.run_clients(4, work)
        thread.join(TEST_DEADLINE)
        self.assertGreaterEqual(slow_done["seconds"], 2.9)
        # Reads that came after the slow one went elsewhere: none waited for its 3 seconds.
        self.assertLess(max(latencies), 1.5, sorted(latencies)[-5:])

    def test_state_changing_clients_keep_their_own_connection(self):
        with self.connect() as plain, self.connect() as named:
            with named.cursor() as cursor:
                cursor.execute("SET NAMES latin1")
                cursor.execute("SELECT @@character_set_client")
                self.assertEqual(cursor.fetchone()[0], "latin1")
            with plain.cursor() as cursor:
                for _ in range(20):
                    cursor.execute("SELECT @@character_set_client")
                    self.assertEqual(cursor.fetchone()[0], "utf8mb4")
            with named.cursor() as cursor:
                cursor.execute("SELECT @@character_set_client")
                self.assertEqual(cursor.fetchone()[0], "latin1")


if __name__ == "__main__":
    unittest.main()
