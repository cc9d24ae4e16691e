"""Benchmarks the Redis front side by side with direct connections and twemproxy in one run:
redis-benchmark GET and SET with 50 clients, without pipelining and with 16 commands per
pipeline, interleaved rounds, medians and ratios, and each proxy's CPU per request.

Run by hand, not by ctest:

    /usr/bin/python3 tests/bench/redis_bench.py [--quick] [--out results.md]

See tests/bench/README.md for what is measured and how.
"""

import argparse
import csv
import datetime
import io
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (find_binary, finish_report, git_revision, log,  # noqa: E402
                          process_cpu_seconds, version_of)
from harness.plexiproxy import Plexiproxy  # noqa: E402
from harness.redis import RedisServer, Twemproxy  # noqa: E402

CLIENTS = 50
TESTS = "get,set"
PIPELINES = (1, 16)
TARGETS = ("direct", "twemproxy", "plexiproxy")


@dataclass
class Run:
    target: str
    test: str
    pipeline: int
    round: int
    rps: float | None
    cpu: float | None  # seconds of the proxy's CPU during the run
    requests: int

    @property
    def cpu_per_request_us(self) -> float | None:
        if self.cpu is None or not self.requests or not self.rps:
            return None
        return self.cpu / self.requests * 1e6


def measure(target: str, port: int, pipeline: int, round_no: int, requests: int,
            pid: int | None) -> list[Run]:
    before = process_cpu_seconds(pid) if pid else None
    started = time.monotonic()
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(CLIENTS),
         "-n", str(requests), "-P", str(pipeline), "-t", TESTS, "-r", "100000", "--csv"],
        capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started
    cpu = process_cpu_seconds(pid) - before if pid else None
    runs = []
    if out.returncode != 0:
        log(f"!! redis-benchmark against {target} failed: {out.stderr.strip()[-500:]}")
        return [Run(target, test, pipeline, round_no, None, None, 0) for test in TESTS.split(",")]
    rows = list(csv.reader(io.StringIO(out.stdout)))
    tests = [row for row in rows if row and row[0] in ("GET", "SET")]
    if len(tests) != 2:
        log(f"!! unexpected redis-benchmark output: {out.stdout[:300]}")
    for row in tests:
        rps = float(row[1])
        # The CPU of the whole run, shared out by each test's share of its time.
        share = (requests / rps) / elapsed if rps else 0
        runs.append(Run(target, row[0], pipeline, round_no, rps,
                        cpu * share if cpu is not None else None, requests))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 100,000 requests")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 3)
    requests = args.requests or (100_000 if args.quick else 400_000)
    started = time.monotonic()
    binary = find_binary()
    runs: list[Run] = []
    with ExitStack() as stack:
        server = RedisServer()
        stack.callback(server.close)
        server.start()
        twemproxy = Twemproxy([server])
        stack.callback(twemproxy.close)
        twemproxy.start()
        proxy = Plexiproxy({"clusters": {"cache": {"protocol": "redis", "backends": [
            {"type": "redis", "host": server.host, "port": server.port}]}}})
        stack.callback(proxy.close)
        os.environ["PLEXIPROXY_BIN"] = binary
        proxy.start()
        ports = {"direct": server.port, "twemproxy": twemproxy.port,
                 "plexiproxy": proxy.redis_port}
        pids = {"direct": None, "twemproxy": twemproxy.pid, "plexiproxy": proxy.pid}
        for round_no in range(1, rounds + 1):
            shift = round_no % len(TARGETS)
            order = TARGETS[shift:] + TARGETS[:shift]
            for pipeline in PIPELINES:
                for target in order:
                    found = measure(target, ports[target], pipeline, round_no, requests,
                                    pids[target])
                    for run in found:
                        cpu = run.cpu_per_request_us
                        log(f"round {round_no} -P {pipeline} {run.test} {target}: "
                            f"{run.rps} rps, cpu/request "
                            f"{'-' if cpu is None else f'{cpu:.2f} µs'}")
                    runs.extend(found)
        proxy_log = proxy.whole_log()

    lines = [f"## Redis front: redis-benchmark, {CLIENTS} clients", "",
             f"{datetime.date.today()} · {platform.node()} · {os.cpu_count()} cores · "
             f"plexiproxy {git_revision()} · {version_of(['redis-server', '--version'])} · "
             f"nutcracker 0.5.0 · {rounds} rounds of {requests} requests per test", "",
             "| test | -P | direct rps | twemproxy rps | plexiproxy rps | plexiproxy/direct | "
             "plexiproxy/twemproxy | CPU per request: twemproxy | plexiproxy |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for pipeline in PIPELINES:
        for test in ("GET", "SET"):
            def pick(target, round_no=None):
                return [r for r in runs if r.test == test and r.pipeline == pipeline and
                        r.target == target and r.rps and (round_no is None or
                                                          r.round == round_no)]

            def median(target, field="rps"):
                values = [getattr(r, field) for r in pick(target)]
                values = [v for v in values if v is not None]
                return statistics.median(values) if values else float("nan")

            def ratio(over, under):
                values = []
                for round_no in range(1, rounds + 1):
                    a, b = pick(over, round_no), pick(under, round_no)
                    if a and b:
                        values.append(a[0].rps / b[0].rps)
                return statistics.median(values) if values else float("nan")

            lines.append(
                f"| {test} | {pipeline} | {median('direct'):.0f} | {median('twemproxy'):.0f} | "
                f"{median('plexiproxy'):.0f} | {ratio('plexiproxy', 'direct'):.2f} | "
                f"{ratio('plexiproxy', 'twemproxy'):.2f} | "
                f"{median('twemproxy', 'cpu_per_request_us'):.2f} µs | "
                f"{median('plexiproxy', 'cpu_per_request_us'):.2f} µs |")
    lines += ["", "Ratios: medians of the per-round ratios (runs next to each other in time). "
              "Client, proxies and server share the machine's cores; twemproxy and plexiproxy "
              "(one worker per core) each relay to the same server."]
    incidents = [f"{r.target} {r.test} -P {r.pipeline} round {r.round}: failed"
                 for r in runs if not r.rps]
    incidents += [line for line in proxy_log.splitlines() if " error " in line.lower()][:10]
    finish_report(lines, incidents, started, args.out)


if __name__ == "__main__":
    main()
