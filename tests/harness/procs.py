"""Process plumbing shared by the server wrappers: work directories, running as the
service user, waiting for a port, and stopping exactly one recorded PID."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVICE_USER = "postgres"  # PostgreSQL and PgBouncer refuse to run as root


def service_prefix(death_signal: str = "SIGTERM", as_service_user: bool = True,
                   user: str = SERVICE_USER) -> list[str]:
    """The command prefix that runs a server, as the service user (postgres, or `user`) when
    we are root.

    setpriv execs the server in place, so the PID Popen records is the server's own. The
    parent-death signal stops the server if the test process dies without cleaning up.
    """
    prefix = ["setpriv", f"--pdeathsig={death_signal}"]
    if as_service_user and os.geteuid() == 0:
        prefix += [f"--reuid={user}", f"--regid={user}", "--init-groups"]
    return prefix


OWNER_FILE = ".owner"  # which test process made a work dir, so leftovers can be swept
STALE_AFTER = 600     # seconds


def make_workdir(prefix: str, for_service_user: bool = True,
                 user: str = SERVICE_USER) -> Path:
    """A fresh temporary directory (writable by the service user, or `user`, unless told
    otherwise). Also sweeps work dirs left by test processes that were killed before
    cleaning up."""
    sweep_stale_workdirs()
    path = Path(tempfile.mkdtemp(prefix=prefix))
    (path / OWNER_FILE).write_text(_identity(os.getpid()) or "")
    if for_service_user:
        give_to_service_user(path, user)
    return path


def _identity(pid: int) -> str | None:
    """pid and its start time: a reused PID does not match a dead process's identity."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return f"{pid} {stat.rsplit(')', 1)[1].split()[19]}"


def sweep_stale_workdirs() -> None:
    """Removes plexi-* work dirs whose creating process is gone (ctest's timeout kills the
    test process outright; its servers die with it through the parent-death signal)."""
    for path in Path(tempfile.gettempdir()).glob("plexi-*"):
        try:
            owner = (path / OWNER_FILE).read_text()
            age = time.time() - path.stat().st_mtime
        except OSError:
            continue
        pid = int(owner.split()[0]) if owner else 0
        if age > STALE_AFTER and pid and _identity(pid) != owner:
            shutil.rmtree(path, ignore_errors=True)


def give_to_service_user(path: Path, user: str = SERVICE_USER) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def remove_workdir(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def log_tail(path: Path, limit: int | None = 20000) -> str:
    """The last `limit` characters of the log at `path` (all of it for None)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return text if limit is None else text[-limit:]


def accepts_tcp(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(ready, process: subprocess.Popen, what: str, log: Path,
               timeout: float = 30.0) -> None:
    """Polls ready() until it returns true; fails early, with the log, if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with code {process.returncode}:\n{log_tail(log)}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout:.0f}s:\n{log_tail(log)}")


def stop_process(process: subprocess.Popen | None, sig: int, timeout: float = 30.0) -> int | None:
    """Sends sig to exactly this process and waits; escalates to SIGKILL after timeout.

    Returns the exit code (negative for a signal), or None when there was nothing to stop.
    """
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def children_of(pid: int) -> list[int]:
    """Direct children of pid, read from /proc (the server's backends, for a crash)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def is_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_all(pids: list[int], sig: int = signal.SIGKILL, timeout: float = 10.0) -> None:
    """Signals each recorded PID and waits until they are gone."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(is_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


class ManagedProcess:
    """What every harness process shares: its log, its PID, and start()/close() as a context
    manager. Subclasses define start(), stop() and log_path, keep their work dir in dir and
    their process in process."""

    log_path: Path
    dir: Path | None
    process: subprocess.Popen | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """The log's tail, enough to show with a failure."""
        return log_tail(self.log_path)

    def whole_log(self) -> str:
        """All of the log, for searching it (a benchmark's logins push early lines out of
        the tail)."""
        return log_tail(self.log_path, None)

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stops the process and removes its work dir."""
        self.stop()
        remove_workdir(self.dir)
        self.dir = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()
