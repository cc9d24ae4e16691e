"""Statement routing through plexiproxy against real servers: a primary (pg1), two streaming
replicas (pg2, pg3) and a separate analytics server (olap). Every check asks the server that
answered who it is (inet_server_port(), pg_is_in_recovery()).

1. Reads go to the replicas (both), writes to the primary; hints, rules, read-only
   transactions, data-modifying CTEs, nextval and the extended protocol.
2. Read-your-writes: with `lsn` a client always reads its own row back, even with one replica
   paused, and reads from the replicas again once they have replayed its writes; with `off`
   (a second cluster on the same servers) the paused replica serves stale reads.
3. A replica killed with kill -9 during a read load: no read fails (those in flight on it,
   with nothing of their answer sent yet, are retried on the survivor), the survivor takes
   the reads, the replica gets reads again after its restart; a statement whose answer had
   begun gets a clean error.
4. The primary killed and a replica promoted during a mixed load: reads never fail, writes
   come back on the promoted server within 3 s; the old primary restarted as a primary
   (split brain) gets no write.

The methods run in order (1 to 4) on one set of servers; 3 and 4 change them."""

import collections
import contextlib
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

import psycopg
from psycopg import errors

from harness.clients import connect
from harness.cluster import LogWatcher, ReplicatedServers
from harness.load import Attempt, ClientLoad
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog
from harness.wire import WireClient, error_fields, message

USER, PASSWORD, DB = "app", "apppass", "appdb"
DB_OFF = "appdb_off"  # the same servers, read_your_writes: off
POOL_SIZE = 4
TEST_DEADLINE = 60
ANSWER_WITHIN = 10  # seconds for an answer the proxy gives itself (refusals, SET)
RYW_ROUNDS = 1000
READERS = 8
PROBE_SLEEP = 10  # seconds; the kill interrupts it
MONITOR_SEES_REPLAY = 1.0  # seconds: health checks every 200 ms report replay positions
WRITES_BACK_WITHIN = 3.0  # seconds from the promotion to the first write on the new primary
RULES = [
    {"match": "FROM report_", "role": "analytics"},
    {"match": "^DELETE FROM audit_log", "block": True},
]


def report(what: str) -> None:
    print(f"\n  measured: {what}", file=sys.stderr, end="")


def connection_lost_state(sqlstate: str | None) -> bool:
    """What a session whose server died may get: SQLSTATE class 08 or 57P01."""
    return bool(sqlstate) and (sqlstate.startswith("08") or sqlstate == "57P01")


class Probe:
    """A raw client that runs `SELECT inet_server_port(); SELECT repeat(...); SELECT
    pg_sleep(n)` as one simple Query through the proxy, with a role hint, and reads the first
    statement's row (the second one's 20 kB overflow the server's 8 kB send buffer, which
    PostgreSQL otherwise flushes only at the end). It then knows which server runs its
    statement, and bytes of the answer have reached it, so the proxy cannot retry it
    elsewhere when that server dies. (psycopg 3.1 hides the SQLSTATE of an ErrorResponse
    followed by a close, so the raw protocol is used here.)"""

    def __init__(self, proxy_port: int, role: str, sleep: float):
        self.proxy_port = proxy_port
        self.client = WireClient(proxy_port, timeout=10)
        refused = self.client.login(USER, DB, PASSWORD)
        if refused:
            raise AssertionError(f"probe login refused: {refused}")
        self.client.send(message(b"Q", f"/* plexiproxy: role={role} */ SELECT "
                                       f"inet_server_port(); SELECT repeat('x', 20000); "
                                       f"SELECT pg_sleep({sleep})\0".encode()))
        self.port = None
        while self.port is None:
            msg = self.client.read_message()
            if msg is None:
                raise AssertionError("probe: the proxy closed the connection")
            kind, body = msg
            if kind == b"E":
                raise AssertionError(f"probe: {error_fields(body)}")
            if kind == b"D":
                (length,) = struct.unpack("!i", body[2:6])
                self.port = int(body[6:6 + length])

    def outcome(self) -> tuple[dict | None, str]:
        """After its server died: (the ErrorResponse's fields or None, "ready" when a
        ReadyForQuery followed, else "closed")."""
        error = None
        while (msg := self.client.read_message()) is not None:
            kind, body = msg
            if kind == b"E":
                error = error_fields(body)
            elif kind == b"Z":
                return error, "ready"
        return error, "closed"

    def select_one_works(self, reuse: bool) -> bool:
        """SELECT 1 on this session (reuse) or on a new one."""
        client = self.client if reuse else WireClient(self.proxy_port, timeout=10)
        try:
            if not reuse and client.login(USER, DB, PASSWORD):
                return False
            client.send(message(b"Q", b"SELECT 1\0"))
            kinds = []
            while (msg := client.read_message()) is not None and msg[0] != b"Z":
                kinds.append(msg[0])
            return msg is not None and b"D" in kinds and b"E" not in kinds
        finally:
            if not reuse:
                client.close()

    def close(self) -> None:
        self.client.close()


def data_row_values(body: bytes) -> list[bytes | None]:
    """The column values of a DataRow body (None for NULL)."""
    values, offset = [], 2
    for _ in range(struct.unpack("!H", body[:2])[0]):
        length = struct.unpack("!i", body[offset:offset + 4])[0]
        offset += 4
        values.append(None if length < 0 else body[offset:offset + length])
        offset += max(length, 0)
    return values


