"""A throwaway PostgreSQL 15 server: initdb into a temporary directory, run `postgres`
as a child process on a loopback port, and stop exactly that process."""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from .ports import free_port
from .procs import (ManagedProcess, children_of, give_to_service_user, kill_all, make_workdir,
                    service_prefix, stop_process, wait_until)

PG_BIN = Path("/usr/lib/postgresql/15/bin")

SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 200
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = '{encryption}'
log_min_messages = warning
# Any server can be a primary for streaming replicas (harness.replication).
wal_level = replica
max_wal_senders = 10
wal_keep_size = 256MB
hot_standby = on
wal_retrieve_retry_interval = 200ms
"""


class PostgresServer(ManagedProcess):
    """One PostgreSQL cluster. auth is the pg_hba method: scram-sha-256, md5 or trust.
    ssl_files, a (certificate, key) pair, turns ssl on with them; ssl_only then refuses
    TCP connections without TLS (hostnossl ... reject)."""

    standby = False  # a replica replays its primary's changes and takes no writes

    def __init__(self, auth: str = "scram-sha-256", password: str = "postgres-secret",
                 port: int | None = None, ssl_files: tuple[Path, Path] | None = None,
                 ssl_only: bool = False):
        self.auth = auth
        self.ssl_files = ssl_files
        self.ssl_only = ssl_only
        self.user = "postgres"
        self.password = password
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    def dsn(self, dbname: str = "postgres", user: str | None = None,
            password: str | None = None) -> str:
        user = user or self.user
        password = password if password is not None else self.password
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, dbname=dbname, user=user, password=password)

    def connect(self, dbname: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=5, **kwargs)

    def start(self) -> "PostgresServer":
        if self.dir is None:
            self._initdb()
        self._launch()
        return self

    def _initdb(self) -> None:
        self.dir = make_workdir("plexi-pg-")
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        give_to_service_user(pwfile)
        subprocess.run(
            [*service_prefix(), str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U",
             self.user, f"--pwfile={pwfile}", "-A", self.auth, "-E", "UTF8", "--locale=C",
             "--no-sync"],
            check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.dir)
        encryption = "md5" if self.auth == "md5" else "scram-sha-256"
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(SETTINGS.format(port=self.port, socket_dir=self.dir,
                                       encryption=encryption))
        # initdb's pg_hba.conf lets 127.0.0.1 replicate already; say so rather than rely on it.
        with open(self.data_dir / "pg_hba.conf", "a") as hba:
            hba.write(f"host replication all 127.0.0.1/32 {self.auth}\n")
        if self.ssl_files:
            self._configure_ssl()

    def _configure_ssl(self) -> None:
        # postgres reads its key only when the server's own user owns it, mode 0600.
        for source, name in zip(self.ssl_files, ("server.crt", "server.key")):
            target = self.data_dir / name
            shutil.copyfile(source, target)
            target.chmod(0o600)
            give_to_service_user(target)
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        if self.ssl_only:
            hba = self.data_dir / "pg_hba.conf"
            hba.write_text("hostnossl all all 0.0.0.0/0 reject\n" + hba.read_text())

    def _launch(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*service_prefix("SIGINT"), str(PG_BIN / "postgres"), "-D", str(self.data_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_until(self._accepts_queries, self.process, "postgres", self.log_path)
        if self.auth == "md5" and not self.standby:
            # initdb stored the superuser's password as SCRAM; md5 logins need an md5 secret.
            self.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(self.password))

    def _accepts_queries(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def execute(self, query, params=None, dbname: str = "postgres") -> list[tuple]:
        """Runs one statement as the superuser in autocommit; returns its rows, if any."""
        with self.connect(dbname) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def create_user(self, name: str, password: str) -> None:
        self.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(name), password))

    def create_database(self, name: str, owner: str | None = None) -> None:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner:
            query += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        self.execute(query)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Sends sig to the postmaster. SIGKILL simulates a crash: the backends die with it."""
        if self.process is None or self.process.poll() is not None:
            return
        if sig == signal.SIGKILL:
            victims = children_of(self.pid) + [self.pid]
            kill_all(victims)
            self.process.wait()
        else:
            os.kill(self.pid, sig)

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of exactly our postmaster, waiting for it to exit."""
        stop_process(self.process, signal.SIGINT)

    def restart(self) -> None:
        """Starts again on the same data directory and port (after stop or kill)."""
        self.stop()
        self._launch()
