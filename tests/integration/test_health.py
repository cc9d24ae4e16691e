"""The health monitor against real servers: a primary, two streaming replicas and a separate
analytics server. A replica killed with kill -9 is marked down within interval x fall +
timeout and up after its restart; a lagging replica loses its reads; after the primary dies
and a replica is promoted the write target moves to it and on_failover runs once; the old
primary restarted as a primary is split brain, and writes are refused until it stops.

The monitor reports through its log (component health); the test reads those lines."""

import re
import shutil
import signal
import tempfile
import time
import unittest
from pathlib import Path

from harness.cluster import LogWatcher, ReplicatedServers, report
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog

USER, PASSWORD, DB = "app", "apppass", "appdb"
INTERVAL, TIMEOUT, FALL, RISE = 0.2, 0.5, 2, 1
MAX_LAG = 1.0
SLACK = 1.0  # seconds for process scheduling on a loaded machine
DOWN_WITHIN = INTERVAL * FALL + TIMEOUT + SLACK
TEST_DEADLINE = 60


class HealthMonitorTest(unittest.TestCase):
    """One set of servers for the class; the methods run in order (1 to 4), each leaving the
    servers as the next expects."""

    @classmethod
    def setUpClass(cls):
        cls.servers = ReplicatedServers(USER, PASSWORD, DB)
        cls.addClassCleanup(cls.servers.close)
        cls.servers.start()
        cls.primary, cls.replicas = cls.servers.primary, cls.servers.replicas
        cls.analytics = cls.servers.analytics

        cls.hook_dir = Path(tempfile.mkdtemp(prefix="plexi-hook-"))
        cls.addClassCleanup(shutil.rmtree, cls.hook_dir, True)
        cls.hook_calls = cls.hook_dir / "calls"
        hook = cls.hook_dir / "on-failover"
        hook.write_text(f"#!/bin/sh\nprintf '%s|%s|%s\\n' \"$1\" \"$2\" \"$3\" >> {cls.hook_calls}\n")
        hook.chmod(0o755)

        cls.proxy = Plexiproxy({
            "users": [{"name": USER, "password": PASSWORD}],
            "clusters": {DB: {
                "on_failover": str(hook),
                "backends": cls.servers.backends(),
            }},
            "health": {"interval": f"{int(INTERVAL * 1000)}ms",
                       "timeout": f"{int(TIMEOUT * 1000)}ms", "fall": FALL, "rise": RISE,
                       "max_replication_lag": f"{MAX_LAG}s"},
            "log": {"components": {"health": "debug"}},
        })
        cls.addClassCleanup(cls.proxy.close)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)  # runs first: a clean exit is part of the test
        cls.log = LogWatcher(cls.proxy)

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy)
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.primary, *self.replicas)

    def hook_lines(self) -> list[str]:
        return self.hook_calls.read_text().splitlines() if self.hook_calls.exists() else []

    def test_1_start_up_finds_the_roles(self):
        self.log.offset = 0
        start = time.monotonic()
        self.log.wait_for(r"cluster appdb: write target is pg1\n", start)
        for name, what in (("pg1", "primary"), ("pg2", "replica"), ("pg3", "replica"),
                           ("olap", "analytics")):
            self.log.wait_for(rf"cluster appdb: backend {name} is up \({what}", start)
        self.assertNotIn("claim to be primary", self.log.text())
        self.assertEqual(self.hook_lines(), [], "discovery at start-up is no failover")

    def test_2_replica_killed_and_restarted(self):
        pg3 = self.replicas[1]
        self.log.mark()
        killed = time.monotonic()
        pg3.kill(signal.SIGKILL)
        took = self.log.wait_for(r"cluster appdb: backend pg3 is down: ", killed)
        report("replica kill -9 -> marked down", took)
        self.assertLess(took, DOWN_WITHIN)

        self.log.mark()
        restarted = time.monotonic()
        pg3.restart()
        took = self.log.wait_for(r"cluster appdb: backend pg3 is up \(replica", restarted)
        report("replica restart (including its start-up) -> marked up", took)
        self.assertLess(took, 10)
        self.assertNotIn("write target", self.log.text())
        self.assertEqual(self.hook_lines(), [])

    def test_3_lagging_replica_loses_its_reads(self):
        pg3 = self.replicas[1]
        self.primary.execute("CREATE TABLE IF NOT EXISTS ticks (at timestamptz)")
        self.primary.execute("INSERT INTO ticks VALUES (now())")
        pg3.wait_caught_up()
        self.log.mark()
        paused = time.monotonic()
        pg3.pause_replay()
        try:
            # WAL keeps arriving but is not replayed: the lag grows from the last commit.
            while not re.search(r"backend pg3 (lags \S+|is) behind", self.log.text()):
                if time.monotonic() - paused > 10:
                    state = pg3.execute(
                        "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
                        "now() - pg_last_xact_replay_timestamp(), "
                        "pg_get_wal_replay_pause_state()")
                    self.fail(f"no lag reported; replica (received, replayed, age, pause): "
                              f"{state}; log since pause:\n{self.log.text()}")
                self.primary.execute("INSERT INTO ticks VALUES (now())")
                time.sleep(0.1)
            report("replay paused -> over max_replication_lag (1s)", time.monotonic() - paused)
            self.assertNotIn("backend pg2 lags", self.log.text())
        finally:
            pg3.resume_replay()
        resumed = time.monotonic()
        took = self.log.wait_for(r"cluster appdb: backend pg3 caught up", resumed)
        report("replay resumed -> serves reads again", took)

    def test_4_failover_then_split_brain(self):
        pg1, pg2 = self.primary, self.replicas[0]
        self.log.mark()
        killed = time.monotonic()
        pg1.kill(signal.SIGKILL)
        took = self.log.wait_for(r"cluster appdb: backend pg1 is down: ", killed)
        report("primary kill -9 -> marked down", took)
        self.assertLess(took, DOWN_WITHIN)
        self.log.wait_for(r"cluster appdb: no backend reports itself primary \(pg1 down", killed)

        promoted = time.monotonic()
        pg2.promote()
        took = self.log.wait_for(r"cluster appdb: write target pg1 -> pg2\n", promoted)
        report("pg_promote() called -> write target moved", took)
        self.assertLess(took, INTERVAL + TIMEOUT + SLACK + 1)  # promotion itself takes a moment
        deadline = time.monotonic() + 5
        while not self.hook_lines() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.hook_lines(), ["appdb|pg1|pg2"])

        # The old primary comes back as a primary: two primaries, so no writes at all.
        self.log.mark()
        restarted = time.monotonic()
        pg1.restart()
        took = self.log.wait_for(
            r"cluster appdb: two backends claim to be primary \(pg1, pg2\): writes refused",
            restarted)
        report("old primary restarted -> split brain reported", took)

        self.log.mark()
        stopped = time.monotonic()
        pg1.stop()
        took = self.log.wait_for(r"cluster appdb: write target pg2 is back\n", stopped)
        report("old primary stopped -> writes to pg2 again", took)
        time.sleep(3 * INTERVAL)
        self.assertEqual(self.hook_lines(), ["appdb|pg1|pg2"], "on_failover runs once per change")
        self.assertEqual(len(re.findall(r"write target \S+ -> ", self.proxy.log())), 1)


if __name__ == "__main__":
    unittest.main()
