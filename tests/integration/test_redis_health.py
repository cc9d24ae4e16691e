"""The health monitor against real Redis 7.0 servers: a primary with requirepass and a
replica of it. The admin /status and /metrics show both up, the primary as the write target;
an ACL user logs in with AUTH user password and a wrong password is a check error; a stalled
replica (SIGSTOP) is marked down after the timeout and comes back; after kill -9 of the
primary and REPLICAOF NO ONE on the replica, the replica is the write target within 3 s."""

import time
import unittest

from harness.admin_status import BackendStatus
from harness.cluster import LogWatcher, report
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.ports import free_port
from harness.redis import RedisServer, make_replica, promote, wait_caught_up
from harness.watchdog import start_watchdog

CLUSTER, LOGINS = "cache", "logins"
PASSWORD, MONITOR, MONITOR_PASSWORD = "redis-secret", "monitor", "monitor-secret"
INTERVAL, TIMEOUT, FALL, RISE = 0.2, 0.5, 2, 1
FAILOVER_WITHIN = 3.0
TEST_DEADLINE = 60


class RedisHealthTest(BackendStatus, unittest.TestCase):
    """One primary (r1) and one replica (r2) for the class; the methods run in order, the last
    one kills the primary."""

    cluster = CLUSTER

    @classmethod
    def setUpClass(cls):
        cls.primary = RedisServer(password=PASSWORD, users={MONITOR: MONITOR_PASSWORD})
        cls.addClassCleanup(cls.primary.close)
        cls.primary.start()
        cls.replica = make_replica(cls.primary)
        cls.addClassCleanup(cls.replica.close)

        cls.proxy = Plexiproxy()
        cls.addClassCleanup(cls.proxy.close)
        # The checks log in as the backends say: requirepass, an ACL user, a wrong password.
        # A Redis client names no database, so the second cluster has its own address.
        cls.proxy.write_config({
            "listen": {**cls.proxy.listen(), "redis": f"127.0.0.1:{free_port()}"},
            "clusters": {
                CLUSTER: {
                    "protocol": "redis",
                    "backends": [cls.backend("r1", cls.primary, "primary"),
                                 cls.backend("r2", cls.replica, "replica")],
                },
                LOGINS: {
                    "protocol": "redis",
                    "listen": f"127.0.0.1:{free_port()}",
                    "backends": [
                        cls.backend("wrong", cls.primary, "primary", password="not-it"),
                        cls.backend("acl", cls.primary, "replica", username=MONITOR,
                                    password=MONITOR_PASSWORD)],
                },
            },
            "health": {"interval": f"{int(INTERVAL * 1000)}ms",
                       "timeout": f"{int(TIMEOUT * 1000)}ms", "fall": FALL, "rise": RISE,
                       "max_replication_lag": "5s"},
            "log": {"components": {"health": "debug"}},
        })
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)  # runs first: a clean exit is part of the test
        cls.log = LogWatcher(cls.proxy)

    @staticmethod
    def backend(name: str, server: RedisServer, role: str, password: str = PASSWORD,
                **extra) -> dict:
        return {"name": name, "type": "redis", "role": role, "host": server.host,
                "port": server.port, "password": password, **extra}

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy, self.primary, self.replica)
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.primary, self.replica)

    def test_1_status_and_metrics_show_roles(self):
        with self.primary.client() as client:
            client.set("greeting", "hello")
        wait_caught_up(self.primary, self.replica)
        backends = self.wait_for_backends(
            lambda b: b["r1"]["state"] == "up" and b["r2"]["state"] == "up")
        r1, r2 = backends["r1"], backends["r2"]
        self.assertEqual((r1["actual_role"], r1["writes"]), ("primary", "yes"), r1)
        self.assertEqual((r2["actual_role"], r2["writes"]), ("replica", "no"), r2)
        self.assertIsNone(r1["last_error"], r1)
        # Its link is up: nothing it received waits to be applied.
        self.assertEqual(float(r2["lag_seconds"]), 0.0, r2)
        self.assertRegex(self.log.text(), rf"cluster {CLUSTER}: backend r2 is up \(replica, lag ")

        metrics = self.get("/metrics").splitlines()
        for line in (f'plexiproxy_backend_up{{backend="r1",cluster="{CLUSTER}"}} 1',
                     f'plexiproxy_backend_up{{backend="r2",cluster="{CLUSTER}"}} 1',
                     f'plexiproxy_backend_is_primary{{backend="r1",cluster="{CLUSTER}"}} 1',
                     f'plexiproxy_backend_is_primary{{backend="r2",cluster="{CLUSTER}"}} 0',
                     f'plexiproxy_cluster_write_target_available{{cluster="{CLUSTER}"}} 1'):
            self.assertIn(line, metrics)

    def test_2_an_acl_user_logs_in_and_a_wrong_password_is_an_error(self):
        backends = self.wait_for_backends(
            lambda b: b["acl"]["state"] == "up" and b["wrong"]["state"] == "down",
            cluster=LOGINS)
        self.assertEqual(backends["acl"]["actual_role"], "primary", backends["acl"])
        self.assertIn("AUTH: WRONGPASS", backends["wrong"]["last_error"] or "", backends["wrong"])
        self.assertRegex(self.log.text(), rf"cluster {LOGINS}: backend wrong is down: AUTH: ")

    def test_3_a_stalled_replica_is_marked_down_and_comes_back(self):
        self.log.mark()
        stalled = time.monotonic()
        self.replica.stall()
        try:
            backends = self.wait_for_backends(lambda b: b["r2"]["state"] == "down")
            took = time.monotonic() - stalled
            report("SIGSTOP of the replica -> down", took)
            # fall checks in a row, each cut at the timeout; one check may have just begun.
            self.assertLess(took, (FALL + 1) * (TIMEOUT + INTERVAL) + 1.0)
            self.assertIn(f"no answer within {int(TIMEOUT * 1000)}ms",
                          backends["r2"]["last_error"] or "", backends["r2"])
            self.assertEqual(backends["r1"]["writes"], "yes")
        finally:
            self.replica.resume()
        resumed = time.monotonic()
        self.wait_for_backends(lambda b: b["r2"]["state"] == "up")
        report("SIGCONT -> up again", time.monotonic() - resumed)

    def test_4_a_promoted_replica_takes_over_from_a_killed_primary(self):
        with self.primary.client() as client:
            client.set("greeting", "hello again")
        wait_caught_up(self.primary, self.replica)
        self.log.mark()
        killed = time.monotonic()
        self.primary.kill()
        promote(self.replica)  # REPLICAOF NO ONE
        backends = self.wait_for_backends(lambda b: b["r2"]["writes"] == "yes",
                                          timeout=FAILOVER_WITHIN + 5)
        took = time.monotonic() - killed
        report("primary kill -9 and REPLICAOF NO ONE on the replica -> write target", took)
        self.assertLess(took, FAILOVER_WITHIN)
        self.assertEqual(backends["r1"]["state"], "down", backends["r1"])
        self.assertEqual(backends["r2"]["actual_role"], "primary", backends["r2"])
        self.assertRegex(self.log.text(), rf"cluster {CLUSTER}: write target r1 -> r2")
        with self.replica.client() as client:  # it took the replicated data with it
            self.assertEqual(client.get("greeting"), "hello again")
        metrics = self.get("/metrics").splitlines()
        self.assertIn(f'plexiproxy_backend_is_primary{{backend="r2",cluster="{CLUSTER}"}} 1',
                      metrics)
        self.assertIn(f'plexiproxy_backend_up{{backend="r1",cluster="{CLUSTER}"}} 0', metrics)


if __name__ == "__main__":
    unittest.main()
