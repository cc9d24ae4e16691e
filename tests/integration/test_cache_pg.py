"""The result cache with PostgreSQL: answers of reads a rule or hint gives a cache_ttl come from
Redis on the second call, byte for byte what the server sent; writes through any plexiproxy
sharing that Redis invalidate them; Redis going away costs clients nothing.

Two proxies (A and B) serve one PostgreSQL server and one Redis. The server runs
pg_stat_statements, which tells how often a statement really ran there."""

import socket
import struct
import threading
import time
import unittest

import psycopg

from harness.admin_console import show
from harness.plexiproxy import Plexiproxy, metric, print_log_if_failed
from harness.postgres import PostgresServer
from harness.redis import RedisServer
from harness.watchdog import start_watchdog
from harness.wire import WireClient, message

USER, PASSWORD, DB = "app", "apppass", "appdb"
ADMIN, ADMIN_PASSWORD = "admin", "adminpass"
TEST_DEADLINE = 90


def config(pg: PostgresServer, redis: RedisServer) -> dict:
    return {
        "users": [{"name": USER, "password": PASSWORD},
                  {"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True}],
        "threads": 2,  # connections to Redis on two workers share what Redis missed
        # The health checks log in as the application, and read the views of the database.
        "health": {"interval": "200ms", "timeout": "2s", "user": USER, "password": PASSWORD},
        "cache": {"timeout": "200ms", "retry_interval": "300ms", "max_result_bytes": 100000},
        "clusters": {DB: {
            "backends": [
                {"name": "pg", "type": "postgres", "host": pg.host, "port": pg.port,
                 "pool_size": 4},
                {"name": "cache", "type": "redis", "role": "cache", "host": redis.host,
                 "port": redis.port},
            ],
            "rules": [{"match": "FROM items", "cache_ttl": "60s"}],
        }},
    }


def encode(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def message_types(data: bytes) -> list[bytes]:
    types, at = [], 0
    while at < len(data):
        types.append(data[at:at + 1])
        at += 1 + struct.unpack("!I", data[at + 1:at + 5])[0]
    return types


class CacheTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = PostgresServer()
        cls.pg._initdb()
        with open(cls.pg.data_dir / "postgresql.conf", "a") as conf:
            conf.write("shared_preload_libraries = 'pg_stat_statements'\n"
                       "pg_stat_statements.track_utility = off\n")
        cls.pg.start()
        cls.pg.create_user(USER, PASSWORD)
        cls.pg.create_database(DB, owner=USER)
        cls.pg.execute("CREATE EXTENSION pg_stat_statements", dbname=DB)
        cls.pg.execute(f"GRANT pg_read_all_stats TO {USER}")
        with psycopg.connect(cls.pg.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric,"
                         " added date)")
            conn.execute("INSERT INTO items SELECT g, 'item ' || g, g * 1.5,"
                         " date '2024-01-01' + g FROM generate_series(1, 50) g")
            conn.execute("CREATE TABLE other (v int)")
            conn.execute("INSERT INTO other VALUES (1), (2)")
            conn.execute("CREATE SEQUENCE counter")
        cls.redis = RedisServer().start()
        cls.proxy = Plexiproxy(config(cls.pg, cls.redis)).start()
        cls.second = Plexiproxy(config(cls.pg, cls.redis)).start()

    @classmethod
    def tearDownClass(cls):
        for server in (cls.second, cls.proxy, cls.redis, cls.pg):
            server.close()

    def setUp(self):
        start_watchdog(self, TEST_DEADLINE, self.proxy)
        self.addCleanup(print_log_if_failed, self, self.proxy, self.second)
        self.pg.execute("SELECT pg_stat_statements_reset()", dbname=DB)

    def connect(self, proxy: Plexiproxy | None = None, **kwargs) -> psycopg.Connection:
        proxy = proxy or self.proxy
        return psycopg.connect(host="127.0.0.1", port=proxy.port, user=USER, password=PASSWORD,
                               dbname=DB, autocommit=True, **kwargs)

    def executions(self, fragment: str) -> int:
        """How often the server ran statements whose text contains `fragment`."""
        rows = self.pg.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"
                               " WHERE query LIKE %s AND query NOT LIKE '%%pg_stat_statements%%'",
                               (f"%{fragment}%",), dbname=DB)
        return int(rows[0][0])

    def cache_count(self, result: str, proxy: Plexiproxy | None = None) -> float:
        return metric(proxy or self.proxy, f'plexiproxy_cache_requests_total{{result="{result}"}}')

    # --- raw protocol: the exact bytes a client receives ---

    def wire(self, port: int) -> WireClient:
        client = WireClient(port)
        self.assertIsNone(client.login(USER, DB, PASSWORD))
        return client

    @staticmethod
    def answer(client: WireClient, request: bytes) -> bytes:
        """Sends `request` and returns every message up to ReadyForQuery, re-encoded."""
        client.send(request)
        out = b""
        while True:
            kind, body = client.read_message()
            out += encode(kind, body)
            if kind == b"Z":
                return out

    @staticmethod
    def simple(sql: str) -> bytes:
        return message(b"Q", sql.encode() + b"\0")

    @staticmethod
    def extended(sql: str, params: list[bytes], result_format: int, statement: str = "",
                 parse: bool = True) -> bytes:
        out = b""
        if parse:
            out += message(b"P", statement.encode() + b"\0" + sql.encode() + b"\0" +
                           struct.pack("!h", 0))
        bind = b"\0" + statement.encode() + b"\0" + struct.pack("!hh", 1, 0)
        bind += struct.pack("!h", len(params))
        for param in params:
            bind += struct.pack("!i", len(param)) + param
        bind += struct.pack("!hh", 1, result_format)
        out += message(b"B", bind)
        out += message(b"D", b"P\0")
        out += message(b"E", b"\0" + struct.pack("!i", 0))
        out += message(b"S")
        return out

    def test_a_repeated_select_is_answered_from_redis_with_the_same_bytes(self):
        sql = "SELECT id, name, price, added FROM items WHERE id <= 20 ORDER BY id"
        requests = {
            "simple query, text": (self.simple(sql), "FROM items WHERE id <="),
            "extended, text": (self.extended(
                "SELECT id, name, price FROM items WHERE id < $1 ORDER BY id", [b"30"], 0),
                "FROM items WHERE id < $1"),
            "extended, binary": (self.extended(
                "SELECT id, name, price, added FROM items WHERE id > $1 ORDER BY id", [b"40"], 1),
                "FROM items WHERE id > $1"),
        }
        with self.wire(self.proxy.port) as through_proxy, self.wire(self.pg.port) as direct:
            for name, (request, fragment) in requests.items():
                with self.subTest(name):
                    hits = self.cache_count("hit")
                    first = self.answer(through_proxy, request)
                    second = self.answer(through_proxy, request)
                    self.assertEqual(self.executions(fragment), 1,
                                     "the second call should not reach the server")
                    self.assertEqual(self.cache_count("hit"), hits + 1)
                    self.assertEqual(second, first)
                    # What a direct connection gets, after BindComplete/ParseComplete.
                    self.assertEqual(second, self.answer(direct, request))
                    self.assertIn(b"D", message_types(second))

    def test_named_prepared_statements_are_answered_from_redis(self):
        with self.connect(prepare_threshold=0) as conn:
            for _ in range(5):
                rows = conn.execute("SELECT name FROM items WHERE id = %s", (7,)).fetchall()
                self.assertEqual(rows, [("item 7",)])
            rows = conn.execute("SELECT name FROM items WHERE id = %s", (8,)).fetchall()
            self.assertEqual(rows, [("item 8",)])
        self.assertEqual(self.executions("FROM items WHERE id = $1"), 2)

    def test_writes_through_the_proxy_invalidate_the_tables_entries(self):
        count = "SELECT count(*), sum(price) FROM items WHERE id > 1000"
        writes = [
            "INSERT INTO items VALUES (1001, 'new', 1, now())",
            "UPDATE items SET price = 2 WHERE id = 1001",
            "DELETE FROM items WHERE id = 1001",
            "ALTER TABLE items ADD COLUMN extra int",
            "ALTER TABLE items DROP COLUMN extra",
        ]
        with self.connect() as conn, psycopg.connect(self.pg.dsn(DB, USER, PASSWORD),
                                                     autocommit=True) as direct:
            for write in writes:
                with self.subTest(write):
                    before = conn.execute(count).fetchone()  # now in the cache
                    executed = self.executions("FROM items WHERE id > $1")
                    self.assertEqual(conn.execute(count).fetchone(), before)
                    self.assertEqual(self.executions("FROM items WHERE id > $1"), executed)
                    conn.execute(write)
                    after = conn.execute(count).fetchone()
                    self.assertEqual(self.executions("FROM items WHERE id > $1"), executed + 1)
                    self.assertEqual(after, direct.execute(count).fetchone())
            # In a transaction: invalidated when it commits.
            conn.execute(count).fetchone()
            with conn.transaction():
                conn.execute("INSERT INTO items VALUES (1002, 'tx', 3, now())")
            self.assertEqual(conn.execute(count).fetchone()[0], 1)
            conn.execute("DELETE FROM items WHERE id = 1002")

    def test_truncate_invalidates(self):
        with self.connect() as conn:
            conn.execute("CREATE TABLE scratch AS SELECT * FROM items")
            query = "/* plexiproxy: cache_ttl=60s */ SELECT count(*) FROM scratch"
            self.assertEqual(conn.execute(query).fetchone(), (50,))
            self.assertEqual(conn.execute(query).fetchone(), (50,))
            self.assertEqual(self.executions("FROM scratch"), 1)
            conn.execute("TRUNCATE scratch")
            self.assertEqual(conn.execute(query).fetchone(), (0,))
            conn.execute("DROP TABLE scratch")

    def test_a_write_to_the_tables_behind_a_view_invalidates_its_reads(self):
        read = "/* plexiproxy: cache_ttl=60s */ SELECT name FROM item_names WHERE id = 23"
        with self.connect() as conn:
            # Made through the proxy: its next read is cached with the view's tables.
            conn.execute("CREATE VIEW item_names AS SELECT id, name FROM items")
            try:
                self.assertEqual(conn.execute(read).fetchone(), ("item 23",))
                self.assertEqual(conn.execute(read).fetchone(), ("item 23",))
                self.assertEqual(self.executions("FROM item_names"), 1)
                conn.execute("UPDATE items SET name = 'renamed' WHERE id = 23")
                self.assertEqual(conn.execute(read).fetchone(), ("renamed",))
                self.assertEqual(self.executions("FROM item_names"), 2)
                # A view over that view, made on the server directly: found by the next
                # reading of the catalog (every health.interval, 200 ms here).
                with psycopg.connect(self.pg.dsn(DB, USER, PASSWORD), autocommit=True) as direct:
                    direct.execute("CREATE VIEW long_names AS SELECT id, name || '!' AS name"
                                   " FROM item_names")
                time.sleep(2)
                nested = "/* plexiproxy: cache_ttl=60s */ SELECT name FROM long_names WHERE id = 23"
                self.assertEqual(conn.execute(nested).fetchone(), ("renamed!",))
                self.assertEqual(conn.execute(nested).fetchone(), ("renamed!",))
                self.assertEqual(self.executions("FROM long_names"), 1)
                conn.execute("UPDATE items SET name = 'item 23' WHERE id = 23")
                self.assertEqual(conn.execute(nested).fetchone(), ("item 23!",))
                # Through an updatable view, a write reaches the table and its readers.
                self.assertEqual(conn.execute(read).fetchone(), ("item 23",))
                conn.execute("UPDATE item_names SET name = 'via view' WHERE id = 23")
                self.assertEqual(conn.execute(read).fetchone(), ("via view",))
                self.assertEqual(conn.execute(nested).fetchone(), ("via view!",))
            finally:
                conn.execute("UPDATE items SET name = 'item 23' WHERE id = 23")
                conn.execute("DROP VIEW IF EXISTS long_names")
                conn.execute("DROP VIEW item_names")

    def test_a_write_through_another_proxy_invalidates(self):
        query = "SELECT name FROM items WHERE id = 3"
        with self.connect() as first, self.connect(self.second) as second:
            self.assertEqual(first.execute(query).fetchone(), ("item 3",))
            self.assertEqual(first.execute(query).fetchone(), ("item 3",))
            self.assertEqual(self.executions("FROM items WHERE id ="), 1)
            second.execute("UPDATE items SET name = 'renamed' WHERE id = 3")
            try:
                self.assertEqual(first.execute(query).fetchone(), ("renamed",))
            finally:
                second.execute("UPDATE items SET name = 'item 3' WHERE id = 3")
            self.assertEqual(first.execute(query).fetchone(), ("item 3",))

    def test_never_cached(self):
        cases = {  # name: (statement, what pg_stat_statements shows of it)
            "now()": ("SELECT now(), count(*) FROM items", "SELECT now()"),
            "random()": ("SELECT random() FROM items LIMIT 1", "SELECT random()"),
            "nextval()": ("SELECT nextval('counter') FROM items LIMIT 1", "SELECT nextval("),
            "FOR UPDATE": ("SELECT added FROM items WHERE id = 5 FOR UPDATE", "SELECT added"),
        }
        with self.connect() as conn:
            for name, (sql, fragment) in cases.items():
                with self.subTest(name):
                    bypassed = self.cache_count("bypass")
                    first = conn.execute(sql).fetchall()
                    second = conn.execute(sql).fetchall()
                    self.assertEqual(self.cache_count("bypass"), bypassed + 2)
                    self.assertEqual(self.executions(fragment), 2)
                    if name != "FOR UPDATE":
                        self.assertNotEqual(first, second)
            with self.subTest("in a transaction"):
                query = "SELECT price FROM items WHERE id = 11"
                with conn.transaction():
                    conn.execute(query).fetchall()
                    conn.execute(query).fetchall()
                self.assertEqual(self.executions("SELECT price FROM items"), 2)

    def test_hint_alone_ttl_and_show_queries(self):
        query = "/* plexiproxy: cache_ttl=1s */ SELECT v FROM other ORDER BY v"
        with self.connect() as conn:
            for _ in range(4):
                self.assertEqual(conn.execute(query).fetchall(), [(1,), (2,)])
            self.assertEqual(self.executions("FROM other"), 1)
            time.sleep(1.3)  # the entry's TTL
            self.assertEqual(conn.execute(query).fetchall(), [(1,), (2,)])
            self.assertEqual(self.executions("FROM other"), 2)
            # cache_ttl=0 keeps a statement the rules would cache out of the cache.
            off = "/* plexiproxy: cache_ttl=0 */ SELECT id FROM items WHERE id = 9"
            conn.execute(off).fetchall()
            conn.execute(off).fetchall()
            self.assertEqual(self.executions("FROM items WHERE id ="), 2)
        rows = [row for row in show(self.proxy, ADMIN, ADMIN_PASSWORD, "QUERIES")
                if "FROM other" in row["query"]]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual([str(rows[0][column]) for column in
                          ("calls", "cache_hits", "cache_misses", "cache_hit_ratio")],
                         ["5", "3", "2", "0.600"])

    def test_pause_holds_a_cached_read_until_resume(self):
        query = "SELECT name FROM items WHERE id = 7"
        answers: list[tuple] = []
        answered = threading.Event()
        with self.connect() as conn:
            self.assertEqual(conn.execute(query).fetchone(), ("item 7",))  # now cached

            def read() -> None:
                answers.append(conn.execute(query).fetchone())
                answered.set()

            hits = self.cache_count("hit")
            with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=ADMIN,
                                 password=ADMIN_PASSWORD, dbname="plexiproxy",
                                 autocommit=True) as admin:
                admin.execute(f"PAUSE {DB}")
                reader = threading.Thread(target=read)
                try:
                    reader.start()
                    self.assertFalse(answered.wait(1), "a cached read was answered while paused")
                finally:
                    admin.execute(f"RESUME {DB}")
                reader.join(10)
            self.assertEqual(answers, [("item 7",)])
            self.assertEqual(self.cache_count("hit"), hits + 1)
            self.assertEqual(self.executions("FROM items WHERE id ="), 1)

    def admin(self, command: str) -> None:
        with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user=ADMIN,
                             password=ADMIN_PASSWORD, dbname="plexiproxy",
                             autocommit=True) as admin:
            admin.execute(command)

    def test_invalidate_cache_after_a_write_the_proxy_did_not_see(self):
        query = "SELECT name FROM items WHERE id = 17"
        other = "/* plexiproxy: cache_ttl=60s */ SELECT v FROM other WHERE v > 0 ORDER BY v"
        with self.connect() as conn:
            self.assertEqual(conn.execute(query).fetchone(), ("item 17",))
            self.assertEqual(conn.execute(other).fetchall(), [(1,), (2,)])
            # Written on the server directly: the cached answer stays until invalidated.
            self.pg.execute("UPDATE items SET name = 'direct' WHERE id = 17", dbname=DB)
            try:
                self.assertEqual(conn.execute(query).fetchone(), ("item 17",))
                self.admin("INVALIDATE CACHE appdb items")
                self.assertEqual(conn.execute(query).fetchone(), ("direct",))
                self.assertEqual(conn.execute(other).fetchall(), [(1,), (2,)])
                self.assertEqual(self.executions("FROM items WHERE id ="), 2)
                self.assertEqual(self.executions("FROM other"), 1, "another table's entry went")
                # Without tables: every entry of the cluster, in every proxy sharing Redis.
                self.assertEqual(conn.execute(query).fetchone(), ("direct",))
                self.admin("INVALIDATE CACHE appdb")
                self.assertEqual(conn.execute(other).fetchall(), [(1,), (2,)])
                with self.connect(self.second) as second:
                    self.assertEqual(second.execute(query).fetchone(), ("direct",))
                self.assertEqual(self.executions("FROM items WHERE id ="), 3)
                self.assertEqual(self.executions("FROM other"), 2)
            finally:
                self.pg.execute("UPDATE items SET name = 'item 17' WHERE id = 17", dbname=DB)
                self.admin("INVALIDATE CACHE appdb items")
        with self.assertRaises(psycopg.Error) as refused:
            self.admin("INVALIDATE CACHE nosuch")
        self.assertEqual(refused.exception.sqlstate, "3D000")

    def test_a_shape_whose_entries_are_not_read_again_skips_the_cache(self):
        read = "/* plexiproxy: cache_ttl=60s */ SELECT v FROM hot WHERE id = 1"
        with self.connect() as conn:
            conn.execute("CREATE TABLE hot (id int PRIMARY KEY, v int)")
            conn.execute("INSERT INTO hot VALUES (1, 0)")
            try:
                misses, bypasses = self.cache_count("miss"), self.cache_count("bypass")
                # Each read follows a write to its table: no entry is ever read again.
                for value in range(1, 301):
                    conn.execute("UPDATE hot SET v = %s WHERE id = 1", (value,))
                    self.assertEqual(conn.execute(read).fetchone(), (value,))
                # 200 lookups without a hit, then the shape rests (all on this client's worker).
                self.assertEqual(self.cache_count("miss") - misses, 200)
                self.assertEqual(self.cache_count("bypass") - bypasses, 100)
                self.assertEqual(self.executions("FROM hot WHERE"), 300)

                # An operator who wants every lookup (an expensive read is worth a few hits)
                # sets a window of 0: the resting shape is looked up again at once.
                every_lookup = config(self.pg, self.redis)
                every_lookup["cache"]["admission_window"] = 0
                self.proxy.write_config(every_lookup)
                self.admin("RELOAD")
                misses, bypasses = self.cache_count("miss"), self.cache_count("bypass")
                for value in range(301, 321):
                    conn.execute("UPDATE hot SET v = %s WHERE id = 1", (value,))
                    self.assertEqual(conn.execute(read).fetchone(), (value,))
                self.assertEqual(self.cache_count("miss") - misses, 20)
                self.assertEqual(self.cache_count("bypass") - bypasses, 0)
            finally:
                self.proxy.write_config(config(self.pg, self.redis))
                self.admin("RELOAD")
                conn.execute("DROP TABLE hot")

    def test_an_invalidate_hint_covers_a_function_that_writes(self):
        query = "SELECT name FROM items WHERE id = 19"
        self.pg.execute("CREATE FUNCTION rename_item(i int, n text) RETURNS int LANGUAGE sql"
                        " AS 'UPDATE items SET name = n WHERE id = i RETURNING id'", dbname=DB)
        try:
            with self.connect() as conn:
                self.assertEqual(conn.execute(query).fetchone(), ("item 19",))
                # A SELECT to the proxy: the entry stays.
                conn.execute("SELECT rename_item(19, 'unseen')")
                self.assertEqual(conn.execute(query).fetchone(), ("item 19",))
                conn.execute("/* plexiproxy: invalidate=items */"
                             " SELECT rename_item(19, 'renamed')")
                self.assertEqual(conn.execute(query).fetchone(), ("renamed",))
                self.assertEqual(self.executions("FROM items WHERE id ="), 2)
                self.assertEqual(self.executions("SELECT rename_item("), 2)
        finally:
            self.pg.execute("UPDATE items SET name = 'item 19' WHERE id = 19", dbname=DB)
            self.pg.execute("DROP FUNCTION rename_item", dbname=DB)
            self.admin("INVALIDATE CACHE appdb items")

    def test_large_results_are_not_stored(self):
        # Two shapes (pg_stat_statements counts statements differing only in literals or
        # aliases as one).
        small = "SELECT repeat('x', 1000) FROM items WHERE id > 0"  # 50 kB: under 100000
        big = "SELECT repeat('y', 3000) FROM items WHERE id < 1000"  # 150 kB
        with self.connect() as conn:
            for sql in (small, big):
                conn.execute(sql).fetchall()
                conn.execute(sql).fetchall()
        self.assertEqual(self.executions("FROM items WHERE id > $3"), 1)
        self.assertEqual(self.executions("FROM items WHERE id < $3"), 2)

    def test_redis_killed_mid_load_costs_no_client_an_error(self):
        # A Redis and a proxy of its own: the outage must not leave the shared proxies'
        # connections in their retry interval when the next test counts executions.
        redis = RedisServer().start()
        self.addCleanup(redis.close)
        proxy = Plexiproxy(config(self.pg, redis)).start()
        self.addCleanup(proxy.close)
        self.addCleanup(print_log_if_failed, self, proxy)
        errors: list[str] = []
        answered = [0]
        stop = threading.Event()

        def reader(worker: int) -> None:
            try:
                with self.connect(proxy) as conn:
                    while not stop.is_set():
                        item = worker * 5 + answered[0] % 5 + 1
                        row = conn.execute("SELECT name FROM items WHERE id = %s",
                                           (item,)).fetchone()
                        if row != (f"item {item}",):
                            errors.append(f"wrong answer {row} for {item}")
                        answered[0] += 1
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                errors.append(repr(error))

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1)
            hits_before_kill = self.cache_count("hit", proxy)
            self.assertGreater(hits_before_kill, 0)
            failed_or_skipped = self.cache_count("error", proxy) + self.cache_count("bypass", proxy)
            redis.kill()
            time.sleep(2)
            during = answered[0]
            self.assertGreater(self.cache_count("error", proxy) + self.cache_count("bypass", proxy),
                               failed_or_skipped)
            redis.start()
            deadline = time.monotonic() + 10
            while self.cache_count("hit", proxy) < hits_before_kill + 50 and time.monotonic() < deadline:
                time.sleep(0.2)
            self.assertGreaterEqual(self.cache_count("hit", proxy), hits_before_kill + 50,
                                    "hits did not resume after Redis came back")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=20)
        self.assertEqual(errors, [])
        self.assertGreater(answered[0], during)
        # A stalled Redis: lookups time out (200 ms), statements still answer.
        redis.stall()
        try:
            with self.connect(proxy) as conn:
                started = time.monotonic()
                for _ in range(20):
                    self.assertEqual(conn.execute("SELECT name FROM items WHERE id = 2")
                                     .fetchone(), ("item 2",))
                self.assertLess(time.monotonic() - started, 10)
        finally:
            redis.resume()
        # And hits come back once it answers again.
        hits = self.cache_count("hit", proxy)
        deadline = time.monotonic() + 10
        with self.connect(proxy) as conn:
            while self.cache_count("hit", proxy) == hits and time.monotonic() < deadline:
                conn.execute("SELECT name FROM items WHERE id = 2").fetchone()
                time.sleep(0.1)
        self.assertGreater(self.cache_count("hit", proxy), hits, "no hit after Redis was resumed")


if __name__ == "__main__":
    unittest.main()
