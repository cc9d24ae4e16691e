"""Benchmarks plexiproxy's result cache: a read-heavy pgbench mix (90% repeated selects, 10%
writes) through a cluster without the cache and through one with it, in interleaved rounds:
TPS, the on/off ratio, p50/p99 latency and the cache hit ratio.

Run by hand, not by ctest:

    /usr/bin/python3 tests/bench/cache_bench.py [--quick] [--out results.md]

See tests/bench/README.md for what is measured and how.
"""

import argparse
import datetime
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402

from bench_common import (PgbenchResult, bench_server, find_binary, finish_report,  # noqa: E402
                          git_revision, init_pgbench, log, log_problems, md5_secret,
                          parse_round_arguments, postgres_incidents, process_cpu_seconds,
                          round_cells, round_table_head, tail_lines, timed_pgbench, version_of)
from harness.clients import psql  # noqa: E402
from harness.plexiproxy import Plexiproxy, metric  # noqa: E402
from harness.postgres import PG_BIN, PostgresServer  # noqa: E402
from harness.redis import REDIS_SERVER, RedisServer  # noqa: E402
from pg_bench import DB, PASSWORD, POOL_SIZE, USER, stop_plexiproxy  # noqa: E402

NOCACHE_DB = "benchdb_nocache"  # a second cluster on the same server database, no cache
CLUSTER = {"off": NOCACHE_DB, "on": DB}
CLIENTS, THREADS = 16, 2
MODES = ("simple", "extended")
CACHE_TTL = "60s"
RULE = "FROM pgbench_accounts WHERE"  # the reads; neither write has a FROM
ADMISSION_REST = 10  # seconds: cache.admission_rest, the default
CACHE_SETTINGS = {"max_result_bytes": 1048576, "timeout": "100ms", "retry_interval": "1s",
                  "admission_rest": f"{ADMISSION_REST}s"}
WARM_UP = 2  # seconds of untimed pgbench before each timed run
READ_WEIGHT, WRITE_WEIGHT = 9, 1

# The 90%: a read over a hot set, by name: (pgbench script, what it is, one such statement).
READS = {
    "point": ("\\set aid random(1, 1000)\n"
              "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n",
              "one account by primary key, hot set 1,000 accounts: what a hit costs against a "
              "cheap query",
              "SELECT abalance FROM pgbench_accounts WHERE aid = 500"),
    "range": ("\\set lo 10000 * random(0, 9) + 1\n"
              "SELECT aid, abalance FROM pgbench_accounts WHERE aid BETWEEN :lo AND :lo + 9999 "
              "ORDER BY abalance DESC, aid LIMIT 10;\n",
              "the 10 largest balances among 10,000 accounts (an index range scan and a top-10 "
              "sort), hot set 10 ranges",
              "SELECT aid, abalance FROM pgbench_accounts WHERE aid BETWEEN 50001 AND 60000 "
              "ORDER BY abalance DESC, aid LIMIT 10"),
    "branch": ("\\set bid random(1, {scale})\n"
               "SELECT aid, abalance FROM pgbench_accounts WHERE bid = :bid "
               "ORDER BY abalance DESC, aid LIMIT 10;\n",
               "the 10 largest balances of a branch, hot set the {scale} branches: each read "
               "scans all of pgbench_accounts, which has no index on bid",
               "SELECT aid, abalance FROM pgbench_accounts WHERE bid = 5 "
               "ORDER BY abalance DESC, aid LIMIT 10"),
}
# The 10%, by workload: (pgbench script, what it is).
WRITES = {
    "A": ("\\set aid random(1, 100000 * {scale})\n"
          "\\set tid random(1, 10 * {scale})\n"
          "\\set bid random(1, {scale})\n"
          "\\set delta random(-5000, 5000)\n"
          "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
          "VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);\n",
          "INSERT INTO pgbench_history (another table: no cached read is invalidated)"),
    "B": ("\\set aid random(1, 100000 * {scale})\n"
          "\\set delta random(-5000, 5000)\n"
          "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n",
          "UPDATE pgbench_accounts (each one invalidates every cached read: they all read "
          "that table)"),
}
# Known start-up warnings of redis-server on a machine not tuned for it.
REDIS_NOISE = ("overcommit", "TCP backlog", "somaxconn")


# ----------------------------------------------------------------------------- setup

