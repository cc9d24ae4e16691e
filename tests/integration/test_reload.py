"""A reload under load: pgbench (16 clients, transaction pooling, nine reads to one write) runs
through plexiproxy against a PostgreSQL primary (pg1) and its streaming replicas (pg2, pg3)
while the config file is rewritten and SIGHUP sent three times:

1. the pools grow from 4 to 6 connections a backend: SHOW POOLS and /metrics show the new
   size;
2. pg3 is added as a replica: the running pgbench clients' reads reach it (its
   pg_stat_database.xact_commit climbs), though none of them logs in again;
3. pg2 is removed: its server connections from the proxy close within seconds and it gets no
   more transactions.

pgbench must end with zero failed transactions and no aborted client. A second test
switches the cluster over while it is paused: PAUSE, RELOAD with a new replica, RESUME, and
the paused client's next read runs on the new replica.

The same for Redis (read_from: replica): clients reading in a loop on connections they keep
find an added replica (its INFO commandstats counts their GETs), stop reading on a removed
one, and see no error; PAUSE holds their next command until RESUME. And for MySQL: clients
on kept connections reading @@server_id reach an added MariaDB replica and leave a removed
one."""

import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

import pymysql
import redis

from harness.admin_console import show
from harness.cluster import LogWatcher, ReplicatedServers
from harness.clients import connect, pgbench_counts
from harness.mariadb import MariaDBServer, make_replica as make_mariadb_replica
from harness.plexiproxy import Plexiproxy, metric, print_log_if_failed
from harness.postgres import PG_BIN
from harness.redis import RedisServer, make_replica, wait_caught_up
from harness.watchdog import start_watchdog

USER, PASSWORD, DB = "app", "apppass", "appdb"
ADMIN, ADMIN_PASSWORD = "ops", "ops-secret"
TEST_DEADLINE = 120
RUN_SECONDS = 24
CLIENTS = 16
ACCOUNTS = 100000  # pgbench scale 1
# After the replica was added, reads it must have run in a few seconds: far above what the
# health checks (5 a second) and this test's own queries add.
NEW_REPLICA_MIN_XACTS = 300
HEALTH_APPLICATION = "plexiproxy health check"
DRAINED_WITHIN = 5.0  # seconds for a removed backend's server connections to close

READ_SCRIPT = f"""\\set aid random(1, {ACCOUNTS})
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
"""
WRITE_SCRIPT = f"""\\set aid random(1, {ACCOUNTS})
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
END;
"""


def report(what: str) -> None:
    print(f"\n  measured: {what}", file=sys.stderr, end="")


