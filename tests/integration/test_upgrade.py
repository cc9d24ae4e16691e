"""Binary upgrade without downtime: a new plexiproxy process takes the listening sockets over
from the running one (started with --takeover, or by SIGUSR2 to the running one), which
drains and exits 0.
- Under load, pgbench (-c 16, transaction pooling), Redis and MySQL clients keep running
  while the binary is replaced twice: no failed transaction, no refused connection, the same ports;
  both with a new connection per transaction (pgbench -C) and with connections kept
  (pgbench -M prepared, redis-benchmark, sysbench with prepared statements), whose idle
  clients the old process hands to the new one with their sessions: settings, named
  statements, cancel key, MySQL session variables, Redis database and name.
- A new process with a broken config, or one that fails after receiving the listeners,
  leaves the old one serving.
- A client in the middle of a transaction on the old process completes it.
- With NOTIFY_SOCKET, the new process tells systemd it is the main process, and the old one
  does not say it is stopping."""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest
from pathlib import Path

import pymysql
import redis
import yaml
from psycopg import errors as psycopg_errors

from harness.clients import connect, pgbench, pgbench_counts
from harness.mariadb import MariaDBServer
from harness.plexiproxy import Plexiproxy, binary, daemon_environment, print_log_if_failed
from harness.procs import is_alive, kill_all
from harness.redis import RedisServer
from harness.relay import DB, PASSWORD, USER, app_server, backend
from harness.watchdog import start_watchdog

TEST_DEADLINE = 180
MYSQL_DB = "mydb"  # the MySQL cluster: clients name it as their database


class UpgradableProxy(Plexiproxy):
    """A plexiproxy run from its own copy of the binary, which install() replaces as a
    package upgrade does (a new file renamed over the old path)."""

    def __init__(self, config: dict, env: dict[str, str] | None = None):
        super().__init__(config, env=env)
        self.executable = self.dir / "bin" / "plexiproxy"
        self.executable.parent.mkdir()
        self.install()
        self.successors: list[int] = []  # every later process, for cleanup by PID
        self.started: list[subprocess.Popen] = []  # those started here, to be waited for

    def install(self) -> None:
        fresh = self.executable.with_name("plexiproxy.new")
        shutil.copy2(binary(), fresh)
        os.replace(fresh, self.executable)

    def command(self) -> list[str]:
        return [str(self.executable), "--config", str(self.config_path)]

    @property
    def socket_path(self) -> Path:
        return self.dir / "plexiproxy-upgrade.sock"

    def take_over(self, config_path: Path | None = None,
                  socket_path: Path | None = None) -> subprocess.Popen:
        """Starts a new process with --takeover, logging where this one logs."""
        command = [str(self.executable), "--config", str(config_path or self.config_path),
                   "--takeover"]
        if socket_path:
            command.append(str(socket_path))
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=self.dir,
                                       env=daemon_environment())
        self.successors.append(process.pid)
        self.started.append(process)
        return process

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log_path.read_text(errors="replace"))
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no '{pattern}' in the log:\n{self.log()}")

    def close(self) -> None:
        kill_all(self.successors)
        for process in self.started:
            process.wait(10)
        super().close()


class UpgradeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = app_server(cls)
        cls.redis = RedisServer()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.mariadb = MariaDBServer()
        cls.addClassCleanup(cls.mariadb.close)
        cls.mariadb.start()
        sysbench(cls.mariadb.port, cls.mariadb.app_user, cls.mariadb.app_password,
                 cls.mariadb.database, "prepare")

    def setUp(self):
        # systemd's notification socket: the proxy's READY=1 and its successor's MAINPID=.
        self.notify_dir = Path(tempfile.mkdtemp(prefix="plexi-notify-"))
        self.addCleanup(shutil.rmtree, self.notify_dir, True)
        self.notifications = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.notifications.close)
        self.notifications.bind(str(self.notify_dir / "notify"))
        self.proxy = UpgradableProxy(self.config(),
                                     env={"NOTIFY_SOCKET": str(self.notify_dir / "notify")})
        self.addCleanup(self.proxy.close)
        self.proxy.start()
        self.addCleanup(print_log_if_failed, self, self.proxy, self.pg)
        start_watchdog(self, TEST_DEADLINE, self.proxy, self.pg)

    def config(self) -> dict:
        return {
            "threads": 2,
            "users": [{"name": USER, "password": PASSWORD, "admin": True}],
            "limits": {"shutdown_timeout": "20s"},
            # A busy machine (three servers and the benchmarks on two cores) can be slow to
            # answer a health check: a new process must not find its backends down.
            "health": {"timeout": "3s"},
            "clusters": {
                DB: {"pool_mode": "transaction", "backends": [backend(self.pg, 8)]},
                MYSQL_DB: {"protocol": "mysql", "pool_size": 8, "backends": [
                    {"type": "mysql", "host": self.mariadb.host, "port": self.mariadb.port,
                     "database": self.mariadb.database, "username": self.mariadb.app_user,
                     "password": self.mariadb.app_password}]},
                "cache": {"protocol": "redis", "backends": [
                    {"type": "redis", "host": self.redis.host, "port": self.redis.port}]},
            },
        }

    def listener_ports(self) -> dict[str, int]:
        return {"postgres": self.proxy.port, "mysql": self.proxy.mysql_port,
                "redis": self.proxy.redis_port, "admin": self.proxy.admin_port}

    def assert_serves(self) -> None:
        with connect(self.proxy.port, USER, DB, PASSWORD) as conn:
            self.assertEqual(conn.execute("SELECT 41 + 1").fetchone()[0], 42)
        client = redis.Redis(port=self.proxy.redis_port, username=USER, password=PASSWORD,
                             socket_timeout=10)
        self.assertTrue(client.ping())
        client.close()

    def assert_took_over(self, new_pid: int, old_pid: int) -> None:
        self.proxy.wait_for_log(rf"took over the listeners from process {old_pid}\b")
        log = self.proxy.log_path.read_text(errors="replace")
        # The new process adopted every listener at its old address rather than binding anew:
        # its lines follow the last time it received them.
        received = log[[m.start() for m in re.finditer(
            rf"received \d+ listeners from process {old_pid}\b", log)][-1]:]
        for kind, port in self.listener_ports().items():
            line = f"listening on 127.0.0.1:{port} ({kind}, handed over"
            self.assertIn(line, received[:received.index("took over the listeners from")], line)
        self.proxy.wait_for_log(rf"process {new_pid} took over the listeners: draining")

    def replace_twice(self) -> int:
        """Replaces the running binary twice, 3 s apart; the pid of the last process."""
        # First: a new process started with --takeover, from the binary installed over the old.
        first = self.proxy.process
        self.proxy.install()
        second = self.proxy.take_over()
        self.assertEqual(first.wait(60), 0, self.proxy.log())
        self.assert_took_over(second.pid, first.pid)
        time.sleep(3)

        # Second: SIGUSR2 to the running process, which starts the installed binary itself.
        self.proxy.install()
        second.send_signal(signal.SIGUSR2)
        third = int(self.proxy.wait_for_log(r"SIGUSR2: started \S+ as process (\d+)").group(1))
        self.proxy.successors.append(third)
        self.assertEqual(second.wait(60), 0, self.proxy.log())
        self.assert_took_over(third, second.pid)
        return third

    def test_the_control_socket_is_private(self):
        # Opened once the listeners are (a sanitizer build can be slow to get there).
        deadline = time.monotonic() + 10
        while not self.proxy.socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        mode = self.proxy.socket_path.stat().st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o600)
        # SHOW CONFIG says where it is (relative paths are the data directory's).
        with connect(self.proxy.port, USER, "plexiproxy", PASSWORD) as admin:
            shown = dict(admin.execute("SHOW CONFIG").fetchall())["upgrade.socket"]
        self.assertEqual((self.proxy.dir / shown).resolve(), self.proxy.socket_path.resolve())

    def test_replaced_twice_under_load(self):
        pgbench(self.proxy.port, USER, DB, PASSWORD, "-i", "-s", "1", "-q")
        bench = threading.Thread(target=self.run_pgbench, daemon=True)
        self.bench_output = None
        redis_load = RedisLoad(self.proxy.redis_port)
        mysql_load = MysqlLoad(self.proxy.mysql_port)
        bench.start()
        redis_load.start()
        mysql_load.start()
        time.sleep(3)

        third = self.replace_twice()

        bench.join(120)
        redis_load.stop()
        mysql_load.stop()
        self.assertIsNotNone(self.bench_output, "pgbench did not finish")
        processed, failed = pgbench_counts(self.bench_output)
        self.assertGreater(processed, 0, self.bench_output)
        self.assertEqual(failed, 0, self.bench_output)
        self.assertNotIn("aborted", self.bench_output)
        self.assertGreater(redis_load.done, 0)
        self.assertEqual(redis_load.refused, 0, redis_load.errors[:5])
        self.assertEqual(redis_load.failed, 0, redis_load.errors[:5])
        self.assertGreater(mysql_load.done, 0)
        self.assertEqual(mysql_load.refused + mysql_load.failed, 0, mysql_load.errors[:5])

        self.assertTrue(is_alive(third))
        self.assert_serves()
        os.kill(third, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while is_alive(third) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(is_alive(third))

    def run_pgbench(self) -> None:
        # -C: a new connection per transaction, each one a chance to be refused.
        result = pgbench(self.proxy.port, USER, DB, PASSWORD, "-c", "16", "-j", "2", "-T", "14",
                         "-C", "-M", "extended")
        self.bench_output = result.stdout + result.stderr
        if result.returncode != 0:
            self.bench_output += f"\n(pgbench exited with {result.returncode}: aborted)"

    def test_replaced_twice_under_load_with_connections_kept(self):
        pgbench(self.proxy.port, USER, DB, PASSWORD, "-i", "-s", "1", "-q")
        results = {}
        bench = threading.Thread(target=lambda: results.update(pg=pgbench(
            self.proxy.port, USER, DB, PASSWORD, "-c", "16", "-j", "2", "-T", "20",
            "-M", "prepared")), daemon=True)
        # redis-benchmark ends at the first connection it loses: it must still be running.
        benchmark = subprocess.Popen(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.proxy.redis_port),
             "--user", USER, "-a", PASSWORD, "-c", "8", "-t", "set,get", "-n", "100000000",
             "-l", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: benchmark.poll() is None and benchmark.kill())
        redis_load = RedisLoad(self.proxy.redis_port, keep_connections=True)
        bench.start()
        redis_load.start()
        time.sleep(3)

        self.replace_twice()
        time.sleep(2)

        still_running = benchmark.poll() is None
        benchmark.terminate()
        benchmark_output = benchmark.communicate(timeout=10)[1]
        self.assertTrue(still_running, benchmark_output[-2000:])
        self.assertNotIn("Error", benchmark_output)
        bench.join(120)
        redis_load.stop()
        self.assertIn("pg", results, "pgbench did not finish")
        output = results["pg"].stdout + results["pg"].stderr
        self.assertEqual(results["pg"].returncode, 0, output)
        processed, failed = pgbench_counts(output)
        self.assertGreater(processed, 0, output)
        self.assertEqual(failed, 0, output)
        self.assertNotIn("aborted", output)
        # Each client kept one connection throughout: the proxies handed them on.
        self.assertRegex(output, r"number of clients: 16\b")
        self.assertGreater(redis_load.done, 0)
        self.assertEqual(redis_load.failed + redis_load.refused, 0, redis_load.errors[:5])
        handed = [int(n) for n in re.findall(r"handed (\d+) idle clients to the new process",
                                             self.proxy.log())]
        self.assertEqual(len(handed), 2, self.proxy.log())
        # 16 pgbench clients, 8 redis-benchmark clients and 4 Python ones each time.
        self.assertTrue(all(n >= 28 for n in handed), handed)

    def test_an_idle_client_keeps_its_session_across_the_upgrade(self):
        client = connect(self.proxy.port, USER, DB, PASSWORD, application_name="before")
        self.addCleanup(client.close)
        client.execute("SET search_path TO pg_catalog, public")
        client.execute("SET application_name TO 'kept'")
        query = "SELECT %s::int * 2"
        for n in range(6):  # psycopg prepares it by name after a few runs
            self.assertEqual(client.execute(query, (n,), prepare=True).fetchone()[0], n * 2)
        server_pids = {client.execute("SELECT pg_backend_pid()").fetchone()[0]}
        cache = redis.Redis(port=self.proxy.redis_port, username=USER, password=PASSWORD,
                            socket_timeout=10, single_connection_client=True, db=3)
        self.addCleanup(cache.close)
        cache.client_setname("kept-name")
        cache.set("upgrade:db3", "three")

        first = self.proxy.process
        first.send_signal(signal.SIGUSR2)
        second = int(self.proxy.wait_for_log(r"SIGUSR2: started \S+ as process (\d+)").group(1))
        self.proxy.successors.append(second)
        self.assertEqual(first.wait(30), 0, self.proxy.log())
        self.proxy.wait_for_log(rf"process {first.pid} handed over [1-9]\d* idle clients")

        # The same connections, now served by the new process.
        self.assertEqual(client.execute("SHOW application_name").fetchone()[0], "kept")
        self.assertEqual(client.execute("SHOW search_path").fetchone()[0], "pg_catalog, public")
        self.assertEqual(client.execute(query, (21,), prepare=True).fetchone()[0], 42)
        self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
        # The old process's server connections closed with it: a new one serves the client.
        self.assertNotIn(client.execute("SELECT pg_backend_pid()").fetchone()[0], server_pids)
        self.assertEqual(cache.client_getname(), "kept-name")
        self.assertEqual(cache.get("upgrade:db3"), b"three")
        # Its cancel key still reaches it.
        started = time.monotonic()
        canceller = threading.Timer(0.5, client.cancel)
        canceller.start()
        with self.assertRaises(psycopg_errors.QueryCanceled):
            client.execute("SELECT pg_sleep(20)")
        canceller.join()
        self.assertLess(time.monotonic() - started, 10)
        client.rollback()
        self.assertEqual(client.execute("SELECT 2").fetchone()[0], 2)

    def test_mysql_clients_are_handed_over_with_their_sessions(self):
        idle = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=USER,
                               password=PASSWORD, database=MYSQL_DB, autocommit=True,
                               read_timeout=20)
        self.addCleanup(idle.close)
        with idle.cursor() as cursor:
            cursor.execute("SET SESSION sql_mode = 'ANSI_QUOTES'")
            cursor.execute("SET time_zone = '+03:00'")
        results = {}
        # sysbench keeps its connections and runs its statements prepared (COM_STMT_*).
        bench = threading.Thread(target=lambda: results.update(out=sysbench(
            self.proxy.mysql_port, USER, PASSWORD, MYSQL_DB, "run", "--threads=8", "--time=20",
            "--db-ps-mode=auto")), daemon=True)
        bench.start()
        time.sleep(3)
        self.replace_twice()
        bench.join(120)
        self.assertIn("out", results, "sysbench did not finish")
        self.assertRegex(results["out"], r"ignored errors:\s+0\b")
        self.assertRegex(results["out"], r"reconnects:\s+0\b")
        transactions = re.search(r"transactions:\s+(\d+)", results["out"])
        self.assertGreater(int(transactions.group(1)), 0, results["out"])
        with idle.cursor() as cursor:
            cursor.execute("SELECT @@session.sql_mode, @@session.time_zone")
            self.assertEqual(cursor.fetchone(), ("ANSI_QUOTES", "+03:00"))
        handed = [int(n) for n in re.findall(r"handed (\d+) idle clients to the new process",
                                             self.proxy.log())]
        self.assertEqual(len(handed), 2, self.proxy.log())
        self.assertTrue(all(n >= 9 for n in handed), handed)  # sysbench's 8 and the idle one

    def test_a_broken_config_leaves_the_old_process_serving(self):
        broken = self.proxy.dir / "broken.yaml"
        broken.write_text("clusters: [this is not a cluster map\n")
        broken.chmod(0o600)
        attempt = self.proxy.take_over(broken)
        self.assertEqual(attempt.wait(30), 1)
        self.assertTrue(self.proxy.running())
        self.assert_serves()
        self.assertNotIn("took over", self.proxy.log())

    def test_a_new_process_that_fails_after_the_handover_leaves_the_old_one_serving(self):
        # Its config moves the MySQL listener to a port something else holds: it receives the
        # listeners, then cannot bind that one and exits.
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            config = self.config()
            config["listen"] = {**self.proxy.listen(),
                                "mysql": f"127.0.0.1:{squatter.getsockname()[1]}"}
            other = self.proxy.dir / "other.yaml"
            other.write_text(yaml.safe_dump(config))
            other.chmod(0o600)
            attempt = self.proxy.take_over(other)
            self.assertEqual(attempt.wait(30), 1, self.proxy.log())
        self.proxy.wait_for_log(rf"process {attempt.pid} failed to take over: still serving")
        self.assertTrue(self.proxy.running())
        self.assert_serves()
        # And a later takeover still works: the old process's socket was left in place.
        first = self.proxy.process
        second = self.proxy.take_over()
        self.assertEqual(first.wait(60), 0, self.proxy.log())
        self.assert_took_over(second.pid, first.pid)
        self.assert_serves()

    def test_a_transaction_under_way_completes_on_the_old_process(self):
        setup = connect(self.proxy.port, USER, DB, PASSWORD)
        setup.execute("DROP TABLE IF EXISTS upgrade_marks")
        setup.execute("CREATE TABLE upgrade_marks (n int)")
        setup.close()
        client = connect(self.proxy.port, USER, DB, PASSWORD, autocommit=False)
        self.addCleanup(client.close)
        client.execute("INSERT INTO upgrade_marks VALUES (1)")  # opens the transaction
        first = self.proxy.process
        first.send_signal(signal.SIGUSR2)
        second = int(self.proxy.wait_for_log(r"SIGUSR2: started \S+ as process (\d+)").group(1))
        self.proxy.successors.append(second)
        self.proxy.wait_for_log(rf"process {second} took over the listeners: draining")
        # The old process still serves this client's transaction to its end.
        client.execute("INSERT INTO upgrade_marks VALUES (2)")
        client.commit()
        self.assertEqual(first.wait(30), 0, self.proxy.log())
        with connect(self.proxy.port, USER, DB, PASSWORD) as conn:
            rows = conn.execute("SELECT n FROM upgrade_marks ORDER BY n").fetchall()
        self.assertEqual(rows, [(1,), (2,)])

    def test_a_successor_that_vanishes_while_taking_clients(self):
        # A stand-in for the new process: it takes the listeners, says SERVING, and exits
        # without reading the clients the old process sends it.
        idle = connect(self.proxy.port, USER, DB, PASSWORD)
        self.addCleanup(idle.close)
        cache = redis.Redis(port=self.proxy.redis_port, username=USER, password=PASSWORD,
                            socket_timeout=10, single_connection_client=True)
        self.addCleanup(cache.close)
        self.assertTrue(cache.ping())
        with socket.socket(socket.AF_UNIX) as control:
            control.connect(str(self.proxy.socket_path))
            control.sendall(b"TAKEOVER 999999\n")
            text, fds, _, _ = socket.recv_fds(control, 65536, 16)
            for fd in fds:
                os.close(fd)  # the listening sockets: the old process still has them open
            self.assertTrue(text.startswith(b"LISTENERS "), text)
            control.sendall(b"SERVING\n")
        first = self.proxy.process
        self.assertEqual(first.wait(30), 0, self.proxy.log())
        self.assertIn("cannot hand clients to the new process any more", self.proxy.log())
        # The clients it could not hand over were closed, not left hanging.
        with self.assertRaises(Exception):
            idle.execute("SELECT 1")
        with self.assertRaises(redis.ConnectionError):
            cache.ping()

    def test_a_new_process_refuses_garbage_from_the_old_one(self):
        # A stand-in for the old process: it hands over its listeners, then a client whose
        # state is garbage, then a frame that is not one.
        first = self.proxy.process
        first.send_signal(signal.SIGTERM)
        self.assertEqual(first.wait(30), 0, self.proxy.log())
        path = self.proxy.dir / "fake-upgrade.sock"
        listener = socket.create_server(("127.0.0.1", self.proxy.port))
        self.addCleanup(listener.close)
        # The client: a TCP connection whose server end is handed over.
        with socket.create_server(("127.0.0.1", 0)) as accepting:
            client = socket.create_connection(accepting.getsockname())
            served, _ = accepting.accept()
        self.addCleanup(client.close)
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
            server.listen()
            successor = self.proxy.take_over(self.proxy.config_path, socket_path=path)
            server.settimeout(10)
            control, _ = server.accept()
            with control:
                control.settimeout(15)
                self.assertTrue(control.recv(128).startswith(b"TAKEOVER "))
                socket.send_fds(control, [f"LISTENERS {os.getpid()} 1\npostgres 127.0.0.1 "
                                          f"{self.proxy.port}\nEND\n".encode()],
                                [listener.fileno()])
                self.assertEqual(control.recv(64), b"SERVING\n")
                socket.send_fds(control, [b"CLIENT postgres 5\nnoise"], [served.fileno()])
                served.close()
                control.sendall(b"CLIENT\x00garbage\n")
        # The client with an unreadable state is closed; the new process serves on.
        client.settimeout(10)
        self.assertEqual(client.recv(16), b"")
        self.proxy.wait_for_log("came with an unreadable state")
        self.proxy.wait_for_log("clients handed over: unexpected frame")
        self.assertTrue(is_alive(successor.pid))
        with connect(self.proxy.port, USER, DB, PASSWORD) as conn:
            self.assertEqual(conn.execute("SELECT 7").fetchone()[0], 7)

    def test_systemd_follows_the_new_process(self):
        first = self.proxy.process
        first.send_signal(signal.SIGUSR2)
        second = int(self.proxy.wait_for_log(r"SIGUSR2: started \S+ as process (\d+)").group(1))
        self.proxy.successors.append(second)
        self.assertEqual(first.wait(30), 0, self.proxy.log())
        self.notifications.settimeout(5)
        received = []
        # MAINPID and READY in one message (with the status line after them).
        while not any(m.split("\n")[:2] == [f"MAINPID={second}", "READY=1"] for m in received):
            received.append(self.notifications.recv(4096).decode())
        # The old process said nothing about stopping: for systemd the service went on.
        self.assertFalse([m for m in received if "STOPPING=1" in m], received)


