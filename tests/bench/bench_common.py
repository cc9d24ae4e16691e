"""What the pgbench-driven benchmarks share: finding the plexiproxy binary, timestamped
progress lines, versions for the report header, running pgbench and reading its report, and
picking warnings out of server logs."""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from harness.clients import pgbench  # noqa: E402
from harness.postgres import PostgresServer  # noqa: E402


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def find_binary() -> str:
    """$PLEXIPROXY_BIN, else build/release/plexiproxy, else build/test/plexiproxy."""
    candidates = [os.environ.get("PLEXIPROXY_BIN"), REPO / "build/release/plexiproxy",
                  REPO / "build/test/plexiproxy"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    sys.exit("no plexiproxy binary: set PLEXIPROXY_BIN or build one with\n"
             "  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && "
             "cmake --build build/release -j2 --target plexiproxy")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def md5_secret(password: str, user: str) -> str:
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def version_of(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def tail_lines(text: str, count: int) -> str:
    return "\n".join(text.splitlines()[-count:])


LOG_PROBLEM = re.compile(r"\b(error|critical|fatal|warn|warning|panic)\b", re.IGNORECASE)


def log_problems(text: str, limit: int = 15) -> list[str]:
    lines = [line for line in text.splitlines() if LOG_PROBLEM.search(line)]
    if len(lines) > limit:
        return lines[:limit] + [f"... and {len(lines) - limit} more such lines"]
    return lines


@dataclass
class PgbenchResult:
    """One pgbench run as its report tells it; problems lists what makes the run suspect."""
    tps: float | None  # without initial connection time
    processed: int | None
    failed: int | None
    returncode: int
    problems: list[str] = field(default_factory=list)


def bench_server(stack: ExitStack, user: str, password: str, database: str) -> PostgresServer:
    """Starts a throwaway PostgreSQL, which the stack stops, with database owned by user."""
    pg = PostgresServer()
    stack.callback(pg.close)
    pg.start()
    log(f"postgres on {pg.port}")
    pg.create_user(user, password)
    pg.create_database(database, owner=user)
    return pg


def init_pgbench(port: int, user: str, password: str, database: str, scale: int) -> None:
    """pgbench -i: the pgbench tables at this scale."""
    init = pgbench(port, user, database, password, "-i", "-q", "-s", str(scale), timeout=600)
    if init.returncode != 0:
        raise RuntimeError(f"pgbench -i failed:\n{init.stdout}{init.stderr}")


def timed_pgbench(port: int, user: str, database: str, password: str, args: list[str],
                  duration: int) -> PgbenchResult:
    """Runs pgbench with args (which hold `-T duration`), allowing two minutes past it, and
    flags a timeout, a non-zero exit, failed transactions, a missing TPS line and up to three
    error lines."""
    try:
        result = pgbench(port, user, database, password, *args, timeout=duration + 120)
        output, code = result.stdout + result.stderr, result.returncode
    except subprocess.TimeoutExpired as timeout:
        output = timeout.stdout or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        code = -1
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    run = PgbenchResult(float(tps.group(1)) if tps else None,
                        int(processed.group(1)) if processed else None,
                        int(failed.group(1)) if failed else None, code)
    if code == -1:
        run.problems.append(f"pgbench timed out after {duration + 120}s")
    elif code != 0:
        run.problems.append(f"pgbench exited with {code}")
    if run.failed:
        run.problems.append(f"{run.failed} failed transactions")
    if tps is None:
        run.problems.append("no tps in pgbench output")
    errors = [line for line in output.splitlines() if "error" in line.lower()
              or "aborted" in line.lower()]
    run.problems += [f"pgbench: {line.strip()}" for line in errors[:3]]
    if len(errors) > 3:
        run.problems.append(f"pgbench: ... {len(errors) - 3} more error lines")
    return run


def postgres_incidents(text: str) -> list[str]:
    """An incident for the warning and error lines of a PostgreSQL log, if it has any. The
    harness polls with logins while the server starts; those refusals are expected."""
    problems = [line for line in log_problems(text, 10)
                if "the database system is starting up" not in line]
    return ["postgres log, warning/error lines:\n" + "\n".join(problems)] if problems else []


NO_INCIDENTS = "None: no proxy exited, and no warning or error lines in the logs."


def finish_report(sections: list[str], incidents: list[str], started: float, out: Path | None,
                  no_incidents: str = NO_INCIDENTS) -> None:
    """Prints the report with its incidents and total time, and writes it to out if given."""
    sections = sections + ["", "### Incidents", ""]
    if incidents:
        sections += ["```", "\n\n".join(incidents), "```"]
    else:
        sections.append(no_incidents)
    sections += ["", f"Total time {time.monotonic() - started:.0f} s."]
    report = "\n".join(sections) + "\n"
    print(report)
    if out:
        out.write_text(report)
        log(f"wrote {out}")


def parse_round_arguments(parser: argparse.ArgumentParser, rounds: int) -> argparse.Namespace:
    """Adds the options every pgbench benchmark here takes (--quick, --rounds, --duration,
    --scale, --out), parses the command line, and fills in the default rounds and duration."""
    parser.add_argument("--quick", action="store_true",
                        help=f"2 rounds of 3 s runs instead of {rounds} rounds of 10 s")
    parser.add_argument("--rounds", type=int,
                        help=f"interleaved rounds (default {rounds}, quick 2)")
    parser.add_argument("--duration", type=int, help="pgbench -T seconds (default 10, quick 3)")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -s (default 10)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else rounds)
    args.duration = args.duration or (3 if args.quick else 10)
    return args


def round_table_head(title: str, columns: list[str], rounds: int) -> list[str]:
    """The title and header of a table with the given first columns and one per round."""
    return [f"### {title}", "",
            "| " + " | ".join(columns + [f"round {i}" for i in range(1, rounds + 1)]) + " |",
            "|" + "---|" * len(columns) + "---:|" * rounds]


def round_cells(runs: list, rounds: int, match: Callable[[object], bool]) -> list[str]:
    """A per-round table's cells for one row: the TPS of the run that match() picks in each
    round, marked "!" when the run had problems, "—" when there is none. A run has `round`,
    `tps` and `ok`."""
    cells = []
    for round_no in range(1, rounds + 1):
        found = [r for r in runs if r.round == round_no and match(r)]
        if not found or found[0].tps is None:
            cells.append("—")
        else:
            cells.append(f"{found[0].tps:.0f}" + ("" if found[0].ok else " !"))
    return cells
