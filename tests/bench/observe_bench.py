"""Benchmarks what metrics, query digests and the audit log cost plexiproxy in pgbench TPS.

Select-only pgbench runs through two plexiproxy processes side by side, one with metrics,
query digests and the audit log off and one with all three on, in interleaved paired rounds
(medians and per-round ratios), against the bar that "on" stays within 5% of "off". Also
reports the audit log's size per 1,000 statements.

Run by hand, not by ctest:

    /usr/bin/python3 tests/bench/observe_bench.py [--quick] [--variants] [--out results.md]

See tests/bench/README.md for what is measured and how.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (PgbenchResult, bench_server, find_binary, finish_report,  # noqa: E402
                          git_revision, init_pgbench, log, log_problems, parse_round_arguments,
                          postgres_incidents, round_cells, round_table_head, tail_lines,
                          timed_pgbench, version_of)
from harness.plexiproxy import Plexiproxy  # noqa: E402
from harness.postgres import PG_BIN, PostgresServer  # noqa: E402
from pg_bench import (CLIENTS, DB, PASSWORD, POOL_SIZE, THREADS, USER,  # noqa: E402
                      check_login, plexiproxy_config, stop_plexiproxy)

BAR = 0.05  # "on" may cost at most this share of "off"'s TPS
WARM_UP = 2  # seconds of untimed pgbench per proxy and mode before the rounds
# What each proxy has on: (metrics, query digests, audit log).
FEATURES = {
    "off": (False, False, False),
    "on": (True, True, True),
    "metrics only": (True, False, False),
    "digests only": (False, True, False),
    "audit only": (False, False, True),
}
VARIANTS = ("metrics only", "digests only", "audit only")


def load_average() -> float:
    return os.getloadavg()[0]


# ----------------------------------------------------------------------------- proxies

class Proxy:
    """One plexiproxy with some of the observability features on, restarted (and the exit
    noted) if it dies; counts what went through it so its metrics can be checked."""

    def __init__(self, name: str, pg: PostgresServer, audit_root: Path, stack: ExitStack,
                 incidents: list[str]):
        self.name = name
        self.incidents = incidents
        metrics, digests, audit = FEATURES[name]
        config = plexiproxy_config(pg)
        config["metrics"] = {"enabled": metrics}
        config["digest"] = {"enabled": digests}
        self.audit_dir: Path | None = None
        if audit:
            self.audit_dir = audit_root / name.replace(" ", "-")
            self.audit_dir.mkdir()
            config["log"] = {"audit": {"file": str(self.audit_dir / "audit.jsonl")}}
        self.proxy = Plexiproxy(config)
        stack.callback(self.proxy.close)
        stack.callback(stop_plexiproxy, self.proxy, incidents)
        self.proxy.start()
        check_login(self.proxy.port, f"plexiproxy ({name})")
        # What it relayed by pgbench's count: each -S transaction is one statement, plus the
        # scale lookup of each pgbench run and the login check's SELECT 1.
        self.statements_sent = 1

    @property
    def port(self) -> int:
        return self.proxy.port

    def check_alive(self, during: str) -> list[str]:
        if self.proxy.process.poll() is None:
            return []
        code = self.proxy.process.returncode
        self.incidents.append(f"plexiproxy ({self.name}) exited with {code} during {during}; "
                              f"log tail:\n{tail_lines(self.proxy.log(), 30)}")
        log(f"!! plexiproxy ({self.name}) died (code {code}); restarting")
        self.proxy.start()
        return [f"plexiproxy exited with {code}"]

    def cpu_seconds(self) -> float:
        """User and system CPU time of all the proxy's threads so far (0 once it exited)."""
        try:
            fields = Path(f"/proc/{self.proxy.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return 0.0
        # utime and stime, fields 14 and 15 of proc(5), counting from the state (field 3).
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def admin_get(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.proxy.admin_port}{path}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.read().decode()

    def counted(self) -> tuple[float, int]:
        """(statements in plexiproxy_queries_total, calls in the query digests)."""
        statements = 0.0
        for line in self.admin_get("/metrics").splitlines():
            if line.startswith("plexiproxy_queries_total{"):
                statements += float(line.rsplit(" ", 1)[1])
        status = json.loads(self.admin_get("/status?queries=1"))
        calls = sum(int(row["calls"]) for row in status.get("queries", []))
        return statements, calls


@dataclass
class AuditFiles:
    files: int
    lines: int
    size: int  # bytes
    sample: str  # the current file's last line

    @staticmethod
    def read(directory: Path) -> "AuditFiles":
        """Every file the rotating writer made there (audit.jsonl, audit.1.jsonl, ...)."""
        paths = sorted(directory.glob("audit*.jsonl"))
        lines = size = 0
        for path in paths:
            with open(path, "rb") as file:
                while chunk := file.read(1 << 20):
                    lines += chunk.count(b"\n")
                    size += len(chunk)
        sample = b""
        current = directory / "audit.jsonl"
        if current.exists():
            with open(current, "rb") as file:
                file.seek(max(0, current.stat().st_size - 4096))
                sample = file.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return AuditFiles(len(paths), lines, size, sample.decode(errors="replace"))


# ----------------------------------------------------------------------------- pgbench

@dataclass
class Run:
    target: str
    mode: str
    round: int
    result: PgbenchResult
    load: float  # 1-minute load average when it started
    cpu: float | None = None  # seconds of CPU the proxy used during the run (all its threads)

    @property
    def tps(self) -> float | None:
        return self.result.tps

    @property
    def cpu_per_statement(self) -> float | None:
        """Microseconds of proxy CPU per pgbench transaction (one statement each with -S)."""
        if self.cpu is None or not self.result.processed:
            return None
        return self.cpu / self.result.processed * 1e6

    @property
    def ok(self) -> bool:
        return self.result.tps is not None and not self.result.problems


def select_only(port: int, mode: str, duration: int) -> PgbenchResult:
    args = ["-n", "-S", "-c", str(CLIENTS), "-j", str(THREADS), "-M", mode, "-T", str(duration)]
    return timed_pgbench(port, USER, DB, PASSWORD, args, duration)


def run_on_proxy(proxy: Proxy, mode: str, round_no: int, duration: int) -> Run:
    load = load_average()
    pid, cpu_before = proxy.proxy.pid, proxy.cpu_seconds()
    result = select_only(proxy.port, mode, duration)
    cpu = proxy.cpu_seconds() - cpu_before if proxy.proxy.pid == pid else None
    proxy.statements_sent += (result.processed or 0) + 1
    result.problems += proxy.check_alive(f"-M {mode} round {round_no}")
    return Run(proxy.name, mode, round_no, result, load, None if result.problems else cpu)


def describe(run: Run) -> str:
    status = f"{run.tps:.0f} tps" if run.tps is not None else "no tps"
    if run.result.problems:
        status += "  !! " + "; ".join(run.result.problems)
    return f"round {run.round} -M {run.mode:8} {run.target:12} {status} (load {run.load:.1f})"


def run_rounds(proxies: dict[str, Proxy], modes: list[str], rounds: int,
               duration: int) -> list[Run]:
    runs: list[Run] = []
    names = list(proxies)
    total = rounds * len(modes) * len(names)
    for round_no in range(1, rounds + 1):
        for index, mode in enumerate(modes):
            # Rotate who goes first: with two proxies, off-on then on-off, so a trend in the
            # machine's load does not always favour the same one.
            shift = (round_no + index) % len(names)
            for name in names[shift:] + names[:shift]:
                runs.append(run_on_proxy(proxies[name], mode, round_no, duration))
                log(f"[{len(runs)}/{total}] {describe(runs[-1])}")
    return runs


def tps_values(runs: list[Run], target: str, mode: str) -> list[float]:
    return [r.tps for r in runs if (r.target, r.mode) == (target, mode) and r.tps is not None]


def round_ratios(runs: list[Run], num: str, den: str, mode: str) -> list[float]:
    """num/den within each round: neighbouring runs share the machine's mood, so these are
    steadier than a ratio of medians."""
    by_round: dict[int, dict[str, float]] = {}
    for r in runs:
        if r.mode == mode and r.tps is not None:
            by_round.setdefault(r.round, {})[r.target] = r.tps
    return [v[num] / v[den] for v in by_round.values() if v.get(num) and v.get(den)]


def median_text(values: list[float], digits: int = 0) -> str:
    return f"{statistics.median(values):.{digits}f}" if values else "—"


def verdict(ratios: list[float]) -> str:
    if not ratios:
        return "no data"
    ratio = statistics.median(ratios)
    cost = f"{100 * (1 - ratio):.1f}% slower" if ratio < 1 else f"{100 * (ratio - 1):.1f}% faster"
    passed = "within" if ratio >= 1 - BAR else "**misses**"
    return f"{cost}: {passed} the {100 * BAR:.0f}% bar"


def problem_notes(runs: list[Run], notes: list[str], target: str, mode: str) -> str:
    """A footnote mark for target's runs in mode that had problems (added to notes)."""
    bad = [r for r in runs if (r.target, r.mode) == (target, mode) and not r.ok]
    if not bad:
        return ""
    notes.append(f"[{len(notes) + 1}] {target} -M {mode}: " + "; ".join(
        f"round {r.round}: " + "; ".join(r.result.problems) for r in bad))
    return f" [{len(notes)}]"


def tps_table(runs: list[Run], direct: list[Run], modes: list[str], args) -> list[str]:
    lines = [
        f"### Select-only pgbench TPS, observability off vs on (median of {args.rounds} "
        f"interleaved rounds; -S, -c {CLIENTS} -j {THREADS}, -T {args.duration}, scale "
        f"{args.scale}, pool size {POOL_SIZE})",
        "",
        "| -M | direct (1 run) | off | on | on/off | per-round on/off | verdict |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    notes: list[str] = []
    for mode in modes:
        ratios = round_ratios(runs, "on", "off", mode)
        row = [mode, median_text(tps_values(direct, "direct", mode))
               + problem_notes(direct, notes, "direct", mode)]
        for target in ("off", "on"):
            row.append(median_text(tps_values(runs, target, mode))
                       + problem_notes(runs, notes, target, mode))
        row += [median_text(ratios, 3), ", ".join(f"{r:.3f}" for r in ratios), verdict(ratios)]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", *(notes or ["No run had failed transactions, pgbench errors or proxy exits."]),
              "", '"on/off" is the median of the per-round ratios; "off" has `metrics: {enabled: '
              'false}`, `digest: {enabled: false}` and no audit log, "on" has metrics and '
              'digests on and `log: {audit: {file: ...}}`.']
    return lines


def cpu_table(runs: list[Run], targets: list[str], modes: list[str]) -> list[str]:
    """Proxy CPU per statement: what each feature costs in the proxy's own time, which other
    work on the machine disturbs far less than it disturbs TPS."""
    lines = ["### Proxy CPU time per statement (median over the rounds)", "",
             "| -M | " + " | ".join(targets) + " | " + " | ".join(
                 f"{t} − off" for t in targets if t != "off") + " |",
             "|---|" + "---:|" * (2 * len(targets) - 1)]
    for mode in modes:
        medians = {}
        for target in targets:
            values = [r.cpu_per_statement for r in runs if (r.target, r.mode) == (target, mode)
                      and r.cpu_per_statement is not None]
            medians[target] = statistics.median(values) if values else None
        cells = [f"{v:.1f} µs" if v is not None else "—" for v in medians.values()]
        for target in targets[1:]:
            if medians[target] is None or medians["off"] is None:
                cells.append("—")
            else:
                cells.append(f"{medians[target] - medians['off']:+.1f} µs")
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    lines += ["", "User and system time of all the proxy's threads (audit writer included) "
              "from /proc/<pid>/stat, in clock ticks, over each timed run, divided by the "
              "transactions pgbench reported."]
    return lines


def variants_table(runs: list[Run], modes: list[str]) -> list[str]:
    lines = ["### One feature at a time (same rounds)", "",
             "| -M | target | median TPS | /off (median of per-round ratios) | per round |",
             "|---|---|---:|---:|---|"]
    for mode in modes:
        for target in ("on", *VARIANTS):
            ratios = round_ratios(runs, target, "off", mode)
            lines.append(f"| {mode} | {target} | {median_text(tps_values(runs, target, mode))} "
                         f"| {median_text(ratios, 3)} | "
                         + ", ".join(f"{r:.3f}" for r in ratios) + " |")
    return lines


def rounds_table(runs: list[Run], targets: list[str], modes: list[str], rounds: int) -> list[str]:
    lines = round_table_head("TPS per round", ["-M", "target"], rounds)
    for mode in modes:
        for target in targets:
            values = round_cells(runs, rounds, lambda r: (r.target, r.mode) == (target, mode))
            lines.append(f"| {mode} | {target} | " + " | ".join(values) + " |")
        loads = []
        for i in range(1, rounds + 1):
            found = [r.load for r in runs if (r.mode, r.round) == (mode, i)]
            loads.append(f"{min(found):.1f}–{max(found):.1f}" if found else "—")
        lines.append(f"| {mode} | *load average (1 min)* | " + " | ".join(loads) + " |")
    return lines


# ----------------------------------------------------------------------------- checks

def counts_table(proxies: dict[str, Proxy], counted: dict[str, tuple[float, int]],
                 audit: dict[str, AuditFiles]) -> list[str]:
    """What each proxy says it recorded, against what pgbench sent through it."""
    lines = ["### What each proxy recorded", "",
             "| target | statements sent (pgbench) | metrics: plexiproxy_queries_total "
             "| digests: calls | audit log: lines |",
             "|---|---:|---:|---:|---:|"]
    for name, proxy in proxies.items():
        statements, calls = counted.get(name, (None, None))
        files = audit.get(name)
        lines.append(f"| {name} | {proxy.statements_sent} | "
                     f"{'—' if statements is None else f'{statements:.0f}'} | "
                     f"{'—' if calls is None else calls} | "
                     f"{'no audit log' if files is None else files.lines} |")
    lines += ["", "Statements sent: the transactions pgbench reported (one statement each with "
              "-S), plus one scale lookup per pgbench run and the login check; statements still "
              "in flight when a run's time ran out are relayed but not counted by pgbench. An "
              "audit log with fewer lines than the metrics count dropped records (its queue "
              "overran)."]
    return lines


def audit_size(files: AuditFiles) -> list[str]:
    if files.lines == 0:
        return ["### Audit log size", "", "The audit log is empty."]
    per_thousand = files.size / files.lines * 1000
    return ["### Audit log size", "",
            f"{files.lines} lines in {files.files} file(s), {files.size / 2**20:.1f} MiB: "
            f"**{per_thousand / 1024:.0f} kB per 1,000 statements** "
            f"({files.size / files.lines:.0f} bytes a line; shape text, no statement text; "
            f"1 kB = 1024 bytes). A line:", "",
            "```", files.sample, "```"]


# ----------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="simple,extended",
                        help="pgbench -M modes, comma-separated (default simple,extended)")
    parser.add_argument("--variants", action="store_true",
                        help="also a proxy with only metrics, only digests, only the audit log")
    args = parse_round_arguments(parser, rounds=5)
    modes = args.modes.split(",")
    targets = ["off", "on", *(VARIANTS if args.variants else ())]

    binary = find_binary()
    os.environ["PLEXIPROXY_BIN"] = binary  # the harness runs it (and keeps it from the daemon)
    started = time.monotonic()
    load_at_start = os.getloadavg()
    incidents: list[str] = []
    audit: dict[str, AuditFiles] = {}
    counted: dict[str, tuple[float, int]] = {}

    with ExitStack() as stack:
        pg = bench_server(stack, USER, PASSWORD, DB)
        init_pgbench(pg.port, USER, PASSWORD, DB, args.scale)
        log(f"pgbench -i -s {args.scale} done")
        audit_root = Path(tempfile.mkdtemp(prefix="plexi-observe-"))
        stack.callback(shutil.rmtree, audit_root, ignore_errors=True)

        with ExitStack() as proxy_stack:
            proxies = {name: Proxy(name, pg, audit_root, proxy_stack, incidents)
                       for name in targets}
            log(", ".join(f"{name} on {p.port} (pid {p.proxy.pid})" for name, p in proxies.items()))
            # Untimed: opens the pools' server connections and fills the digest table.
            for mode in modes:
                for proxy in proxies.values():
                    run_on_proxy(proxy, mode, 0, WARM_UP)
            direct = []
            for mode in modes:
                direct.append(Run("direct", mode, 0, select_only(pg.port, mode, args.duration),
                                  load_average()))
                log(f"direct: {describe(direct[-1])}")
            runs = run_rounds(proxies, modes, args.rounds, args.duration)
            for name, proxy in proxies.items():
                counted[name] = proxy.counted()
                problems = log_problems(proxy.proxy.whole_log())
                if problems:
                    incidents.append(f"plexiproxy ({name}) log, warning/error lines:\n"
                                     + "\n".join(problems))
        # Stopped: the audit writers have written out their queues.
        for name, proxy in proxies.items():
            if proxy.audit_dir is not None:
                audit[name] = AuditFiles.read(proxy.audit_dir)
        incidents += postgres_incidents(pg.whole_log())

    load_at_end = os.getloadavg()
    sections = [
        "## plexiproxy observability benchmark",
        "",
        f"- {datetime.datetime.now().isoformat(timespec='seconds')}, {platform.node()}, "
        f"{os.cpu_count()} CPUs (pgbench, the proxies and the server share them); load "
        f"average (1, 5, 15 min) {' '.join(f'{x:.2f}' for x in load_at_start)} at the start, "
        f"{' '.join(f'{x:.2f}' for x in load_at_end)} at the end",
        f"- plexiproxy: `{binary}` (git {git_revision()}), transaction mode, pool_size "
        f"{POOL_SIZE}, default threads; one process per target, all running throughout",
        f"- {version_of([str(PG_BIN / 'postgres'), '--version'])}, fsync off; "
        f"{version_of([str(PG_BIN / 'pgbench'), '--version'])}",
        "",
        *tps_table(runs, direct, modes, args),
    ]
    sections += ["", *cpu_table(runs, targets, modes)]
    if args.variants:
        sections += ["", *variants_table(runs, modes)]
    sections += ["", *rounds_table(runs, targets, modes, args.rounds),
                 "", *counts_table(proxies, counted, audit)]
    if "on" in audit:
        sections += ["", *audit_size(audit["on"])]
    finish_report(sections, incidents, started, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
