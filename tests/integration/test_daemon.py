"""The plexiproxy process as an operator meets it: command-line options, config checking
with file:line:key errors, ${VAR} expansion, reload on SIGHUP, and draining on SIGTERM."""

import re
import signal
import subprocess
import time
import unittest

import psycopg

from harness.clients import connect
from harness.plexiproxy import (Plexiproxy, binary, built_with_sanitizer, daemon_environment,
                               print_log_if_failed)
from harness.postgres import PostgresServer
from harness.watchdog import start_watchdog
from harness.wire import WireClient

USER, PASSWORD = "app", "apppass"


def config_text(proxy: Plexiproxy, pg_port, other_cluster: bool = False,
                extra: str = "") -> str:
    """A relay config whose line 7 is the first backend's port (pg_port as written)."""
    text = f"""clusters:
  appdb:
    pool_mode: transaction
    backends:
      - name: pg1
        host: 127.0.0.1
        port: {pg_port}
        type: postgres
        role: primary
        username: {USER}
        password: {PASSWORD}
        pool_size: 4
"""
    if other_cluster:
        text += f"""  otherdb:
    backends:
      - name: pg2
        host: 127.0.0.1
        port: {pg_port}
        type: postgres
        username: {USER}
        password: {PASSWORD}
"""
    return text + f"""users:
  - name: {USER}
    password: {PASSWORD}
listen:
  postgres: 127.0.0.1:{proxy.port}
  admin: 127.0.0.1:{proxy.admin_port}
{extra}"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary(), *args], capture_output=True, text=True, timeout=30,
                          env=daemon_environment())


class CommandLineTest(unittest.TestCase):

    def test_version(self):
        result = run("--version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"plexiproxy.*\d+\.\d+\.\d+")

    def test_help(self):
        result = run("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for option in ("--config", "--check-config", "--data", "--version"):
            self.assertIn(option, result.stdout)

    def test_check_config(self):
        proxy = Plexiproxy()
        self.addCleanup(proxy.close)
        proxy.write_config(config_text(proxy, 5432))
        result = run("--config", str(proxy.config_path), "--check-config")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertFalse(proxy.running())

    def test_check_config_names_file_line_and_key(self):
        proxy = Plexiproxy()
        self.addCleanup(proxy.close)
        proxy.write_config(config_text(proxy, "abc"))
        result = run("--config", str(proxy.config_path), "--check-config")
        self.assertNotEqual(result.returncode, 0)
        self.assertRegex(result.stdout + result.stderr,
                         re.escape(f"{proxy.config_path}:7:") + r".*port")


class RunningDaemonTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = PostgresServer()
        cls.addClassCleanup(cls.pg.close)
        cls.pg.start()
        cls.pg.create_user(USER, PASSWORD)
        for database in ("appdb", "otherdb"):
            cls.pg.create_database(database, owner=USER)

    def start_proxy(self, text=None, env=None, **config_options) -> Plexiproxy:
        proxy = Plexiproxy(env=env)
        self.addCleanup(proxy.close)
        self.addCleanup(print_log_if_failed, self, proxy, self.pg)
        start_watchdog(self, 60, proxy, self.pg)
        proxy.write_config(text or config_text(proxy, self.pg.port, **config_options))
        return proxy.start()

    def query(self, proxy: Plexiproxy, database: str = "appdb", password: str = PASSWORD):
        with connect(proxy.port, USER, database, password) as conn:
            return conn.execute("SELECT current_database()").fetchone()[0]

    def test_environment_expansion(self):
        proxy = Plexiproxy(env={"PLEXI_TEST_SECRET": "from the environment",
                                "PLEXI_TEST_PG_PORT": str(self.pg.port)})
        self.addCleanup(proxy.close)
        self.addCleanup(print_log_if_failed, self, proxy, self.pg)
        start_watchdog(self, 60, proxy, self.pg)
        text = config_text(proxy, "${PLEXI_TEST_PG_PORT}")
        text = text.replace(f"  - name: {USER}\n    password: {PASSWORD}",
                            f"  - name: {USER}\n    password: ${{PLEXI_TEST_SECRET}}")
        text = text.replace("pool_size: 4", "pool_size: ${PLEXI_TEST_UNSET:-3}")
        proxy.write_config(text)
        proxy.start()
        self.assertEqual(self.query(proxy, password="from the environment"), "appdb")
        proxy.stop()

    def test_reload(self):
        proxy = self.start_proxy()
        client = connect(proxy.port, USER, "appdb", PASSWORD)
        self.addCleanup(client.close)
        proxy.write_config(config_text(proxy, "abc"))
        proxy.reload()
        deadline = time.monotonic() + 5
        while f"{proxy.config_path}:7" not in proxy.log():
            self.assertLess(time.monotonic(), deadline, "the rejected reload was not logged")
            time.sleep(0.1)
        self.assertTrue(proxy.running())
        self.assertEqual(self.query(proxy), "appdb")
        self.assertEqual(client.execute("SELECT 1").fetchone(), (1,))

        proxy.write_config(config_text(proxy, self.pg.port, other_cluster=True))
        proxy.reload()
        deadline = time.monotonic() + 5
        while True:
            try:
                self.assertEqual(self.query(proxy, "otherdb"), "otherdb")
                break
            except psycopg.OperationalError:
                self.assertLess(time.monotonic(), deadline, "the new cluster never appeared")
                time.sleep(0.1)
        self.assertEqual(self.query(proxy), "appdb")
        self.assertEqual(client.execute("SELECT 1").fetchone(), (1,))
        proxy.stop()

    def assert_refuses_new_clients(self, proxy: Plexiproxy):
        try:
            with WireClient(proxy.port, timeout=5) as raw:
                fields = raw.login(USER, "appdb", PASSWORD)
        except ConnectionRefusedError:
            return
        self.assertIsNotNone(fields, "a new client was let in during shutdown")
        self.assertEqual(fields.get("C"), "57P01")

    def test_sigterm_lets_open_transactions_finish(self):
        proxy = self.start_proxy(extra="limits:\n  shutdown_timeout: 3s\n")
        client = connect(proxy.port, USER, "appdb", PASSWORD)
        self.addCleanup(client.close)
        client.execute("CREATE TABLE IF NOT EXISTS drained (n int)")
        client.execute("BEGIN")
        client.execute("INSERT INTO drained VALUES (1)")
        proxy.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        self.assert_refuses_new_clients(proxy)
        client.execute("INSERT INTO drained VALUES (2)")
        client.execute("COMMIT")
        proxy.process.wait(5)
        self.assertEqual(proxy.process.returncode, 0, proxy.log())
        rows = self.pg.execute("SELECT n FROM drained ORDER BY n", dbname="appdb")
        self.assertEqual(rows, [(1,), (2,)])

    def test_sigterm_ends_stuck_transactions_at_the_deadline(self):
        proxy = self.start_proxy(extra="limits:\n  shutdown_timeout: 2s\n")
        client = connect(proxy.port, USER, "appdb", PASSWORD)
        self.addCleanup(client.close)
        client.execute("BEGIN")
        client.execute("SELECT 1")
        started = time.monotonic()
        proxy.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        self.assert_refuses_new_clients(proxy)
        proxy.process.wait(10)
        # The deadline, plus the exit: a sanitizer's checks at exit take seconds of their own.
        self.assertLess(time.monotonic() - started, 2 + (5 if built_with_sanitizer() else 1.5))
        self.assertEqual(proxy.process.returncode, 0, proxy.log())
        with self.assertRaises(psycopg.OperationalError):
            client.execute("SELECT 1")


if __name__ == "__main__":
    unittest.main()
