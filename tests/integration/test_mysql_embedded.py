"""plexiproxy with no config serves its embedded SQLite database on the MySQL port too:
PyMySQL and the mariadb client work against it, with MySQL's types, OK packets, error
numbers and transactions, and see the same data as PostgreSQL clients on the other port."""

import decimal
import re
import shutil
import subprocess
import threading
import time
import unittest

import pymysql
from pymysql.constants import CLIENT, FIELD_TYPE, SERVER_STATUS

from harness.clients import connect as pg_connect
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.procs import accepts_tcp, wait_until
from harness.watchdog import start_watchdog

ROWS = [
    (1, 1.5, "plain", b"\x00\x01\xff", True),
    (-(2**40), -0.25, "héllo ✓ 日本語 'quoted' back\\slash", b"", False),
    (None, None, None, None, None),
    (2**62, 1e300, "x" * 100_000, bytes(range(256)) * 100, True),
]


class MysqlEmbeddedTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.proxy = Plexiproxy()  # no config: the embedded default, in its own data dir
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        wait_until(lambda: accepts_tcp(cls.proxy.mysql_port), cls.proxy.process, "plexiproxy",
                   cls.proxy.log_path)
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy)
        start_watchdog(self, 120, self.proxy)

    def connect(self, **kwargs) -> pymysql.connections.Connection:
        kwargs.setdefault("database", "mydb")
        conn = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user="anyone",
                               password="", connect_timeout=10, **kwargs)
        self.addCleanup(conn.close)
        return conn

    def mariadb(self, script: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(self.proxy.mysql_port),
             "-u", "anyone", *args, "mydb"],
            input=script, capture_output=True, text=True, timeout=60)

    def query(self, conn, sql: str, args=None) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def test_connect_time_queries(self):
        conn = self.connect(autocommit=True)
        self.assertIn("plexiproxy", conn.get_server_info())
        [(comment,)] = self.query(conn, "SELECT @@version_comment LIMIT 1")
        self.assertIn("SQLite", comment)
        self.assertEqual(self.query(conn, "SELECT DATABASE(), CONNECTION_ID()"),
                         [("mydb", conn.thread_id())])
        [(packet, increment, isolation)] = self.query(
            conn, "SELECT @@max_allowed_packet, @@session.auto_increment_increment AS inc,"
                  " @@transaction_isolation")
        self.assertIsInstance(packet, int)
        self.assertEqual((increment, isolation), (1, "SERIALIZABLE"))
        with self.assertRaises(pymysql.err.OperationalError) as raised:
            self.query(conn, "SELECT @@no_such_variable")
        self.assertEqual(raised.exception.args[0], 1193)
        self.query(conn, "SET NAMES utf8mb4")
        self.query(conn, "SET @@session.time_zone = '+00:00', @marker = 'set'")
        self.assertEqual(self.query(conn, "SELECT @@time_zone, @marker"), [("+00:00", "set")])
        self.query(conn, "USE other_name")
        self.assertEqual(self.query(conn, "SELECT DATABASE()"), [("other_name",)])
        conn.ping()
        self.assertEqual(self.query(conn, "SHOW WARNINGS"), [])
        variables = dict(self.query(conn, "SHOW VARIABLES LIKE 'auto%'"))
        self.assertEqual(variables["autocommit"], "ON")

    def test_insert_select_types(self):
        conn = self.connect(autocommit=True)
        self.query(conn, "CREATE TABLE typed (n INTEGER PRIMARY KEY, i INTEGER, f REAL, t TEXT,"
                         " b BLOB, ok BOOLEAN, d NUMERIC)")
        with conn.cursor() as cur:
            for n, row in enumerate(ROWS, start=1):
                self.assertEqual(cur.execute("INSERT INTO typed (i, f, t, b, ok) VALUES"
                                             " (%s, %s, %s, %s, %s)", row), 1)
                self.assertEqual(cur.lastrowid, n)
            cur.execute("SELECT i, f, t, b, ok FROM typed ORDER BY n")
            self.assertEqual([column[1] for column in cur.description],
                             [FIELD_TYPE.LONGLONG, FIELD_TYPE.DOUBLE, FIELD_TYPE.VAR_STRING,
                              FIELD_TYPE.BLOB, FIELD_TYPE.TINY])
            expected = [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in ROWS]
            self.assertEqual(list(cur.fetchall()), expected)
            # A multi-row INSERT reports its count and, as MySQL does, its first id.
            self.assertEqual(cur.execute("INSERT INTO typed (t, d) VALUES ('a', 1.25), ('b', 2)"), 2)
            self.assertEqual(cur.lastrowid, len(ROWS) + 1)
            cur.execute("SELECT d FROM typed WHERE t = 'a'")
            self.assertEqual(cur.fetchall(), ((decimal.Decimal("1.25"),),))
            cur.execute("SELECT LAST_INSERT_ID()")
            self.assertEqual(cur.fetchall(), ((len(ROWS) + 1,),))
            self.assertEqual(cur.execute("UPDATE typed SET t = upper(t) WHERE t IN ('a', 'b')"), 2)
            self.assertEqual(cur.execute("DELETE FROM typed WHERE d IS NOT NULL"), 2)
            cur.execute("SELECT t FROM typed WHERE i = %s AND ok = %s", (1, True))
            self.assertEqual(cur.fetchall(), (("plain",),))

    def test_large_results_stream_in_batches(self):
        conn = self.connect(autocommit=True)
        rows = self.query(conn, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n"
                                " WHERE x < 25000) SELECT x, 'row ' || x AS label FROM n")
        self.assertEqual(len(rows), 25000)
        self.assertEqual(rows[0], (1, "row 1"))
        self.assertEqual(rows[-1], (25000, "row 25000"))

    def test_transactions_with_pymysql_defaults(self):
        conn = self.connect()  # PyMySQL turns autocommit off, and commits with commit()
        other = self.connect(autocommit=True)
        self.assertFalse(conn.get_autocommit())
        self.query(conn, "CREATE TABLE ledger (entry TEXT)")
        self.query(conn, "INSERT INTO ledger VALUES ('rolled back')")
        self.assertTrue(conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)
        conn.rollback()
        self.assertFalse(conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)
        self.query(conn, "INSERT INTO ledger VALUES ('kept')")
        self.assertEqual(self.query(other, "SELECT entry FROM ledger"), [])
        conn.commit()
        self.assertEqual(self.query(other, "SELECT entry FROM ledger"), [("kept",)])
        # An explicit transaction on an autocommit connection.
        other.begin()
        self.query(other, "INSERT INTO ledger VALUES ('explicit')")
        self.assertTrue(other.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)
        other.rollback()
        self.assertEqual(self.query(other, "SELECT entry FROM ledger"), [("kept",)])
        # Turning autocommit on commits what is open, as in MySQL.
        self.query(conn, "INSERT INTO ledger VALUES ('committed by autocommit')")
        conn.autocommit(True)
        self.assertEqual(len(self.query(other, "SELECT entry FROM ledger")), 2)

    def test_errors_carry_mysql_numbers(self):
        conn = self.connect(autocommit=True)
        self.query(conn, "CREATE TABLE unique_things (id INTEGER PRIMARY KEY, v TEXT UNIQUE NOT NULL)")
        self.query(conn, "INSERT INTO unique_things VALUES (1, 'one')")
        cases = [
            (1062, pymysql.err.IntegrityError, "INSERT INTO unique_things VALUES (2, 'one')"),
            (1062, pymysql.err.IntegrityError, "INSERT INTO unique_things VALUES (1, 'two')"),
            (1048, pymysql.err.IntegrityError, "INSERT INTO unique_things VALUES (3, NULL)"),
            (1064, pymysql.err.ProgrammingError, "SELEC 1"),
            (1146, pymysql.err.ProgrammingError, "SELECT * FROM no_such_table"),
            (1054, pymysql.err.OperationalError, "SELECT nope FROM unique_things"),
            (1050, pymysql.err.OperationalError, "CREATE TABLE unique_things (a)"),
        ]
        for code, kind, statement in cases:
            with self.subTest(code=code, statement=statement):
                with self.assertRaises(kind) as raised:
                    self.query(conn, statement)
                self.assertEqual(raised.exception.args[0], code)
                self.assertEqual(self.query(conn, "SELECT 1"), [(1,)])

    def test_multi_statements(self):
        conn = self.connect(autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE multi (v INTEGER); INSERT INTO multi VALUES (1), (2);"
                        " SELECT v FROM multi ORDER BY v; UPDATE multi SET v = v * 10")
            self.assertEqual(cur.rowcount, 0)  # CREATE TABLE
            self.assertTrue(cur.nextset())
            self.assertEqual(cur.rowcount, 2)
            self.assertTrue(cur.nextset())
            self.assertEqual(cur.fetchall(), ((1,), (2,)))
            self.assertTrue(cur.nextset())
            self.assertEqual(cur.rowcount, 2)
            self.assertFalse(cur.nextset())
            # The first error ends the string: what follows it does not run.
            with self.assertRaises(pymysql.err.ProgrammingError):
                cur.execute("UPDATE multi SET v = 0 WHERE v = 10; SELEC 1; DELETE FROM multi")
                while cur.nextset():
                    pass
        self.assertEqual(self.query(conn, "SELECT v FROM multi ORDER BY v"), [(0,), (20,)])
        # A client that did not ask for several statements per query gets a syntax error.
        single = self.connect(autocommit=True)
        with self.assertRaises(pymysql.err.ProgrammingError) as raised:
            self.query(single, "SELECT 1; SELECT 2")
        self.assertEqual(raised.exception.args[0], 1064)

    def test_mariadb_client(self):
        result = self.mariadb(
            "CREATE TABLE cli (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
            "INSERT INTO cli (name) VALUES ('first'), ('second');\n"
            "SELECT id, name FROM cli ORDER BY id;\n"
            "SHOW TABLES;\nDESCRIBE cli;\n", "--table")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"\| id +\| name   \|\n\+-+\+-+\+\n\| +1 \| first  \|\n"
                                        r"\| +2 \| second \|")
        self.assertRegex(result.stdout, r"\| Tables_in_mydb +\|")
        self.assertRegex(result.stdout, r"\| id +\| integer +\| NO +\| PRI +\| NULL +\|")
        self.assertRegex(result.stdout, r"\| name +\| text +\| NO +\| +\| NULL +\|")
        failed = self.mariadb("INSERT INTO cli VALUES (1, 'again');\n")
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("ERROR 1062 (23000)", failed.stderr)

    def sysbench(self, test: str, command: str, *args: str) -> str:
        result = subprocess.run(
            ["sysbench", test, "--db-driver=mysql", "--mysql-host=127.0.0.1",
             f"--mysql-port={self.proxy.mysql_port}", "--mysql-user=anyone", "--mysql-password=",
             "--mysql-db=mydb", "--tables=1", "--table-size=2000", *args, command],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("FATAL", result.stdout + result.stderr)
        return result.stdout

    @unittest.skipUnless(shutil.which("sysbench"), "sysbench is not installed")
    def test_prepared_statements_with_sysbench(self):
        # sysbench's MySQL driver (libmariadb) runs every statement as a prepared statement:
        # COM_STMT_PREPARE, COM_STMT_EXECUTE with binary parameters and rows, COM_STMT_CLOSE.
        # Its tables are MySQL DDL (AUTO_INCREMENT), which the front rewrites for SQLite.
        self.sysbench("oltp_read_write", "prepare")
        for test, threads in (("oltp_point_select", "4"), ("oltp_read_write", "2")):
            with self.subTest(test=test):
                output = self.sysbench(test, "run", f"--threads={threads}", "--time=3")
                transactions = re.search(r"transactions: +(\d+)", output)
                self.assertIsNotNone(transactions, output)
                self.assertGreater(int(transactions.group(1)), 0, output)
        conn = self.connect(autocommit=True)
        [(rows, lowest)] = self.query(conn, "SELECT count(*), min(id) FROM sbtest1")
        self.assertGreater(rows, 1900)  # oltp_read_write deletes and inserts rows back
        self.assertEqual(lowest, 1)
        self.sysbench("oltp_read_write", "cleanup")

    def test_kill_query_from_another_client(self):
        conn = self.connect(autocommit=True)
        killer = self.connect(autocommit=True)
        errors = []

        def sleep():
            try:
                self.query(conn, "SELECT pg_sleep(30)")
            except pymysql.err.MySQLError as error:
                errors.append(error.args[0])

        thread = threading.Thread(target=sleep)
        started = time.monotonic()
        thread.start()
        time.sleep(0.5)
        self.query(killer, f"KILL QUERY {conn.thread_id()}")
        thread.join(20)
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(errors, [1317])
        self.assertEqual(self.query(conn, "SELECT 1"), [(1,)])

    def test_same_data_on_the_postgresql_port(self):
        conn = self.connect(autocommit=True)
        self.query(conn, "CREATE TABLE shared (id INTEGER PRIMARY KEY, note TEXT)")
        self.query(conn, "INSERT INTO shared (note) VALUES (%s)", ("from mysql",))
        with pg_connect(self.proxy.port, "anyone", "mydb") as pg:
            self.assertEqual(pg.execute("SELECT id, note FROM shared").fetchall(),
                             [(1, "from mysql")])
            pg.execute("INSERT INTO shared (note) VALUES ('from postgres')")
        self.assertEqual(self.query(conn, "SELECT note FROM shared ORDER BY id"),
                         [("from mysql",), ("from postgres",)])


if __name__ == "__main__":
    unittest.main()