class ReloadUnderLoad(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.servers = ReplicatedServers(USER, PASSWORD, DB, replicas=2, analytics=False)
        cls.addClassCleanup(cls.servers.close)
        cls.servers.start()
        primary = cls.servers.primary
        init = subprocess.run(
            [str(PG_BIN / "pgbench"), "-i", "-q", "-s", "1", "-h", primary.host, "-p",
             str(primary.port), "-U", USER, DB],
            env={"PGPASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"}, capture_output=True,
            text=True, timeout=120)
        if init.returncode != 0:
            raise AssertionError(f"pgbench -i failed:\n{init.stderr}")
        cls.servers.wait_replicas_caught_up()
        cls.proxy = Plexiproxy(cls.config(["pg1", "pg2"], pool_size=4))
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)  # runs first: a clean exit is part of the test
        cls.log = LogWatcher(cls.proxy)
        start = time.monotonic()
        for name in ("pg1", "pg2"):
            cls.log.wait_for(rf"cluster {DB}: backend {name} is up", start)

    @classmethod
    def config(cls, backends: list[str], pool_size: int) -> dict:
        return {
            "users": [{"name": USER, "password": PASSWORD},
                      {"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True}],
            "clusters": {DB: {
                "pool_mode": "transaction", "read_your_writes": "off",
                "backends": [cls.servers.backend(name, pool_size=pool_size) for name in backends],
            }},
            "health": {"interval": "200ms", "timeout": "500ms", "fall": 2, "rise": 1},
        }

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy)
        start_watchdog(self, TEST_DEADLINE, self.proxy, *self.servers.servers)

    def reconfigure(self, backends: list[str], pool_size: int) -> None:
        self.log.mark()
        self.proxy.write_config(self.config(backends, pool_size))
        self.proxy.reload()
        self.log.wait_for(r"configuration reloaded from", time.monotonic() - 1)

    def xact_commits(self, name: str) -> int:
        server = self.servers.names()[name]
        rows = server.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s",
                              (DB,))
        return int(rows[0][0])

    def proxy_connections(self, name: str) -> int:
        """Pooled server connections the proxy holds on `name` (the health checks' own
        connection names itself in application_name)."""
        server = self.servers.names()[name]
        rows = server.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = %s "
            "AND application_name <> %s", (USER, DB, HEALTH_APPLICATION))
        return int(rows[0][0])

    def pool_size_of(self, backend: str) -> int:
        rows = [row for row in show(self.proxy, ADMIN, ADMIN_PASSWORD, "POOLS")
                if row["backend"] == backend]
        self.assertTrue(rows, f"no pool of {backend} in SHOW POOLS")
        return int(rows[0]["pool_size"])

    def wait_for(self, what: str, check, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                self.fail(f"not within {timeout} s: {what}")
            time.sleep(0.1)

    def test_1_reload_under_pgbench(self):
        scripts = Path(self.proxy.dir)
        (scripts / "read.sql").write_text(READ_SCRIPT)
        (scripts / "write.sql").write_text(WRITE_SCRIPT)
        command = [str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-p", str(self.proxy.port),
                   "-U", USER, "-c", str(CLIENTS), "-j", "2", "-T", str(RUN_SECONDS), "-n",
                   "-f", f"{scripts / 'read.sql'}@9", "-f", f"{scripts / 'write.sql'}@1", DB]
        bench = subprocess.Popen(command, env={"PGPASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(bench.communicate()))
        reader.start()
        try:
            time.sleep(3)
            self.assertIsNone(bench.poll(), "pgbench ended early")

            # 1. Larger pools.
            self.assertEqual(self.pool_size_of("pg2"), 4)
            self.reconfigure(["pg1", "pg2"], pool_size=6)
            self.wait_for("SHOW POOLS shows pool_size 6 for pg1 and pg2",
                          lambda: self.pool_size_of("pg1") == 6 and self.pool_size_of("pg2") == 6,
                          5)
            self.assertEqual(metric(self.proxy, 'plexiproxy_pool_size{backend="pg2"}'), 6)
            time.sleep(2)

            # 2. A replica added: the running clients' reads reach it.
            before = self.xact_commits("pg3")
            self.reconfigure(["pg1", "pg2", "pg3"], pool_size=6)
            time.sleep(5)
            gained = self.xact_commits("pg3") - before
            report(f"pg3 committed {gained} transactions in the 5 s after it was added")
            self.assertGreater(gained, NEW_REPLICA_MIN_XACTS)

            # 3. A replica removed: its connections drain, it gets no more reads.
            self.assertGreater(self.proxy_connections("pg2"), 0)
            self.reconfigure(["pg1", "pg3"], pool_size=6)
            self.wait_for("the proxy's connections to pg2 closed",
                          lambda: self.proxy_connections("pg2") == 0, DRAINED_WITHIN)
            time.sleep(1)  # statistics are flushed about once a second
            settled = self.xact_commits("pg2")
            time.sleep(3)
            after_removal = self.xact_commits("pg2") - settled
            report(f"pg2 committed {after_removal} transactions in 3 s after its removal")
            self.assertLess(after_removal, 5)
            self.assertIsNone(bench.poll(), "pgbench ended before the last reload was checked")
        finally:
            reader.join(RUN_SECONDS + 60)
            if bench.poll() is None:
                bench.kill()
        stdout, stderr = output
        self.assertEqual(bench.returncode, 0, f"pgbench failed:\n{stdout}\n{stderr}")
        processed, failed = pgbench_counts(stdout)
        report(f"pgbench: {processed} transactions, {failed} failed")
        self.assertEqual(failed, 0, stdout)
        self.assertNotIn("aborted", stdout + stderr)
        self.assertGreater(processed, 0)

    def test_2_pause_reload_resume(self):
        """The switchover of PgBouncer's manual: PAUSE, change the config, RELOAD, RESUME; a
        client connected before the pause finds its reads on the new replica afterwards."""
        self.reconfigure(["pg1", "pg3"], pool_size=4)
        with connect(self.proxy.port, USER, DB, PASSWORD) as client, \
                connect(self.proxy.port, ADMIN, "plexiproxy", ADMIN_PASSWORD) as admin:
            port = client.execute("SELECT inet_server_port()").fetchone()[0]
            self.assertEqual(port, self.servers.names()["pg3"].port)
            admin.execute(f"PAUSE {DB}")
            answered = threading.Event()
            ports: list[int] = []

            def read():
                ports.append(client.execute("SELECT inet_server_port()").fetchone()[0])
                answered.set()

            thread = threading.Thread(target=read)
            thread.start()
            time.sleep(0.5)
            self.assertFalse(answered.is_set(), "a read ran while the cluster was paused")
            self.proxy.write_config(self.config(["pg1", "pg2"], pool_size=4))
            admin.execute("RELOAD")
            admin.execute(f"RESUME {DB}")
            thread.join(10)
            self.assertTrue(answered.is_set(), "the read did not run after RESUME")
            self.assertEqual(ports, [self.servers.names()["pg2"].port])


def gets(server: RedisServer) -> int:
    return server.info("commandstats").get("cmdstat_get", {}).get("calls", 0)


class ReplicaReloads(unittest.TestCase):
    """What the Redis and MySQL cases share: a primary, two replicas of it, a proxy whose
    config (self.config(names)) serves the first, and reconfigure() to another list."""

    def start_servers(self, primary, make_replica, names: tuple[str, str]) -> None:
        self.primary = primary.start()
        self.addCleanup(self.primary.close)
        self.replicas = {}
        for name in names:
            self.replicas[name] = make_replica(self.primary)
            self.addCleanup(self.replicas[name].close)
        self.proxy = Plexiproxy(self.config([names[0]]))
        self.addCleanup(self.proxy.close)
        self.proxy.start()
        self.log = LogWatcher(self.proxy)
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.primary, *self.replicas.values())
        self.addCleanup(print_log_if_failed, self, self.proxy)

    def config(self, replicas: list[str]) -> dict:
        raise NotImplementedError

    def reconfigure(self, replicas: list[str]) -> None:
        self.log.mark()
        self.proxy.write_config(self.config(replicas))
        self.proxy.reload()
        self.log.wait_for(r"configuration reloaded from", time.monotonic() - 1)


class RedisReloadUnderLoad(ReplicaReloads):
    READERS = 4

    def setUp(self):
        self.start_servers(RedisServer(), make_replica, ("r1", "r2"))
        with self.primary.client() as direct:
            direct.set("color", "blue")
        for replica in self.replicas.values():
            wait_caught_up(self.primary, replica)

    def config(self, replicas: list[str]) -> dict:
        backends = [{"name": "p", "type": "redis", "role": "primary", "host": self.primary.host,
                     "port": self.primary.port}]
        backends += [{"name": name, "type": "redis", "role": "replica",
                      "host": self.replicas[name].host, "port": self.replicas[name].port}
                     for name in replicas]
        return {
            "health": {"interval": "100ms", "timeout": "500ms", "fall": 2, "rise": 1},
            "clusters": {"cache": {"protocol": "redis", "read_from": "replica",
                                   "backends": backends}},
        }

    def test_readers_follow_added_and_removed_replicas(self):
        stop = threading.Event()
        errors: list[str] = []
        answers = [0] * self.READERS

        def read(index: int) -> None:
            # One connection each, kept for the whole test.
            with redis.Redis(host="127.0.0.1", port=self.proxy.redis_port, socket_timeout=10,
                             decode_responses=True) as client:
                while not stop.is_set():
                    try:
                        answer = client.get("color")
                        if answer != "blue":
                            errors.append(f"GET color answered {answer!r} at {time.monotonic()}")
                        answers[index] += 1
                    except redis.exceptions.RedisError as error:
                        errors.append(str(error))
                        return

        readers = [threading.Thread(target=read, args=(i,)) for i in range(self.READERS)]
        for reader in readers:
            reader.start()
        try:
            time.sleep(1)
            r1, r2 = self.replicas["r1"], self.replicas["r2"]
            before = gets(r2)
            self.reconfigure(["r1", "r2"])
            time.sleep(2)
            gained = gets(r2) - before
            report(f"r2 answered {gained} GETs in the 2 s after it was added")
            self.assertGreater(gained, 100)

            self.reconfigure(["r2"])
            time.sleep(0.5)
            settled = gets(r1)
            time.sleep(2)
            self.assertEqual(gets(r1) - settled, 0, "the removed replica still gets reads")
            moved = gets(r2)
            time.sleep(0.5)
            self.assertGreater(gets(r2) - moved, 0)

            # PAUSE holds the readers' next commands; RESUME lets them go.
            with connect(self.proxy.port, "ops", "plexiproxy") as admin:
                admin.execute("PAUSE cache")
                time.sleep(0.2)
                paused_at = sum(answers)
                time.sleep(1)
                self.assertLessEqual(sum(answers) - paused_at, self.READERS,
                                     "commands ran while the cluster was paused")
                admin.execute("RESUME cache")
            resumed_at = sum(answers)
            time.sleep(0.5)
            self.assertGreater(sum(answers), resumed_at)
        finally:
            stop.set()
            for reader in readers:
                reader.join(15)
        self.assertEqual(errors[:5], [])


class MysqlReloadUnderLoad(ReplicaReloads):
    READERS = 4
    USER, PASSWORD = "app", "app-secret"

    def setUp(self):
        self.start_servers(MariaDBServer(), make_mariadb_replica, ("m2", "m3"))

    def config(self, replicas: list[str]) -> dict:
        servers = [("m1", self.primary, "primary")]
        servers += [(name, self.replicas[name], "replica") for name in replicas]
        return {
            "users": [{"name": self.USER, "password": self.PASSWORD}],
            "health": {"interval": "100ms", "timeout": "500ms", "fall": 2, "rise": 1,
                       "user": self.primary.user, "password": self.primary.password},
            "clusters": {"appdb": {
                "protocol": "mysql", "read_your_writes": "off", "pool_size": 8,
                "backends": [{"name": name, "type": "mysql", "role": role, "host": server.host,
                              "port": server.port, "database": "appdb"}
                             for name, server, role in servers]}},
        }

    def test_readers_follow_added_and_removed_replicas(self):
        stop = threading.Event()
        errors: list[str] = []
        seen: list[tuple[float, int]] = []  # (when, @@server_id)

        def read() -> None:
            try:
                with pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port,
                                     user=self.USER, password=self.PASSWORD, database="appdb",
                                     autocommit=True, read_timeout=10) as conn:
                    with conn.cursor() as cursor:
                        while not stop.is_set():
                            cursor.execute("SELECT @@server_id")
                            seen.append((time.monotonic(), cursor.fetchone()[0]))
                            # One in ten in a transaction, which must not be cut.
                            if len(seen) % 10 == 0:
                                cursor.execute("BEGIN")
                                cursor.execute("SELECT @@server_id")
                                cursor.execute("COMMIT")
            except pymysql.err.MySQLError as error:
                errors.append(str(error))

        def ids_since(start: float) -> set[int]:
            return {server_id for at, server_id in list(seen) if at >= start}

        readers = [threading.Thread(target=read) for _ in range(self.READERS)]
        for reader in readers:
            reader.start()
        try:
            time.sleep(1)
            m2, m3 = self.replicas["m2"].server_id, self.replicas["m3"].server_id
            self.assertEqual(ids_since(0), {m2}, errors)
            self.reconfigure(["m2", "m3"])
            time.sleep(1)
            self.assertIn(m3, ids_since(time.monotonic() - 0.5))
            self.reconfigure(["m3"])
            time.sleep(0.5)
            since = time.monotonic()
            time.sleep(1.5)
            self.assertEqual(ids_since(since), {m3})
        finally:
            stop.set()
            for reader in readers:
                reader.join(15)
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
