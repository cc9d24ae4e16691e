"""Runs the plexiproxy binary under test: writes its YAML config (or uses the embedded
default with a data directory), starts it on free loopback ports, signals and stops it."""

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from .ports import free_port
from .procs import (ManagedProcess, accepts_tcp, make_workdir, remove_workdir, service_prefix,
                    stop_process, wait_until)

REPO = Path(__file__).resolve().parents[2]


SANITIZER_EXIT_CODE = 86  # how a sanitizer build ends after a report; no other exit uses it

# What a sanitizer build of the daemon reads (an ordinary build ignores them): one exit code
# for every report, so close() tells a report from an ordinary unclean stop; stacks in UBSan
# reports; TSan ends the daemon at its first report, so the test that caused it fails.
# No suppressions: the suites run clean without any.
SANITIZER_OPTIONS = {
    "ASAN_OPTIONS": f"exitcode={SANITIZER_EXIT_CODE}",
    "UBSAN_OPTIONS": f"exitcode={SANITIZER_EXIT_CODE}:print_stacktrace=1",
    "TSAN_OPTIONS": f"exitcode={SANITIZER_EXIT_CODE}:halt_on_error=1",
}


def daemon_environment(**extra: str) -> dict[str, str]:
    """Our environment without PLEXIPROXY_* variables (the daemon reads each as a config
    override, and ctest sets PLEXIPROXY_BIN), with the sanitizer options unless set by the
    caller, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXIPROXY_")}
    return {**SANITIZER_OPTIONS, **env, **extra}


def binary() -> str:
    """The binary ctest built ($PLEXIPROXY_BIN), else the test build of scripts/test.sh."""
    return os.environ.get("PLEXIPROXY_BIN") or str(REPO / "build/test/plexiproxy")


def built_with_sanitizer() -> bool:
    """Whether the daemon is built with AddressSanitizer or ThreadSanitizer (GCC links libasan
    or libtsan): their allocators hold freed memory (ASan's quarantine, TSan's shadow and
    caches), so the process's size says nothing about ours."""
    result = subprocess.run(["ldd", binary()], capture_output=True, text=True, timeout=30)
    return "libasan" in result.stdout or "libtsan" in result.stdout


class Plexiproxy(ManagedProcess):
    """One plexiproxy process. config is a dict (its `listen` filled in with our ports when
    absent) or YAML text (used as written); without one, and unless write_config() is called
    before start(), it runs the embedded default in data_dir."""

    def __init__(self, config: dict | str | None = None, data_dir: Path | None = None,
                 env: dict[str, str] | None = None):
        self.dir = make_workdir("plexi-proxy-", for_service_user=False)
        self.port = free_port()
        self.admin_port = free_port()
        self.mysql_port = free_port()
        self.redis_port = free_port()
        self.config_path = self.dir / "plexiproxy.yaml"
        self.log_path = self.dir / "plexiproxy.log"
        self.embedded = config is None
        self.data_dir = Path(data_dir) if data_dir else self.dir / "data"
        self.env = env or {}
        self.process: subprocess.Popen | None = None
        if config is not None:
            self.write_config(config)

    def listen(self) -> dict:
        return {"postgres": f"127.0.0.1:{self.port}", "mysql": f"127.0.0.1:{self.mysql_port}",
                "redis": f"127.0.0.1:{self.redis_port}", "admin": f"127.0.0.1:{self.admin_port}"}

    def write_config(self, config: dict | str) -> None:
        """(Re)writes the config file; a running proxy sees it after reload()."""
        self.embedded = False
        if isinstance(config, dict):
            config = yaml.safe_dump({"listen": self.listen(), **config}, sort_keys=False)
        self.config_path.write_text(config)
        # As an operator would: the daemon refuses a file others may read that holds plain
        # passwords.
        self.config_path.chmod(0o600)

    def command(self) -> list[str]:
        if self.embedded:
            return [binary(), "--data", str(self.data_dir)]
        return [binary(), "--config", str(self.config_path)]

    def start(self) -> "Plexiproxy":
        env = daemon_environment(**self.env)
        if self.embedded:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            env.update(PLEXIPROXY_LISTEN__POSTGRES=f"127.0.0.1:{self.port}",
                       PLEXIPROXY_LISTEN__MYSQL=f"127.0.0.1:{self.mysql_port}",
                       PLEXIPROXY_LISTEN__ADMIN=f"127.0.0.1:{self.admin_port}")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*service_prefix("SIGKILL", as_service_user=False), *self.command()],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                env=env)
        wait_until(lambda: accepts_tcp(self.port), self.process, "plexiproxy", self.log_path)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reload(self) -> None:
        self.process.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait, and insist on a clean exit (code 0)."""
        code = stop_process(self.process, signal.SIGTERM, timeout)
        if code != 0:
            raise AssertionError(f"plexiproxy exited with {code}:\n{self.log()}")

    def kill(self) -> None:
        stop_process(self.process, signal.SIGKILL)

    def close(self) -> None:
        """Stops the process if it still runs and removes the work dir. Checks no exit code
        but the sanitizers': a report (at exit, LeakSanitizer's) fails the test."""
        code = stop_process(self.process, signal.SIGTERM, timeout=10)
        report = self.log() if code == SANITIZER_EXIT_CODE else None
        remove_workdir(self.dir)
        if report is not None:
            raise AssertionError(f"plexiproxy's sanitizer reported:\n{report}")



def print_log_if_failed(test, *servers) -> None:
    """A cleanup for test methods: shows the servers' logs when the test failed."""
    if not _has_failed(test):
        return
    for server in servers:
        print(f"\n----- {type(server).__name__} log ({test.id()}) -----\n{server.log()}",
              file=sys.stderr)


def _has_failed(test) -> bool:
    # unittest reports failures as they happen, so by cleanup time they are in the result.
    outcome = getattr(test, "_outcome", None)
    result = getattr(outcome, "result", None)
    if result is None:
        return True
    failed = [case for case, _ in result.failures + result.errors]
    return any(case is test or getattr(case, "test_case", None) is test for case in failed)


def metric(proxy: Plexiproxy, line_start: str) -> float:
    """The value of the first /metrics line that starts with `line_start` (a series with its
    labels, e.g. 'plexiproxy_errors_total{kind="tls_required"}'); 0 when there is none."""
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.admin_port}/metrics",
                                timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0
