"""Replica reads and failover through the Redis front: a redis-server primary and its
replica behind plexiproxy with read_from: replica. Reads land on the replica (its own
INFO commandstats counts them), writes and a client's reads right after its writes on the
primary. The primary is killed and the replica promoted (REPLICAOF NO ONE): writes come back
through the proxy within 3 s, on the promoted server."""

import sys
import time
import unittest

import redis

from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.redis import RedisServer, make_replica, promote, wait_caught_up
from harness.watchdog import start_watchdog

WRITES_BACK_WITHIN = 3.0


def calls(server: RedisServer, command: str) -> int:
    return server.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


class RedisFailoverTest(unittest.TestCase):
    def setUp(self):
        self.primary = RedisServer().start()
        self.addCleanup(self.primary.close)
        self.replica = make_replica(self.primary)
        self.addCleanup(self.replica.close)
        self.proxy = Plexiproxy({
            "health": {"interval": "100ms", "timeout": "500ms", "fall": 2, "rise": 1},
            "clusters": {"cache": {
                "protocol": "redis", "read_from": "replica", "read_your_writes_window": "300ms",
                "backends": [
                    {"type": "redis", "role": "primary", "host": self.primary.host,
                     "port": self.primary.port},
                    {"type": "redis", "role": "replica", "host": self.replica.host,
                     "port": self.replica.port}]}},
        }).start()
        self.addCleanup(self.proxy.close)
        start_watchdog(self, 120, self.proxy, self.primary, self.replica)
        self.addCleanup(print_log_if_failed, self, self.proxy)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.proxy.redis_port, socket_timeout=5,
                           decode_responses=True)

    def test_reads_on_the_replica_writes_on_the_primary(self):
        with self.client() as r:
            r.set("color", "blue")
            # Right after its write the client reads on the primary.
            self.assertEqual(r.get("color"), "blue")
            wait_caught_up(self.primary, self.replica)
            time.sleep(0.4)  # past read_your_writes_window
            gets_primary, gets_replica = calls(self.primary, "get"), calls(self.replica, "get")
            for _ in range(50):
                self.assertEqual(r.get("color"), "blue")
            self.assertEqual(calls(self.replica, "get") - gets_replica, 50)
            self.assertEqual(calls(self.primary, "get") - gets_primary, 0)
            self.assertEqual(calls(self.primary, "set"), 1)

    def test_writes_resume_on_the_promoted_replica(self):
        with self.client() as r:
            r.set("before", 1)
        wait_caught_up(self.primary, self.replica)
        self.primary.kill()
        promote(self.replica)
        promoted_at = time.monotonic()
        first_write = None
        failures = 0
        while time.monotonic() - promoted_at < 15:
            try:
                with self.client() as r:
                    r.set("after", 2)
                first_write = time.monotonic() - promoted_at
                break
            except redis.exceptions.RedisError:
                failures += 1
                time.sleep(0.05)
        print(f"\n  measured: first write {first_write}s after the promotion "
              f"({failures} refused before)", file=sys.stderr, end="")
        self.assertIsNotNone(first_write)
        self.assertLess(first_write, WRITES_BACK_WITHIN)
        with self.replica.client() as direct:
            self.assertEqual(direct.get("after"), "2")
            self.assertEqual(direct.get("before"), "1")


if __name__ == "__main__":
    unittest.main()