def describe(attempts: list[Attempt], origin: float, limit: int = 12) -> str:
    lines = [a.describe(origin) for a in attempts[:limit]]
    if len(attempts) > limit:
        lines.append(f"... and {len(attempts) - limit} more")
    return "\n".join(lines)


class RoutingTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.servers = ReplicatedServers(USER, PASSWORD, DB)
        cls.addClassCleanup(cls.servers.close)
        cls.servers.start()
        cls.pg1, (cls.pg2, cls.pg3), cls.olap = (cls.servers.primary, cls.servers.replicas,
                                                 cls.servers.analytics)
        cls.names = {server.port: name for name, server in cls.servers.names().items()}

        with psycopg.connect(cls.pg1.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id serial PRIMARY KEY, note text)")
            conn.execute("INSERT INTO items (note) VALUES ('first')")
            conn.execute("CREATE SEQUENCE item_seq")
            conn.execute("CREATE TABLE audit_log (id int, what text)")
            conn.execute("INSERT INTO audit_log VALUES (1, 'a'), (2, 'b'), (3, 'c')")
            conn.execute("CREATE TABLE ryw (client text, n int)")
            conn.execute("CREATE TABLE failover_log (phase text, worker int, seq int, "
                         "port int DEFAULT inet_server_port())")
        with psycopg.connect(cls.olap.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
            conn.execute("CREATE TABLE report_sales (region text, amount int)")
            conn.execute("INSERT INTO report_sales VALUES ('north', 10), ('south', 20), "
                         "('east', 30)")
        cls.servers.wait_replicas_caught_up()

        backends = cls.servers.backends(pool_size=POOL_SIZE)
        cls.proxy = Plexiproxy({
            "users": [{"name": USER, "password": PASSWORD},
                      {"name": "ops", "password": "ops-secret", "admin": True}],
            "clusters": {
                DB: {"read_your_writes": "lsn", "load_balancing": "round_robin",
                     "backends": backends, "rules": RULES},
                DB_OFF: {"read_your_writes": "off", "load_balancing": "round_robin",
                         "backends": backends},
            },
            # No max_replication_lag: a paused replica stays in rotation (test 2).
            "health": {"interval": "200ms", "timeout": "500ms", "fall": 2, "rise": 1},
        })
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)  # runs first: a clean exit is part of the test
        cls.log = LogWatcher(cls.proxy)
        cls.wait_until_monitored()

    @classmethod
    def wait_until_monitored(cls) -> None:
        """Routing needs the monitor's first verdicts: waits until every backend was seen
        (in the log written since the last mark)."""
        start = time.monotonic()
        for name in ("pg1", "pg2", "pg3", "olap"):
            cls.log.wait_for(rf"cluster {DB}: backend {name} is up", start)
            cls.log.wait_for(rf"cluster {DB_OFF}: backend {name} is up", start)

    def setUp(self):
        if not self.proxy.running():  # the watchdog killed it in an earlier test
            self.log.mark()
            self.proxy.start()
            self.wait_until_monitored()
        self.addCleanup(print_log_if_failed, self, self.proxy)
        start_watchdog(self, TEST_DEADLINE, self.proxy, *self.servers.servers)

    # ------------------------------------------------------------------ helpers

    def connect(self, database: str = DB, **kwargs) -> psycopg.Connection:
        """A new client of the proxy (autocommit), closed when the test ends."""
        conn = connect(self.proxy.port, USER, database, PASSWORD, **kwargs)
        self.addCleanup(conn.close)
        return conn

    @contextlib.contextmanager
    def answer_within(self, conn: psycopg.Connection, what: str,
                      seconds: float = ANSWER_WITHIN):
        """Fails the test (instead of waiting for the watchdog, which kills the proxy) when
        the proxy leaves `conn` without an answer: its socket is shut down after `seconds`."""
        fired = threading.Event()

        def cut():
            fired.set()
            with socket.socket(fileno=os.dup(conn.fileno())) as sock:
                sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(seconds, cut)
        timer.daemon = True
        timer.start()
        try:
            yield
        except psycopg.OperationalError:
            if fired.is_set():
                raise self.failureException(
                    f"{what}: no answer from the proxy within {seconds:.0f}s") from None
            raise
        finally:
            timer.cancel()

    def readyz(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.proxy.admin_port}/readyz", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def name(self, port) -> str:
        return self.names.get(int(port), f"port {port}")

    def ran_on(self, conn: psycopg.Connection, statement: str, params=None, column: int = 0,
               **kwargs) -> str:
        """The backend name of the server that answered `statement`, whose column `column`
        is inet_server_port()."""
        return self.name(conn.execute(statement, params, **kwargs).fetchone()[column])

    def spread(self, statement: str, times: int, params=None, database: str = DB,
               **kwargs) -> collections.Counter:
        """Where `times` runs of the statement landed, from one fresh client."""
        conn = self.connect(database)
        return collections.Counter(self.ran_on(conn, statement, params, **kwargs)
                                   for _ in range(times))

    def notice_port(self, conn: psycopg.Connection, statement: str) -> str:
        """Runs a DO block that raises a NOTICE with inet_server_port(); where it ran."""
        notices = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
        conn.execute(statement)
        ports = [n.split()[-1] for n in notices if n.startswith("ran on ")]
        self.assertEqual(len(ports), 1, f"notices: {notices}")
        return self.name(ports[0])

    def direct_count(self, server, query: str) -> int:
        with psycopg.connect(server.dsn(DB, USER, PASSWORD), autocommit=True,
                             connect_timeout=5) as conn:
            return conn.execute(query).fetchone()[0]

    # ------------------------------------------------------------------ 1. classification

    def test_1_reads_go_to_both_replicas(self):
        where = self.spread("SELECT inet_server_port()", 40)
        self.assertEqual(set(where), {"pg2", "pg3"}, f"40 SELECTs landed on {dict(where)}")
        self.assertGreaterEqual(min(where.values()), 10, f"round robin: {dict(where)}")
        conn = self.connect()
        for _ in range(4):
            self.assertIs(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0], True)
        self.assertIn(self.ran_on(conn, "SELECT inet_server_port(), count(*) FROM audit_log"),
                      ("pg2", "pg3"))
        self.assertIn(self.ran_on(conn, "SHOW port"), ("pg2", "pg3"))

    def test_1_disabled_replica_gets_no_new_reads(self):
        admin = psycopg.connect(host="127.0.0.1", port=self.proxy.port, user="ops",
                                password="ops-secret", dbname="plexiproxy", autocommit=True)
        self.addCleanup(admin.close)
        holder = self.connect()
        holder.execute("BEGIN READ ONLY")
        held_on = self.ran_on(holder, "SELECT inet_server_port()")
        admin.execute(f"DISABLE BACKEND {DB}.{held_on}")
        try:
            where = self.spread("SELECT inet_server_port()", 20)
            other = ({"pg2", "pg3"} - {held_on}).pop()
            self.assertEqual(set(where), {other}, f"reads with {held_on} disabled: {dict(where)}")
            # The transaction running there when it was disabled finishes there.
            self.assertEqual(self.ran_on(holder, "SELECT inet_server_port()"), held_on)
            holder.execute("COMMIT")
            backends = admin.execute("SHOW BACKENDS").fetchall()
            disabled = [row[1] for row in backends if row[0] == DB and row[-1] == "yes"]
            self.assertEqual(disabled, [held_on])
        finally:
            admin.execute(f"ENABLE BACKEND {DB}.{held_on}")
        where = self.spread("SELECT inet_server_port()", 20)
        self.assertEqual(set(where), {"pg2", "pg3"}, f"reads after ENABLE: {dict(where)}")

    def test_1_writes_go_to_the_primary(self):
        cases = {
            "INSERT": "INSERT INTO items (note) VALUES ('routing') RETURNING inet_server_port()",
            "UPDATE": "UPDATE items SET note = 'updated' WHERE note = 'routing' "
                      "RETURNING inet_server_port()",
            "FOR UPDATE": "SELECT inet_server_port() FROM items WHERE id = 1 FOR UPDATE",
            "FOR SHARE": "SELECT inet_server_port() FROM items WHERE id = 1 FOR SHARE",
            "data-modifying CTE": "WITH x AS (INSERT INTO items (note) VALUES ('cte') "
                                  "RETURNING id) SELECT inet_server_port() FROM x",
            "nextval": "SELECT inet_server_port(), nextval('item_seq')",
            "DO block": "DO $$ BEGIN RAISE NOTICE 'ran on %', inet_server_port(); END $$",
        }
        for what, statement in cases.items():
            with self.subTest(what):
                # A fresh client each time: after a write, read-your-writes alone would keep
                # a client's reads on the primary.
                conn = self.connect()
                try:
                    if what == "DO block":
                        where = self.notice_port(conn, statement)
                    else:
                        where = self.ran_on(conn, statement)
                except psycopg.Error as error:
                    self.fail(f"{statement!r} failed: {error.sqlstate}: {error}")
                self.assertEqual(where, "pg1", statement)
        self.assertEqual(self.direct_count(self.pg1, "SELECT count(*) FROM items WHERE note "
                                           "IN ('updated', 'cte')"), 2)

    def test_1_read_only_transactions_go_to_a_replica(self):
        for begin in ("BEGIN READ ONLY", "START TRANSACTION READ ONLY",
                      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"):
            with self.subTest(begin):
                conn = self.connect()
                conn.execute(begin)
                where = {self.ran_on(conn, "SELECT inet_server_port()") for _ in range(3)}
                self.assertIs(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0], True)
                conn.execute("COMMIT")
                self.assertEqual(len(where), 1, f"one transaction, several servers: {where}")
                self.assertIn(where.pop(), ("pg2", "pg3"))
        with self.subTest("psycopg read_only transaction"):
            conn = self.connect(autocommit=False)
            conn.read_only = True
            with conn.transaction():
                self.assertIn(self.ran_on(conn, "SELECT inet_server_port()"), ("pg2", "pg3"))
        with self.subTest("plain BEGIN"):
            conn = self.connect()
            conn.execute("BEGIN")
            where = {self.ran_on(conn, "SELECT inet_server_port()") for _ in range(3)}
            conn.execute("COMMIT")
            self.assertEqual(where, {"pg1"})

    def test_1_hints_override_classification(self):
        with self.subTest("comment role=primary"):
            where = self.spread("/* plexiproxy: role=primary */ SELECT inet_server_port()", 6)
            self.assertEqual(dict(where), {"pg1": 6})
        with self.subTest("comment role=analytics"):
            where = self.spread("/* plexiproxy: role=analytics */ SELECT inet_server_port()", 4)
            self.assertEqual(dict(where), {"olap": 4})
        with self.subTest("comment role=replica"):
            conn = self.connect()
            self.assertIn(self.notice_port(
                conn, "/* plexiproxy: role=replica */ DO $$ BEGIN RAISE NOTICE 'ran on %', "
                      "inet_server_port(); END $$"), ("pg2", "pg3"))
        with self.subTest("SET and RESET plexiproxy.role"):
            conn = self.connect()
            with self.answer_within(conn, "SET plexiproxy.role"):
                cur = conn.execute("SET plexiproxy.role = 'primary'")
            self.assertEqual(cur.statusmessage, "SET")
            self.assertEqual({self.ran_on(conn, "SELECT inet_server_port()") for _ in range(6)},
                             {"pg1"})
            conn.execute("SET plexiproxy.role = 'analytics'")
            self.assertEqual({self.ran_on(conn, "SELECT inet_server_port()") for _ in range(4)},
                             {"olap"})
            with self.answer_within(conn, "RESET plexiproxy.role"):
                cur = conn.execute("RESET plexiproxy.role")
            self.assertEqual(cur.statusmessage, "RESET")
            # This client wrote nothing: read-your-writes has no reason to keep it on pg1.
            self.assertEqual({self.ran_on(conn, "SELECT inet_server_port()") for _ in range(6)},
                             {"pg2", "pg3"}, "reads right after RESET plexiproxy.role, of a "
                                             "client that only read")
            do_block = "DO $$ BEGIN RAISE NOTICE 'ran on %', inet_server_port(); END $$"
            conn.execute("SET plexiproxy.role = 'replica'")
            self.assertIn(self.notice_port(conn, do_block), ("pg2", "pg3"))
            conn.execute("RESET plexiproxy.role")
            self.assertEqual(self.notice_port(conn, do_block), "pg1")

    def test_1_rules_route_and_block(self):
        conn = self.connect()
        with self.subTest("role: analytics"):
            try:
                port, total = conn.execute(
                    "SELECT inet_server_port(), sum(amount) FROM report_sales").fetchone()
            except errors.UndefinedTable as error:  # only olap has the table
                self.fail(f"the rule did not send the statement to olap: {error}")
            self.assertEqual((self.name(port), total), ("olap", 60))

        for how, params in (("simple", None), ("extended", (1,))):
            with self.subTest(f"blocked, {how} protocol"):
                statement = "DELETE FROM audit_log" + (" WHERE id = %s" if params else "")
                with self.answer_within(conn, f"DELETE refused ({how} protocol)"), \
                        self.assertRaises(errors.InsufficientPrivilege) as refused:
                    conn.execute(statement, params)
                self.assertEqual(refused.exception.sqlstate, "42501")
                message = str(refused.exception).lower()
                self.assertIn("plexiproxy", message)
                self.assertIn("rule", message)
                # The session carries on.
                self.assertEqual(conn.execute("SELECT count(*) FROM audit_log").fetchone(),
                                 (3,))
        # A rule applies to every statement, also inside a transaction: psycopg, like most
        # drivers out of autocommit, starts one before the first statement.
        with self.subTest("blocked inside BEGIN ... ROLLBACK"):
            tx = self.connect()
            tx.execute("BEGIN")
            tx.execute("SELECT 1")
            with self.answer_within(tx, "DELETE refused inside a transaction"):
                with self.assertRaises(errors.InsufficientPrivilege):
                    tx.execute("DELETE FROM audit_log WHERE id = 2")
            tx.execute("ROLLBACK")
            self.assertEqual(tx.execute("SELECT count(*) FROM audit_log").fetchone(), (3,))
        with self.subTest("blocked, psycopg out of autocommit"):
            tx = self.connect(autocommit=False)
            with self.answer_within(tx, "DELETE refused in psycopg's transaction"):
                with self.assertRaises(errors.InsufficientPrivilege):
                    tx.execute("DELETE FROM audit_log WHERE id = 3")
            tx.rollback()
            self.assertEqual(tx.execute("SELECT count(*) FROM audit_log").fetchone(), (3,))
            tx.rollback()
        self.assertEqual(self.direct_count(self.pg1, "SELECT count(*) FROM audit_log"), 3)

    def test_1_extended_protocol_is_routed(self):
        reads = {
            "parameter": self.spread("SELECT inet_server_port() WHERE %s::int > 0", 12, (1,),
                                     prepare=False),
            "prepare=True": self.spread("SELECT inet_server_port() WHERE %s::int > 0", 12,
                                        (2,), prepare=True),
        }
        for what, where in reads.items():
            with self.subTest(f"read, {what}"):
                self.assertEqual(set(where), {"pg2", "pg3"}, dict(where))
        for prepare in (False, True):
            with self.subTest(f"write, prepare={prepare}"):
                where = self.spread("INSERT INTO items (note) VALUES (%s) "
                                    "RETURNING inet_server_port()", 3, ("extended",),
                                    prepare=prepare)
                self.assertEqual(dict(where), {"pg1": 3})

    def test_1_the_request_after_a_read_is_routed_afresh(self):
        """A client sends its next statement the moment the last one's ReadyForQuery
        arrives, which can be before the proxy has put the replica that served it back in
        its pool: the write that follows a read must still go to the primary, and the read
        that follows a write to a replica. Several clients at once make that moment likely."""
        rounds, clients = 150, 6
        landed = collections.Counter()
        failures = []

        def alternate(worker: int) -> None:
            try:
                with connect(self.proxy.port, USER, DB_OFF, PASSWORD) as conn:
                    for i in range(rounds):
                        read = conn.execute("SELECT inet_server_port()").fetchone()[0]
                        write = conn.execute("INSERT INTO items (note) VALUES (%s) "
                                             "RETURNING inet_server_port()",
                                             (f"alternate {worker} {i}",)).fetchone()[0]
                        landed["read on " + self.name(read)] += 1
                        landed["write on " + self.name(write)] += 1
            except psycopg.Error as error:
                failures.append(f"client {worker}: {error.sqlstate}: {error}")

        threads = [threading.Thread(target=alternate, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(failures, [])
        total = rounds * clients
        self.assertEqual(landed["write on pg1"], total, dict(landed))
        self.assertEqual(landed["read on pg2"] + landed["read on pg3"], total, dict(landed))

    def terminate_probe_statement(self, marker: str) -> str:
        """Terminates (pg_terminate_backend) the server process running the statement that
        contains `marker`, on whichever replica it is; returns that replica's name."""
        deadline = time.monotonic() + ANSWER_WITHIN
        while time.monotonic() < deadline:
            for replica in (self.pg2, self.pg3):
                with psycopg.connect(replica.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
                    pids = [row[0] for row in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE query LIKE %s "
                        "AND pid <> pg_backend_pid()", (f"%{marker}%",))]
                    if pids:
                        self.assertEqual(len(pids), 1)
                        conn.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
                        return self.name(replica.port)
            time.sleep(0.05)
        self.fail(f"no replica runs the statement marked {marker!r}")

    def read_answers(self, client: WireClient, count: int) -> list[tuple[bytes, bytes]]:
        """Messages up to the `count`th ReadyForQuery or the connection's end."""
        answers = []
        try:
            while count and (msg := client.read_message()) is not None:
                answers.append(msg)
                count -= msg[0] == b"Z"
        except TimeoutError:
            self.fail(f"no answer within {ANSWER_WITHIN}s after the server went away: {answers}")
        return answers

    def test_1_a_read_whose_server_goes_away_is_retried(self):
        """The server terminated before answering a read (it has sent only what it buffers,
        the RowDescription, with its FATAL): the read is retried on the other replica and
        the client sees one whole answer, from there."""
        # pg_sleep() keeps a statement on the primary unless a hint says otherwise.
        query = ("/* plexiproxy: role=replica */ "
                 "SELECT pg_sleep(1), inet_server_port(), 'lone probe'")
        with WireClient(self.proxy.port, timeout=ANSWER_WITHIN) as client:
            self.assertIsNone(client.login(USER, DB_OFF, PASSWORD))
            client.send(message(b"Q", query.encode() + b"\0"))
            terminated = self.terminate_probe_statement("lone probe")
            answers = self.read_answers(client, 1)
        self.assertEqual([kind for kind, _ in answers], [b"T", b"D", b"C", b"Z"], answers)
        answered = self.name(data_row_values(answers[1][1])[1].decode())
        self.assertIn(answered, {"pg2", "pg3"})
        self.assertNotEqual(answered, terminated)

    def test_1_a_read_with_a_request_behind_it_is_not_retried_alone(self):
        """A read whose server goes away before answering is not retried when the client has
        sent another request behind it: the retry would lose that one and leave the client
        waiting for ever. The client gets the server's error, once, and the connection ends."""
        query = "/* plexiproxy: role=replica */ SELECT pg_sleep(1), 'queued probe'"
        with WireClient(self.proxy.port, timeout=ANSWER_WITHIN) as client:
            self.assertIsNone(client.login(USER, DB_OFF, PASSWORD))
            client.send(message(b"Q", query.encode() + b"\0"))
            time.sleep(0.2)
            client.send(message(b"Q", b"SELECT 2\0"))
            time.sleep(0.2)
            self.terminate_probe_statement("queued probe")
            answers = self.read_answers(client, 2)
        errors = [error_fields(body) for kind, body in answers if kind == b"E"]
        self.assertEqual([error.get("C") for error in errors], ["57P01"], answers)
        self.assertNotIn(b"Z", [kind for kind, _ in answers])

    # ------------------------------------------------------------------ 2. read-your-writes

    def assert_in_rotation(self, database: str, replica: str) -> None:
        where = self.spread("SELECT inet_server_port()", 10, database=database)
        self.assertIn(replica, where, f"{database}: reads of a client that wrote nothing "
                                      f"landed on {dict(where)}")

    def insert_then_select(self, database: str, client: str) -> tuple[list, collections.Counter]:
        """RYW_ROUNDS times: insert a row, read it back at once. Returns the stale reads
        (round, server) and where the reads ran."""
        conn = self.connect(database)
        stale, where = [], collections.Counter()
        for n in range(RYW_ROUNDS):
            conn.execute(f"INSERT INTO ryw VALUES ('{client}', {n})")
            count, port = conn.execute(f"SELECT count(*), inet_server_port() FROM ryw "
                                       f"WHERE client = '{client}' AND n = {n}").fetchone()
            where[self.name(port)] += 1
            if count != 1:
                stale.append((n, self.name(port)))
        return stale, where

    def test_2_read_your_writes(self):
        self.servers.wait_replicas_caught_up()
        self.pg3.pause_replay()
        try:
            for database in (DB, DB_OFF):
                self.assert_in_rotation(database, "pg3")
            started = time.monotonic()
            stale, where = self.insert_then_select(DB, "lsn")
            report(f"read_your_writes lsn: {RYW_ROUNDS} insert+select in "
                   f"{time.monotonic() - started:.1f}s, reads on {dict(where)}")
            self.assertEqual(stale, [], f"lsn: stale reads (round, server) out of {RYW_ROUNDS}; "
                                        f"reads ran on {dict(where)}")

            stale, where = self.insert_then_select(DB_OFF, "off")
            report(f"read_your_writes off: {len(stale)} stale reads of {RYW_ROUNDS}, reads on "
                   f"{dict(where)}")
            self.assertGreater(len(stale), 0, f"off: no stale read with pg3 paused; reads ran "
                                              f"on {dict(where)}")
            self.assert_in_rotation(DB_OFF, "pg3")
        finally:
            self.pg3.resume_replay()
        self.servers.wait_replicas_caught_up()

    def test_2_reads_return_to_the_replicas(self):
        """lsn: once the replicas have replayed everything the primary has, a client whose
        last transaction ran on the primary reads from them again."""
        conn = self.connect()
        self.assertEqual(self.ran_on(
            conn, "INSERT INTO items (note) VALUES ('replayed') RETURNING inet_server_port()"),
            "pg1")
        self.servers.wait_replicas_caught_up()
        time.sleep(MONITOR_SEES_REPLAY)
        where = collections.Counter(self.ran_on(conn, "SELECT inet_server_port()")
                                    for _ in range(6))
        self.assertEqual(set(where), {"pg2", "pg3"},
                         f"reads after the client's write was replayed: {dict(where)}")

        # A transaction that writes no WAL while the primary's WAL insert position is at the
        # start of a segment (pg_current_wal_insert_lsn() then points past the page header,
        # where no record ends) must not keep the client on the primary either.
        self.pg1.execute("SELECT pg_switch_wal()")
        self.servers.wait_replicas_caught_up()
        conn.execute("BEGIN")
        self.assertEqual(self.ran_on(conn, "SELECT inet_server_port()"), "pg1", "plain BEGIN")
        conn.execute("COMMIT")
        time.sleep(MONITOR_SEES_REPLAY)
        state = self.pg1.execute("SELECT pg_current_wal_insert_lsn(), pg_current_wal_lsn()")[0]
        replayed = [r.execute("SELECT pg_last_wal_replay_lsn()")[0][0]
                    for r in self.servers.replicas]
        where = collections.Counter(self.ran_on(conn, "SELECT inet_server_port()")
                                    for _ in range(6))
        self.assertEqual(set(where), {"pg2", "pg3"},
                         f"reads after a transaction on the primary that wrote no WAL, the "
                         f"replicas having replayed all of it: {dict(where)}; primary (insert, "
                         f"write) positions {state}, replicas replayed {replayed}")

    # ------------------------------------------------------------------ 3. replica killed

    def open_probe(self, role: str, backend: str, tries: int = 4) -> Probe:
        """A Probe running on `backend` (round robin spreads successive ones)."""
        found, others = None, []
        for _ in range(tries):
            probe = Probe(self.proxy.port, role, PROBE_SLEEP)
            if self.name(probe.port) == backend:
                found = probe
                break
            others.append(probe)
        for probe in others:
            probe.close()
        if found is None:
            self.fail(f"{tries} probes with role={role}: none ran on {backend}")
        self.addCleanup(found.close)
        return found

    def assert_none(self, attempts: list[Attempt], what: str, origin: float) -> None:
        if attempts:
            self.fail(f"{what}: {len(attempts)}, started from "
                      f"{min(a.start for a in attempts) - origin:+.3f}s to "
                      f"{max(a.start for a in attempts) - origin:+.3f}s after the kill:\n"
                      + describe(attempts, origin))

    def assert_clean_error(self, probe: Probe, what: str) -> None:
        """The probe's server died: it must get an ErrorResponse with SQLSTATE class 08 or
        57P01, and SELECT 1 must then work on the same session or a new one."""
        try:
            error, state = probe.outcome()
        except TimeoutError:
            self.fail(f"{what}: no answer within 10s after its server died")
        self.assertIsNotNone(error, f"{what}: the session was {state} without an ErrorResponse")
        self.assertTrue(connection_lost_state(error.get("C")),
                        f"{what}: expected SQLSTATE class 08 or 57P01, got {error}")
        self.assertTrue(probe.select_one_works(reuse=state == "ready"),
                        f"{what}: SELECT 1 failed afterwards (session {state} after {error})")

    def test_3_a_read_warned_of_a_crash_is_retried(self):
        """A replica restarting after one of its processes crashed first warns every other
        session (WARNING 57P02 "terminating connection because of crash of another server
        process"), then drops it: a read waiting there is retried on the other replica, and
        the warning is not passed on."""
        query = ("/* plexiproxy: role=replica */ "
                 "SELECT pg_sleep(1), inet_server_port(), 'crash probe'")
        with WireClient(self.proxy.port, timeout=ANSWER_WITHIN) as client:
            self.assertIsNone(client.login(USER, DB_OFF, PASSWORD))
            client.send(message(b"Q", query.encode() + b"\0"))
            self.log.mark()
            crashed = self.crash_replica_running("crash probe")
            answers = self.read_answers(client, 1)
        self.assertEqual([kind for kind, _ in answers], [b"T", b"D", b"C", b"Z"], answers)
        answered = self.name(data_row_values(answers[1][1])[1].decode())
        self.assertNotEqual(answered, crashed)
        self.wait_until_up(crashed)

    def crash_replica_running(self, marker: str) -> str:
        """Kills (SIGKILL) a backend of our own on the replica running the statement marked
        `marker`, which makes that replica's postmaster end every other session; its name."""
        deadline = time.monotonic() + ANSWER_WITHIN
        while time.monotonic() < deadline:
            for replica in (self.pg2, self.pg3):
                conn = psycopg.connect(replica.dsn(DB, USER, PASSWORD), autocommit=True)
                running = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s "
                                       "AND pid <> pg_backend_pid()", (f"%{marker}%",)).fetchone()[0]
                if running:
                    os.kill(conn.info.backend_pid, signal.SIGKILL)
                    conn.close()
                    return self.name(replica.port)
                conn.close()
            time.sleep(0.05)
        self.fail(f"no replica runs the statement marked {marker!r}")

    def wait_until_up(self, name: str) -> None:
        """Until the restarted replica takes connections and the proxy sees it up again (the
        log is read from the mark made before the crash)."""
        server = {"pg2": self.pg2, "pg3": self.pg3}[name]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(server.dsn(DB, USER, PASSWORD), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        self.servers.wait_replicas_caught_up()
        # The monitor may not have seen the restart at all; if it saw it down, until it is up.
        for cluster in (DB, DB_OFF):
            down = re.search(rf"cluster {cluster}: backend {name} is down", self.log.text())
            if down:
                rest = lambda: self.log.text()[down.end():]  # noqa: E731
                deadline = time.monotonic() + 20
                while f"cluster {cluster}: backend {name} is up" not in rest():
                    self.assertLess(time.monotonic(), deadline, f"{name} not up again")
                    time.sleep(0.05)

    def test_3_replica_killed_during_reads(self):
        pg3 = self.pg3
        probe = self.open_probe("replica", "pg3")
        load = ClientLoad(self.proxy.port, USER, PASSWORD, DB)
        load.add("read", lambda *_: ("SELECT inet_server_port()", None), READERS)
        self.addCleanup(load.stop)
        load.start()
        time.sleep(1.0)

        self.log.mark()
        load.phase = "killed"
        killed = time.monotonic()
        pg3.kill(signal.SIGKILL)
        dead = time.monotonic()
        down = killed + self.log.wait_for(rf"cluster {DB}: backend pg3 is down: ", killed)
        time.sleep(1.0)

        self.log.mark()
        load.phase = "restarting"
        restarted = time.monotonic()
        pg3.restart()
        up = restarted + self.log.wait_for(rf"cluster {DB}: backend pg3 is up \(replica",
                                           restarted, timeout=20)
        load.phase = "up"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
                a.ok and a.start > up and self.name(a.value) == "pg3" for a in load.snapshot()):
            time.sleep(0.1)
        time.sleep(0.3)
        stuck = load.stop()
        attempts = load.snapshot()

        # Reads in flight on pg3 when it died had nothing of their answer sent yet: the proxy
        # sends them to pg2 instead, so none fails.
        failed = [a for a in attempts if not a.ok]
        reads = collections.Counter(a.phase for a in attempts if a.ok)
        retried = self.log.text().count("failed before answering a read")
        report(f"replica kill -9: {sum(reads.values())} reads {dict(reads)}, {len(failed)} "
               f"failed, {retried} retried on the other replica; marked down after "
               f"{down - killed:.2f}s, up {up - restarted:.2f}s after its restart "
               f"(kill returned after {dead - killed:.2f}s)")

        self.assertEqual(stuck, [], "workers still blocked in a call")
        with self.subTest("reads before the kill"):
            before = {self.name(a.value) for a in attempts if a.ok and a.end < killed}
            self.assertEqual(before, {"pg2", "pg3"})
        with self.subTest("the statement running on pg3"):
            self.assert_clean_error(probe, "a statement running on pg3 at the kill")
        with self.subTest("failed reads"):
            self.assert_none(failed, "reads failed", killed)
        with self.subTest("reads while pg3 is down"):
            # Up to its restart: the test sees the "up" line only some polls after the
            # proxy acted on it, and reads may rightly reach pg3 in between.
            while_down = collections.Counter(self.name(a.value) for a in attempts
                                             if a.ok and down < a.start and a.end < restarted)
            self.assertEqual(set(while_down), {"pg2"},
                             f"reads while pg3 was marked down ran on {dict(while_down)}")
        with self.subTest("reads after the restart"):
            after = collections.Counter(self.name(a.value) for a in attempts
                                        if a.ok and a.start > up)
            self.assertIn("pg3", after, f"reads after pg3 was up again ran on {dict(after)}")

    # ------------------------------------------------------------------ 4. primary killed

    def test_4_primary_failover_then_split_brain(self):
        pg1, pg2 = self.pg1, self.pg2
        probe = self.open_probe("primary", "pg1", tries=1)
        load = ClientLoad(self.proxy.port, USER, PASSWORD, DB)
        load.add("write", lambda worker, seq, phase: (
            f"INSERT INTO failover_log (phase, worker, seq) VALUES ('{phase}', {worker}, {seq}) "
            f"RETURNING inet_server_port()", None), 4)
        load.add("read", lambda *_: ("SELECT inet_server_port()", None), 4)
        self.addCleanup(load.stop)
        load.phase = "before"
        load.start()
        time.sleep(1.0)

        self.log.mark()
        load.phase = "outage"
        killed = time.monotonic()
        pg1.kill(signal.SIGKILL)
        dead = time.monotonic()
        down = self.log.wait_for(rf"cluster {DB}: backend pg1 is down: ", killed)
        no_primary = killed + self.log.wait_for(
            rf"cluster {DB}: no backend reports itself primary", killed)
        readyz_in_outage = self.readyz()
        time.sleep(max(0.3, killed + 1.0 - time.monotonic()))

        promoting = time.monotonic()
        pg2.promote()
        promoted = time.monotonic()
        load.phase = "promoted"
        first_new = None
        deadline = promoted + 10
        while first_new is None and time.monotonic() < deadline:
            on_pg2 = [a for a in load.snapshot()
                      if a.kind == "write" and a.ok and a.value == pg2.port]
            first_new = min((a.end for a in on_pg2), default=None)
            time.sleep(0.05)
        time.sleep(1.0)
        readyz_after_failover = self.readyz()

        # The old primary comes back as a primary: no write may land on it.
        self.log.mark()
        load.phase = "split"
        restarted = time.monotonic()
        pg1.restart()
        self.log.wait_for(rf"cluster {DB}: two backends claim to be primary", restarted)
        time.sleep(1.5)
        stuck = load.stop()
        attempts = load.snapshot()
        on_old_primary = self.direct_count(
            pg1, "SELECT count(*) FROM failover_log WHERE phase = 'split'")
        with psycopg.connect(pg2.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
            on_new_primary = set(conn.execute(
                "SELECT worker, seq FROM failover_log WHERE phase IN ('promoted', 'split')"))
        pg1.stop()  # ends the split brain; the class's servers are not used after this test

        writes = [a for a in attempts if a.kind == "write"]
        reads = [a for a in attempts if a.kind == "read"]
        failed_writes = [a for a in writes if not a.ok]
        first_failed = min((a.end for a in failed_writes if a.end >= killed), default=None)
        if first_new is not None and first_failed is not None:
            report(f"primary kill -9 -> first failed write {first_failed - killed:.2f}s; "
                   f"pg1 marked down {down:.2f}s; promote() took {promoted - promoting:.2f}s; "
                   f"first write on pg2 {first_new - promoted:.2f}s after the promotion; write "
                   f"unavailability {first_new - first_failed:.2f}s")
        report("write failures: " + str(collections.Counter(
            a.sqlstate or a.error.split(":")[0] for a in failed_writes)) +
            f"; reads: {sum(a.ok for a in reads)} ok, {sum(not a.ok for a in reads)} failed; "
            f"split brain: {sum(a.ok for a in writes if a.phase == 'split')} writes ok, "
            f"{sum(not a.ok for a in writes if a.phase == 'split')} refused")

        self.assertEqual(stuck, [], "workers still blocked in a call")
        with self.subTest("writes before the kill"):
            before = {self.name(a.value) for a in writes if a.ok and a.end < killed}
            self.assertEqual(before, {"pg1"})
        with self.subTest("reads"):
            self.assert_none([a for a in reads if not a.ok], "reads failed", killed)
        with self.subTest("the statement running on pg1"):
            self.assert_clean_error(probe, "a statement running on pg1 at the kill")
        with self.subTest("/readyz follows the write target"):
            self.assertEqual(readyz_in_outage[0], 503, readyz_in_outage)
            self.assertIn(f"cluster {DB} has no write target", readyz_in_outage[1])
            self.assertEqual(readyz_after_failover, (200, "ready\n"))
        with self.subTest("writes back on the promoted replica"):
            self.assertIsNotNone(first_new, "no write reached pg2 within 10s of its promotion")
            self.assertLess(first_new - promoted, WRITES_BACK_WITHIN,
                            "writes were not back on the promoted replica in time")
        with self.subTest("where writes landed"):
            # (Writes sent while kill() was still at work may have committed on pg1.)
            elsewhere = [a for a in writes if a.ok and a.start >= dead and a.value != pg2.port]
            self.assert_none(elsewhere, "writes sent after pg1 died acknowledged by another "
                             "server than pg2", killed)
            self.assertEqual(on_old_primary, 0, "rows of the split-brain phase on the old primary")
            acknowledged = {(a.worker, a.seq) for a in writes
                            if a.ok and a.phase in ("promoted", "split")}
            self.assertEqual(acknowledged - on_new_primary, set(),
                             "acknowledged writes missing on pg2")
        with self.subTest("how writes failed"):
            # Writes in flight at the kill, or sent before the proxy saw that pg1 was gone, may
            # lose their session (psycopg shows no SQLSTATE then); once there is no write
            # target, a write gets 25006 on a session that stays usable.
            unexpected = [a for a in failed_writes if a.end < killed or (
                a.start >= no_primary and a.sqlstate != "25006")]
            self.assert_none(unexpected, "unexpected write failures", killed)
            refused = [a for a in failed_writes if a.sqlstate == "25006"
                       and a.start >= no_primary and a.phase == "outage"]
            self.assertTrue(any(re.search("no primary", a.error, re.I) for a in refused),
                            "no write was refused with 25006 'no primary ...' while there was "
                            "no primary; failures:\n" + describe(failed_writes, killed))


if __name__ == "__main__":
    unittest.main()
