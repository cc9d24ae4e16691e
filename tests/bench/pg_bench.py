"""Benchmarks plexiproxy side by side with direct PostgreSQL and PgBouncer in one run: pgbench
TPS (interleaved rounds, medians and ratios) and RSS growth per idle client connection.

Run by hand, not by ctest:

    /usr/bin/python3 tests/bench/pg_bench.py [--quick] [--out results.md]

See tests/bench/README.md for what is measured and how.
"""

import argparse
import asyncio
import datetime
import hashlib
import os
import platform
import resource
import statistics
import struct
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402

from bench_common import (bench_server, find_binary, finish_report, git_revision,  # noqa: E402
                          init_pgbench, log, log_problems, md5_secret, parse_round_arguments,
                          postgres_incidents, round_cells, round_table_head, tail_lines,
                          timed_pgbench, version_of)
from harness.clients import psql  # noqa: E402
from harness.pgbouncer import PgBouncer  # noqa: E402
from harness.plexiproxy import Plexiproxy  # noqa: E402
from harness.postgres import PG_BIN, PostgresServer  # noqa: E402
from harness.wire import _Scram, error_fields, message, startup_packet  # noqa: E402

USER, PASSWORD, DB = "bench", "benchpass", "benchdb"
POOL_SIZE = 8
CLIENTS, THREADS = 32, 2
NOFILE = 65536
TARGETS = ("direct", "pgbouncer", "plexiproxy")
WORKLOADS = (("select-only", "-S"), ("simple-update", "-N"))
MODES = ("simple", "extended", "prepared")


# ----------------------------------------------------------------------------- setup

