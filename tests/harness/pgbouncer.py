"""A throwaway PgBouncer in front of a PostgresServer, for side-by-side benchmarks: its own
ini and userlist in a temporary directory, run as a child process we stop by PID."""

import signal
import subprocess
from pathlib import Path

from .ports import free_port
from .procs import (ManagedProcess, accepts_tcp, give_to_service_user, make_workdir,
                    service_prefix, stop_process, wait_until)

INI = """\
[databases]
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir = {dir}
auth_type = {auth_type}
auth_file = {dir}/userlist.txt
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = {max_client_conn}
ignore_startup_parameters = extra_float_digits
server_login_retry = 1
"""


class PgBouncer(ManagedProcess):
    """PgBouncer 1.18. users maps names to plain passwords, used on both sides."""

    def __init__(self, server_port: int, users: dict[str, str], pool_mode: str = "transaction",
                 pool_size: int = 20, max_client_conn: int = 12000,
                 auth_type: str = "scram-sha-256", server_host: str = "127.0.0.1",
                 port: int | None = None, extra: str = ""):
        self.port = port or free_port()
        self.settings = dict(server_host=server_host, server_port=server_port, port=self.port,
                             pool_mode=pool_mode, pool_size=pool_size,
                             max_client_conn=max_client_conn, auth_type=auth_type)
        self.users = users
        self.extra = extra
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / "pgbouncer.log"

    def start(self) -> "PgBouncer":
        self.dir = make_workdir("plexi-pgbouncer-")
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(INI.format(dir=self.dir, **self.settings) + self.extra)
        userlist = self.dir / "userlist.txt"
        userlist.write_text("".join(f'"{name}" "{password}"\n'
                                    for name, password in self.users.items()))
        for path in (ini, userlist):
            give_to_service_user(path)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*service_prefix(), "pgbouncer", str(ini)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_until(lambda: accepts_tcp(self.port), self.process, "pgbouncer", self.log_path)
        return self

    def stop(self) -> None:
        """Immediate shutdown (SIGTERM) of exactly our PgBouncer."""
        stop_process(self.process, signal.SIGTERM)
