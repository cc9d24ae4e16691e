"""Client load for failover tests and benchmarks: threads that each run a statement in a loop
over their own psycopg connection (autocommit), reconnecting after a connection-level error,
and record every attempt with its start and end times, its result and its SQLSTATE."""

import threading
import time
from dataclasses import dataclass
from typing import Callable

import psycopg

from .clients import connect

# make(worker, seq, phase) -> (statement, parameters or None). The statement's first column
# is recorded as the attempt's `value` (inet_server_port() tells where it ran).
StatementMaker = Callable[[int, int, str], tuple[str, tuple | None]]


@dataclass
class Attempt:
    kind: str            # the worker's kind, such as "read" or "write"
    worker: int
    seq: int             # the worker's statement number (0 for a login)
    phase: str           # ClientLoad.phase when the attempt started
    start: float         # time.monotonic()
    end: float
    login: bool = False  # a (re)connection, not a statement
    value: object = None
    sqlstate: str | None = None
    error: str | None = None  # the exception's class and first line; None when it succeeded

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self, origin: float = 0.0) -> str:
        what = "login" if self.login else f"{self.kind} #{self.seq}"
        result = (f"ok ({self.value})" if self.ok else
                  f"{self.sqlstate or 'no SQLSTATE'}: {self.error}")
        return (f"{what} of worker {self.worker} at {self.start - origin:+.3f}s.."
                f"{self.end - origin:+.3f}s [{self.phase}]: {result}")


class ClientLoad:
    """Workers added with add() run from start() to stop(). A worker whose statement fails
    with an OperationalError (SQLSTATE class 08, 57P01, a closed socket), or whose connection
    is closed, logs in again; after any failure it waits `pause_after_error`."""

    def __init__(self, port: int, user: str, password: str, database: str,
                 pause: float = 0.0, pause_after_error: float = 0.02,
                 connect_timeout: int = 5):
        self.port, self.user, self.password, self.database = port, user, password, database
        self.pause = pause
        self.pause_after_error = pause_after_error
        self.connect_timeout = connect_timeout
        self.phase = "start"
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._workers: list[tuple[str, StatementMaker]] = []

    def add(self, kind: str, make: StatementMaker, count: int = 1) -> None:
        for _ in range(count):
            self._workers.append((kind, make))

    def start(self) -> "ClientLoad":
        for number, (kind, make) in enumerate(self._workers):
            thread = threading.Thread(target=self._run, args=(kind, number, make),
                                      name=f"load-{kind}-{number}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> list[str]:
        """Stops the workers; returns the names of those still stuck in a call afterwards."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [thread.name for thread in self._threads if thread.is_alive()]

    def snapshot(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def _record(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)

    def _run(self, kind: str, worker: int, make: StatementMaker) -> None:
        conn = None
        seq = 0
        try:
            while not self._stop.is_set():
                if conn is None:
                    phase, start = self.phase, time.monotonic()
                    try:
                        conn = connect(self.port, self.user, self.database, self.password,
                                       connect_timeout=self.connect_timeout)
                    except Exception as error:  # noqa: BLE001 - every failure is recorded
                        self._record(Attempt(kind, worker, 0, phase, start, time.monotonic(),
                                             login=True, **_failure(error)))
                        self._stop.wait(self.pause_after_error)
                        continue
                seq += 1
                phase = self.phase
                statement, params = make(worker, seq, phase)
                start = time.monotonic()
                try:
                    row = conn.execute(statement, params).fetchone()
                except Exception as error:  # noqa: BLE001 - every failure is recorded
                    self._record(Attempt(kind, worker, seq, phase, start, time.monotonic(),
                                         **_failure(error)))
                    if isinstance(error, psycopg.OperationalError) or conn.closed:
                        conn.close()
                        conn = None
                    self._stop.wait(self.pause_after_error)
                    continue
                self._record(Attempt(kind, worker, seq, phase, start, time.monotonic(),
                                     value=row[0] if row else None))
                if self.pause:
                    self._stop.wait(self.pause)
        finally:
            if conn is not None:
                conn.close()


def _failure(error: Exception) -> dict:
    """psycopg 3.1 gives no SQLSTATE for an ErrorResponse the server closed the connection
    after (a FATAL): its message is then libpq's, the server's text on the first line."""
    lines = [line.strip() for line in str(error).strip().splitlines()]
    return {"sqlstate": getattr(error, "sqlstate", None),
            "error": f"{type(error).__name__}: {' / '.join(lines[:2])}"}
