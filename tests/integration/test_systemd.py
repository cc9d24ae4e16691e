"""plexiproxy as systemd runs it: the sd_notify messages a Type=notify service sends (read
from a NOTIFY_SOCKET the test listens on, as systemd would), the watchdog's pings, the unit
file as `systemd-analyze verify` checks it, and the layout `cmake --install` produces.

systemd-analyze comes from Debian's systemd package; without it the unit test fails rather
than skips (scripts/test.sh installs it)."""

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

import pymysql
import yaml

from harness.clients import connect
from harness.plexiproxy import Plexiproxy, binary, print_log_if_failed
from harness.watchdog import start_watchdog

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy/plexiproxy.service"
MAN_PAGE = REPO / "deploy/plexiproxy.8"
EXAMPLE_CONFIG = REPO / "deploy/examples/plexiproxy.yaml"
WATCHDOG_USEC = 1_000_000  # pings expected every half second
STATUS_EVERY = 2.0         # seconds between the daemon's status checks


class NotifySocket:
    """A datagram socket in a temp dir, standing in for systemd's; a thread collects what
    arrives, each message with the monotonic time it came."""

    def __init__(self, directory: Path):
        self.path = directory / "notify.sock"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.path))
        self.messages: queue.Queue[tuple[float, dict[str, str]]] = queue.Queue()
        self.thread = threading.Thread(target=self._collect, daemon=True)
        self.thread.start()

    def _collect(self) -> None:
        while True:
            try:
                data = self.socket.recv(65536)
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.messages.put((time.monotonic(), fields))

    def close(self) -> None:
        self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()

    def wait_for(self, predicate, timeout: float = 10.0) -> dict[str, str]:
        """The first message (from now on, skipping others) that predicate accepts."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no such sd_notify message within the time")
            try:
                _, fields = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(fields):
                return fields

    def drain(self) -> list[tuple[float, dict[str, str]]]:
        got = []
        while True:
            try:
                got.append(self.messages.get_nowait())
            except queue.Empty:
                return got


def sqlite_config(proxy: Plexiproxy) -> dict:
    listen = proxy.listen()
    return {"listen": {key: listen[key] for key in ("postgres", "mysql", "admin")},
            "clusters": {"litedb": {"backends": [{"type": "sqlite",
                                                  "path": str(proxy.dir / "l.db")}]}}}


def status_of(fields: dict[str, str]) -> str | None:
    return fields.get("STATUS")


class NotifyTest(unittest.TestCase):
    """One proxy per test, started as systemd would start it, with the watchdog on."""

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="plexi-notify-"))
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.notify = NotifySocket(self.dir)
        self.addCleanup(self.notify.close)
        self.proxy = Plexiproxy(env={"NOTIFY_SOCKET": str(self.notify.path),
                                     "WATCHDOG_USEC": str(WATCHDOG_USEC)})
        self.addCleanup(self.proxy.close)
        self.proxy.write_config(sqlite_config(self.proxy))
        self.proxy.start()
        self.addCleanup(print_log_if_failed, self, self.proxy)
        start_watchdog(self, 120, self.proxy)

    def test_ready_after_start_with_a_status_of_no_clients(self):
        ready = self.notify.wait_for(lambda f: f.get("READY") == "1")
        self.assertEqual(status_of(ready), "clients: 0 pg, 0 mysql, 0 redis; servers: 0 active, 0 idle")

    def test_status_follows_the_clients_that_connect_and_leave(self):
        self.notify.wait_for(lambda f: f.get("READY") == "1")
        pg = connect(self.proxy.port, "anyone", "litedb")
        self.addCleanup(pg.close)
        pg.execute("SELECT 1")
        self.notify.wait_for(lambda f: (status_of(f) or "").startswith("clients: 1 pg, 0 mysql"),
                             timeout=3 * STATUS_EVERY)
        mysql = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user="anyone",
                                password="", database="litedb", connect_timeout=10)
        self.addCleanup(lambda: mysql.open and mysql.close())  # closed below unless failed
        self.notify.wait_for(lambda f: (status_of(f) or "").startswith("clients: 1 pg, 1 mysql"),
                             timeout=3 * STATUS_EVERY)
        pg.close()
        mysql.close()
        self.notify.wait_for(lambda f: (status_of(f) or "").startswith("clients: 0 pg, 0 mysql"),
                             timeout=3 * STATUS_EVERY)

    def test_status_is_sent_only_when_it_changed(self):
        self.notify.wait_for(lambda f: f.get("READY") == "1")
        time.sleep(3 * STATUS_EVERY)
        statuses = [f for _, f in self.notify.drain() if "STATUS" in f]
        self.assertEqual(statuses, [])  # nobody came or went: nothing new to say

    def test_sighup_sends_reloading_with_the_monotonic_clock_then_ready(self):
        self.notify.wait_for(lambda f: f.get("READY") == "1")
        # A changed file, as an operator reloads: a second cluster.
        config = sqlite_config(self.proxy)
        config["clusters"]["otherdb"] = {"backends": [{"type": "sqlite",
                                                       "path": str(self.proxy.dir / "o.db")}]}
        self.proxy.write_config(config)
        before = time.monotonic()
        self.proxy.reload()
        reloading = self.notify.wait_for(lambda f: "RELOADING" in f)
        self.assertEqual(reloading["RELOADING"], "1")
        # systemd compares MONOTONIC_USEC with CLOCK_MONOTONIC, Python's monotonic clock.
        sent_at = int(reloading["MONOTONIC_USEC"]) / 1e6
        self.assertGreaterEqual(sent_at, before - 0.001)
        self.assertLess(sent_at, time.monotonic() + 0.001)
        self.notify.wait_for(lambda f: f.get("READY") == "1")
        with connect(self.proxy.port, "anyone", "otherdb") as conn:  # the reload took
            self.assertEqual(conn.execute("SELECT 1").fetchone(), (1,))

    def test_watchdog_pings_at_half_the_interval(self):
        self.notify.wait_for(lambda f: f.get("READY") == "1")
        self.notify.drain()
        window = 4.0
        time.sleep(window)
        pings = [t for t, f in self.notify.drain() if f.get("WATCHDOG") == "1"]
        expected = window / (WATCHDOG_USEC / 2 / 1e6)  # 8
        self.assertGreaterEqual(len(pings), expected - 2, pings)
        self.assertLessEqual(len(pings), expected + 1, pings)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        # Never as late as the timeout itself, when systemd would kill the service.
        self.assertLess(max(gaps), WATCHDOG_USEC / 1e6 * 0.9, gaps)

    def test_a_stopped_daemon_stops_pinging(self):
        self.notify.wait_for(lambda f: f.get("WATCHDOG") == "1")
        self.proxy.process.send_signal(signal.SIGSTOP)
        try:
            self.notify.drain()
            time.sleep(2 * WATCHDOG_USEC / 1e6)
            pings = [f for _, f in self.notify.drain() if f.get("WATCHDOG") == "1"]
            self.assertEqual(pings, [])
        finally:
            self.proxy.process.send_signal(signal.SIGCONT)
        self.notify.wait_for(lambda f: f.get("WATCHDOG") == "1", timeout=3)

    def test_sigterm_sends_stopping_with_the_clients_being_drained(self):
        self.notify.wait_for(lambda f: f.get("READY") == "1")
        conn = connect(self.proxy.port, "anyone", "litedb", autocommit=False)
        self.addCleanup(conn.close)
        conn.execute("SELECT 1")  # a transaction open: the drain waits for it
        self.proxy.process.send_signal(signal.SIGTERM)
        stopping = self.notify.wait_for(lambda f: f.get("STOPPING") == "1")
        self.assertEqual(status_of(stopping),
                         "draining: clients: 1 pg, 0 mysql, 0 redis; servers: 0 active, 0 idle")
        conn.commit()  # the transaction ends, the client with it, and the daemon exits
        self.assertEqual(self.proxy.process.wait(timeout=30), 0)


class UnitFileTest(unittest.TestCase):

    def unit(self) -> dict[str, list[str]]:
        """The [Service] section's settings, each with every value it is given."""
        settings: dict[str, list[str]] = {}
        section = None
        for line in UNIT.read_text().splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line and not line.startswith("#"):
                key, value = line.split("=", 1)
                settings.setdefault(key, []).append(value)
        return settings

    def test_systemd_analyze_verify_accepts_the_unit(self):
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "plexiproxy.service"
            copy.write_text(UNIT.read_text().replace("/usr/local/bin/plexiproxy", binary()))
            verify_unit(self, copy, man_page_tree(Path(scratch)))

    def test_the_unit_runs_the_daemon_as_a_notify_service(self):
        unit = self.unit()
        self.assertEqual(unit["Type"], ["notify"])
        self.assertEqual(unit["NotifyAccess"], ["all"])
        self.assertEqual(unit["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertRegex(unit["ExecStart"][0], r" --config /etc/plexiproxy/plexiproxy\.yaml$")
        self.assertEqual(unit["Restart"], ["on-failure"])
        self.assertIn("WatchdogSec", unit)
        self.assertEqual(unit["CapabilityBoundingSet"], [""])
        self.assertEqual(unit["ProtectSystem"], ["strict"])
        self.assertEqual(unit["NoNewPrivileges"], ["yes"])

    def test_the_unit_gives_the_drain_and_the_clients_what_they_need(self):
        unit = self.unit()
        limits = yaml.safe_load(EXAMPLE_CONFIG.read_text())["limits"]
        self.assertGreater(seconds(unit["TimeoutStopSec"][0]), seconds(limits["shutdown_timeout"]))
        # Two descriptors per client (its own, and a server connection in session mode).
        self.assertGreater(int(unit["LimitNOFILE"][0]), 2 * int(limits["max_client_conn"]))


class InstallTest(unittest.TestCase):
    """`cmake --install` of the build that made the binary under test, into a temp prefix."""

    @classmethod
    def setUpClass(cls):
        cls.build = Path(binary()).resolve().parent
        if not (cls.build / "CMakeCache.txt").exists():
            raise unittest.SkipTest(f"{binary()} is not in a CMake build directory")
        cls.prefix = Path(tempfile.mkdtemp(prefix="plexi-install-"))
        cls.addClassCleanup(shutil.rmtree, cls.prefix, ignore_errors=True)
        cls.install()

    @classmethod
    def install(cls) -> str:
        result = subprocess.run(["cmake", "--install", str(cls.build), "--prefix", str(cls.prefix)],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError(result.stdout + result.stderr)
        return result.stdout

    def test_the_layout(self):
        for path in ("bin/plexiproxy", "lib/systemd/system/plexiproxy.service",
                     "lib/sysusers.d/plexiproxy.conf", "etc/plexiproxy/plexiproxy.yaml",
                     "share/man/man8/plexiproxy.8"):
            self.assertTrue((self.prefix / path).is_file(), path)
        self.assertEqual((self.prefix / "share/man/man8/plexiproxy.8").read_text(),
                         MAN_PAGE.read_text())
        version = subprocess.run([self.prefix / "bin/plexiproxy", "--version"],
                                 capture_output=True, text=True, timeout=30)
        self.assertRegex(version.stdout, r"^plexiproxy \d+\.\d+\.\d+")

    def test_the_installed_unit_names_the_installed_files(self):
        unit = (self.prefix / "lib/systemd/system/plexiproxy.service").read_text()
        config = self.prefix / "etc/plexiproxy/plexiproxy.yaml"
        self.assertIn(f"\nExecStart={self.prefix}/bin/plexiproxy --config {config}\n", unit)
        self.assertIn(f"\nEnvironmentFile=-{self.prefix}/etc/plexiproxy/plexiproxy.env\n", unit)
        verify_unit(self, self.prefix / "lib/systemd/system/plexiproxy.service",
                    self.prefix / "share/man")

    def test_the_installed_example_config_is_valid_given_its_variables(self):
        config = self.prefix / "etc/plexiproxy/plexiproxy.yaml"
        variables = set(re.findall(r"\$\{([A-Z_]+)\}", config.read_text()))
        env = {**os.environ, **{name: "secret" for name in variables}}
        env = {k: v for k, v in env.items() if not k.startswith("PLEXIPROXY_")}
        result = subprocess.run([self.prefix / "bin/plexiproxy", "--check-config", "-c", config],
                                capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_installing_again_keeps_an_edited_config(self):
        config = self.prefix / "etc/plexiproxy/plexiproxy.yaml"
        original = config.read_text()
        config.write_text(original + "# edited by the operator\n")
        try:
            output = self.install()
            self.assertTrue(config.read_text().endswith("# edited by the operator\n"))
            self.assertIn("Kept:", output)
        finally:
            config.write_text(original)


def verify_unit(test: unittest.TestCase, unit: Path, manpath: Path) -> None:
    """systemd-analyze verify, with MANPATH where Documentation=man:plexiproxy(8) is found."""
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "MANPATH": str(manpath)})
    test.assertEqual(result.returncode, 0, result.stdout + result.stderr)
    # Warnings do not change the exit code; a unit that reads well has none.
    test.assertEqual(result.stderr.strip(), "", result.stderr)


def man_page_tree(directory: Path) -> Path:
    (directory / "man/man8").mkdir(parents=True)
    shutil.copy(MAN_PAGE, directory / "man/man8/plexiproxy.8")
    return directory / "man"


def seconds(value) -> float:
    """A duration as the config (30s, 1m, a bare number) or systemd (45s, 1min) writes it."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?", str(value).strip())
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]


if __name__ == "__main__":
    unittest.main()
