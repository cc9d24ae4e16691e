"""The result cache in front of a real MariaDB server, with a real Redis as the cluster's
`role: cache` backend. What the server executed is read from its own counter
(SHOW GLOBAL STATUS LIKE 'Com_select'), what the proxy did from its metrics and SHOW QUERIES.

- A SELECT a rule gives a cache_ttl is answered from Redis on its second call: the server runs
  it once, and both calls give the client the same rows and column metadata (PyMySQL, and the
  mariadb command-line client's --column-type-info).
- INSERT, UPDATE, DELETE, TRUNCATE and ALTER through the proxy send the next read of their
  table to the server; so does a write through a second plexiproxy sharing the Redis.
- Redis killed mid-test: no client error, statements counted as bypass or error; hits resume
  once Redis is back.
- Never cached: statements inside a transaction, NOW()/RAND()/UUID(), FOR UPDATE.
- Executions of a prepared statement (binary protocol) are cached per parameter values, the
  answer's packets identical to the byte.
- A hint's cache_ttl works without a rule; SHOW QUERIES shows the fingerprint's hit ratio."""

import struct
import subprocess
import threading
import time
import unittest
from datetime import datetime
from decimal import Decimal

import psycopg
import pymysql

from harness.admin_console import show
from harness.mariadb import MariaDBServer
from harness.plexiproxy import Plexiproxy, metric, print_log_if_failed
from harness.redis import RedisServer
from harness.watchdog import start_watchdog

USER, PASSWORD = "app", "app-secret"
ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"
TEST_DEADLINE = 120