def raise_nofile() -> int:
    """Raises RLIMIT_NOFILE for us and so for every server we start (children inherit it:
    the harness starts them through setpriv, which keeps limits)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in ((NOFILE, max(hard, NOFILE)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, want)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def plexiproxy_config(pg: PostgresServer) -> dict:
    """Transaction mode, pool_size 8; the md5 user secret makes plexiproxy ask clients for md5."""
    return {
        "users": [{"name": USER, "password": md5_secret(PASSWORD, USER)}],
        "limits": {"max_client_conn": 20000},
        "clusters": {DB: {"pool_mode": "transaction", "backends": [{
            "name": "pg1", "type": "postgres", "role": "primary", "host": pg.host,
            "port": pg.port, "database": DB, "username": USER, "password": PASSWORD,
            "pool_size": POOL_SIZE}]}},
    }


def start_pgbouncer(pg: PostgresServer, stack: ExitStack) -> PgBouncer:
    """Starts a PgBouncer whose cleanup the stack owns, even if starting it fails."""
    bouncer = PgBouncer(pg.port, {USER: PASSWORD}, pool_mode="transaction",
                        pool_size=POOL_SIZE, max_client_conn=20000, auth_type="md5")
    stack.callback(bouncer.close)
    return bouncer.start()


def start_plexiproxy(pg: PostgresServer, stack: ExitStack, incidents: list[str]) -> Plexiproxy:
    """Starts plexiproxy; on unwinding, a clean SIGTERM exit is checked, then it is cleaned up."""
    proxy = Plexiproxy(plexiproxy_config(pg))
    stack.callback(proxy.close)
    stack.callback(stop_plexiproxy, proxy, incidents)
    return proxy.start()


def check_login(port: int, what: str) -> None:
    result = psql(port, USER, DB, PASSWORD, "-c", "SELECT 1")
    if result.returncode != 0:
        raise RuntimeError(f"psql through {what} failed:\n{result.stdout}{result.stderr}")


# ----------------------------------------------------------------------------- proxies

class Targets:
    """The three endpoints pgbench is pointed at, restarting a proxy that died (and noting it)."""

    def __init__(self, pg: PostgresServer, stack: ExitStack):
        self.pg = pg
        self.stack = stack
        self.incidents: list[str] = []
        self.pgbouncer = start_pgbouncer(pg, stack)
        self.plexiproxy = start_plexiproxy(pg, stack, self.incidents)
        check_login(self.pgbouncer.port, "pgbouncer")
        check_login(self.plexiproxy.port, "plexiproxy")

    def port(self, target: str) -> int:
        return {"direct": self.pg.port, "pgbouncer": self.pgbouncer.port,
                "plexiproxy": self.plexiproxy.port}[target]

    def check_alive(self, after: str) -> list[str]:
        """Restarts whichever proxy exited; returns notes about it."""
        notes = []
        if self.plexiproxy.process.poll() is not None:
            code = self.plexiproxy.process.returncode
            notes.append(f"plexiproxy exited with {code} during {after}")
            self.incidents.append(f"plexiproxy exited with {code} during {after}; log tail:\n"
                                  + tail_lines(self.plexiproxy.log(), 30))
            log(f"!! plexiproxy died (code {code}); restarting")
            self.plexiproxy.start()
        if self.pgbouncer.process.poll() is not None:
            code = self.pgbouncer.process.returncode
            notes.append(f"pgbouncer exited with {code} during {after}")
            self.incidents.append(f"pgbouncer exited with {code} during {after}; log tail:\n"
                                  + tail_lines(self.pgbouncer.log(), 30))
            log(f"!! pgbouncer died (code {code}); restarting")
            self.pgbouncer = start_pgbouncer(self.pg, self.stack)
        return notes


def stop_plexiproxy(proxy: Plexiproxy, incidents: list[str]) -> None:
    """A clean SIGTERM exit is expected; anything else is reported."""
    if proxy.process is None or proxy.process.poll() is not None:
        return
    try:
        proxy.stop()
    except AssertionError as error:
        incidents.append(f"plexiproxy did not exit cleanly on SIGTERM: "
                         f"{str(error).splitlines()[0]}\n{tail_lines(proxy.log(), 20)}")


# ----------------------------------------------------------------------------- pgbench

@dataclass
class Run:
    target: str
    workload: str
    mode: str
    round: int
    tps: float | None
    processed: int | None
    failed: int | None
    returncode: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.tps is not None and not self.problems


def reset_tables(pg: PostgresServer) -> None:
    """What pgbench does before a run unless -n, done directly so no proxy is involved."""
    with psycopg.connect(pg.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
        conn.execute("VACUUM pgbench_branches")
        conn.execute("VACUUM pgbench_tellers")
        conn.execute("TRUNCATE pgbench_history")


def history_rows(pg: PostgresServer) -> int:
    with psycopg.connect(pg.dsn(DB, USER, PASSWORD), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pgbench_history").fetchone()[0]


def run_pgbench(targets: Targets, target: str, workload: str, flag: str, mode: str,
                round_no: int, duration: int) -> Run:
    reset_tables(targets.pg)
    args = ["-n", flag, "-c", str(CLIENTS), "-j", str(THREADS), "-M", mode, "-T", str(duration)]
    result = timed_pgbench(targets.port(target), USER, DB, PASSWORD, args, duration)
    run = Run(target, workload, mode, round_no, result.tps, result.processed, result.failed,
              result.returncode, result.problems)
    if flag == "-N" and run.processed is not None:
        # Each -N transaction inserts one history row; transactions still in flight when -T
        # ran out may commit uncounted, at most one per client.
        rows = history_rows(targets.pg)
        if not run.processed <= rows <= run.processed + CLIENTS:
            run.problems.append(f"pgbench_history has {rows} rows after {run.processed} "
                                f"transactions")
    run.problems += targets.check_alive(f"{target} {workload} -M {mode} round {round_no}")
    return run


def cells() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(workload, pgbench flag, mode, targets) in table order; PgBouncer 1.18 has no prepared
    statements in transaction mode, so -M prepared runs against direct and plexiproxy only."""
    out = []
    for workload, flag in WORKLOADS:
        for mode in MODES:
            targets = TARGETS if mode != "prepared" else ("direct", "plexiproxy")
            out.append((workload, flag, mode, targets))
    return out


def run_rounds(targets: Targets, rounds: int, duration: int) -> list[Run]:
    runs = []
    total = sum(len(t) for *_, t in cells()) * rounds
    for round_no in range(1, rounds + 1):
        for index, (workload, flag, mode, cell_targets) in enumerate(cells()):
            # Rotate who goes first, so no target always runs right after the same neighbour.
            shift = (round_no + index) % len(cell_targets)
            for target in cell_targets[shift:] + cell_targets[:shift]:
                run = run_pgbench(targets, target, workload, flag, mode, round_no, duration)
                runs.append(run)
                status = f"{run.tps:.0f} tps" if run.tps is not None else "no tps"
                if run.problems:
                    status += "  !! " + "; ".join(run.problems)
                log(f"[{len(runs)}/{total}] round {round_no} {workload:13} -M {mode:8} "
                    f"{target:10} {status}")
    return runs


