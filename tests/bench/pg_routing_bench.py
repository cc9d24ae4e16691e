"""Benchmarks plexiproxy's statement routing: (a) read-only pgbench TPS through plexiproxy in
front of a primary and two streaming replicas against direct connections to the primary alone
(interleaved rounds, medians and ratios); (b) the failover timeline: writes and reads per
100 ms through the proxy while the primary is killed and a replica promoted.

Run by hand, not by ctest:

    /usr/bin/python3 tests/bench/pg_routing_bench.py [--quick] [--out results.md] [--png timeline.png]

See tests/bench/README.md for what is measured and how.
"""

import argparse
import collections
import datetime
import os
import platform
import re
import signal
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (find_binary, finish_report, git_revision, init_pgbench,  # noqa: E402
                          log, log_problems, parse_round_arguments, round_cells,
                          round_table_head, tail_lines, timed_pgbench, version_of)
from harness.cluster import ReplicatedServers  # noqa: E402
from harness.clients import pgbench, psql  # noqa: E402
from harness.load import Attempt, ClientLoad  # noqa: E402
from harness.plexiproxy import Plexiproxy  # noqa: E402
from harness.postgres import PG_BIN, PostgresServer  # noqa: E402

USER, PASSWORD, DB = "bench", "benchpass", "benchdb"
SINGLE_DB = "benchdb_primary"  # the same proxy, a cluster with the primary only
CLIENTS, THREADS = 32, 2
TARGETS = ("direct", "plexiproxy", "plexiproxy-primary-only")
READ_SCRIPT = """\\set aid random(1, 100000 * :scale)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
"""
BUCKET = 0.1  # seconds
# PostgreSQL 15: a busy backend publishes its statistics at most once a second, and what an
# idle one still holds after that, 10 s later (PGSTAT_IDLE_INTERVAL).
STATS_SETTLE = 11.0
DISTRIBUTION_RUN = 3  # seconds of pgbench, untimed, to see where the routed reads go


# ----------------------------------------------------------------------------- (a) read TPS

@dataclass
class Run:
    target: str
    mode: str
    round: int
    tps: float | None
    failed: int | None
    returncode: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.tps is not None and not self.problems


def transactions(server: PostgresServer) -> int:
    """Committed plus rolled-back transactions in DB so far, from the server's statistics
    (each backend publishes its counts at most once a second, so this lags a little)."""
    rows = server.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                          "WHERE datname = %s", (DB,))
    return int(rows[0][0]) if rows else 0


def read_tps_config(servers: ReplicatedServers, pool_size: int) -> dict:
    backends = servers.backends(pool_size=pool_size)
    return {
        "users": [{"name": USER, "password": PASSWORD}],
        "clusters": {
            DB: {"pool_mode": "transaction", "read_your_writes": "off",
                 "load_balancing": "round_robin", "backends": backends},
            SINGLE_DB: {"pool_mode": "transaction", "backends": [
                servers.backend("pg1", pool_size=pool_size * len(servers.replicas))]},
        },
        "health": {"interval": "1s", "timeout": "1s"},
    }


def run_pgbench(port: int, database: str, target: str, mode: str, round_no: int,
                duration: int, scale: int, script: Path) -> Run:
    args = ["-n", "-f", str(script), "-s", str(scale), "-c", str(CLIENTS), "-j", str(THREADS),
            "-M", mode, "-T", str(duration)]
    result = timed_pgbench(port, USER, database, PASSWORD, args, duration)
    return Run(target, mode, round_no, result.tps, result.failed, result.returncode,
               result.problems)