def proxy_config(server: MariaDBServer, cache: RedisServer) -> dict:
    return {
        "threads": 2,
        # A health check is a query too: none while a test counts the server's statements.
        "health": {"interval": "600s"},
        "cache": {"timeout": "200ms", "retry_interval": "300ms"},
        "users": [{"name": USER, "password": PASSWORD},
                  {"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True}],
        "clusters": {
            "appdb": {
                "protocol": "mysql",
                "backends": [
                    {"name": "db", "type": "mysql", "role": "primary", "host": server.host,
                     "port": server.port, "database": "appdb"},
                    {"name": "redis-cache", "type": "redis", "role": "cache",
                     "host": cache.host, "port": cache.port},
                ],
                "rules": [{"match": "FROM products", "cache_ttl": "60s"}],
            },
        },
    }


class MysqlResultCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MariaDBServer().start()
        cls.cache = None
        cls.proxy = None
        cls.other_proxy = None
        try:
            cls.cache = RedisServer().start()
            cls.server.execute("CREATE TABLE appdb.products (id INT PRIMARY KEY, "
                               "name VARCHAR(100), price DECIMAL(10, 2), added DATETIME)")
            cls.server.execute("CREATE TABLE appdb.colors (id INT PRIMARY KEY, name TEXT)")
            cls.server.execute("INSERT INTO appdb.colors VALUES (1, 'red'), (2, 'blue')")
            config = proxy_config(cls.server, cls.cache)
            cls.proxy = Plexiproxy(config).start()
            cls.other_proxy = Plexiproxy(config).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for process in (cls.other_proxy, cls.proxy, cls.cache, cls.server):
            if process is not None:
                process.close()

    def setUp(self):
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.server, self.cache)
        self.addCleanup(print_log_if_failed, self, self.proxy, self.other_proxy)
        self.conn = self.connect()
        self.addCleanup(self.conn.close)
        # Through the proxy, which invalidates what earlier tests cached.
        self.write("DELETE FROM products")
        self.write("INSERT INTO products VALUES (1, 'pen', 1.50, '2024-01-02 03:04:05'), "
                   "(2, 'ink', 12.00, NULL), (3, 'pad', 4.25, '2024-05-06 07:08:09')")

    def connect(self, proxy=None) -> pymysql.connections.Connection:
        proxy = proxy or self.proxy
        return pymysql.connect(host="127.0.0.1", port=proxy.mysql_port, user=USER,
                               password=PASSWORD, database="appdb", autocommit=True,
                               connect_timeout=10, read_timeout=30)

    def query(self, sql, conn=None):
        """The rows and the column metadata the client sees."""
        with (conn or self.conn).cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall()), cursor.description

    def write(self, sql, conn=None):
        with (conn or self.conn).cursor() as cursor:
            cursor.execute(sql)

    def selects(self) -> tuple[int, int]:
        """The server's count of SELECTs, and of connections, for selects_since()."""
        rows = dict(self.server.execute(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Connections')"))
        return int(rows["Com_select"]), int(rows["Connections"])

    def selects_since(self, before: tuple[int, int]) -> int:
        """The SELECTs the server ran since `before` (selects()), less the one each new
        server connection of the proxy runs to learn its character set (which one the
        proxy's connections reach is not what is tested). The connection this asks on is
        one of the new ones, and runs none."""
        selects, connections = self.selects()
        return (selects - before[0]) - (connections - before[1] - 1)

    def executions(self, sql, calls=2, conn=None):
        """Runs `sql` `calls` times; the answers, and how many SELECTs the server ran."""
        before = self.selects()
        answers = [self.query(sql, conn) for _ in range(calls)]
        return answers, self.selects_since(before)

    def status(self, name) -> int:
        return int(self.server.execute(f"SHOW GLOBAL STATUS LIKE '{name}'")[0][1])

    @staticmethod
    def packets(conn, until_eofs):
        """The payloads of the packets that answer the last command, up to the `until_eofs`th
        EOF (PyMySQL asks for no CLIENT_DEPRECATE_EOF) or an OK or ERR that ends it."""
        payloads, eofs = [], 0
        while True:
            data = conn._read_packet().get_all_data()
            payloads.append(data)
            if data[0] == 0xFF or (data[0] == 0x00 and len(payloads) == 1):
                return payloads
            if data[0] == 0xFE and len(data) < 9:
                eofs += 1
                if eofs == until_eofs:
                    return payloads

    def prepare(self, conn, sql) -> int:
        conn._execute_command(0x16, sql)  # COM_STMT_PREPARE
        ok = [conn._read_packet().get_all_data()]
        self.assertEqual(ok[0][0], 0x00, ok)
        statement_id, columns, parameters = struct.unpack("<IHH", ok[0][1:9])
        for count in (parameters, columns):
            if count:
                self.packets(conn, 1)
        return statement_id

    def execute(self, conn, statement_id, value) -> list[bytes]:
        """COM_STMT_EXECUTE with one BIGINT parameter: the answer's packets."""
        payload = struct.pack("<BIBI", 0x17, statement_id, 0, 1)
        payload += b"\x00" + b"\x01" + struct.pack("<BB", 0x08, 0x00) + struct.pack("<q", value)
        conn._execute_command(0x17, payload[1:])
        return self.packets(conn, 2)

    def cache_requests(self, result, proxy=None) -> float:
        return metric(proxy or self.proxy,
                      f'plexiproxy_cache_requests_total{{result="{result}"}}')

    def test_second_call_is_answered_from_redis_with_the_same_answer(self):
        sql = "SELECT id, name, price, added FROM products WHERE id <= 2 ORDER BY id"
        hits = self.cache_requests("hit")
        served = metric(self.proxy, 'plexiproxy_cache_bytes_total{operation="served"}')
        (first, second), ran = self.executions(sql)
        self.assertEqual(ran, 1)
        self.assertEqual(first[0], [(1, "pen", Decimal("1.50"),
                                     datetime(2024, 1, 2, 3, 4, 5)),
                                    (2, "ink", Decimal("12.00"), None)])
        self.assertEqual(second, first)  # rows and column metadata
        self.assertEqual(self.cache_requests("hit") - hits, 1)
        self.assertGreater(
            metric(self.proxy, 'plexiproxy_cache_bytes_total{operation="served"}'), served)
        # Another client of the same user and schema shares the entry.
        with self.connect() as other:
            (third,), ran = self.executions(sql, calls=1, conn=other)
        self.assertEqual(ran, 0)
        self.assertEqual(third, first)

    def test_the_mariadb_client_sees_the_same_answer_from_the_cache(self):
        sql = "SELECT name, price, added FROM products ORDER BY id DESC"
        command = ["mariadb", "-h", "127.0.0.1", "-P", str(self.proxy.mysql_port), "-u", USER,
                   f"-p{PASSWORD}", "--column-type-info", "--table", "appdb", "-e"]
        command.append(sql)
        before = self.selects()
        outputs = [subprocess.run(command, capture_output=True, text=True, timeout=30,
                                  check=True).stdout for _ in range(2)]
        self.assertEqual(self.selects_since(before), 1)
        self.assertIn("Field   3:  `added`", outputs[0])
        self.assertIn("pad", outputs[0])
        self.assertEqual(outputs[1], outputs[0])

    def test_writes_through_the_proxy_send_the_next_read_to_the_server(self):
        sql = "SELECT id, name, price FROM products ORDER BY id"
        writes = [
            ("INSERT INTO products VALUES (4, 'cup', 3.00, NULL)", 4),
            ("UPDATE products SET price = 2.00 WHERE id = 1", 4),
            ("DELETE FROM products WHERE id = 4", 3),
            ("TRUNCATE TABLE products", 0),
            ("ALTER TABLE products ADD COLUMN note TEXT", 0),
        ]
        for write, rows_after in writes:
            with self.subTest(write=write):
                _, ran = self.executions(sql)
                self.assertLessEqual(ran, 1)  # the second from the cache
                (cached,), ran = self.executions(sql, calls=1)
                self.assertEqual(ran, 0)
                self.write(write)
                (after,), ran = self.executions(sql, calls=1)
                self.assertEqual(ran, 1, "the read after the write came from the cache")
                self.assertEqual(len(after[0]), rows_after)
                if write.startswith("UPDATE"):
                    self.assertEqual(after[0][0][2], Decimal("2.00"))
        self.write("ALTER TABLE products DROP COLUMN note")

    def test_a_write_in_a_transaction_invalidates_when_it_commits(self):
        sql = "SELECT name FROM products WHERE id = 2"
        self.executions(sql)
        self.conn.begin()
        self.write("UPDATE products SET name = 'ink2' WHERE id = 2")
        with self.connect() as other:
            # Not committed yet: the other client may still be answered from the cache.
            (before_commit,), _ = self.executions(sql, calls=1, conn=other)
            self.assertEqual(before_commit[0], [("ink",)])
            self.conn.commit()
            (after,), ran = self.executions(sql, calls=1, conn=other)
        self.assertEqual(ran, 1)
        self.assertEqual(after[0], [("ink2",)])

    def test_a_write_through_another_proxy_invalidates_this_ones_entries(self):
        sql = "SELECT id, name FROM products WHERE price > 2 ORDER BY id"
        (first, _), _ = self.executions(sql)
        (_,), ran = self.executions(sql, calls=1)
        self.assertEqual(ran, 0)
        with self.connect(self.other_proxy) as other:
            self.write("UPDATE products SET price = 1.00 WHERE id = 3", conn=other)
        (after,), ran = self.executions(sql, calls=1)
        self.assertEqual(ran, 1)
        self.assertEqual(after[0], [(2, "ink")])
        self.assertNotEqual(after[0], first[0])

    def test_redis_killed_mid_test_costs_no_client_error(self):
        # A Redis and a proxy of their own: the outage must not leave the shared proxies'
        # connections in their retry interval while later tests count the server's statements.
        # Persistent, so that entries outlive the crash (as a write made meanwhile must not let
        # them be served again).
        cache = RedisServer(persistence=True).start()
        self.addCleanup(cache.close)
        proxy = Plexiproxy(proxy_config(self.server, cache)).start()
        self.addCleanup(proxy.close)
        self.addCleanup(print_log_if_failed, self, proxy)
        conn = self.connect(proxy)
        self.addCleanup(conn.close)
        sql = "SELECT id, name FROM products WHERE id = 3"
        self.executions(sql, conn=conn)
        errors = self.cache_requests("error", proxy)
        bypasses = self.cache_requests("bypass", proxy)
        cache.kill()
        answers = [self.query(sql, conn)[0] for _ in range(20)]
        self.assertEqual(answers, [[(3, "pad")]] * 20)
        self.assertGreater(self.cache_requests("error", proxy)
                           + self.cache_requests("bypass", proxy), errors + bypasses)
        self.assertGreater(self.cache_requests("bypass", proxy), bypasses)
        # A write while Redis is away is not forgotten when it comes back with its entries.
        self.write("UPDATE products SET name = 'pad2' WHERE id = 3", conn=conn)
        cache.start()
        with cache.client() as redis_client:
            self.assertTrue(redis_client.keys("plexiproxy:result:*"))
        # Clients on each worker (they are spread over them in turn), not only on the one whose
        # connection kept the write's invalidation, see it at once.
        for _ in range(2):
            with self.connect(proxy) as other:
                self.assertEqual(self.query(sql, other)[0], [(3, "pad2")])
        hits = self.cache_requests("hit", proxy)
        deadline = time.monotonic() + 10
        while self.cache_requests("hit", proxy) == hits and time.monotonic() < deadline:
            self.assertEqual(self.query(sql, conn)[0], [(3, "pad2")])
            time.sleep(0.1)
        self.assertGreater(self.cache_requests("hit", proxy), hits, "no hit after Redis came back")
        self.assertEqual(self.query(sql, conn)[0], [(3, "pad2")])

    def test_pause_holds_a_cached_read_until_resume(self):
        sql = "SELECT id, name FROM products WHERE id = 2"
        self.executions(sql)  # now cached
        answers = []
        answered = threading.Event()

        def read() -> None:
            answers.append(self.query(sql)[0])
            answered.set()

        hits = self.cache_requests("hit")
        before = self.selects()
        with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=ADMIN,
                             password=ADMIN_PASSWORD, dbname="plexiproxy",
                             autocommit=True) as admin:
            admin.execute("PAUSE appdb")
            reader = threading.Thread(target=read)
            try:
                reader.start()
                self.assertFalse(answered.wait(1), "a cached read was answered while paused")
            finally:
                admin.execute("RESUME appdb")
            reader.join(10)
        self.assertEqual(answers, [[(2, "ink")]])
        self.assertEqual(self.cache_requests("hit"), hits + 1)
        self.assertEqual(self.selects_since(before), 0)

    def test_invalidate_cache_after_a_write_the_proxy_did_not_see(self):
        sql = "SELECT id, name FROM products WHERE id = 1"
        self.executions(sql)  # now cached
        # Written on the server directly: the cached answer stays until invalidated.
        self.server.execute("UPDATE appdb.products SET name = 'quill' WHERE id = 1")
        self.assertEqual(self.query(sql)[0], [(1, "pen")])
        for command in ("INVALIDATE CACHE appdb products", "INVALIDATE CACHE appdb"):
            with self.subTest(command):
                with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=ADMIN,
                                     password=ADMIN_PASSWORD, dbname="plexiproxy",
                                     autocommit=True) as admin:
                    admin.execute(command)
                (first, second), ran = self.executions(sql)
                self.assertEqual(ran, 1)
                self.assertEqual(first[0], [(1, "quill")])
                self.assertEqual(second, first)

    def test_a_shape_whose_entries_are_not_read_again_skips_the_cache(self):
        sql = "SELECT price AS hot_price FROM products WHERE id = 1"  # a shape of its own
        misses, bypasses = self.cache_requests("miss"), self.cache_requests("bypass")
        # Each read follows a write to its table: no entry is ever read again.
        for cents in range(1, 301):
            self.write(f"UPDATE products SET price = {cents} / 100 WHERE id = 1")
            self.assertEqual(self.query(sql)[0], [(Decimal(cents) / 100,)])
        # 200 lookups without a hit, then the shape rests (all on this client's worker).
        self.assertEqual(self.cache_requests("miss") - misses, 200)
        self.assertEqual(self.cache_requests("bypass") - bypasses, 100)

    def test_an_invalidate_hint_covers_a_trigger_that_writes(self):
        sql = "SELECT id, name FROM products WHERE id = 2"
        self.server.execute("CREATE TABLE appdb.renames (id INT, name VARCHAR(100))")
        self.server.execute("CREATE TRIGGER appdb.apply_rename AFTER INSERT ON appdb.renames "
                            "FOR EACH ROW UPDATE appdb.products SET name = NEW.name "
                            "WHERE id = NEW.id")
        try:
            self.executions(sql)  # now cached
            # A write to renames to the proxy: the entry stays.
            self.write("INSERT INTO renames VALUES (2, 'unseen')")
            self.assertEqual(self.query(sql)[0], [(2, "ink")])
            self.write("/* plexiproxy: invalidate=products */ "
                       "INSERT INTO renames VALUES (2, 'quill')")
            (first, second), ran = self.executions(sql)
            self.assertEqual(ran, 1)
            self.assertEqual(first[0], [(2, "quill")])
            self.assertEqual(second, first)
        finally:
            self.server.execute("DROP TABLE appdb.renames")

    def test_never_cached_in_a_transaction_or_when_volatile_or_locking(self):
        bypasses = self.cache_requests("bypass")
        self.conn.begin()
        _, ran = self.executions("SELECT name FROM products WHERE id = 1")
        self.conn.commit()
        self.assertEqual(ran, 2)
        for sql in ["SELECT name, NOW(6) FROM products WHERE id = 1",
                    "SELECT name, RAND() FROM products WHERE id = 1",
                    "SELECT name, UUID() FROM products WHERE id = 1"]:
            with self.subTest(sql=sql):
                (first, second), ran = self.executions(sql)
                self.assertEqual(ran, 2)
                self.assertNotEqual(first[0][0][1], second[0][0][1])
        self.conn.begin()
        _, ran = self.executions("SELECT name FROM products WHERE id = 1 FOR UPDATE")
        self.conn.commit()
        self.assertEqual(ran, 2)
        _, ran = self.executions("SELECT name FROM products WHERE id = 2 FOR UPDATE")
        self.assertEqual(ran, 2)
        self.assertGreaterEqual(self.cache_requests("bypass") - bypasses, 12)

    def test_prepared_statement_executions_are_cached_per_parameters(self):
        sql = "SELECT id, name, price, added FROM products WHERE id = ?"
        with self.connect() as conn:
            statement_id = self.prepare(conn, sql)
            before = self.status("Com_stmt_execute")
            first, second = (self.execute(conn, statement_id, 1) for _ in range(2))
            third, fourth = (self.execute(conn, statement_id, 3) for _ in range(2))
            ran = self.status("Com_stmt_execute") - before
            self.assertEqual(ran, 2)  # once for each value
            self.assertEqual(second, first)  # the same bytes
            self.assertEqual(fourth, third)
            self.assertNotEqual(third, first)
            self.assertIn(b"pen", b"".join(first))
            self.assertIn(b"pad", b"".join(third))
            # A write through the proxy: the next execution goes to the server.
            self.write("UPDATE products SET name = 'pen2' WHERE id = 1", conn=conn)
            fifth = self.execute(conn, statement_id, 1)
            self.assertEqual(self.status("Com_stmt_execute") - before, 3)
            self.assertIn(b"pen2", b"".join(fifth))

    def test_an_answer_over_max_result_bytes_is_not_stored(self):
        stored = metric(self.proxy, 'plexiproxy_cache_bytes_total{operation="stored"}')
        (first, second), ran = self.executions(
            "SELECT id, REPEAT('x', 600000) FROM products WHERE id <= 2 ORDER BY id")
        self.assertEqual(ran, 2)
        self.assertEqual(second, first)
        self.assertEqual(len(first[0][1][1]), 600000)
        self.assertEqual(metric(self.proxy, 'plexiproxy_cache_bytes_total{operation="stored"}'),
                         stored)

    def test_a_leading_executable_comment_is_part_of_the_statement(self):
        for _ in range(2):
            self.assertEqual(self.query("/*!50000 SELECT name */ FROM products WHERE id = 1")[0],
                             [("pen",)])
            self.assertEqual(self.query("/*!50000 SELECT price */ FROM products WHERE id = 1")[0],
                             [(Decimal("1.50"),)])

    def test_a_hint_caches_without_a_rule_and_show_queries_shows_the_ratio(self):
        sql = "/* plexiproxy: cache_ttl=30s */ SELECT name FROM colors WHERE id = 2"
        (first, second, third), ran = self.executions(sql, calls=3)
        self.assertEqual(ran, 1)
        self.assertEqual(first[0], [("blue",)])
        self.assertEqual(third, first)
        # Without the hint (and no rule), the same statement is not cached.
        _, ran = self.executions("SELECT name FROM colors WHERE id = 1")
        self.assertEqual(ran, 2)
        # cache_ttl=off keeps a statement a rule would cache out of the cache.
        _, ran = self.executions("/* plexiproxy: cache_ttl=off */ SELECT name FROM products")
        self.assertEqual(ran, 2)
        rows = [row for row in show(self.proxy, ADMIN, ADMIN_PASSWORD, "QUERIES")
                if row["query"] == "SELECT name FROM colors WHERE id = ?"]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual((rows[0]["calls"], rows[0]["cache_hits"], rows[0]["cache_misses"]),
                         ("5", "2", "1"))
        self.assertEqual(rows[0]["cache_hit_ratio"], "0.667")


if __name__ == "__main__":
    unittest.main()
