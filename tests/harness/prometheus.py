"""A throwaway Prometheus server (Debian's `prometheus`) that scrapes given targets every
second from a temporary directory on a loopback port, queried through its HTTP API; and
promtool's check of a /metrics body."""

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

from .ports import free_port
from .procs import (ManagedProcess, log_tail, make_workdir, service_prefix,
                    stop_process, wait_until)

Sample = tuple[dict[str, str], float]  # one series of a query's result: labels, value


def executable(name: str) -> str:
    """The path of a tool from Debian's prometheus package; fails (never skips) without it."""
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(
            f"{name} not found: install Debian's prometheus package (scripts/test.sh does)")
    return path


def promtool_check_metrics(text: str) -> tuple[bool, str]:
    """Runs `promtool check metrics` on a /metrics body: whether it passed, and what it said
    (parse errors and lint problems such as a counter without _total or without HELP)."""
    result = subprocess.run([executable("promtool"), "check", "metrics"], input=text,
                            capture_output=True, text=True, timeout=60)
    return result.returncode == 0, (result.stdout + result.stderr).strip()


class PrometheusServer(ManagedProcess):
    """One Prometheus process. targets are the "host:port" addresses scraped as job `job`
    (every `scrape_interval`, at metrics_path, with the bearer token when given);
    scrape_self adds Prometheus's own /metrics as job "prometheus". rule_files are loaded
    and evaluated every scrape_interval too. start() returns once every target has been
    scraped once (about 5 s)."""

    def __init__(self, targets: Iterable[str] = (), job: str = "plexiproxy",
                 scrape_self: bool = False, metrics_path: str = "/metrics",
                 bearer_token: str | None = None, rule_files: Iterable[Path] = (),
                 scrape_interval: str = "1s", port: int | None = None):
        self.targets = list(targets)
        self.job = job
        self.scrape_self = scrape_self
        self.metrics_path = metrics_path
        self.bearer_token = bearer_token
        self.rule_files = [Path(path).resolve() for path in rule_files]
        self.scrape_interval = scrape_interval
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def log_path(self) -> Path:
        return self.dir / "prometheus.log"

    def config(self) -> dict:
        """prometheus.yml as a dict."""
        job = {"job_name": self.job, "metrics_path": self.metrics_path,
               "static_configs": [{"targets": self.targets}]}
        if self.bearer_token is not None:
            job["authorization"] = {"type": "Bearer", "credentials": self.bearer_token}
        jobs = [job] if self.targets else []
        if self.scrape_self:
            jobs.append({"job_name": "prometheus",
                         "static_configs": [{"targets": [self.address]}]})
        return {
            "global": {"scrape_interval": self.scrape_interval,
                       "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.scrape_interval},
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": jobs,
        }

    def start(self) -> "PrometheusServer":
        self.dir = make_workdir("plexi-prometheus-", for_service_user=False)
        config_path = self.dir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        command = [executable("prometheus"), f"--config.file={config_path}",
                   f"--storage.tsdb.path={self.dir / 'data'}",
                   f"--web.listen-address={self.address}"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*service_prefix("SIGTERM", as_service_user=False), *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_until(self._ready, self.process, "prometheus", self.log_path)
        # Prometheus takes up new targets every 5 s, so the first scrape comes that long
        # after start; wait for it here, once, rather than in every caller's wait_for.
        wait_until(self._scraped_every_target, self.process, "prometheus's first scrapes",
                   self.log_path)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _scraped_every_target(self) -> bool:
        """Every configured target has been scraped at least once, successfully or not."""
        targets = self.api("targets", state="active")["activeTargets"]
        expected = len(self.targets) + self.scrape_self
        return len(targets) == expected and all(t["health"] != "unknown" for t in targets)

    def api(self, path: str, **params: str) -> dict | list:
        """GETs /api/v1/<path> and returns its data; raises with Prometheus's own error text
        (a bad expression, say) when the status is not success."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}",
                                        timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus /api/v1/{path} {params}: "
                               f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[Sample]:
        """Evaluates expr now: one (labels, value) per series of a vector, or a single one
        with no labels for a scalar."""
        data = self.api("query", query=expr)
        if data["resultType"] == "vector":
            return [(item["metric"], float(item["value"][1])) for item in data["result"]]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        raise RuntimeError(f"{expr} gave a {data['resultType']}, not a vector or scalar")

    def wait_for(self, expr: str, predicate: Callable[[list[Sample]], bool],
                 timeout: float = 30.0) -> list[Sample]:
        """Queries expr until predicate(result) holds and returns that result; after timeout
        raises AssertionError with the last result, the targets and the log."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{expr} still gave {result} after {timeout:.0f}s; targets "
                    f"{self.targets_up()}\nprometheus log:\n{log_tail(self.log_path)}")
            time.sleep(0.2)

    def targets_up(self) -> dict[tuple[str, str], bool]:
        """Every active target as (job, instance) -> whether its last scrape succeeded."""
        return {(target["labels"]["job"], target["labels"]["instance"]):
                target["health"] == "up"
                for target in self.api("targets", state="active")["activeTargets"]}

    def stop(self) -> None:
        """SIGTERM to exactly our Prometheus, waiting for it to exit."""
        stop_process(self.process, signal.SIGTERM)
