"""Benchmarks the MySQL front side by side with direct MariaDB connections in one run:
sysbench oltp_point_select and oltp_read_only at 32 threads against the server directly and
through three proxies: one reaching the server over TCP, one over its Unix socket, and one
over TCP with pipeline_reads off (every statement on a pooled connection of its own);
interleaved rounds, medians, ratios to direct, and each proxy's CPU per query.

Run by hand, not by ctest:

    /usr/bin/python3 tests/bench/mysql_bench.py [--quick] [--out results.md]

See tests/bench/README.md for what is measured and how.
"""

import argparse
import datetime
import os
import platform
import re
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
from harness.mariadb import APP_PASSWORD, APP_USER, MariaDBServer  # noqa: E402
from harness.plexiproxy import Plexiproxy  # noqa: E402

THREADS = 32
POOL_SIZE = 8
THREADS_PROXY = int(os.environ.get("PLEXI_BENCH_THREADS", "0"))
TABLE_SIZE = 10000
TABLES = 4
WORKLOADS = ("oltp_point_select", "oltp_read_only")
DIRECT, OVER_TCP, OVER_UNIX = "direct", "plexiproxy (tcp)", "plexiproxy (unix)"
UNPIPELINED = "plexiproxy (tcp, pipeline_reads off)"
TARGETS = (DIRECT, OVER_TCP, OVER_UNIX, UNPIPELINED)
PROXIES = TARGETS[1:]


@dataclass
class Run:
    target: str
    workload: str
    round: int
    tps: float | None
    qps: float | None
    errors: int
    cpu: float | None  # seconds of proxy CPU during the run
    queries: int

    @property
    def ok(self) -> bool:
        return self.tps is not None and self.errors == 0

    @property
    def cpu_per_query_us(self) -> float | None:
        if self.cpu is None or not self.queries:
            return None
        return self.cpu / self.queries * 1e6


def sysbench(workload: str, port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sysbench", workload, "--db-driver=mysql", "--mysql-host=127.0.0.1",
         f"--mysql-port={port}", f"--mysql-user={APP_USER}", f"--mysql-password={APP_PASSWORD}",
         "--mysql-db=appdb", "--mysql-ssl=off", f"--tables={TABLES}",
         f"--table-size={TABLE_SIZE}", *args],
        capture_output=True, text=True, timeout=600)


