"""Streaming replicas of a harness PostgreSQL server: pg_basebackup -R from the primary,
started on their own loopback port, with the helpers failover tests need: promote, pause and
resume replay, wait until caught up."""

import os
import subprocess
import time

from .postgres import PG_BIN, PostgresServer
from .procs import make_workdir, service_prefix

REPLICA_SETTINGS = """
# This replica's own address (the lines above were copied from its primary).
port = {port}
unix_socket_directories = '{socket_dir}'
"""


class ReplicaServer(PostgresServer):
    """A hot standby of `primary`, which must be running when start() first runs. Its
    primary_conninfo (written by pg_basebackup -R) names the primary's port, so it follows
    whatever runs there."""

    standby = True

    def __init__(self, primary: PostgresServer, port: int | None = None):
        super().__init__(auth=primary.auth, password=primary.password, port=port)
        self.primary = primary

    def _initdb(self) -> None:
        self.dir = make_workdir("plexi-pg-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = self.primary.password
        result = subprocess.run(
            [*service_prefix(), str(PG_BIN / "pg_basebackup"), "-h", self.primary.host,
             "-p", str(self.primary.port), "-U", self.primary.user, "-D", str(self.data_dir),
             "-R", "-X", "stream", "--checkpoint=fast", "--no-sync", "-w"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.dir, env=env,
            timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed:\n{result.stdout.decode(errors='replace')}")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(REPLICA_SETTINGS.format(port=self.port, socket_dir=self.dir))

    def in_recovery(self) -> bool:
        return self.execute("SELECT pg_is_in_recovery()")[0][0]

    def promote(self) -> None:
        """Makes this replica a primary (what pg_ctl promote does), waiting until it is."""
        if not self.execute("SELECT pg_promote(true, 30)")[0][0]:
            raise RuntimeError("pg_promote did not finish within 30s")

    def pause_replay(self) -> None:
        self.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.execute("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Waits until this replica has replayed everything its primary has done so far.
        The insert position, not the write position: with synchronous_commit off (as in
        every harness server) a commit may not be written out yet when it returns."""
        target = last_record_end(self.primary.execute("SELECT pg_current_wal_insert_lsn()")[0][0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))[0][0]:
                return
            time.sleep(0.05)
        raise RuntimeError(f"replica on port {self.port} did not reach {target} in {timeout}s")


WAL_PAGE, WAL_SEGMENT = 8192, 16 * 1024 * 1024
SHORT_PAGE_HEADER, LONG_PAGE_HEADER = 24, 40  # the first page of a segment has the long one


def last_record_end(insert_lsn: str) -> str:
    """Where the last WAL record ends, given pg_current_wal_insert_lsn(). When the insert
    position is at the start of a page (after pg_switch_wal(), or when a record ended exactly
    there), that function points past the page header, where no record ends: a replica that
    replayed everything stops at the page start, and would never reach it."""
    high, low = insert_lsn.split("/")
    lsn = (int(high, 16) << 32) | int(low, 16)
    if lsn % WAL_SEGMENT == LONG_PAGE_HEADER:
        lsn -= LONG_PAGE_HEADER
    elif lsn % WAL_PAGE == SHORT_PAGE_HEADER and lsn % WAL_SEGMENT != SHORT_PAGE_HEADER:
        lsn -= SHORT_PAGE_HEADER
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"
