"""What a PostgreSQL client does through plexiproxy in transaction pooling mode keeps working:
psql scripts, psycopg's simple and extended protocol, server-side cursors, COPY, prepared
statements, notices and LISTEN/NOTIFY."""

import select
import tempfile
import threading
import unittest
from pathlib import Path

from psycopg import ClientCursor, errors

from harness.clients import psql
from harness.relay import DB, PASSWORD, USER, RelayTestCase, backend_pid

BIG_TEXT = "plexiproxy ✓ 日本語 " * 200_000  # about 5 MB of UTF-8
BIG_BYTES = bytes(range(256)) * 8192       # 2 MiB, every byte value
ROWS = [
    (1, 1.5, "plain", b"\x00\x01\xff", True),
    (-(2**40), -0.25, "héllo ✓ 日本語 'quoted' \\ back", b"", False),
    (None, None, None, None, None),
    (2**62, 1e300, BIG_TEXT, BIG_BYTES, True),
]


class RelayProtocolTest(RelayTestCase):

    def test_psql_script_with_copy(self):
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "items.csv"
            script = Path(tmp) / "script.sql"
            script.write_text(f"""
CREATE TABLE psql_items (id int PRIMARY KEY, name text, price numeric(10,2));
INSERT INTO psql_items VALUES (1, 'apple', 0.50), (2, 'pear', 0.75);
INSERT INTO psql_items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(3, 100) g;
UPDATE psql_items SET price = price + 1 WHERE id <= 2;
\\copy psql_items TO '{csv}' CSV
CREATE TABLE psql_copy (LIKE psql_items);
\\copy psql_copy FROM '{csv}' CSV
SELECT count(*) AS n, sum(price) AS total FROM psql_copy;
SELECT name FROM psql_items WHERE id = 2;
DROP TABLE psql_items, psql_copy;
""")
            result = psql(self.proxy.port, USER, DB, PASSWORD, "-f", str(script))
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(len(csv.read_text().splitlines()), 100)
        for line in ("INSERT 0 2", "INSERT 0 98", "UPDATE 2", "COPY 100", "DROP TABLE"):
            self.assertIn(line, result.stdout)
        self.assertRegex(result.stdout, r"\n\s*100 \| 7573.75\n")
        self.assertRegex(result.stdout, r"\n pear\n\(1 row\)")

    def test_simple_protocol_parameters(self):
        conn = self.connect(cursor_factory=ClientCursor)
        self.assertIsInstance(conn.cursor(), ClientCursor)
        self.round_trip_on(conn, "simple_values")

    def test_extended_protocol_parameters(self):
        self.round_trip_on(self.connect(), "extended_values")

    def test_extended_protocol_binary_results(self):
        self.round_trip_on(self.connect(), "binary_values", binary=True)

    def round_trip_on(self, conn, table: str, **cursor_options):
        cur = conn.cursor(**cursor_options)
        cur.execute(f"CREATE TABLE {table} (id serial, i int8, f float8, t text, b bytea, ok bool)")
        for row in ROWS:
            cur.execute(f"INSERT INTO {table} (i, f, t, b, ok) VALUES (%s, %s, %s, %s, %s)", row)
        cur.execute(f"SELECT i, f, t, b, ok FROM {table} ORDER BY id")
        self.assertEqual(cur.fetchall(), ROWS)
        cur.execute("SELECT %s::text IS NULL, length(%s::text), %s::bytea", (None, BIG_TEXT, b"\0"))
        self.assertEqual(cur.fetchone(), (True, len(BIG_TEXT), b"\0"))

    def test_server_side_cursor_in_transaction(self):
        conn = self.connect("small")
        other = self.connect("small", prepare_threshold=None)  # prepared statements: below
        fetched = []
        with conn.transaction():
            with conn.cursor(name="plexi_batches") as cur:
                cur.execute("SELECT g, md5(g::text) FROM generate_series(1, 5000) g")
                while rows := cur.fetchmany(700):
                    fetched += rows
                    other.execute("SELECT 1")  # other clients keep using the pool meanwhile
        self.assertEqual([row[0] for row in fetched], list(range(1, 5001)))

    def test_copy_in_and_out(self):
        conn = self.connect()
        cur = conn.cursor()
        cur.execute("CREATE TABLE copy_rows (id int, label text, data bytea)")
        with cur.copy("COPY copy_rows FROM STDIN") as copy:
            for i in range(20000):
                copy.write_row((i, f"label {i} ✓", bytes([i % 256]) * 10))
        self.assertEqual(cur.execute("SELECT count(*), sum(id) FROM copy_rows").fetchone(),
                         (20000, sum(range(20000))))
        with cur.copy("COPY (SELECT id, label FROM copy_rows ORDER BY id) TO STDOUT") as copy:
            rows = list(copy.rows())
        self.assertEqual(len(rows), 20000)
        self.assertEqual(rows[7], ("7", "label 7 ✓"))
        with self.assertRaises(errors.InvalidTextRepresentation):
            with cur.copy("COPY copy_rows (id) FROM STDIN") as copy:
                copy.write(b"not a number\n")
        self.assertEqual(cur.execute("SELECT 1").fetchone(), (1,))

    def test_prepared_statements_across_transactions(self):
        conn = self.connect("small")
        seen = set()
        for round_ in range(3):
            with self.holding_server_of(conn):
                for i in range(10):
                    with conn.transaction():
                        value, pid = conn.execute("SELECT %s::int * 2, pg_backend_pid()",
                                                  (i,), prepare=True).fetchone()
                        self.assertEqual(value, 2 * i)
                        seen.add(pid)
        self.assertGreater(len(seen), 1, "the test never changed server connection")

    def test_prepared_statements_from_many_threads(self):
        failures = []

        def work(n):
            try:
                conn = self.connect("small")
                for i in range(40):
                    with conn.transaction():
                        row = conn.execute("SELECT %s::int + %s::int", (n, i),
                                           prepare=True).fetchone()
                        if row != (n + i,):
                            failures.append((n, i, row))
            except Exception as error:  # reported below, with the thread's number
                failures.append((n, repr(error)))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        self.assertEqual(failures, [])

    def test_notice_reaches_client(self):
        conn = self.connect()
        notices = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
        conn.execute("DO $$ BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; END $$")
        self.assertIn("hello from plpgsql", notices)

    def test_listen_notify(self):
        listener = self.connect("small")
        listener.execute("LISTEN plexi_channel")
        pinned = backend_pid(listener)
        other = self.connect("small", prepare_threshold=None)
        for _ in range(10):  # LISTEN pins the listener: others share what is left
            with other.transaction():
                other.execute("SELECT 1")
            self.assertEqual(backend_pid(listener), pinned)
        self.connect().execute("NOTIFY plexi_channel, 'payload 1'")
        readable, _, _ = select.select([listener.fileno()], [], [], 5)
        self.assertTrue(readable, "no notification arrived at the idle listener")
        listener.pgconn.consume_input()
        notify = listener.pgconn.notifies()
        self.assertIsNotNone(notify)
        self.assertEqual((notify.relname, notify.extra), (b"plexi_channel", b"payload 1"))
        self.assertEqual(listener.execute("SELECT 1").fetchone(), (1,))


if __name__ == "__main__":
    unittest.main()
