"""The health monitor against real MariaDB servers: a primary and a GTID replica of it. The
admin /status and /metrics show both up, the primary as the write target and the replica's
lag; a replica whose replication stops loses its reads under max_replication_lag and gets
them back when it resumes; after kill -9 of the primary and SET GLOBAL read_only=0 on the
replica, the replica is the write target within 3 s."""

import time
import unittest

from harness.admin_status import BackendStatus
from harness.cluster import LogWatcher, report
from harness.mariadb import MariaDBServer, make_replica
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog

CLUSTER = "shop"
INTERVAL, TIMEOUT, FALL, RISE = 0.2, 0.5, 2, 1
FAILOVER_WITHIN = 3.0
TEST_DEADLINE = 60


class MysqlHealthTest(BackendStatus, unittest.TestCase):
    """One primary (my1) and one replica (my2) for the class; the methods run in order, the
    last one kills the primary."""

    cluster = CLUSTER

    @classmethod
    def setUpClass(cls):
        cls.primary = MariaDBServer()
        cls.addClassCleanup(cls.primary.close)
        cls.primary.start()
        cls.replica = make_replica(cls.primary)
        cls.addClassCleanup(cls.replica.close)

        cls.proxy = Plexiproxy()
        cls.addClassCleanup(cls.proxy.close)
        # The backends log in as the clients do; the checks as the health user, who may
        # read a replica's status (SLAVE MONITOR).
        cls.proxy.write_config({
            "listen": {**cls.proxy.listen(), "mysql": f"127.0.0.1:{cls.proxy.mysql_port}"},
            "clusters": {CLUSTER: {
                "protocol": "mysql",
                "health": {"user": cls.primary.user, "password": cls.primary.password},
                "backends": [cls.backend("my1", cls.primary, "primary"),
                             cls.backend("my2", cls.replica, "replica")],
            }},
            "health": {"interval": f"{int(INTERVAL * 1000)}ms",
                       "timeout": f"{int(TIMEOUT * 1000)}ms", "fall": FALL, "rise": RISE,
                       "max_replication_lag": "5s"},
            "log": {"components": {"health": "debug"}},
        })
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)  # runs first: a clean exit is part of the test
        cls.log = LogWatcher(cls.proxy)

    @staticmethod
    def backend(name: str, server: MariaDBServer, role: str) -> dict:
        return {"name": name, "type": "mysql", "role": role, "host": server.host,
                "port": server.port, "database": server.database}

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy, self.primary, self.replica)
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.primary, self.replica)

    def test_1_status_and_metrics_show_roles_and_lag(self):
        with self.primary.connect(user=self.primary.app_user, password=self.primary.app_password,
                                  database=self.primary.database) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, item TEXT)")
            cur.execute("INSERT INTO orders (item) VALUES ('tea'), ('cake')")
        self.replica.wait_caught_up()
        backends = self.wait_for_backends(
            lambda b: b["my1"]["state"] == "up" and b["my2"]["state"] == "up")
        my1, my2 = backends["my1"], backends["my2"]
        self.assertEqual((my1["actual_role"], my1["writes"]), ("primary", "yes"), my1)
        self.assertEqual((my2["actual_role"], my2["writes"]), ("replica", "no"), my2)
        self.assertIsNone(my1["last_error"], my1)
        # Caught up: its lag is measured, and small.
        self.assertIsNotNone(my2["lag_seconds"], my2)
        self.assertLess(float(my2["lag_seconds"]), 1.0, my2)
        self.assertRegex(self.log.text(), rf"cluster {CLUSTER}: backend my2 is up \(replica, lag ")

        metrics = self.get("/metrics")
        for line in (f'plexiproxy_backend_up{{backend="my1",cluster="{CLUSTER}"}} 1',
                     f'plexiproxy_backend_up{{backend="my2",cluster="{CLUSTER}"}} 1',
                     f'plexiproxy_backend_is_primary{{backend="my1",cluster="{CLUSTER}"}} 1',
                     f'plexiproxy_backend_is_primary{{backend="my2",cluster="{CLUSTER}"}} 0',
                     f'plexiproxy_cluster_write_target_available{{cluster="{CLUSTER}"}} 1'):
            self.assertIn(line, metrics.splitlines())
        self.assertRegex(
            metrics, rf'plexiproxy_replication_lag_seconds{{backend="my2",cluster="{CLUSTER}"}} ')

    def test_2_stopped_replication_loses_the_replicas_reads(self):
        self.log.mark()
        stopped = time.monotonic()
        self.replica.stop_replication()
        try:
            # Seconds_Behind_Master is NULL: a lag nobody knows is over any limit.
            took = self.log.wait_for(rf"cluster {CLUSTER}: backend my2 is behind by an unknown "
                                     r"time", stopped)
            report("STOP SLAVE -> replica loses its reads", took)
            backends = self.backends()
            self.assertIsNone(backends["my2"]["lag_seconds"], backends["my2"])
            self.assertEqual(backends["my2"]["state"], "up")
            self.assertEqual(backends["my1"]["writes"], "yes")
        finally:
            self.replica.start_replication()
        resumed = time.monotonic()
        took = self.log.wait_for(rf"cluster {CLUSTER}: backend my2 caught up", resumed)
        report("START SLAVE -> serves reads again", took)
        self.assertNotIn("write target", self.log.text())

    def test_3_a_writable_replica_takes_over_from_a_killed_primary(self):
        self.primary.execute(f"INSERT INTO {self.primary.database}.orders (item) VALUES ('jam')")
        self.replica.wait_caught_up()
        self.log.mark()
        killed = time.monotonic()
        self.primary.kill()
        self.replica.promote()  # STOP SLAVE; SET GLOBAL read_only = 0
        backends = self.wait_for_backends(lambda b: b["my2"]["writes"] == "yes",
                                          timeout=FAILOVER_WITHIN + 5)
        took = time.monotonic() - killed
        report("primary kill -9 and read_only=0 on the replica -> write target", took)
        self.assertLess(took, FAILOVER_WITHIN)
        self.assertEqual(backends["my1"]["state"], "down", backends["my1"])
        self.assertEqual(backends["my2"]["actual_role"], "primary", backends["my2"])
        self.assertRegex(self.log.text(), rf"cluster {CLUSTER}: write target my1 -> my2")
        # It took the replicated rows with it.
        self.assertEqual(self.replica.value(
            f"SELECT COUNT(*) FROM {self.replica.database}.orders"), 3)
        metrics = self.get("/metrics").splitlines()
        self.assertIn(f'plexiproxy_backend_is_primary{{backend="my2",cluster="{CLUSTER}"}} 1',
                      metrics)
        self.assertIn(f'plexiproxy_backend_up{{backend="my1",cluster="{CLUSTER}"}} 0', metrics)


if __name__ == "__main__":
    unittest.main()
