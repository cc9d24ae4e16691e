"""Failover through the MySQL front: a MariaDB primary and a GTID replica, clients writing
and reading through plexiproxy. The primary is killed (kill -9) and the replica made
writable, as an operator or an orchestrator does: writes come back through the proxy within
3 s, on the promoted server, without the clients reconnecting to another address."""

import sys
import threading
import time
import unittest

import pymysql

from harness.mariadb import MariaDBServer, make_replica
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog

USER, PASSWORD = "app", "app-secret"
WRITES_BACK_WITHIN = 3.0


class MysqlFailoverTest(unittest.TestCase):
    def setUp(self):
        self.primary = MariaDBServer().start()
        self.addCleanup(self.primary.close)
        self.replica = make_replica(self.primary)
        self.addCleanup(self.replica.close)
        self.primary.execute("CREATE TABLE appdb.events (id INT AUTO_INCREMENT PRIMARY KEY, "
                             "at DOUBLE)")
        self.replica.wait_caught_up()
        backends = [{"type": "mysql", "role": role, "host": server.host, "port": server.port,
                     "database": "appdb"}
                    for server, role in ((self.primary, "primary"), (self.replica, "replica"))]
        self.proxy = Plexiproxy({
            "users": [{"name": USER, "password": PASSWORD}],
            "health": {"interval": "100ms", "timeout": "500ms", "fall": 2, "rise": 1,
                       "user": self.primary.user, "password": self.primary.password},
            "clusters": {"appdb": {"protocol": "mysql", "read_your_writes": "off",
                                   "pool_size": 4, "connect_timeout": "1s",
                                   "backends": backends}},
        }).start()
        self.addCleanup(self.proxy.close)
        start_watchdog(self, 120, self.proxy, self.primary, self.replica)
        self.addCleanup(print_log_if_failed, self, self.proxy)

    def connect(self):
        return pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=USER,
                               password=PASSWORD, database="appdb", autocommit=True,
                               connect_timeout=5, read_timeout=10, write_timeout=10)

    def test_writes_resume_on_the_promoted_replica(self):
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute("INSERT INTO events (at) VALUES (%s)", (time.time(),))
            cursor.execute("/* plexiproxy: role=primary */ SELECT @@server_id")
            self.assertEqual(cursor.fetchone()[0], self.primary.server_id)
        self.replica.wait_caught_up()

        self.primary.kill()
        self.replica.promote()
        promoted_at = time.monotonic()
        first_write = None
        failures = 0
        while time.monotonic() - promoted_at < 15:
            try:
                with self.connect() as conn, conn.cursor() as cursor:
                    cursor.execute("INSERT INTO events (at) VALUES (%s)", (time.time(),))
                    cursor.execute("/* plexiproxy: role=primary */ SELECT @@server_id")
                    server = cursor.fetchone()[0]
                first_write = time.monotonic() - promoted_at
                break
            except pymysql.err.MySQLError:
                failures += 1
                time.sleep(0.05)
        print(f"\n  measured: first write {first_write:.2f}s after the promotion "
              f"({failures} refused before)", file=sys.stderr, end="")
        self.assertIsNotNone(first_write)
        self.assertLess(first_write, WRITES_BACK_WITHIN)
        self.assertEqual(server, self.replica.server_id)
        # Reads go on too, now on the only server left.
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM events")
            self.assertEqual(cursor.fetchone()[0], 2)


if __name__ == "__main__":
    unittest.main()
