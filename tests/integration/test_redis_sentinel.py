"""Sentinel discovery against real servers: a Redis primary, a replica and a Sentinel watching
them. The unit test binary's SentinelWatchLive test follows the Sentinel and prints every
master address it reports; after the first (the primary) the primary is killed, the Sentinel
fails over, and the watch must report the replica within a few seconds. Then the same
through plexiproxy: a cluster naming the Sentinel, its primary killed, the Sentinel's
failover followed, and writes through the proxy resume on the promoted replica."""

import os
import queue
import sys
import subprocess
import threading
import time
import unittest
from pathlib import Path

from harness.cluster import report
import redis

from harness.plexiproxy import Plexiproxy, binary, daemon_environment, print_log_if_failed
from harness.procs import log_tail, stop_process
from harness.redis import RedisSentinel, RedisServer, make_replica

REPORT_WITHIN = 10.0  # Sentinel's own failover (down after 1 s, then the election) included
FIRST_REPORT_WITHIN = 10.0


def core_tests() -> Path:
    """The unit test binary beside the plexiproxy binary under test ($PLEXI_CORE_TESTS wins)."""
    if os.environ.get("PLEXI_CORE_TESTS"):
        return Path(os.environ["PLEXI_CORE_TESTS"])
    return Path(binary()).parent / "tests" / "core_tests"


class SentinelDiscoveryTest(unittest.TestCase):
    def setUp(self):
        self.primary = RedisServer(password="redis-secret")
        self.addCleanup(self.primary.close)
        self.primary.start()
        self.replica = make_replica(self.primary)
        self.addCleanup(self.replica.close)
        self.sentinel = RedisSentinel(self.primary, name="mymaster")
        self.addCleanup(self.sentinel.close)
        self.sentinel.start()
        self.sentinel.wait_knows_replicas(1)
        self.watch: subprocess.Popen | None = None
        self.stderr_path = self.sentinel.dir / "watch.stderr"

    def tearDown(self):
        stop_process(self.watch, 9)

    def read_report(self, within: float) -> str:
        """The next "master host:port" line the watch prints, within `within` seconds."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break  # the watch ended
            if line.startswith("master "):
                return line.split()[1]
        self.fail(f"no report within {within}s; watch stderr:\n{log_tail(self.stderr_path)}\n"
                  f"Sentinel log:\n{self.sentinel.log()}")

    def start_watch(self) -> None:
        """Runs the live test of the unit test binary, its output lines fed to self.lines."""
        program = core_tests()
        self.assertTrue(program.exists(), f"{program} is missing: build the core_tests target")
        with open(self.stderr_path, "wb") as stderr:
            self.watch = subprocess.Popen(
                [str(program), "--gtest_also_run_disabled_tests",
                 "--gtest_filter=SentinelWatchLive.*"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True,
                env=daemon_environment(PLEXI_TEST_SENTINELS=self.sentinel.address,
                                       PLEXI_TEST_SENTINEL_MASTER=self.sentinel.name))
        self.output: list[str] = []
        self.lines: queue.Queue = queue.Queue()

        def pump(stream):
            for line in stream:
                self.output.append(line)
                self.lines.put(line)
            self.lines.put(None)
        threading.Thread(target=pump, args=(self.watch.stdout,), daemon=True).start()

    def test_the_watch_follows_a_failover(self):
        self.start_watch()
        self.assertEqual(self.read_report(FIRST_REPORT_WITHIN), self.primary.address)

        killed = time.monotonic()
        self.primary.kill()
        self.assertEqual(self.read_report(REPORT_WITHIN), self.replica.address)
        took = time.monotonic() - killed
        report("master kill -9 -> Sentinel failover -> new master reported", took)
        self.assertEqual(self.sentinel.master_address(), self.replica.address)
        self.assertEqual(self.replica.cli("ROLE").splitlines()[0], "master")

        self.assertEqual(self.watch.wait(timeout=30), 0,
                         "".join(self.output) + log_tail(self.stderr_path))

    def test_the_proxy_follows_a_sentinel_failover(self):
        proxy = Plexiproxy({
            "health": {"interval": "500ms", "timeout": "500ms", "fall": 2, "rise": 1},
            "clusters": {"cache": {
                "protocol": "redis", "sentinels": [self.sentinel.address],
                "sentinel_master": self.sentinel.name,
                "backends": [
                    {"type": "redis", "role": role, "host": server.host, "port": server.port,
                     "password": "redis-secret"}
                    for server, role in ((self.primary, "primary"), (self.replica, "replica"))]}},
        }).start()
        self.addCleanup(proxy.close)
        self.addCleanup(print_log_if_failed, self, proxy)
        client = lambda: redis.Redis(host="127.0.0.1", port=proxy.redis_port, socket_timeout=5)
        with client() as r:
            r.set("before", 1)
        self.primary.kill()
        killed = time.monotonic()
        first_write = None
        while time.monotonic() - killed < 20:
            try:
                with client() as r:
                    r.set("after", 2)
                first_write = time.monotonic() - killed
                break
            except redis.exceptions.RedisError:
                time.sleep(0.1)
        print(f"\n  measured: primary kill -9 -> first write through the proxy after the "
              f"Sentinel's failover: {first_write}s", file=sys.stderr, end="")
        self.assertIsNotNone(first_write, proxy.log())
        self.assertEqual(self.replica.cli("ROLE").splitlines()[0], "master")
        self.assertEqual(self.replica.cli("GET", "after"), "2")
        # The Sentinel announces +switch-master once it has reconfigured the replicas, which
        # may be after the promoted replica answered ROLE as master.
        announced = f"the Sentinels name cache-2 ({self.replica.address}) as master"
        deadline = time.monotonic() + REPORT_WITHIN
        while announced not in proxy.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn(announced, proxy.log())


if __name__ == "__main__":
    unittest.main()
