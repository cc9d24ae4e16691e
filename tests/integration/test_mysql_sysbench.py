"""sysbench through the MySQL front, as the issue asks: oltp_point_select (its prepared
statements, executed on whichever server each client gets) and oltp_read_write (its
transactions), 32 threads over 4 server connections per backend, against a MariaDB primary
and a GTID replica: zero errors, zero reconnects, and the rows written all on the primary."""

import re
import subprocess
import sys
import unittest

from harness.mariadb import MariaDBServer, make_replica
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog

USER, PASSWORD = "app", "app-secret"
THREADS = 32
POOL_SIZE = 4
SECONDS = 8
TABLE_SIZE = 10000
TEST_DEADLINE = 240


def sysbench(workload: str, port: int, *args: str) -> str:
    command = ["sysbench", workload, "--db-driver=mysql", "--mysql-host=127.0.0.1",
               f"--mysql-port={port}", f"--mysql-user={USER}", f"--mysql-password={PASSWORD}",
               "--mysql-db=appdb", "--mysql-ssl=off", "--tables=2", f"--table-size={TABLE_SIZE}",
               *args]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({out.returncode}):\n{out.stdout}\n"
                             f"{out.stderr}")
    return out.stdout


def counts(output: str) -> dict[str, float]:
    found = {}
    for name in ("transactions", "queries", "ignored errors", "reconnects"):
        match = re.search(rf"^\s*{name}:\s+(\d+)", output, re.MULTILINE)
        if match:
            found[name] = float(match.group(1))
    return found


class MysqlSysbenchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.primary = MariaDBServer().start()
        cls.replica = cls.proxy = None
        try:
            cls.replica = make_replica(cls.primary)
            sysbench("oltp_read_write", cls.primary.port, "prepare")
            cls.replica.wait_caught_up(timeout=120)
            backends = [{"type": "mysql", "role": role, "host": server.host,
                         "port": server.port, "database": "appdb"}
                        for server, role in ((cls.primary, "primary"), (cls.replica, "replica"))]
            cls.proxy = Plexiproxy({
                "users": [{"name": USER, "password": PASSWORD}],
                "health": {"interval": "200ms", "user": cls.primary.user,
                           "password": cls.primary.password},
                "clusters": {"appdb": {"protocol": "mysql", "read_your_writes": "off",
                                       "pool_size": POOL_SIZE,
                                       "backends": backends}},
            }).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for server in (cls.proxy, cls.replica, cls.primary):
            if server is not None:
                server.close()

    def setUp(self):
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.primary, self.replica)
        self.addCleanup(print_log_if_failed, self, self.proxy)

    def run_through_proxy(self, workload: str, conflicts_allowed: float = 0) -> dict[str, float]:
        """Runs the workload; any error but a transaction conflict makes sysbench fail. The
        conflicts sysbench retries (deadlock 1213, lock wait timeout 1205, its "ignored
        errors") are the server's answer to 32 threads writing the same rows, through a
        proxy or not: up to `conflicts_allowed` of the transactions."""
        output = sysbench(workload, self.proxy.mysql_port, f"--threads={THREADS}",
                          f"--time={SECONDS}", "--db-ps-mode=auto", "--report-interval=0",
                          "run")
        found = counts(output)
        print(f"\n  measured: {workload} through plexiproxy: {found}", file=sys.stderr, end="")
        self.assertGreater(found.get("transactions", 0), 0, output)
        self.assertLessEqual(found.get("ignored errors", 0),
                             conflicts_allowed * found.get("transactions", 0), output)
        self.assertEqual(found.get("reconnects"), 0, output)
        return found

    def test_point_select_with_prepared_statements(self):
        self.run_through_proxy("oltp_point_select")
        # The statements ran on both servers' connections (reads go to the replica, the
        # primary takes none), each prepared there by the proxy.
        prepared = self.replica.value(
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
            "WHERE VARIABLE_NAME = 'COM_STMT_PREPARE'")
        self.assertGreater(int(prepared), 0)
        self.assertLessEqual(self.server_connections(self.replica), POOL_SIZE)

    def test_read_write_transactions(self):
        before = self.primary.value("SELECT SUM(k) FROM appdb.sbtest1")
        self.run_through_proxy("oltp_read_write", conflicts_allowed=0.005)
        self.assertLessEqual(self.server_connections(self.primary), POOL_SIZE)
        # Every write landed on the primary and reached the replica.
        self.replica.wait_caught_up(timeout=120)
        after_primary = self.primary.value("SELECT SUM(k) FROM appdb.sbtest1")
        self.assertNotEqual(before, after_primary)
        self.assertEqual(self.replica.value("SELECT SUM(k) FROM appdb.sbtest1"), after_primary)

    def server_connections(self, server) -> int:
        return server.value(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (USER,))


if __name__ == "__main__":
    unittest.main()
