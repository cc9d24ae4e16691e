"""The Redis front against real redis-server processes, through redis-py and redis-cli:
- every data type, expiry, pipelines of 1,000 commands, MULTI/EXEC and WATCH conflicts,
  pub/sub with messages delivered, BLPOP released by another client's push while others are
  served, SELECT per client, AUTH and HELLO, garbage from a client;
- a cluster of two shards beside twemproxy over the same servers: keys land where twemproxy
  (ketama, fnv1a_64, hash tags) puts them, spread within 10% of even; MGET, MSET, DEL and
  EXISTS split and merged; SCAN returns every key once; KEYS and DBSIZE cover both shards;
  commands whose keys span shards get CROSSSLOT;
- SHOW CLIENTS, SHOW QUERIES and metrics with protocol="redis"."""

import random
import socket
import subprocess
import threading
import time
import unittest
import urllib.request

import psycopg
import redis

from harness.admin_console import wait_for_state
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.ports import free_port
from harness.redis import REDIS_CLI, RedisServer, Twemproxy
from harness.watchdog import start_watchdog

USER, PASSWORD = "app", "app-secret"
SERVER_PASSWORD = "server-secret"


def raw_exchange(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Sends bytes on a fresh connection and returns everything read until the proxy closes
    it or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        received = b""
        sock.settimeout(1.0)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except socket.timeout:
            pass
        return received


class RedisProxyTest(unittest.TestCase):
    """One server behind the shared Redis listener, and two shards behind their own."""

    @classmethod
    def setUpClass(cls):
        cls.server = RedisServer(password=SERVER_PASSWORD).start()
        cls.shards = [RedisServer().start(), RedisServer().start()]
        cls.twemproxy = Twemproxy(cls.shards, hash_tag="{}").start()
        cls.proxy = Plexiproxy()
        cls.sharded_port = free_port()
        cls.proxy.write_config({
            # Two workers whatever the machine: each has its own link to a backend, and the
            # registry of links is shared between them.
            "threads": 2,
            "users": [{"name": USER, "password": PASSWORD},
                      {"name": "admin", "password": "admin-secret", "admin": True}],
            "clusters": {
                "cache": {"protocol": "redis", "backends": [
                    {"type": "redis", "host": cls.server.host, "port": cls.server.port,
                     "password": SERVER_PASSWORD}]},
                "sharded": {"protocol": "redis", "listen": f"127.0.0.1:{cls.sharded_port}",
                            "hash": "fnv1a_64", "hash_tag": "{}", "backends": [
                                {"type": "redis", "shard": f"s{i}", "host": s.host,
                                 "port": s.port} for i, s in enumerate(cls.shards)]},
            },
        })
        cls.proxy.start()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()
        cls.twemproxy.close()
        for server in [cls.server, *cls.shards]:
            server.close()

    def setUp(self):
        start_watchdog(self, 120, self.proxy, self.server, *self.shards, self.twemproxy)
        self.addCleanup(print_log_if_failed, self, self.proxy)
        # No backend has a configured role: until the first health check finds each one the
        # primary of its cluster (or shard), writes are refused, so the tests begin after it.
        for cluster, backend in (("cache", "cache-1"), ("sharded", "sharded-1"),
                                 ("sharded", "sharded-2")):
            wait_for_state(self, self.proxy, "admin", "admin-secret", "up", cluster=cluster,
                           backend=backend)
        with self.server.client() as direct:
            direct.flushall()
        for shard in self.shards:
            with shard.client() as direct:
                direct.flushall()

    def client(self, **kwargs) -> redis.Redis:
        options = {"host": "127.0.0.1", "port": self.proxy.redis_port, "username": USER,
                   "password": PASSWORD, "socket_timeout": 10, "decode_responses": True}
        return redis.Redis(**{**options, **kwargs})

    def sharded(self, **kwargs) -> redis.Redis:
        return self.client(port=self.sharded_port, **kwargs)

    def admin(self, sql: str) -> list[tuple]:
        with psycopg.connect(host="127.0.0.1", port=self.proxy.port, user="admin",
                             password="admin-secret", dbname="plexiproxy",
                             autocommit=True) as conn:
            return conn.execute(sql).fetchall()

    # ------------------------------------------------------------ one server

    def test_every_data_type_and_expiry(self):
        with self.client() as r:
            self.assertTrue(r.set("greeting", "hello"))
            self.assertEqual(r.append("greeting", " world"), 11)
            self.assertEqual(r.get("greeting"), "hello world")
            self.assertEqual(r.incrby("counter", 5), 5)
            self.assertEqual(r.hset("user:1", mapping={"name": "ada", "lang": "c"}), 2)
            self.assertEqual(r.hgetall("user:1"), {"name": "ada", "lang": "c"})
            self.assertEqual(r.rpush("queue", "a", "b", "c"), 3)
            self.assertEqual(r.lrange("queue", 0, -1), ["a", "b", "c"])
            self.assertEqual(r.sadd("tags", "x", "y", "x"), 2)
            self.assertEqual(r.smembers("tags"), {"x", "y"})
            r.zadd("scores", {"ann": 3, "bob": 1, "cy": 2})
            self.assertEqual(r.zrange("scores", 0, -1, withscores=True),
                             [("bob", 1.0), ("cy", 2.0), ("ann", 3.0)])
            first = r.xadd("events", {"kind": "login"})
            r.xadd("events", {"kind": "logout"})
            self.assertEqual(r.xlen("events"), 2)
            self.assertEqual(r.xrange("events", count=1)[0], (first, {"kind": "login"}))
            r.set("short-lived", "1", px=300)
            self.assertGreater(r.pttl("short-lived"), 0)
            time.sleep(0.5)
            self.assertIsNone(r.get("short-lived"))
        # What the client wrote is on the server, not in the proxy.
        with self.server.client() as direct:
            self.assertEqual(direct.get("greeting"), "hello world")
            self.assertEqual(direct.llen("queue"), 3)

    def test_redis_cli_and_inline_commands(self):
        base = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.proxy.redis_port), "--user", USER,
                "--pass", PASSWORD, "--no-auth-warning"]
        run = lambda *args: subprocess.run([*base, *args], capture_output=True, text=True,
                                           timeout=30, check=True).stdout.strip()
        self.assertEqual(run("SET", "cli-key", "cli value"), "OK")
        self.assertEqual(run("GET", "cli-key"), "cli value")
        self.assertEqual(run("DBSIZE"), "1")
        # A telnet-style client: inline commands, quoted arguments.
        answer = raw_exchange(self.proxy.redis_port,
                              f"AUTH {USER} {PASSWORD}\r\nSET inline \"two words\"\r\n"
                              "GET inline\r\nQUIT\r\n".encode())
        self.assertEqual(answer, b"+OK\r\n+OK\r\n$9\r\ntwo words\r\n+OK\r\n")

    def test_a_pipeline_of_a_thousand_commands(self):
        with self.client() as r:
            pipe = r.pipeline(transaction=False)
            for i in range(1000):
                pipe.set(f"p:{i}", i)
                pipe.incr("p:count")
            results = pipe.execute()
            self.assertEqual(results[0::2], [True] * 1000)
            self.assertEqual(results[1::2], list(range(1, 1001)))
            pipe = r.pipeline(transaction=False)
            for i in range(1000):
                pipe.get(f"p:{i}")
            self.assertEqual(pipe.execute(), [str(i) for i in range(1000)])

    def test_multi_exec_and_watch_conflicts(self):
        with self.client() as r:
            pipe = r.pipeline(transaction=True)
            pipe.set("account", 100).incrby("account", -30).get("account")
            self.assertEqual(pipe.execute(), [True, 70, "70"])

            with self.client() as other, r.pipeline(transaction=True) as watched:
                watched.watch("account")
                self.assertEqual(watched.get("account"), "70")
                other.set("account", 500)  # another client changes the watched key
                watched.multi()
                watched.set("account", 0)
                with self.assertRaises(redis.WatchError):
                    watched.execute()
            self.assertEqual(r.get("account"), "500")

            # Without a conflict the same sequence commits.
            with r.pipeline(transaction=True) as watched:
                watched.watch("account")
                watched.multi()
                watched.incr("account")
                self.assertEqual(watched.execute(), [501])
            # And the client is back on shared links: commands after the transaction work.
            self.assertEqual(r.get("account"), "501")
            self.assertEqual(self.server.info("commandstats").get("cmdstat_exec", {}).get("calls"),
                             3)

    def test_pubsub_delivers_messages(self):
        with self.client() as r, self.client() as publisher:
            pubsub = r.pubsub()
            pubsub.subscribe("news")
            pubsub.psubscribe("alerts.*")
            deadline = time.monotonic() + 5
            confirmations = []
            while len(confirmations) < 2 and time.monotonic() < deadline:
                message = pubsub.get_message(timeout=1)
                if message:
                    confirmations.append(message["type"])
            self.assertEqual(sorted(confirmations), ["psubscribe", "subscribe"])
            self.assertEqual(publisher.publish("news", "first"), 1)
            self.assertEqual(publisher.publish("alerts.disk", "full"), 1)
            received = []
            while len(received) < 2 and time.monotonic() < deadline + 5:
                message = pubsub.get_message(timeout=1)
                if message and message["type"] in ("message", "pmessage"):
                    received.append((message["channel"], message["data"]))
            self.assertEqual(received, [("news", "first"), ("alerts.disk", "full")])
            pubsub.unsubscribe("news")
            pubsub.punsubscribe("alerts.*")
            pubsub.close()

    def test_blpop_is_released_by_another_clients_push(self):
        result = {}

        def wait_for_job():
            with self.client() as waiting:
                result["job"] = waiting.blpop("jobs", timeout=10)
                result["at"] = time.monotonic()

        waiter = threading.Thread(target=wait_for_job)
        waiter.start()
        time.sleep(0.3)
        with self.client() as r:
            # The blocked client holds no link others need: they are served meanwhile.
            started = time.monotonic()
            for i in range(20):
                r.set(f"meanwhile:{i}", i)
            self.assertLess(time.monotonic() - started, 2)
            self.assertTrue(waiter.is_alive())
            pushed_at = time.monotonic()
            r.rpush("jobs", "job-1")
        waiter.join(timeout=10)
        self.assertEqual(result.get("job"), ("jobs", "job-1"))
        self.assertLess(result["at"] - pushed_at, 1.0)

    def test_a_client_leaving_during_blpop_frees_its_server_connection(self):
        def blocked_clients() -> int:
            return self.server.info("clients")["blocked_clients"]

        with socket.create_connection(("127.0.0.1", self.proxy.redis_port), timeout=5) as sock:
            sock.sendall(f"AUTH {USER} {PASSWORD}\r\nBLPOP nothing-here 0\r\n".encode())
            deadline = time.monotonic() + 5
            while blocked_clients() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(blocked_clients(), 1)
        deadline = time.monotonic() + 5
        while blocked_clients() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(blocked_clients(), 0)

    def test_select_is_per_client(self):
        with self.client(db=3) as three, self.client() as zero:
            three.set("where", "db3")
            self.assertIsNone(zero.get("where"))
            zero.set("where", "db0")
            self.assertEqual(three.get("where"), "db3")
        with self.server.client(db=3) as direct:
            self.assertEqual(direct.get("where"), "db3")

    def test_authentication(self):
        with self.client(username=None, password=None) as anonymous:
            with self.assertRaises(redis.AuthenticationError):
                anonymous.get("anything")
        # redis-py 4.3 raises WRONGPASS, at connect, as a plain ResponseError.
        with self.assertRaisesRegex(redis.ResponseError, "WRONGPASS"):
            with self.client(password="wrong") as wrong:
                wrong.ping()
        # HELLO 3 with AUTH: a RESP3 map back, and RESP3 replies from the server after it.
        answer = raw_exchange(self.proxy.redis_port,
                              f"HELLO 3 AUTH {USER} {PASSWORD}\r\nHSET h f v\r\nHGETALL h\r\n"
                              "QUIT\r\n".encode())
        self.assertTrue(answer.startswith(b"%8\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), answer)
        self.assertIn(b"$5\r\nproto\r\n:3\r\n", answer)
        self.assertTrue(answer.endswith(b":1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n+OK\r\n"), answer)

    def test_garbage_gets_a_protocol_error_and_others_carry_on(self):
        with self.client() as bystander:
            bystander.set("still", "here")
            answer = raw_exchange(self.proxy.redis_port, b"*abc\r\n$3\r\nGET\r\n")
            self.assertEqual(answer, b"-ERR Protocol error: invalid multibulk length\r\n")
            answer = raw_exchange(self.proxy.redis_port, b"*1\r\n$-5\r\n")
            self.assertTrue(answer.startswith(b"-ERR Protocol error"), answer)
            # A length far beyond the limit is refused before anything is buffered for it.
            answer = raw_exchange(self.proxy.redis_port, b"*1\r\n$99999999999\r\n")
            self.assertTrue(answer.startswith(b"-ERR Protocol error"), answer)
            self.assertEqual(bystander.get("still"), "here")

    def test_admin_sees_redis_clients_queries_and_metrics(self):
        with self.client() as r:
            r.client_setname("billing-worker")
            for i in range(7):
                r.get(f"missing:{i}")
            clients = [row for row in self.admin("SHOW CLIENTS") if "billing-worker" in row]
            self.assertEqual(len(clients), 1, self.admin("SHOW CLIENTS"))
            self.assertIn("cache", clients[0])  # the cluster
            self.assertEqual(r.client_getname(), "billing-worker")
        # Columns: cluster, user, digest, query, calls, ...
        gets = [row for row in self.admin("SHOW QUERIES") if row[0] == "cache" and row[3] == "GET"]
        self.assertEqual(len(gets), 1, self.admin("SHOW QUERIES"))
        self.assertGreaterEqual(int(gets[0][4]), 7)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.proxy.admin_port}/metrics",
                                    timeout=10) as response:
            metrics = response.read().decode()
        self.assertIn('protocol="redis"', metrics)
        self.assertRegex(metrics, r'plexiproxy_queries_total\{[^}]*cluster="cache",protocol="redis"[^}]*\} \d+')

    # ------------------------------------------------------------ two shards

    def test_keys_land_where_twemproxy_puts_them(self):
        keys = [f"key:{i}" for i in range(10000)]
        with self.sharded() as r:
            pipe = r.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, key)
            self.assertEqual(pipe.execute(), [True] * len(keys))
        counts = []
        for shard in self.shards:
            with shard.client() as direct:
                counts.append(direct.dbsize())
        self.assertEqual(sum(counts), len(keys))
        for count in counts:
            self.assertLess(abs(count - len(keys) / 2), len(keys) / 2 * 0.10, counts)
        # twemproxy over the same servers finds every key where plexiproxy put it.
        with self.twemproxy.client() as twem:
            pipe = twem.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
            self.assertEqual(pipe.execute(), keys)
        # Hash tags: keys sharing {tag} share a shard, as in twemproxy.
        with self.sharded() as r:
            r.mset({f"{{user:7}}:{field}": field for field in ("name", "mail", "plan")})
        with self.twemproxy.client() as twem:
            self.assertEqual(twem.mget([f"{{user:7}}:{f}" for f in ("name", "mail", "plan")]),
                             ["name", "mail", "plan"])

    def test_multi_key_commands_are_split_and_merged(self):
        values = {f"m:{i}": str(i) for i in range(200)}
        with self.sharded() as r:
            self.assertTrue(r.mset(values))
            wanted = list(values) + ["m:missing"]
            random.Random(7).shuffle(wanted)
            self.assertEqual(r.mget(wanted), [values.get(key) for key in wanted])
            self.assertEqual(r.exists(*values.keys(), "m:missing"), 200)
            self.assertEqual(r.touch(*list(values)[:50]), 50)
            self.assertEqual(r.delete(*list(values)[:120]), 120)
            self.assertEqual(r.unlink(*list(values)[100:], "m:missing"), 80)
            self.assertEqual(r.dbsize(), 0)

    def test_scan_keys_and_dbsize_cover_every_shard(self):
        keys = {f"s:{i}" for i in range(500)}
        with self.sharded() as r:
            r.mset({key: 1 for key in keys})
            scanned = list(r.scan_iter(match="s:*", count=37))
            self.assertEqual(len(scanned), len(set(scanned)), "a key came back twice")
            self.assertEqual(set(scanned), keys)
            self.assertEqual(set(r.keys("s:*")), keys)
            self.assertEqual(r.dbsize(), 500)
            r.flushdb()
            self.assertEqual(r.dbsize(), 0)

    def test_commands_spanning_shards(self):
        with self.sharded() as r:
            # Find two keys on different shards, as twemproxy places them.
            home = self.shard_of("a:1")
            other = next(f"b:{i}" for i in range(1000) if self.shard_of(f"b:{i}") != home)
            r.set("a:1", 1)
            with self.assertRaisesRegex(redis.ResponseError, "CROSSSLOT"):
                r.rename("a:1", other)
            # With a hash tag both keys share a shard, and the command runs.
            r.set("{a}:1", 1)
            self.assertTrue(r.rename("{a}:1", "{a}:2"))
            self.assertEqual(r.get("{a}:2"), "1")
            # A transaction runs on the shard of its keys; one spanning shards aborts.
            pipe = r.pipeline(transaction=True)
            pipe.incr("{t}:x").incr("{t}:y")
            self.assertEqual(pipe.execute(), [1, 1])
            pipe = r.pipeline(transaction=True)
            pipe.incr("a:1").incr(other)
            with self.assertRaises(redis.ResponseError):
                pipe.execute()
            self.assertEqual(r.get("a:1"), "1")  # nothing of the aborted transaction ran

    def shard_of(self, key: str) -> int:
        """Where twemproxy puts `key`: written through it, found on a server, removed."""
        with self.twemproxy.client() as twem:
            twem.set(key, "probe")
        for index, shard in enumerate(self.shards):
            with shard.client() as direct:
                if direct.delete(key):
                    return index
        raise AssertionError(f"{key} is on no shard")


if __name__ == "__main__":
    unittest.main()