def tps_phase(args, binary_note: list[str], incidents: list[str]) -> list[str]:
    modes = args.modes.split(",")
    with ExitStack() as stack:
        servers = ReplicatedServers(USER, PASSWORD, DB, analytics=False)
        stack.callback(servers.close)
        servers.start()
        init_pgbench(servers.primary.port, USER, PASSWORD, DB, args.scale)
        servers.wait_replicas_caught_up(timeout=300)
        log(f"pgbench -i -s {args.scale} done on pg1 ({servers.primary.port}), replicas "
            f"{[r.port for r in servers.replicas]} caught up")
        script = Path(tempfile.mkdtemp(prefix="plexi-bench-")) / "read.sql"
        stack.callback(lambda: (script.unlink(missing_ok=True), script.parent.rmdir()))
        script.write_text(READ_SCRIPT)

        proxy = Plexiproxy(read_tps_config(servers, args.pool_size))
        stack.callback(proxy.close)
        proxy.start()
        for database in (DB, SINGLE_DB):
            check = psql(proxy.port, USER, database, PASSWORD, "-c", "SELECT 1")
            if check.returncode != 0:
                raise RuntimeError(f"psql through plexiproxy ({database}) failed:\n"
                                   f"{check.stdout}{check.stderr}")
        time.sleep(2)  # the health monitor's first verdicts
        spread = {}
        for mode in modes:
            spread[mode] = read_distribution(proxy.port, mode, script, servers, args.scale)
            log(f"-M {mode}: the routed reads ran on {share_text(spread[mode])}")
        ports = {"direct": (servers.primary.port, DB), "plexiproxy": (proxy.port, DB),
                 "plexiproxy-primary-only": (proxy.port, SINGLE_DB)}

        runs: list[Run] = []
        total = args.rounds * len(modes) * len(TARGETS)
        for round_no in range(1, args.rounds + 1):
            for index, mode in enumerate(modes):
                shift = (round_no + index) % len(TARGETS)
                for target in TARGETS[shift:] + TARGETS[:shift]:
                    port, database = ports[target]
                    run = run_pgbench(port, database, target, mode, round_no, args.duration,
                                      args.scale, script)
                    if proxy.process.poll() is not None:
                        run.problems.append(f"plexiproxy exited with {proxy.process.returncode}")
                        incidents.append(f"plexiproxy exited during {target} -M {mode} round "
                                         f"{round_no}; log tail:\n{tail_lines(proxy.log(), 30)}")
                        proxy.start()
                    runs.append(run)
                    status = f"{run.tps:.0f} tps" if run.tps is not None else "no tps"
                    if run.problems:
                        status += "  !! " + "; ".join(run.problems)
                    log(f"[{len(runs)}/{total}] round {round_no} -M {mode:8} {target:24} "
                        f"{status}")
        problems = log_problems(proxy.whole_log())
        if problems:
            incidents.append("plexiproxy log (pgbench runs), warning/error lines:\n"
                             + "\n".join(problems))
        proxy.stop()
    binary_note.append(f"read TPS: pool_size {args.pool_size} per replica, "
                       f"{args.pool_size * 2} for the primary-only cluster")
    return [tps_table(runs, modes, args, spread), "", rounds_table(runs, modes, args.rounds)]


def read_distribution(port: int, mode: str, script: Path, servers: ReplicatedServers,
                      scale: int) -> dict[str, int]:
    """Transactions each server counted during an untimed pgbench run through the routed
    cluster (server statistics settle only seconds later, so the timed runs are not used)."""
    named = servers.names()
    time.sleep(STATS_SETTLE)
    before = {name: transactions(server) for name, server in named.items()}
    pgbench(port, USER, DB, PASSWORD, "-n", "-f", str(script), "-s", str(scale), "-c",
            str(CLIENTS), "-j", str(THREADS), "-M", mode, "-T", str(DISTRIBUTION_RUN),
            timeout=DISTRIBUTION_RUN + 120)
    time.sleep(STATS_SETTLE)
    return {name: transactions(server) - before[name] for name, server in named.items()}


def share_text(share: dict[str, int]) -> str:
    total = sum(share.values())
    if total <= 0:
        return ""
    return ", ".join(f"{name} {100 * count / total:.0f}%" for name, count in share.items())


def median_ratio(runs: list[Run], num: str, den: str, mode: str) -> float | None:
    by_round: dict[int, dict[str, float]] = {}
    for r in runs:
        if r.mode == mode and r.tps is not None:
            by_round.setdefault(r.round, {})[r.target] = r.tps
    ratios = [v[num] / v[den] for v in by_round.values() if v.get(num) and v.get(den)]
    return statistics.median(ratios) if ratios else None


