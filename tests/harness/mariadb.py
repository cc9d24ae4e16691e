"""Throwaway MariaDB 10.11 servers: a data directory copied from one made by
mariadb-install-db (once per test process), `mariadbd` run as a child process on a loopback
port with binlog and GTIDs, GTID replicas of it, and stopping exactly those processes."""

import atexit
import itertools
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pymysql

from .ports import free_port
from .procs import (ManagedProcess, make_workdir, remove_workdir, service_prefix, stop_process,
                    wait_until)

SERVICE_USER = "mysql"  # mariadbd refuses to run as root
SUPERUSER, SUPERUSER_PASSWORD = "admin", "admin-secret"
APP_USER, APP_PASSWORD, APP_DATABASE = "app", "app-secret", "appdb"

# Small and fast: nothing here has to survive a crash of the machine, only kill -9 of the
# server. So commits reach the OS (flush_log_at_trx_commit=2, not 0, which would lose the
# last second of InnoDB commits that the binlog already has, and a replica's GTID position
# with them) but are never synced.
INNODB_OPTIONS = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M",
                  "--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0"]

# Run by mariadb-install-db after the system tables. Bootstrap runs without the grant
# tables until FLUSH PRIVILEGES loads them. Nothing of it is in a binlog, so every copy of
# the template starts at the same empty GTID position and a replica needs none of it.
USERS_SQL = f"""
FLUSH PRIVILEGES;
CREATE USER '{SUPERUSER}'@'%' IDENTIFIED BY '{SUPERUSER_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '{SUPERUSER}'@'%' WITH GRANT OPTION;
CREATE DATABASE {APP_DATABASE};
CREATE USER '{APP_USER}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('{APP_PASSWORD}');
GRANT ALL PRIVILEGES ON {APP_DATABASE}.* TO '{APP_USER}'@'%';
"""

_template: Path | None = None
_server_ids = itertools.count(1)


def _run_as_service_user(command: list[str], what: str, cwd: Path) -> None:
    result = subprocess.run([*service_prefix(user=SERVICE_USER), *command], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout.decode(errors='replace')}")


def template_data_dir() -> Path:
    """A data directory with the system tables, the users and the database, made once per
    test process (mariadb-install-db takes seconds; a copy takes a fraction of one) and
    removed when the process exits."""
    global _template
    if _template is None:
        workdir = make_workdir("plexi-mariadb-template-", user=SERVICE_USER)
        atexit.register(remove_workdir, workdir)
        users = workdir / "users.sql"
        users.write_text(USERS_SQL)
        users.chmod(0o644)
        _run_as_service_user(
            ["mariadb-install-db", "--no-defaults", f"--datadir={workdir / 'data'}",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             f"--extra-file={users}", "--skip-name-resolve", *INNODB_OPTIONS],
            "mariadb-install-db", workdir)
        _template = workdir / "data"
    return _template