def sysbench(port: int, user: str, password: str, database: str, command: str,
             *args: str) -> str:
    """sysbench oltp_point_select (one small table) against `port`; its output."""
    line = ["sysbench", "oltp_point_select", "--db-driver=mysql", "--mysql-host=127.0.0.1",
            f"--mysql-port={port}", f"--mysql-user={user}", f"--mysql-password={password}",
            f"--mysql-db={database}", "--mysql-ssl=off", "--tables=1", "--table-size=1000",
            command, *args]
    out = subprocess.run(line, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(line)} failed ({out.returncode}):\n{out.stdout}\n"
                             f"{out.stderr}")
    return out.stdout


class Load:
    """Threads each running rounds of commands through the proxy until stopped, counting
    connections refused and rounds failed."""

    def __init__(self, threads: int = 4):
        self.done = self.refused = self.failed = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)

    def round(self, index: int, n: int) -> None:
        raise NotImplementedError

    def run(self, index: int) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            try:
                self.round(index, n)
                with self.lock:
                    self.done += 1
            except Exception as error:  # noqa: BLE001 - every failure counts
                with self.lock:
                    if "refused" in str(error):
                        self.refused += 1
                    else:
                        self.failed += 1
                    self.errors.append(repr(error))


class RedisLoad(Load):
    """SET then GET of a counter, each command on a new connection (as redis-benchmark
    -k 0), or on one connection per thread kept throughout."""

    def __init__(self, port: int, threads: int = 4, keep_connections: bool = False):
        super().__init__(threads)
        self.port = port
        self.keep_connections = keep_connections
        self.clients: dict[int, redis.Redis] = {}

    def stop(self) -> None:
        super().stop()
        for client in self.clients.values():
            client.close()

    def command(self, index: int, *args):
        if self.keep_connections:
            if index not in self.clients:
                # No retry on a lost connection: a lost one must show as a failure.
                self.clients[index] = redis.Redis(
                    port=self.port, username=USER, password=PASSWORD, socket_timeout=10,
                    single_connection_client=True)
            return self.clients[index].execute_command(*args)
        client = redis.Redis(port=self.port, username=USER, password=PASSWORD,
                             socket_timeout=10, single_connection_client=True)
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def round(self, index: int, n: int) -> None:
        self.command(index, "SET", f"upgrade:{index}", n)
        value = self.command(index, "GET", f"upgrade:{index}")
        if int(value) != n:
            raise AssertionError(f"read {value!r} back after setting {n}")


class MysqlLoad(Load):
    """A MySQL login and one query per round: each login a chance to be refused or cut."""

    def __init__(self, port: int, threads: int = 4):
        super().__init__(threads)
        self.port = port

    def round(self, index: int, n: int) -> None:
        with pymysql.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                             database=MYSQL_DB, connect_timeout=10, read_timeout=10) as conn:
            with conn.cursor() as cursor:
                cursor.execute("SELECT %s", (n,))
                if cursor.fetchone()[0] != n:
                    raise AssertionError(f"SELECT {n} answered otherwise")


if __name__ == "__main__":
    unittest.main()