def proxy_config(pg: PostgresServer, redis: RedisServer) -> dict:
    """Two clusters on the same server database: `benchdb` with the cache backend and a rule
    giving the reads a cache_ttl, `benchdb_nocache` without either; md5 logins, transaction
    mode, pool_size 8 each."""
    def server(name: str) -> dict:
        return {"name": name, "type": "postgres", "role": "primary", "host": pg.host,
                "port": pg.port, "database": DB, "username": USER, "password": PASSWORD,
                "pool_size": POOL_SIZE}
    return {
        "users": [{"name": USER, "password": md5_secret(PASSWORD, USER)}],
        "cache": CACHE_SETTINGS,
        "clusters": {
            DB: {"pool_mode": "transaction",
                 "backends": [server("pg1"),
                              {"name": "cache", "type": "redis", "role": "cache",
                               "host": redis.host, "port": redis.port}],
                 "rules": [{"match": RULE, "cache_ttl": CACHE_TTL}]},
            NOCACHE_DB: {"pool_mode": "transaction", "backends": [server("pg1_nocache")]},
        },
    }


def write_scripts(directory: Path, reads: list[str], scale: int) -> dict[str, Path]:
    """The pgbench script files, by name ("read top10", "write A", ...)."""
    paths = {}
    for prefix, scripts in (("read", {r: READS[r] for r in reads}), ("write", WRITES)):
        for name, (text, *_) in scripts.items():
            path = directory / f"{prefix}_{name}.sql"
            path.write_text(text.format(scale=scale))
            paths[f"{prefix} {name}"] = path
    return paths


