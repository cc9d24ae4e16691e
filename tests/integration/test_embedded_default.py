"""plexiproxy with no config serves an embedded SQLite database on its PostgreSQL port:
psql and psycopg work against it, with PostgreSQL's types, command tags and SQLSTATEs."""

import tempfile
import threading
import unittest
from pathlib import Path

import psycopg
from psycopg import ClientCursor

from harness.clients import connect, psql
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog

INT8, FLOAT8, TEXT, BYTEA, BOOL = 20, 701, 25, 17, 16
ROWS = [
    (1, 1.5, "plain", b"\x00\x01\xff", True),
    (-(2**40), -0.25, "héllo ✓ 日本語 'quoted'", b"", False),
    (None, None, None, None, None),
    (2**62, 1e300, "x" * 100_000, bytes(range(256)) * 100, True),
]


class EmbeddedDefaultTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.proxy = Plexiproxy()  # no config: the embedded default, in its own data dir
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        if not self.proxy.running():  # a watchdog killed it in an earlier test
            self.proxy.start()
        self.addCleanup(print_log_if_failed, self, self.proxy)
        start_watchdog(self, 120, self.proxy)

    def connect(self, **kwargs) -> psycopg.Connection:
        conn = connect(self.proxy.port, "anyone", "mydb", **kwargs)
        self.addCleanup(conn.close)
        return conn

    def psql(self, script: str) -> str:
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
            file.write(script)
            file.flush()
            result = psql(self.proxy.port, "anyone", "mydb", None, "-f", file.name)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout

    def test_psql_create_insert_select(self):
        output = self.psql("""
CREATE TABLE fruits (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL);
INSERT INTO fruits VALUES (1, 'apple', 0.5);
INSERT INTO fruits VALUES (2, 'pear', 0.75);
SELECT id, name, price FROM fruits ORDER BY id;
""")
        self.assertIn("CREATE TABLE", output)
        self.assertEqual(output.count("INSERT 0 1"), 2)
        self.assertRegex(output, r" id \| name  \| price \n----\+-------\+-------\n")
        self.assertRegex(output, r"\n  1 \| apple \|   0.5\n  2 \| pear  \|  0.75\n\(2 rows\)")

    def test_command_tags(self):
        output = self.psql("""
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO tags VALUES (1, 'a');
INSERT INTO tags VALUES (2, 'b'), (3, 'c');
UPDATE tags SET name = upper(name);
DELETE FROM tags WHERE id >= 2;
SELECT count(*) FROM tags;
""")
        for tag in ("INSERT 0 1", "INSERT 0 2", "UPDATE 3", "DELETE 2"):
            self.assertRegex(output, rf"(?m)^{tag}$")

    def test_errors_carry_sqlstates(self):
        conn = self.connect()
        conn.execute("CREATE TABLE unique_things (id INTEGER PRIMARY KEY, v TEXT UNIQUE NOT NULL)")
        conn.execute("INSERT INTO unique_things VALUES (1, 'one')")
        cases = {
            "42P01": "SELECT * FROM no_such_table",
            "23505": "INSERT INTO unique_things VALUES (2, 'one')",
            "23502": "INSERT INTO unique_things VALUES (3, NULL)",
            "42601": "SELEC 1",
        }
        for sqlstate, statement in cases.items():
            with self.subTest(sqlstate=sqlstate):
                with self.assertRaises(psycopg.Error) as raised:
                    conn.execute(statement)
                self.assertEqual(raised.exception.sqlstate, sqlstate)
                self.assertEqual(conn.execute("SELECT 1").fetchone(), (1,))

    def round_trip(self, conn: psycopg.Connection, table: str):
        conn.execute(f"CREATE TABLE {table} (n INTEGER PRIMARY KEY, i INTEGER, f REAL,"
                     " t TEXT, b BLOB, ok BOOLEAN)")
        for n, row in enumerate(ROWS):
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)", (n, *row))
        cur = conn.execute(f"SELECT i, f, t, b, ok FROM {table} ORDER BY n")
        self.assertEqual([column.type_code for column in cur.description],
                         [INT8, FLOAT8, TEXT, BYTEA, BOOL])
        self.assertEqual(cur.fetchall(), ROWS)
        cur = conn.execute(f"SELECT t FROM {table} WHERE i = %s AND ok = %s", (1, True))
        self.assertEqual(cur.fetchall(), [("plain",)])

    def test_extended_protocol_types(self):
        self.round_trip(self.connect(), "extended_types")

    def test_simple_protocol_types(self):
        self.round_trip(self.connect(cursor_factory=ClientCursor), "simple_types")

    def test_transactions(self):
        conn = self.connect()
        conn.execute("CREATE TABLE ledger (entry TEXT)")
        with conn.transaction():
            conn.execute("INSERT INTO ledger VALUES ('kept')")
            self.assertEqual(conn.info.transaction_status, psycopg.pq.TransactionStatus.INTRANS)
        conn.execute("BEGIN")
        conn.execute("INSERT INTO ledger VALUES ('rolled back')")
        conn.execute("ROLLBACK")
        with self.assertRaises(psycopg.Error):
            with conn.transaction():
                conn.execute("INSERT INTO ledger VALUES ('failed')")
                conn.execute("SELECT * FROM no_such_table")
        self.assertEqual(conn.execute("SELECT entry FROM ledger").fetchall(), [("kept",)])

    def test_concurrent_writers(self):
        self.connect().execute("CREATE TABLE writes (writer INTEGER, n INTEGER)")
        failures = []

        def write(writer):
            try:
                with connect(self.proxy.port, "anyone", "mydb") as conn:
                    for batch in range(10):
                        with conn.transaction():
                            for n in range(batch * 10, batch * 10 + 10):
                                conn.execute("INSERT INTO writes VALUES (%s, %s)", (writer, n))
            except Exception as error:  # reported below, with the writer's number
                failures.append((writer, repr(error)))

        threads = [threading.Thread(target=write, args=(w,)) for w in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        self.assertEqual(failures, [])
        counts = self.connect().execute(
            "SELECT writer, count(DISTINCT n) FROM writes GROUP BY writer ORDER BY writer")
        self.assertEqual(counts.fetchall(), [(w, 100) for w in range(20)])


class EmbeddedRestartTest(unittest.TestCase):

    def test_data_persists_across_restart(self):
        proxy = Plexiproxy()
        self.addCleanup(proxy.close)
        self.addCleanup(print_log_if_failed, self, proxy)
        start_watchdog(self, 60, proxy)
        proxy.start()
        with connect(proxy.port, "anyone", "mydb") as conn:
            conn.execute("CREATE TABLE survivors (name TEXT)")
            conn.execute("INSERT INTO survivors VALUES ('still here')")
        proxy.stop()  # SIGTERM: exit code 0
        self.assertTrue((Path(proxy.data_dir) / "plexiproxy.db").is_file())
        proxy.start()
        with connect(proxy.port, "anyone", "mydb") as conn:
            rows = conn.execute("SELECT name FROM survivors").fetchall()
        self.assertEqual(rows, [("still here",)])
        proxy.stop()


if __name__ == "__main__":
    unittest.main()