def median_tps(runs: list[Run], target: str, workload: str, mode: str) -> float | None:
    values = [r.tps for r in runs if (r.target, r.workload, r.mode) == (target, workload, mode)
              and r.tps is not None]
    return statistics.median(values) if values else None


def median_ratio(runs: list[Run], num: str, den: str, workload: str, mode: str) -> float | None:
    """The median over rounds of the ratio within each round (neighbouring runs share the
    machine's mood, so per-round ratios are steadier than a ratio of medians)."""
    by_round: dict[int, dict[str, float]] = {}
    for r in runs:
        if (r.workload, r.mode) == (workload, mode) and r.tps is not None:
            by_round.setdefault(r.round, {})[r.target] = r.tps
    ratios = [v[num] / v[den] for v in by_round.values() if v.get(num) and v.get(den)]
    return statistics.median(ratios) if ratios else None


def tps_table(runs: list[Run], rounds: int, duration: int, scale: int) -> str:
    lines = [
        f"### pgbench TPS (median of {rounds} interleaved rounds; -c {CLIENTS} -j {THREADS}, "
        f"-T {duration}, scale {scale}, pool size {POOL_SIZE})",
        "",
        "| workload | -M | direct | pgbouncer | plexiproxy | plexiproxy/direct "
        "| pgbouncer/direct | plexiproxy/pgbouncer |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    marks = []
    for workload, _, mode, cell_targets in cells():
        row = [workload, mode]
        for target in TARGETS:
            if target not in cell_targets:
                row.append("n/a")
                continue
            value = median_tps(runs, target, workload, mode)
            bad = [r for r in runs if (r.target, r.workload, r.mode) == (target, workload, mode)
                   and not r.ok]
            text = f"{value:.0f}" if value is not None else "—"
            if bad:
                marks.append((len(marks) + 1, target, workload, mode, bad))
                text += f" [{len(marks)}]"
            row.append(text)
        for num, den in (("plexiproxy", "direct"), ("pgbouncer", "direct"),
                         ("plexiproxy", "pgbouncer")):
            if num in cell_targets and den in cell_targets:
                ratio = median_ratio(runs, num, den, workload, mode)
                row.append(f"{ratio:.2f}" if ratio is not None else "—")
            else:
                row.append("n/a")
        lines.append("| " + " | ".join(row) + " |")
    if marks:
        lines.append("")
        for number, target, workload, mode, bad in marks:
            for r in bad:
                lines.append(f"[{number}] {target} {workload} -M {mode} round {r.round}: "
                             + "; ".join(r.problems))
    else:
        lines += ["", "No run had failed transactions, pgbench errors or proxy exits."]
    return "\n".join(lines)


def rounds_table(runs: list[Run], rounds: int) -> str:
    lines = round_table_head("pgbench TPS per round", ["workload", "-M", "target"], rounds)
    for workload, _, mode, cell_targets in cells():
        for target in cell_targets:
            values = round_cells(runs, rounds, lambda r: (r.target, r.workload, r.mode)
                                 == (target, workload, mode))
            lines.append(f"| {workload} | {mode} | {target} | " + " | ".join(values) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- idle clients

class LoginError(Exception):
    pass


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    header = await reader.readexactly(5)
    length = struct.unpack("!I", header[1:])[0]
    return header[:1], await reader.readexactly(length - 4)


async def open_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connects and logs in (md5, or cleartext/SCRAM if asked), up to ReadyForQuery."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(startup_packet(USER, DB))
        scram = None
        while True:
            kind, body = await read_message(reader)
            if kind == b"Z":
                return reader, writer
            if kind == b"E":
                raise LoginError(error_fields(body).get("M", "login refused"))
            if kind != b"R":
                continue
            code = struct.unpack("!I", body[:4])[0]
            if code == 5:
                outer = hashlib.md5(md5_secret(PASSWORD, USER)[3:].encode() + body[4:8])
                writer.write(message(b"p", b"md5" + outer.hexdigest().encode() + b"\0"))
            elif code == 3:
                writer.write(message(b"p", PASSWORD.encode() + b"\0"))
            elif code == 10:
                scram = _Scram(PASSWORD)
                first = scram.client_first()
                writer.write(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first))
                                     + first))
            elif code == 11:
                writer.write(message(b"p", scram.client_final(body[4:])))
            elif code not in (0, 12):
                raise LoginError(f"unsupported authentication request {code}")
    except BaseException:
        writer.close()
        raise