def read_alone(pg: PostgresServer, read: str) -> float:
    """Milliseconds one of the read's statements takes on the server directly, one client at a
    time (median of 15 after 3 unmeasured), as a yardstick of what a hit saves."""
    sql = READS[read][2]
    with psycopg.connect(pg.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
        times = []
        for attempt in range(18):
            started = time.perf_counter()
            conn.execute(sql).fetchall()
            if attempt >= 3:
                times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def check_login(port: int, database: str) -> None:
    result = psql(port, USER, database, PASSWORD, "-c", "SELECT 1")
    if result.returncode != 0:
        raise RuntimeError(f"psql to {database} through plexiproxy failed:\n"
                           f"{result.stdout}{result.stderr}")


def cache_counts(proxy: Plexiproxy) -> dict[str, float]:
    """plexiproxy_cache_requests_total by result."""
    return {result: metric(proxy, f'plexiproxy_cache_requests_total{{result="{result}"}}')
            for result in ("hit", "miss", "bypass", "error")}


def check_cache_answers(proxy: Plexiproxy) -> list[str]:
    """A read the rule covers, twice through `benchdb`: the second should be a hit."""
    before = cache_counts(proxy)
    sql = "SELECT abalance FROM pgbench_accounts WHERE aid = 1"
    with psycopg.connect(host="127.0.0.1", port=proxy.port, user=USER, password=PASSWORD,
                         dbname=DB, autocommit=True, connect_timeout=10) as conn:
        first = conn.execute(sql).fetchall()
        second = conn.execute(sql).fetchall()
    after = cache_counts(proxy)
    problems = []
    if second != first:
        problems.append(f"the cached answer {second} differs from the first {first}")
    if after["hit"] - before["hit"] < 1:
        problems.append(f"a repeated read was not a cache hit (counts before {before}, after "
                        f"{after}): the cache is not answering")
    return problems


# ----------------------------------------------------------------------------- pgbench

@dataclass
class Run:
    read: str
    workload: str
    mode: str
    cache: str  # "off" or "on"
    round: int
    result: PgbenchResult
    latencies: dict[int, list[float]] = field(default_factory=dict)  # script number -> ms
    counts: dict[str, float] | None = None  # cache requests during the run, by result
    proxy_cpu: float | None = None  # seconds
    redis_cpu: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def tps(self) -> float | None:
        return self.result.tps

    @property
    def ok(self) -> bool:
        return self.result.tps is not None and not self.result.problems and not self.problems

    @property
    def hit_ratio(self) -> float | None:
        if not self.counts or self.counts["hit"] + self.counts["miss"] == 0:
            return None
        return self.counts["hit"] / (self.counts["hit"] + self.counts["miss"])

    def percentile(self, script: int, p: float) -> float | None:
        values = self.latencies.get(script)
        if not values:
            return None
        return values[max(0, math.ceil(p * len(values)) - 1)]  # nearest rank; sorted

    def cpu_per_transaction(self, seconds: float | None) -> float | None:
        """Microseconds per transaction pgbench reported."""
        if seconds is None or not self.result.processed:
            return None
        return seconds / self.result.processed * 1e6

    def problem_text(self) -> str:
        return "; ".join(self.result.problems + self.problems)


def read_transaction_log(prefix: Path) -> tuple[dict[int, list[float]], int]:
    """Latencies (ms, sorted) by script number from pgbench's -l files (one per thread:
    prefix.<pid> and prefix.<pid>.<thread>), and how many transactions it logged as failed.
    Each line: client_id transaction_no time(µs | failed | skipped) script_no epoch µs ..."""
    latencies: dict[int, list[float]] = {}
    failed = 0
    for path in prefix.parent.glob(prefix.name + ".*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) < 6:
                continue
            if not fields[2].isdigit():
                failed += fields[2] != "skipped"
                continue
            latencies.setdefault(int(fields[3]), []).append(int(fields[2]) / 1000)
        path.unlink()
    for values in latencies.values():
        values.sort()
    return latencies, failed


class Bench:
    """The servers and proxy of the benchmark, and the runs made through them."""

    def __init__(self, pg: PostgresServer, redis: RedisServer, proxy: Plexiproxy,
                 scripts: dict[str, Path], work: Path, duration: int, incidents: list[str]):
        self.pg, self.redis, self.proxy = pg, redis, proxy
        self.scripts = scripts
        self.work = work
        self.duration = duration
        self.incidents = incidents
        self.runs: list[Run] = []
        # A read's shape that rested (no hits under invalidating writes) stays out of the cache
        # for ADMISSION_REST: the next cache-on run of it waits that out, or it would measure
        # the workload before.
        self.resting_until: dict[str, float] = {}

    def pgbench_args(self, read: str, workload: str, mode: str, duration: int) -> list[str]:
        return ["-n", "-f", f"{self.scripts['read ' + read]}@{READ_WEIGHT}",
                "-f", f"{self.scripts['write ' + workload]}@{WRITE_WEIGHT}",
                "-c", str(CLIENTS), "-j", str(THREADS), "-M", mode, "-T", str(duration)]

    def reset(self, cache: str) -> None:
        """Done directly on the server (and Redis), so the proxy sees none of it. pgbench_history
        is emptied; Redis is emptied before a cache-on run, because the cache-off runs' writes
        went through the other cluster and invalidated nothing, so older entries may be stale."""
        with psycopg.connect(self.pg.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
            conn.execute("TRUNCATE pgbench_history")
        if cache == "on":
            with self.redis.client() as client:
                client.flushall()

    def check_alive(self, during: str) -> list[str]:
        if self.proxy.process.poll() is None:
            return []
        code = self.proxy.process.returncode
        self.incidents.append(f"plexiproxy exited with {code} during {during}; log tail:\n"
                              + tail_lines(self.proxy.log(), 30))
        log(f"!! plexiproxy died (code {code}); restarting")
        self.proxy.start()
        return [f"plexiproxy exited with {code}"]

    def run(self, read: str, workload: str, mode: str, cache: str, round_no: int) -> Run:
        what = f"{read} {workload} -M {mode} cache {cache} round {round_no}"
        if cache == "on":
            time.sleep(max(0.0, self.resting_until.get(read, 0.0) - time.monotonic()))
        self.reset(cache)
        database = CLUSTER[cache]
        # Untimed: fills the cache (when on) and warms the pool and the server's buffers.
        warm = timed_pgbench(self.proxy.port, USER, database, PASSWORD,
                             self.pgbench_args(read, workload, mode, WARM_UP), WARM_UP)
        problems = [f"warm-up: {p}" for p in warm.problems]
        problems += self.check_alive(f"the warm-up of {what}")
        counts_before = cache_counts(self.proxy)
        proxy_pid = self.proxy.pid
        proxy_cpu, redis_cpu = process_cpu_seconds(proxy_pid), process_cpu_seconds(self.redis.pid)
        prefix = self.work / f"run{len(self.runs) + 1}"
        args = self.pgbench_args(read, workload, mode, self.duration)
        result = timed_pgbench(self.proxy.port, USER, database, PASSWORD,
                               args + ["-l", f"--log-prefix={prefix}"], self.duration)
        run = Run(read, workload, mode, cache, round_no, result, problems=problems)
        exited = self.check_alive(what)
        if not exited and self.proxy.pid == proxy_pid:
            run.proxy_cpu = process_cpu_seconds(proxy_pid) - proxy_cpu
            run.redis_cpu = process_cpu_seconds(self.redis.pid) - redis_cpu
            try:
                after = cache_counts(self.proxy)
                run.counts = {k: after[k] - counts_before[k] for k in after}
            except (OSError, urllib.error.URLError) as error:
                run.problems.append(f"no /metrics: {error}")
        run.problems += exited
        run.latencies, failed = read_transaction_log(prefix)
        if failed and not result.failed:
            run.problems.append(f"{failed} transactions logged as failed")
        if run.counts is not None:
            run.problems += self.cache_problems(run)
            if run.counts.get("bypass"):
                self.resting_until[read] = time.monotonic() + ADMISSION_REST
        return run

    @staticmethod
    def cache_problems(run: Run) -> list[str]:
        """What the cache counters should not show: any request through the cache-off cluster,
        and errors (Redis failed or timed out) through the cache-on one; with writes that
        invalidate nothing (A), bypasses (Redis known down, or a shape resting for want of
        hits: the reads are never in a transaction) or a run without hits. With writes that
        invalidate every read (B), shapes that stop getting hits rest: bypasses are expected."""
        counts = run.counts
        if run.cache == "off":
            asked = sum(counts.values())
            return [f"{asked:.0f} cache requests through the cache-off cluster"] if asked else []
        plural = {"error": "errors", "bypass": "bypasses"}
        problems = [f"{counts[k]:.0f} cache {k if counts[k] == 1 else plural[k]}"
                    for k in ("error", "bypass")
                    if counts[k] and (k == "error" or run.workload == "A")]
        if not counts["hit"] and run.workload == "A":  # B's writes may leave none
            problems.append("no cache hits")
        return problems

    def rounds(self, reads: list[str], rounds: int) -> None:
        total = rounds * len(cells(reads)) * 2
        for round_no in range(1, rounds + 1):
            for index, (read, workload, mode) in enumerate(cells(reads)):
                # Off then on, then on then off: a trend in the machine's load does not always
                # favour the same side.
                order = ("off", "on") if (round_no + index) % 2 else ("on", "off")
                for cache in order:
                    run = self.run(read, workload, mode, cache, round_no)
                    self.runs.append(run)
                    log(f"[{len(self.runs)}/{total}] {describe(run)}")


def describe(run: Run) -> str:
    status = f"{run.tps:.0f} tps" if run.tps is not None else "no tps"
    p50, p99 = run.percentile(0, 0.5), run.percentile(0, 0.99)
    if p50 is not None:
        status += f", read p50 {p50:.2f} ms p99 {p99:.2f} ms"
    if run.hit_ratio is not None:
        status += f", hits {100 * run.hit_ratio:.1f}%"
    if not run.ok:
        status += "  !! " + run.problem_text()
    return (f"round {run.round} {run.read} {run.workload} -M {run.mode:8} cache {run.cache:3} "
            f"{status}")


# ----------------------------------------------------------------------------- report

def select(runs: list[Run], read: str, workload: str, mode: str, cache: str) -> list[Run]:
    return [r for r in runs if (r.read, r.workload, r.mode, r.cache) == (read, workload, mode,
                                                                         cache)]


def median_of(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def text(value: float | None, digits: int = 0, unit: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def round_ratios(runs: list[Run], read: str, workload: str, mode: str) -> list[float]:
    """on/off within each round: neighbouring runs share the machine's mood, so these are
    steadier than a ratio of medians."""
    ratios = []
    for round_no in sorted({r.round for r in runs}):
        tps = {r.cache: r.tps for r in runs if (r.read, r.workload, r.mode, r.round)
               == (read, workload, mode, round_no)}
        if tps.get("on") and tps.get("off"):
            ratios.append(tps["on"] / tps["off"])
    return ratios


def cells(reads: list[str]) -> list[tuple[str, str, str]]:
    return [(read, workload, mode) for read in reads for workload in WRITES for mode in MODES]


def main_table(runs: list[Run], reads: list[str], args) -> list[str]:
    lines = [
        f"### Cache off vs on (median of {args.rounds} interleaved rounds; -c {CLIENTS} "
        f"-j {THREADS}, -T {args.duration}, scale {args.scale}, pool size {POOL_SIZE})",
        "",
        "| read | workload | -M | TPS off | TPS on | on/off | read p50 off | read p50 on "
        "| read p99 off | read p99 on | hit ratio |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for read, workload, mode in cells(reads):
        row = [read, workload, mode]
        for cache in ("off", "on"):
            chosen = select(runs, read, workload, mode, cache)
            cell = text(median_of([r.tps for r in chosen]))
            bad = [r for r in chosen if not r.ok]
            if bad:
                notes.append(f"[{len(notes) + 1}] {read} {workload} -M {mode} cache {cache}: "
                             + "; ".join(f"round {r.round}: {r.problem_text()}" for r in bad))
                cell += f" [{len(notes)}]"
            row.append(cell)
        row.append(text(median_of(round_ratios(runs, read, workload, mode)), 2))
        for p in (0.5, 0.99):
            for cache in ("off", "on"):
                chosen = select(runs, read, workload, mode, cache)
                row.append(ms(median_of([r.percentile(0, p) for r in chosen])))
        on = select(runs, read, workload, mode, "on")
        ratio = median_of([r.hit_ratio for r in on])
        row.append(text(None if ratio is None else 100 * ratio, 1, "%"))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", *(notes or ["No run had failed transactions, pgbench errors, proxy exits, "
                              "cache errors, nor bypasses with writes A."]),
              "", "Latencies in ms, of the reads (90% of the transactions), from pgbench's "
              "per-transaction log: the median over the rounds of each run's p50 and p99. "
              "\"on/off\" is the median of the per-round TPS ratios. Hit ratio: hits / (hits + "
              "misses) of `plexiproxy_cache_requests_total` over each timed cache-on run (after "
              "its warm-up), median over the rounds."]
    return lines


def detail_table(runs: list[Run], reads: list[str]) -> list[str]:
    lines = ["### Writes' latency, CPU per transaction and cache requests (medians over rounds)",
             "",
             "| read | workload | -M | write p50 off | write p50 on | write p99 off "
             "| write p99 on | proxy CPU off | proxy CPU on | Redis CPU on "
             "| hits / misses / bypass / errors (on, all rounds) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for read, workload, mode in cells(reads):
        off, on = (select(runs, read, workload, mode, c) for c in ("off", "on"))
        row = [read, workload, mode]
        for p in (0.5, 0.99):
            for chosen in (off, on):
                row.append(ms(median_of([r.percentile(1, p) for r in chosen])))
        row.append(text(median_of([r.cpu_per_transaction(r.proxy_cpu) for r in off]), 0, " µs"))
        row.append(text(median_of([r.cpu_per_transaction(r.proxy_cpu) for r in on]), 0, " µs"))
        row.append(text(median_of([r.cpu_per_transaction(r.redis_cpu) for r in on]), 0, " µs"))
        totals = {k: sum(r.counts[k] for r in on if r.counts) for k in
                  ("hit", "miss", "bypass", "error")}
        row.append(" / ".join(f"{v:.0f}" for v in totals.values()))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Latencies in ms, of the writes (10% of the transactions). CPU: user and system "
              "time from /proc/<pid>/stat over each timed run, divided by the transactions "
              "pgbench reported (clock ticks of 10 ms, so short runs are coarse)."]
    return lines


def rounds_table(runs: list[Run], reads: list[str], rounds: int) -> list[str]:
    lines = round_table_head("TPS per round (cache-on hit ratio in brackets)",
                             ["read", "workload", "-M", "cache"], rounds)
    for read, workload, mode in cells(reads):
        for cache in ("off", "on"):
            chosen = select(runs, read, workload, mode, cache)
            values = round_cells(chosen, rounds, lambda r: True)
            if cache == "on":
                for i, round_no in enumerate(range(1, rounds + 1)):
                    found = [r for r in chosen if r.round == round_no and r.hit_ratio is not None]
                    if found:
                        values[i] += f" ({100 * found[0].hit_ratio:.0f}%)"
            lines.append(f"| {read} | {workload} | {mode} | {cache} | " + " | ".join(values)
                         + " |")
    return lines


def redis_incidents(redis: RedisServer) -> list[str]:
    problems = [line for line in log_problems(redis.whole_log(), 10)
                if not any(noise in line for noise in REDIS_NOISE)]
    return ["redis log, warning/error lines:\n" + "\n".join(problems)] if problems else []


# ----------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", default=",".join(READS),
                        help=f"the 90%% reads, comma-separated (default {','.join(READS)})")
    args = parse_round_arguments(parser, rounds=3)
    reads = args.reads.split(",")
    unknown = [r for r in reads if r not in READS]
    if unknown:
        sys.exit(f"unknown --reads {', '.join(unknown)}: choose from {', '.join(READS)}")

    binary = find_binary()
    os.environ["PLEXIPROXY_BIN"] = binary  # the harness runs it (and keeps it from the daemon)
    started = time.monotonic()
    load_at_start = os.getloadavg()
    incidents: list[str] = []

    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="plexi-cache-bench-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        scripts = write_scripts(work, reads, args.scale)
        script_texts = [f"-- {path.name}\n{path.read_text()}" for path in scripts.values()]
        pg = bench_server(stack, USER, PASSWORD, DB)
        init_pgbench(pg.port, USER, PASSWORD, DB, args.scale)
        log(f"pgbench -i -s {args.scale} done")
        alone = {read: read_alone(pg, read) for read in reads}
        redis = RedisServer()
        stack.callback(redis.close)
        redis.start()
        log(f"redis on {redis.port}")

        with ExitStack() as proxy_stack:
            proxy = Plexiproxy(proxy_config(pg, redis))
            proxy_stack.callback(proxy.close)
            proxy_stack.callback(stop_plexiproxy, proxy, incidents)
            proxy.start()
            for database in CLUSTER.values():
                check_login(proxy.port, database)
            incidents += [f"before the rounds: {p}" for p in check_cache_answers(proxy)]
            log(f"plexiproxy on {proxy.port} (pid {proxy.pid}), admin {proxy.admin_port}")
            bench = Bench(pg, redis, proxy, scripts, work, args.duration, incidents)
            bench.rounds(reads, args.rounds)
            problems = log_problems(proxy.whole_log())
            if problems:
                incidents.append("plexiproxy log, warning/error lines:\n" + "\n".join(problems))
        incidents += redis_incidents(redis)
        incidents += postgres_incidents(pg.whole_log())

    runs = bench.runs
    load_at_end = os.getloadavg()
    sections = [
        "## plexiproxy result cache benchmark",
        "",
        f"- {datetime.datetime.now().isoformat(timespec='seconds')}, {platform.node()}, "
        f"{os.cpu_count()} CPUs (pgbench, the proxy, PostgreSQL and Redis share them); load "
        f"average (1, 5, 15 min) {' '.join(f'{x:.2f}' for x in load_at_start)} at the start, "
        f"{' '.join(f'{x:.2f}' for x in load_at_end)} at the end",
        f"- plexiproxy: `{binary}` (git {git_revision()}), one process, transaction mode, "
        f"pool_size {POOL_SIZE} per cluster, default threads; cache off = cluster "
        f"`{NOCACHE_DB}`, cache on = cluster `{DB}` (same server database) with a `role: cache` "
        f"Redis backend and the rule `{{match: \"{RULE}\", cache_ttl: {CACHE_TTL}}}`; "
        f"`cache: {CACHE_SETTINGS}`",
        f"- {version_of([str(PG_BIN / 'postgres'), '--version'])}, fsync off; "
        f"{version_of([str(PG_BIN / 'pgbench'), '--version'])}; "
        f"{version_of([REDIS_SERVER, '--version'])}",
        f"- each run: pgbench `-n -f read@{READ_WEIGHT} -f write@{WRITE_WEIGHT} -c {CLIENTS} "
        f"-j {THREADS} -T {args.duration} -l`, after `TRUNCATE pgbench_history`, (cache on) "
        f"`FLUSHALL` in Redis, and an untimed {WARM_UP} s warm-up of the same pgbench; a "
        f"cache-on run after one whose read shape rested (bypasses) starts once that rest "
        f"({ADMISSION_REST} s) is over",
        "- reads: " + "; ".join(f"**{r}**, {READS[r][1].format(scale=args.scale)} (one "
                                f"alone, directly: {ms(alone[r])} ms)" for r in reads),
        "- writes: " + "; ".join(f"**{w}**, {WRITES[w][1]}" for w in WRITES),
        "",
        *main_table(runs, reads, args),
        "",
        *detail_table(runs, reads),
        "",
        *rounds_table(runs, reads, args.rounds),
        "",
        "### The scripts",
        "",
        "```",
        *script_texts,
        "```",
    ]
    finish_report(sections, incidents, started, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