def tps_table(runs: list[Run], modes: list[str], args, spread: dict) -> str:
    lines = [
        f"### Read-only pgbench TPS (median of {args.rounds} interleaved rounds; custom script "
        f"`SELECT abalance FROM pgbench_accounts WHERE aid = :aid`, -c {CLIENTS} -j {THREADS}, "
        f"-T {args.duration}, scale {args.scale})",
        "",
        "| -M | direct to pg1 | plexiproxy (pg1 + 2 replicas) | plexiproxy (pg1 only) "
        "| routed/direct | pg1-only/direct | where the routed reads ran |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for mode in modes:
        row = [mode]
        for target in TARGETS:
            mine = [r for r in runs if (r.target, r.mode) == (target, mode)]
            values = [r.tps for r in mine if r.tps is not None]
            text = f"{statistics.median(values):.0f}" if values else "—"
            bad = [r for r in mine if not r.ok]
            if bad:
                notes.append(f"[{len(notes) + 1}] {target} -M {mode}: " + "; ".join(
                    f"round {r.round}: " + "; ".join(r.problems) for r in bad))
                text += f" [{len(notes)}]"
            row.append(text)
        for num in ("plexiproxy", "plexiproxy-primary-only"):
            ratio = median_ratio(runs, num, "direct", mode)
            row.append(f"{ratio:.2f}" if ratio is not None else "—")
        row.append(share_text(spread.get(mode, {})) or "—")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += notes or ["No run had failed transactions, pgbench errors or proxy exits."]
    lines += ["", "Where the routed reads ran: the transactions each server's "
                  f"pg_stat_database counted during a separate {DISTRIBUTION_RUN} s run through "
                  "the routed cluster (health checks included)."]
    return "\n".join(lines)


def rounds_table(runs: list[Run], modes: list[str], rounds: int) -> str:
    lines = round_table_head("Read-only TPS per round", ["-M", "target"], rounds)
    for mode in modes:
        for target in TARGETS:
            values = round_cells(runs, rounds, lambda r: (r.target, r.mode) == (target, mode))
            lines.append(f"| {mode} | {target} | " + " | ".join(values) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- (b) failover

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")


def log_events(text: str, patterns: dict[str, str], to_monotonic) -> dict[str, float]:
    """The first time (monotonic) each pattern appears in plexiproxy's log."""
    found = {}
    for line in text.splitlines():
        stamp = LOG_TIME.match(line)
        if not stamp:
            continue
        for name, pattern in patterns.items():
            if name not in found and re.search(pattern, line):
                wall = datetime.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f")
                found[name] = to_monotonic(wall.timestamp())
    return found


@dataclass
class Timeline:
    attempts: list[Attempt]
    events: dict[str, float]  # name -> monotonic time
    killed: float
    promoted: float
    start: float
    end: float
    pg2_port: int


def failover_phase(args, incidents: list[str]) -> Timeline:
    with ExitStack() as stack:
        servers = ReplicatedServers(USER, PASSWORD, DB, analytics=False)
        stack.callback(servers.close)
        servers.start()
        with servers.primary.connect(DB) as conn:
            conn.execute(f"CREATE TABLE bench_writes (id bigserial, worker int, at timestamptz "
                         f"DEFAULT now()); ALTER TABLE bench_writes OWNER TO {USER}")
        servers.wait_replicas_caught_up()
        pg1, pg2 = servers.primary, servers.replicas[0]
        proxy = Plexiproxy({
            "users": [{"name": USER, "password": PASSWORD}],
            "clusters": {DB: {"backends": servers.backends(pool_size=4)}},
            "health": {"interval": "200ms", "timeout": "500ms", "fall": 2, "rise": 1},
        })
        stack.callback(proxy.close)
        proxy.start()
        time.sleep(1.5)  # the health monitor's first verdicts

        load = ClientLoad(proxy.port, USER, PASSWORD, DB, pause=args.pause)
        load.add("write", lambda worker, seq, phase: (
            f"INSERT INTO bench_writes (worker) VALUES ({worker}) RETURNING inet_server_port()",
            None), args.writers)
        load.add("read", lambda *_: ("SELECT inet_server_port()", None), args.readers)
        stack.callback(load.stop)
        load.start()
        time.sleep(1.0 + 2.0)  # warm-up, then the two seconds the timeline shows
        wall, mono = time.time(), time.monotonic()
        killed = time.monotonic()
        pg1.kill(signal.SIGKILL)
        log(f"pg1 killed; promoting pg2 in {args.promote_after:.1f}s")
        time.sleep(max(0.0, killed + args.promote_after - time.monotonic()))
        promoting = time.monotonic()
        pg2.promote()
        promoted = time.monotonic()
        log(f"pg2 promoted ({promoted - promoting:.2f}s)")
        time.sleep(5.0)
        stuck = load.stop()
        if stuck:
            incidents.append(f"failover: load workers still blocked at the end: {stuck}")
        events = log_events(proxy.log_path.read_text(errors="replace"), {
            "pg1 marked down": r"cluster \S+: backend pg1 is down",
            "no write target": r"no backend reports itself primary",
            "write target -> pg2": r"write target pg1 -> pg2",
        }, lambda t: mono + (t - wall))
        events.update({"pg1 killed": killed, "pg_promote() called": promoting,
                       "pg_promote() returned": promoted})
        problems = log_problems(proxy.whole_log(), 10)
        if problems:
            incidents.append("plexiproxy log (failover), warning/error lines:\n"
                             + "\n".join(problems))
        if proxy.process.poll() is not None:
            incidents.append(f"plexiproxy exited with {proxy.process.returncode} during the "
                             f"failover run")
        else:
            proxy.stop()
        return Timeline(load.snapshot(), events, killed, promoted, killed - 2.0, promoted + 5.0,
                        pg2.port)


def failover_summary(t: Timeline) -> list[str]:
    writes = [a for a in t.attempts if a.kind == "write"]
    reads = [a for a in t.attempts if a.kind == "read"]
    failed_writes = sorted((a for a in writes if not a.ok and a.end >= t.killed),
                           key=lambda a: a.end)
    new_writes = sorted((a for a in writes if a.ok and a.value == t.pg2_port),
                        key=lambda a: a.end)
    first_failed = failed_writes[0].end if failed_writes else None
    first_new = new_writes[0].end if new_writes else None
    if first_new is not None:
        t.events["first write on pg2"] = first_new

    def since(name: str) -> str:
        return f"{t.events[name] - t.killed:+.2f} s" if name in t.events else "not seen"

    kinds = collections.Counter(a.sqlstate or a.error.split(":")[0]
                                for a in writes if not a.ok)
    kinds_text = ", ".join(f"{kind} × {n}" for kind, n in kinds.most_common()) or "none"
    lines = [
        "### Failover timeline",
        "",
        "Times from the kill -9 of the primary (pg1):",
        "",
        *(f"- {name}: {since(name)}" for name in
          ("pg1 marked down", "no write target", "pg_promote() called",
           "pg_promote() returned", "write target -> pg2", "first write on pg2")),
        "",
    ]
    if first_failed is not None and first_new is not None:
        lines.append(f"**Write unavailability** (first failed write to first write on pg2): "
                     f"{first_new - first_failed:.2f} s; from pg_promote() called to the first "
                     f"write on pg2: {first_new - t.events['pg_promote() called']:.2f} s.")
    else:
        lines.append("**Write unavailability**: not measured (no failed write or no write on "
                     "pg2 seen).")
    lines += [
        "",
        f"Writes: {sum(a.ok for a in writes)} ok, {sum(not a.ok for a in writes)} failed "
        f"({kinds_text}). "
        f"Reads: {sum(a.ok for a in reads)} ok, {sum(not a.ok for a in reads)} failed.",
    ]
    failed_reads = [a for a in reads if not a.ok]
    if failed_reads:
        lines += ["", "First failed reads:", "", "```",
                  *(a.describe(t.killed) for a in failed_reads[:8]), "```"]
    return lines


def buckets(t: Timeline) -> list[tuple[float, dict[str, int]]]:
    count = int(round((t.end - t.start) / BUCKET))
    rows = [(t.start + i * BUCKET, collections.Counter()) for i in range(count)]
    for a in t.attempts:
        index = int((a.end - t.start) // BUCKET)
        if 0 <= index < count:
            rows[index][1][f"{a.kind} {'ok' if a.ok else 'failed'}"] += 1
    return rows


def failover_table(t: Timeline) -> list[str]:
    lines = ["| t from kill (s) | writes ok | writes failed | reads ok | reads failed | events |",
             "|---:|---:|---:|---:|---:|---|"]
    for start, counts in buckets(t):
        happened = [name for name, at in sorted(t.events.items(), key=lambda e: e[1])
                    if start <= at < start + BUCKET]
        lines.append(f"| {start - t.killed:+.1f} | {counts['write ok']} | "
                     f"{counts['write failed']} | {counts['read ok']} | {counts['read failed']} "
                     f"| {', '.join(happened)} |")
    return lines


def failover_plot(t: Timeline, path: Path, writers: int, readers: int) -> str:
    """Saves the plot; returns a line for the report."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("No plot: matplotlib is missing (Debian package python3-matplotlib, in "
                "scripts/lib.sh's TEST_PACKAGES).")
    rows = buckets(t)
    x = [start - t.killed for start, _ in rows]
    fig, (ok_ax, failed_ax) = plt.subplots(2, 1, sharex=True, figsize=(11, 6),
                                           gridspec_kw={"height_ratios": [3, 2]})
    for ax, outcome in ((ok_ax, "ok"), (failed_ax, "failed")):
        for kind, colour in (("write", "tab:blue"), ("read", "tab:green")):
            ax.step(x, [counts[f"{kind} {outcome}"] for _, counts in rows], where="post",
                    color=colour, label=f"{kind}s {outcome}")
        ax.set_ylabel(f"{outcome} per {int(BUCKET * 1000)} ms")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
        for at in t.events.values():
            ax.axvline(at - t.killed, color="grey", linewidth=0.8, linestyle=":")
    for number, (name, at) in enumerate(sorted(t.events.items(), key=lambda e: e[1])):
        ok_ax.annotate(name, (at - t.killed, 0.98 - 0.09 * (number % 4)),
                       xycoords=("data", "axes fraction"), va="top", ha="left", fontsize=7,
                       backgroundcolor="white")
    failed_ax.set_xlabel("seconds from the primary's kill -9")
    ok_ax.set_title(f"plexiproxy failover: {writers} writers, {readers} readers; "
                    f"pg_promote() on pg2 {t.events['pg_promote() called'] - t.killed:.1f} s "
                    f"after the kill")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"Plot: `{path}`."


# ----------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="simple,extended",
                        help="pgbench -M modes, comma-separated (default simple,extended)")
    parser.add_argument("--pool-size", type=int, default=8,
                        help="plexiproxy pool_size per replica (default 8)")
    parser.add_argument("--writers", type=int, default=4, help="failover: writer threads")
    parser.add_argument("--readers", type=int, default=4, help="failover: reader threads")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="failover: seconds each thread waits between statements")
    parser.add_argument("--promote-after", type=float, default=1.0,
                        help="failover: seconds from the kill to pg_promote() (default 1)")
    parser.add_argument("--skip-tps", action="store_true", help="only the failover timeline")
    parser.add_argument("--skip-failover", action="store_true", help="only the read TPS")
    parser.add_argument("--png", type=Path, default=Path("timeline.png"),
                        help="the failover plot (default timeline.png)")
    args = parse_round_arguments(parser, rounds=3)

    binary = find_binary()
    os.environ["PLEXIPROXY_BIN"] = binary  # the harness runs it (and keeps it from the daemon)
    started = time.monotonic()
    incidents: list[str] = []
    notes: list[str] = []
    sections = ["## plexiproxy routing benchmark", ""]
    body: list[str] = []

    if not args.skip_tps:
        body += ["", *tps_phase(args, notes, incidents)]
    if not args.skip_failover:
        timeline = failover_phase(args, incidents)
        body += ["", *failover_summary(timeline), "",
                 failover_plot(timeline, args.png, args.writers, args.readers), "",
                 f"Per {int(BUCKET * 1000)} ms (by the time each statement's answer or error "
                 f"reached the client; {args.writers} writer and {args.readers} reader threads, "
                 f"each with its own connection, reconnecting after a connection error):", "",
                 *failover_table(timeline)]

    sections += [
        f"- {datetime.datetime.now().isoformat(timespec='seconds')}, {platform.node()}, "
        f"{os.cpu_count()} CPUs (clients, proxy and the three servers share them)",
        f"- plexiproxy: `{binary}` (git {git_revision()}), transaction mode, default threads"
        + "".join(f"; {note}" for note in notes),
        f"- {version_of([str(PG_BIN / 'postgres'), '--version'])}, fsync off, streaming "
        f"replicas (pg_basebackup -R); {version_of([str(PG_BIN / 'pgbench'), '--version'])}",
        *body,
    ]
    finish_report(sections, incidents, started, args.out,
                  "None: no proxy exited, and no warning or error lines in its logs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