async def select_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(message(b"Q", b"SELECT 1\0"))
    got_row = False
    while True:
        kind, _ = await read_message(reader)
        got_row |= kind == b"D"
        if kind == b"Z":
            return got_row


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def settled_rss(pid: int) -> int:
    """VmRSS once it stops moving (or after a few seconds)."""
    await asyncio.sleep(1.0)
    last = rss_kb(pid)
    for _ in range(8):
        await asyncio.sleep(0.5)
        now = rss_kb(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


@dataclass
class Memory:
    target: str
    baseline_kb: int
    at: dict[int, int] = field(default_factory=dict)  # clients -> RSS kB
    problems: list[str] = field(default_factory=list)


async def idle_clients(target: str, port: int, pid: int, steps: list[int],
                       batch: int = 200) -> Memory:
    # Warm up: a few logins and queries, so one-off allocations (pool, first server
    # connection, caches) are in the baseline and not charged to idle clients.
    for _ in range(3):
        warm = [await open_client(port) for _ in range(8)]
        for reader, writer in warm:
            await select_one(reader, writer)
        for _, writer in warm:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for _, w in warm), return_exceptions=True)
    memory = Memory(target, await settled_rss(pid))
    clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for step in steps:
            started = time.monotonic()
            while len(clients) < step:
                count = min(batch, step - len(clients))
                opened = await asyncio.wait_for(
                    asyncio.gather(*(open_client(port) for _ in range(count)),
                                   return_exceptions=True), timeout=120)
                failures = [o for o in opened if isinstance(o, BaseException)]
                clients += [o for o in opened if not isinstance(o, BaseException)]
                if failures:
                    memory.problems.append(
                        f"{len(failures)} of {count} logins failed at {len(clients)} clients: "
                        f"{failures[0]!r}")
                    raise RuntimeError(memory.problems[-1])
            memory.at[step] = await settled_rss(pid)
            log(f"{target}: {step} idle clients in {time.monotonic() - started:.1f}s, "
                f"RSS {memory.baseline_kb} -> {memory.at[step]} kB")
        # Are they still logged in? A few of them run a query.
        sample = clients[:: max(1, len(clients) // 20)]
        answered = await asyncio.wait_for(
            asyncio.gather(*(select_one(r, w) for r, w in sample), return_exceptions=True),
            timeout=60)
        dead = [a for a in answered if a is not True]
        if dead:
            memory.problems.append(f"{len(dead)} of {len(sample)} sampled idle clients did not "
                                   f"answer SELECT 1 afterwards: {dead[0]!r}")
    finally:
        for index in range(0, len(clients), 1000):
            chunk = clients[index:index + 1000]
            for _, writer in chunk:
                writer.close()
            await asyncio.gather(*(w.wait_closed() for _, w in chunk), return_exceptions=True)
    return memory


def memory_phase(pg: PostgresServer, steps: list[int], incidents: list[str]) -> list[Memory]:
    results = []
    for target in ("pgbouncer", "plexiproxy"):
        with ExitStack() as stack:
            if target == "pgbouncer":
                proxy = start_pgbouncer(pg, stack)
            else:
                proxy = start_plexiproxy(pg, stack, incidents)
            check_login(proxy.port, target)
            try:
                results.append(asyncio.run(idle_clients(target, proxy.port, proxy.pid, steps)))
            except Exception as error:  # noqa: BLE001 - reported in the table
                log(f"!! {target} idle-client test failed: {error!r}")
                memory = Memory(target, 0, problems=[f"{type(error).__name__}: {error}"])
                results.append(memory)
            if proxy.process.poll() is not None:
                incidents.append(f"{target} exited with {proxy.process.returncode} during the "
                                 f"idle-client test; log tail:\n{tail_lines(proxy.log(), 30)}")
            if target == "plexiproxy":
                problems = log_problems(proxy.whole_log())
                if problems:
                    incidents.append("plexiproxy log (idle-client test), warning/error lines:\n"
                                     + "\n".join(problems))
    return results


def memory_table(results: list[Memory], steps: list[int]) -> str:
    by_target = {m.target: m for m in results}
    lines = ["### Idle-client memory (RSS growth over the warmed-up baseline, md5 logins, "
             "clients silent after ReadyForQuery)", "",
             "| clients | pgbouncer RSS growth | pgbouncer per client | plexiproxy RSS growth "
             "| plexiproxy per client | plexiproxy/pgbouncer |",
             "|---:|---:|---:|---:|---:|---:|"]
    for step in steps:
        row, per = [str(step)], {}
        for target in ("pgbouncer", "plexiproxy"):
            m = by_target.get(target)
            if m is None or step not in m.at:
                row += ["—", "—"]
                continue
            growth = m.at[step] - m.baseline_kb
            per[target] = growth * 1024 / step
            row += [f"{growth / 1024:.1f} MiB", f"{per[target] / 1024:.2f} kB"]
        ratio = (per["plexiproxy"] / per["pgbouncer"]
                 if per.get("pgbouncer", 0) > 0 and "plexiproxy" in per else None)
        row.append(f"{ratio:.2f}" if ratio is not None else "—")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Baseline RSS: " + ", ".join(f"{m.target} {m.baseline_kb / 1024:.1f} MiB"
                                              for m in results) + " (1 kB = 1024 bytes).")
    for m in results:
        for problem in m.problems:
            lines.append(f"- {m.target}: {problem}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="2000,10000",
                        help="idle-client counts, ascending (default 2000,10000)")
    parser.add_argument("--skip-tps", action="store_true", help="only the idle-client test")
    parser.add_argument("--skip-memory", action="store_true", help="only the pgbench test")
    args = parse_round_arguments(parser, rounds=3)
    rounds, duration = args.rounds, args.duration
    steps = sorted(int(n) for n in args.clients.split(","))

    binary = find_binary()
    os.environ["PLEXIPROXY_BIN"] = binary  # the harness runs it (and keeps it from the daemon)
    nofile = raise_nofile()
    if not args.skip_memory and nofile < max(steps) + 1000:
        sys.exit(f"RLIMIT_NOFILE is {nofile}; {max(steps)} idle clients need more")
    started = time.monotonic()
    incidents: list[str] = []
    sections = [
        "## plexiproxy benchmark",
        "",
        f"- {datetime.datetime.now().isoformat(timespec='seconds')}, {platform.node()}, "
        f"{os.cpu_count()} CPUs (client, proxies and server share them)",
        f"- plexiproxy: `{binary}` (git {git_revision()}), transaction mode, pool_size "
        f"{POOL_SIZE}, default threads",
        f"- {version_of(['pgbouncer', '--version'])}: transaction mode, default_pool_size "
        f"{POOL_SIZE}",
        f"- {version_of([str(PG_BIN / 'postgres'), '--version'])}, fsync off; "
        f"{version_of([str(PG_BIN / 'pgbench'), '--version'])}",
        f"- RLIMIT_NOFILE {nofile} for the proxies",
    ]

    with ExitStack() as stack:
        pg = bench_server(stack, USER, PASSWORD, DB)

        if not args.skip_tps:
            init_pgbench(pg.port, USER, PASSWORD, DB, args.scale)
            log(f"pgbench -i -s {args.scale} done")
            with ExitStack() as tps_stack:
                targets = Targets(pg, tps_stack)
                log(f"pgbouncer on {targets.pgbouncer.port}, plexiproxy on "
                    f"{targets.plexiproxy.port}")
                runs = run_rounds(targets, rounds, duration)
                problems = log_problems(targets.plexiproxy.whole_log())
                if problems:
                    incidents.append("plexiproxy log (pgbench runs), warning/error lines:\n"
                                     + "\n".join(problems))
            incidents += targets.incidents  # after the stack checked plexiproxy's exit
            sections += ["", tps_table(runs, rounds, duration, args.scale), "",
                         rounds_table(runs, rounds)]

        if not args.skip_memory:
            memory = memory_phase(pg, steps, incidents)
            sections += ["", memory_table(memory, steps)]

        incidents += postgres_incidents(pg.whole_log())

    finish_report(sections, incidents, started, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