def measure(target: str, port: int, workload: str, round_no: int, duration: int,
            proxy_pid: int | None) -> Run:
    cpu_before = process_cpu_seconds(proxy_pid) if proxy_pid else None
    out = sysbench(workload, port, f"--threads={THREADS}", f"--time={duration}",
                   "--db-ps-mode=auto", "--report-interval=0", "run")
    cpu = process_cpu_seconds(proxy_pid) - cpu_before if proxy_pid else None

    def number(pattern: str) -> float | None:
        match = re.search(pattern, out.stdout, re.MULTILINE)
        return float(match.group(1)) if match else None

    tps = number(r"transactions:\s+\d+\s+\(([\d.]+) per sec")
    qps = number(r"queries:\s+\d+\s+\(([\d.]+) per sec")
    queries = int(number(r"^\s*queries:\s+(\d+)") or 0)
    errors = int(number(r"ignored errors:\s+(\d+)") or 0)
    if out.returncode != 0:
        errors += 1
        log(f"!! sysbench {workload} against {target} failed: {out.stderr.strip()[-500:]}")
    return Run(target, workload, round_no, tps if out.returncode == 0 else None, qps, errors,
               cpu, queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 s runs")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 3)
    duration = args.duration or (5 if args.quick else 15)
    started = time.monotonic()
    binary = find_binary()
    runs: list[Run] = []
    with ExitStack() as stack:
        server = MariaDBServer()
        stack.callback(server.close)
        server.start()
        server.execute("SET GLOBAL max_connections = 500")
        log("preparing sysbench tables")
        prepared = sysbench("oltp_read_only", server.port, "prepare")
        if prepared.returncode != 0:
            sys.exit(prepared.stderr)
        os.environ["PLEXIPROXY_BIN"] = binary
        # The same proxy three times: its backend's host an address or MariaDB's socket
        # file, and without shared connections for reads.
        socket_file = str(server.dir / "mysqld.sock")
        backend_hosts = {OVER_TCP: (server.host, True), OVER_UNIX: (socket_file, True),
                         UNPIPELINED: (server.host, False)}
        proxies = {}
        for target, (host, pipelined) in backend_hosts.items():
            proxy = Plexiproxy({
                "users": [{"name": APP_USER, "password": APP_PASSWORD}],
                "threads": THREADS_PROXY,
                "clusters": {"appdb": {"protocol": "mysql", "pool_size": POOL_SIZE,
                                       "pipeline_reads": pipelined,
                                       "backends": [{"type": "mysql", "host": host,
                                                     "port": server.port,
                                                     "database": "appdb"}]}},
            })
            stack.callback(proxy.close)
            proxies[target] = proxy.start()
        ports = {DIRECT: server.port, **{t: p.mysql_port for t, p in proxies.items()}}
        for round_no in range(1, rounds + 1):
            shift = round_no % len(TARGETS)
            order = TARGETS[shift:] + TARGETS[:shift]
            for workload in WORKLOADS:
                for target in order:
                    proxy = proxies.get(target)
                    run = measure(target, ports[target], workload, round_no, duration,
                                  proxy.pid if proxy else None)
                    log(f"round {round_no} {workload} {target}: {run.tps} tps, "
                        f"{run.qps} qps, cpu/query {run.cpu_per_query_us}")
                    runs.append(run)
        proxy_log = "\n".join(proxy.whole_log() for proxy in proxies.values())

    lines = [f"## MySQL front: sysbench, {THREADS} threads, plexiproxy pool_size {POOL_SIZE}", "",
             f"{datetime.date.today()} · {platform.node()} · {os.cpu_count()} cores · "
             f"plexiproxy {git_revision()} · {version_of(['mariadbd', '--version'])} · "
             f"{version_of(['sysbench', '--version'])} · {rounds} rounds of {duration} s", "",
             "| workload | target | tps | ratio to direct | per-round ratios | "
             "proxy CPU per query |",
             "|---|---|---:|---:|---|---:|"]
    for workload in WORKLOADS:
        def median(target, field):
            values = [getattr(r, field) for r in runs
                      if r.workload == workload and r.target == target and r.ok]
            values = [v for v in values if v is not None]
            return statistics.median(values) if values else None

        def ratios(target):
            found = []
            for round_no in range(1, rounds + 1):
                pair = {r.target: r for r in runs
                        if r.workload == workload and r.round == round_no}
                if all(t in pair and pair[t].ok for t in (DIRECT, target)):
                    found.append(pair[target].tps / pair[DIRECT].tps)
            return found

        lines.append(f"| {workload} | {DIRECT} | {median(DIRECT, 'tps') or 0:.0f} | | | |")
        for target in PROXIES:
            found = ratios(target)
            cpu = median(target, "cpu_per_query_us")
            lines.append(f"| | {target} | {median(target, 'tps') or 0:.0f} | "
                         f"{statistics.median(found) if found else float('nan'):.2f} | "
                         f"{', '.join(f'{r:.2f}' for r in found)} | "
                         f"{cpu or float('nan'):.1f} µs |")
    lines += ["", "Ratio: the median of the per-round ratios to direct over TCP (runs next to "
              "each other in time). Client, proxies and server share the machine's cores."]
    incidents = [f"{r.target} {r.workload} round {r.round}: {r.errors} errors"
                 for r in runs if not r.ok]
    incidents += [line for line in proxy_log.splitlines() if " error " in line.lower()][:10]
    finish_report(lines, incidents, started, args.out)


if __name__ == "__main__":
    main()