class MariaDBServer(ManagedProcess):
    """One mariadbd. `user`/`password` is a superuser (also the replication user);
    `app_user`/`app_password` owns `database` and logs in with mysql_native_password."""

    def __init__(self, port: int | None = None, server_id: int | None = None):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.server_id = server_id or next(_server_ids)
        self.user, self.password = SUPERUSER, SUPERUSER_PASSWORD
        self.app_user, self.app_password = APP_USER, APP_PASSWORD
        self.database = APP_DATABASE
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        return self.dir / "mariadb.log"

    def server_options(self) -> list[str]:
        """mariadbd's options; subclasses add theirs."""
        return [
            "--no-defaults", f"--datadir={self.data_dir}", f"--socket={self.dir / 'mysqld.sock'}",
            f"--pid-file={self.dir / 'mysqld.pid'}", f"--tmpdir={self.dir}",
            f"--bind-address={self.host}", f"--port={self.port}",
            f"--server-id={self.server_id}", "--log-bin=mysql-bin", "--binlog-format=ROW",
            "--log-slave-updates", "--gtid-strict-mode=1", "--sync-binlog=0",
            "--skip-name-resolve", "--max-connections=300",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
            *INNODB_OPTIONS,
        ]

    def start(self) -> "MariaDBServer":
        """Makes the data directory on first use, then starts mariadbd on it and waits until
        it answers queries (again after stop() or kill(): same data, same port)."""
        if self.dir is None:
            self.dir = make_workdir("plexi-mariadb-", user=SERVICE_USER)
            _run_as_service_user(["cp", "-a", str(template_data_dir()), str(self.data_dir)],
                                 "copying the template data directory", self.dir)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*service_prefix(user=SERVICE_USER), "mariadbd", *self.server_options()],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_until(self._accepts_queries, self.process, "mariadbd", self.log_path)
        return self

    def _accepts_queries(self) -> bool:
        try:
            with self.connect(connect_timeout=2):
                return True
        except pymysql.err.OperationalError:
            return False

    def connect(self, **kwargs) -> pymysql.connections.Connection:
        """A PyMySQL connection, as the superuser to no database unless told otherwise, in
        autocommit."""
        options = {"host": self.host, "port": self.port, "user": self.user,
                   "password": self.password, "autocommit": True, "connect_timeout": 5}
        return pymysql.connect(**{**options, **kwargs})

    def execute(self, sql: str, params=None, **connect_options) -> list[tuple]:
        """Runs one statement as the superuser in autocommit; returns its rows, if any."""
        with self.connect(**connect_options) as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def value(self, sql: str, params=None):
        """The first column of the first row."""
        return self.execute(sql, params)[0][0]

    def gtid_position(self) -> str:
        return self.value("SELECT @@gtid_current_pos")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM) of exactly our mariadbd, waiting for it to exit."""
        stop_process(self.process, signal.SIGTERM, timeout=60)

    def kill(self) -> None:
        """SIGKILL to our mariadbd (one process: its connections are threads), a crash."""
        stop_process(self.process, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()


class TlsMariaDBServer(MariaDBServer):
    """A MariaDBServer with TLS from tls_files, (certificate, key, CA certificate); ssl_only
    refuses clients without it (require_secure_transport). The harness's own connections
    use TLS and check the certificate against the CA."""

    def __init__(self, tls_files: tuple[Path, Path, Path], ssl_only: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.tls_files = tls_files
        self.ssl_only = ssl_only

    def server_options(self) -> list[str]:
        # mariadbd runs as its own user: it reads copies in its directory.
        names = []
        for source, name in zip(self.tls_files, ("server.crt", "server.key", "ca.crt")):
            shutil.copyfile(source, self.dir / name)
            (self.dir / name).chmod(0o644)
            names.append(self.dir / name)
        cert, key, ca = names
        options = [*super().server_options(), f"--ssl-cert={cert}", f"--ssl-key={key}",
                   f"--ssl-ca={ca}"]
        if self.ssl_only:
            options.append("--require-secure-transport=ON")
        return options

    def connect(self, **kwargs) -> pymysql.connections.Connection:
        return super().connect(**{"ssl": {"ca": str(self.tls_files[2])}, **kwargs})


class MariaDBReplica(MariaDBServer):
    """A GTID replica of `primary`, read-only (also after a restart, like a replica whose
    config says so), that keeps replicating across its own restarts and its primary's."""

    def __init__(self, primary: MariaDBServer, port: int | None = None,
                 server_id: int | None = None):
        super().__init__(port=port, server_id=server_id)
        self.primary = primary

    def server_options(self) -> list[str]:
        return [*super().server_options(), "--read-only=1"]

    def start(self) -> "MariaDBReplica":
        first = self.dir is None
        super().start()
        if first:
            # Both start from the template, whose GTID position is empty: the replica
            # takes the primary's whole binlog. A 1s retry keeps its reconnects quick.
            self.execute(
                "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
                "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
                (self.primary.host, self.primary.port, self.primary.user,
                 self.primary.password))
            self.start_replication()
        return self

    def start_replication(self) -> None:
        self.execute("START SLAVE")

    def stop_replication(self) -> None:
        self.execute("STOP SLAVE")

    def promote(self) -> None:
        """What an operator does when the primary is gone: stop replicating, take writes."""
        self.stop_replication()
        self.execute("SET GLOBAL read_only = 0")

    def replication_status(self) -> dict:
        """SHOW SLAVE STATUS as a column -> value dict (empty when not a replica)."""
        with self.connect() as conn, conn.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute("SHOW SLAVE STATUS")
            return cursor.fetchone() or {}

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Waits until this replica has applied everything its primary has written so far."""
        target = self.primary.value("SELECT @@gtid_binlog_pos")
        started = time.monotonic()
        # MASTER_GTID_WAIT: 0 once applied, -1 on its timeout.
        if self.value("SELECT MASTER_GTID_WAIT(%s, %s)", (target, timeout)) != 0:
            raise RuntimeError(
                f"replica on port {self.port} did not reach {target!r} in "
                f"{time.monotonic() - started:.1f}s; status: {self.replication_status()}")


def make_replica(primary: MariaDBServer, **kwargs) -> MariaDBReplica:
    """Starts a replica of `primary` (running) and returns it; nothing is left behind when
    it cannot start."""
    replica = MariaDBReplica(primary, **kwargs)
    try:
        return replica.start()
    except BaseException:
        replica.close()
        raise
