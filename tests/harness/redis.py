"""Throwaway Redis 7.0 servers, replicas, Sentinels and twemproxy (nutcracker) pools: each a
child process on a loopback port with its config in a temporary directory, no persistence
unless asked for, and stopping exactly the processes started here."""

import os
import signal
import subprocess
import time
from pathlib import Path

import redis
import yaml

from .ports import free_port
from .procs import (ManagedProcess, accepts_tcp, make_workdir, service_prefix, stop_process,
                    wait_until)

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_SENTINEL = "/usr/bin/redis-sentinel"  # a link to redis-server, from redis-sentinel
REDIS_CLI = "/usr/bin/redis-cli"
NUTCRACKER = "/usr/sbin/nutcracker"

# Quick to start and to replicate: a replica's full sync streams the data set at once
# (diskless, no 5 s wait for more replicas), and nothing is written to disk.
SETTINGS = """bind 127.0.0.1
port {port}
dir {dir}
daemonize no
save ""
appendonly {appendonly}
repl-diskless-sync yes
repl-diskless-sync-delay 0
"""


def _poll(ready, what: str, timeout: float, describe=lambda: "") -> None:
    """Polls ready() until it is true; fails after timeout with describe()'s text."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not reached after {timeout:.0f}s {describe()}")
        time.sleep(0.05)


class RedisServer(ManagedProcess):
    """One redis-server. `password` is requirepass (the default user's password); `users`
    maps ACL user names to passwords, each allowed every command and key. persistence=True
    turns on the append-only file, so data outlives kill() and restart()."""

    def __init__(self, port: int | None = None, password: str | None = None,
                 users: dict[str, str] | None = None, persistence: bool = False,
                 tls_files: tuple[Path, Path, Path] | None = None):
        """tls_files, (certificate, key, CA certificate): the port is a TLS port and the
        server has no plain one (clients need no certificate)."""
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.tls_files = tls_files
        self.password = password
        self.users = dict(users or {})
        self.persistence = persistence
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None
        self.stalled = False

    @property
    def log_path(self) -> Path:
        return self.dir / "redis.log"

    @property
    def config_path(self) -> Path:
        return self.dir / "redis.conf"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _write_config(self) -> None:
        text = SETTINGS.format(port=self.port, dir=self.dir,
                               appendonly="yes" if self.persistence else "no")
        if self.tls_files:
            cert, key, ca = self.tls_files
            text = text.replace(f"port {self.port}\n", f"port 0\ntls-port {self.port}\n")
            text += (f"tls-cert-file {cert}\ntls-key-file {key}\ntls-ca-cert-file {ca}\n"
                     "tls-auth-clients no\n")
        if self.password:
            # Replicas of this server log in to their primary with the same password.
            text += f"requirepass {self.password}\nmasterauth {self.password}\n"
        for name, password in self.users.items():
            text += f"user {name} on >{password} ~* &* +@all\n"
        self.config_path.write_text(text)

    def start(self) -> "RedisServer":
        """Writes the config on first use, then starts redis-server and waits until it
        answers PING (again after stop() or kill(): same directory, same port)."""
        if self.dir is None:
            self.dir = make_workdir("plexi-redis-", for_service_user=False)
            self._write_config()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*service_prefix("SIGKILL", as_service_user=False), REDIS_SERVER,
                 str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        self.stalled = False
        wait_until(self._answers, self.process, "redis-server", self.log_path)
        return self

    def _answers(self) -> bool:
        try:
            with self.client(socket_timeout=1) as client:
                return client.ping()
        except redis.exceptions.BusyLoadingError:
            return False
        except redis.exceptions.ConnectionError:
            return False

    def client(self, user: str | None = None, password: str | None = None,
               **kwargs) -> redis.Redis:
        """A redis-py client (strings decoded), as the default user with requirepass unless
        told otherwise."""
        options = {"host": self.host, "port": self.port, "socket_timeout": 5,
                   "decode_responses": True, "username": user,
                   "password": password if password is not None else self.password}
        if self.tls_files:
            options.update(ssl=True, ssl_ca_certs=str(self.tls_files[2]))
        return redis.Redis(**{**options, **kwargs})

    def cli(self, *args: str, user: str | None = None, password: str | None = None,
            check: bool = True) -> str:
        """Runs redis-cli against this server; returns what it printed, stripped."""
        command = [REDIS_CLI, "-h", self.host, "-p", str(self.port)]
        if self.tls_files:
            command += ["--tls", "--cacert", str(self.tls_files[2])]
        password = password if password is not None else self.password
        if user:
            command += ["--user", user]
        if password:
            command += ["--pass", password, "--no-auth-warning"]
        result = subprocess.run([*command, *args], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    def info(self, section: str = "replication") -> dict:
        with self.client() as client:
            return client.info(section)

    def stall(self) -> None:
        """SIGSTOP: the server keeps its connections and port but answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)
        self.stalled = True

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.stalled = False

    def stop(self) -> None:
        """SIGTERM to exactly our redis-server (resumed first if stalled), waiting for it."""
        if self.stalled and self.process and self.process.poll() is None:
            self.resume()
        stop_process(self.process, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, a crash."""
        stop_process(self.process, signal.SIGKILL)
        self.stalled = False

    def restart(self) -> None:
        self.stop()
        self.start()


def wait_link_up(replica: RedisServer, timeout: float = 30.0) -> None:
    """Waits until `replica` reports master_link_status:up (its first sync done)."""
    _poll(lambda: replica.info().get("master_link_status") == "up",
          f"replica on port {replica.port}: master_link_status:up", timeout,
          lambda: f"(INFO replication: {replica.info()})\n{replica.log()}")


def make_replica(primary: RedisServer, **kwargs) -> RedisServer:
    """Starts a server (with the primary's password) that replicates `primary`, also after its
    own restart, and waits until its link is up; nothing is left behind when it cannot."""
    replica = RedisServer(password=primary.password, **kwargs)
    try:
        replica.start()
        with replica.client() as client:
            client.replicaof(primary.host, primary.port)
            client.config_rewrite()  # a restart keeps replicating
        wait_link_up(replica)
        return replica
    except BaseException:
        replica.close()
        raise


def promote(replica: RedisServer) -> None:
    """What an operator does when the primary is gone: REPLICAOF NO ONE, kept across a
    restart."""
    with replica.client() as client:
        client.replicaof("NO", "ONE")
        client.config_rewrite()


def wait_caught_up(primary: RedisServer, replica: RedisServer, timeout: float = 30.0) -> None:
    """Waits until `replica` has applied all that `primary` has written so far."""
    target = primary.info()["master_repl_offset"]
    _poll(lambda: replica.info().get("slave_repl_offset", -1) >= target,
          f"replica on port {replica.port} at offset {target}", timeout,
          lambda: f"(INFO replication: {replica.info()})")


class RedisSentinel(ManagedProcess):
    """One Sentinel monitoring `master` as `name` with quorum 1, declaring it down after
    down_after_ms without an answer, so that a failover is done within a few seconds."""

    def __init__(self, master: RedisServer, name: str = "mymaster", port: int | None = None,
                 down_after_ms: int = 1000, failover_timeout_ms: int = 5000):
        self.master = master
        self.name = name
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / "sentinel.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self, config: Path) -> list[str]:
        if Path(REDIS_SENTINEL).exists():
            return [REDIS_SENTINEL, str(config)]
        return [REDIS_SERVER, str(config), "--sentinel"]  # the same program, without the link

    def start(self) -> "RedisSentinel":
        """Writes the config on first use (Sentinel rewrites it as it learns), starts the
        Sentinel and waits until it names the master."""
        if self.dir is None:
            self.dir = make_workdir("plexi-sentinel-", for_service_user=False)
            text = (f"bind {self.host}\nport {self.port}\ndir {self.dir}\ndaemonize no\n"
                    f"sentinel monitor {self.name} {self.master.host} {self.master.port} 1\n"
                    f"sentinel down-after-milliseconds {self.name} {self.down_after_ms}\n"
                    f"sentinel failover-timeout {self.name} {self.failover_timeout_ms}\n"
                    f"sentinel parallel-syncs {self.name} 1\n")
            if self.master.password:
                text += f"sentinel auth-pass {self.name} {self.master.password}\n"
            (self.dir / "sentinel.conf").write_text(text)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*service_prefix("SIGKILL", as_service_user=False),
                 *self.command(self.dir / "sentinel.conf")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_until(self._names_master, self.process, "redis-sentinel", self.log_path)
        return self

    def _names_master(self) -> bool:
        try:
            return self.master_address() is not None
        except redis.exceptions.ConnectionError:
            return False

    def client(self, **kwargs) -> redis.Redis:
        options = {"host": self.host, "port": self.port, "socket_timeout": 5,
                   "decode_responses": True}
        return redis.Redis(**{**options, **kwargs})

    def master_address(self) -> str | None:
        """host:port of the master as this Sentinel sees it now."""
        with self.client() as client:
            found = client.execute_command("SENTINEL", "get-master-addr-by-name", self.name)
        return f"{found[0]}:{found[1]}" if found else None

    def wait_knows_replicas(self, count: int, timeout: float = 30.0) -> None:
        """Waits until the Sentinel has found `count` healthy replicas of the master (it
        learns them from the master's INFO), so that it has somebody to promote."""
        def healthy() -> int:
            with self.client() as client:
                replicas = client.execute_command("SENTINEL", "replicas", self.name)
            flags = [dict(zip(r[::2], r[1::2])).get("flags", "") for r in replicas]
            return sum(1 for f in flags if "down" not in f and "disconnected" not in f)
        _poll(lambda: healthy() >= count, f"Sentinel knowing {count} replicas", timeout,
              lambda: f"\n{self.log()}")

    def wait_master(self, address: str, timeout: float = 30.0) -> None:
        """Waits until this Sentinel names `address` (host:port) as the master."""
        _poll(lambda: self.master_address() == address, f"Sentinel naming master {address}",
              timeout, lambda: f"(it names {self.master_address()})\n{self.log()}")

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM)

    def kill(self) -> None:
        stop_process(self.process, signal.SIGKILL)


class Twemproxy(ManagedProcess):
    """nutcracker in front of `servers`: one pool on a loopback port, keys spread with ketama
    over fnv1a_64 (and `hash_tag`, such as "{}", when given). Servers with a password need
    it given as `password` (twemproxy's redis_auth), which clients then AUTH with too."""

    def __init__(self, servers: list[RedisServer], hash_tag: str | None = None,
                 port: int | None = None, password: str | None = None):
        self.servers = servers
        self.hash_tag = hash_tag
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.stats_port = free_port()
        self.password = password
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.dir / "nutcracker.log"

    def start(self) -> "Twemproxy":
        if self.dir is None:
            self.dir = make_workdir("plexi-twemproxy-", for_service_user=False)
            pool = {"listen": f"{self.host}:{self.port}", "hash": "fnv1a_64",
                    "distribution": "ketama", "redis": True, "auto_eject_hosts": False,
                    "timeout": 5000, "preconnect": True,
                    "servers": [f"{s.host}:{s.port}:1 s{i}" for i, s in enumerate(self.servers)]}
            if self.hash_tag:
                pool["hash_tag"] = self.hash_tag
            if self.password:
                pool["redis_auth"] = self.password
            (self.dir / "nutcracker.yml").write_text(yaml.safe_dump({"plexi": pool}))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*service_prefix("SIGKILL", as_service_user=False), NUTCRACKER,
                 "-c", str(self.dir / "nutcracker.yml"), "-o", str(self.log_path),
                 "-p", str(self.dir / "nutcracker.pid"), "-a", self.host,
                 "-s", str(self.stats_port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_until(lambda: accepts_tcp(self.port), self.process, "nutcracker", self.log_path)
        return self

    def client(self, **kwargs) -> redis.Redis:
        options = {"host": self.host, "port": self.port, "socket_timeout": 5,
                   "decode_responses": True, "password": self.password}
        return redis.Redis(**{**options, **kwargs})

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM)
