"""What an operator scrapes and probes, against real servers: a real Prometheus scraping
plexiproxy's /metrics sees the statements the test sent and a backend the test stopped;
/metrics passes promtool; /readyz follows the write target; /status describes the process;
the admin token guards /metrics and /status but not the probes; the audit log holds one
JSON line per statement."""

import json
import time
import urllib.error
import urllib.request

from harness.prometheus import PrometheusServer, promtool_check_metrics
from harness.plexiproxy import Plexiproxy
from harness.relay import DB, USER, RelayTestCase, app_server, backend, relay_config

TOKEN = "scrape-secret"
OTHER = "otherdb"  # a cluster on a second server, which the tests stop and start


class ObservabilityTest(RelayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = app_server(cls)
        cls.other = app_server(cls)
        cls.proxy = Plexiproxy({})
        cls.addClassCleanup(cls.proxy.close)
        cls.audit_file = cls.proxy.dir / "audit.jsonl"
        config = relay_config(cls.pg, admin={"token": TOKEN},
                              health={"interval": "200ms", "timeout": "1s", "fall": 1, "rise": 1},
                              log={"audit": {"file": str(cls.audit_file)}})
        del config["clusters"]["warmdb"]  # its database does not exist here: never ready
        config["clusters"][OTHER] = {"pool_mode": "transaction",
                                     "backends": [backend(cls.other, 2, name="other1")]}
        cls.proxy.write_config(config)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)
        cls.prometheus = PrometheusServer(targets=[f"127.0.0.1:{cls.proxy.admin_port}"],
                                          bearer_token=TOKEN)
        cls.addClassCleanup(cls.prometheus.close)
        cls.prometheus.start()

    def audit_path(self):
        return self.audit_file

    def get(self, path: str, token: str | None = TOKEN) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.proxy.admin_port}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def prometheus_value(self, expr: str) -> float:
        result = self.prometheus.query(expr)
        return result[0][1] if result else 0.0

    def test_prometheus_counts_the_statements_sent(self):
        client = self.connect()
        client.execute("SELECT 1")  # the series exists before the baseline
        expr = f'sum(plexiproxy_queries_total{{cluster="{DB}"}})'
        before_scrape = self.prometheus.wait_for(expr, lambda r: bool(r), timeout=15)
        time.sleep(2)  # a scrape after the last statement
        before = self.prometheus_value(expr)
        self.assertGreaterEqual(before, before_scrape[0][1])
        sent = 25
        for i in range(sent):
            client.execute("SELECT %s::int", (i,))
        self.prometheus.wait_for(expr, lambda r: bool(r) and r[0][1] >= before + sent, timeout=15)
        time.sleep(2)
        self.assertEqual(self.prometheus_value(expr), before + sent)

    def test_prometheus_sees_a_stopped_backend_down_and_readyz_follows(self):
        up = f'plexiproxy_backend_up{{cluster="{OTHER}",backend="other1"}}'
        self.prometheus.wait_for(up, lambda r: bool(r) and r[0][1] == 1, timeout=15)
        self.assertEqual(self.get("/readyz", token=None), (200, "ready\n"))
        self.other.stop()
        try:
            self.prometheus.wait_for(up, lambda r: bool(r) and r[0][1] == 0, timeout=15)
            status, body = self.get("/readyz", token=None)
            self.assertEqual(status, 503, body)
            self.assertIn(f"cluster {OTHER} has no write target", body)
            self.assertEqual(self.prometheus_value(
                f'plexiproxy_cluster_write_target_available{{cluster="{OTHER}"}}'), 0)
        finally:
            self.other.start()
        self.prometheus.wait_for(up, lambda r: bool(r) and r[0][1] == 1, timeout=20)
        deadline = time.monotonic() + 10
        while self.get("/readyz", token=None)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.get("/readyz", token=None)[0], 200)

    def test_metrics_pass_promtool(self):
        self.connect().execute("SELECT 1")
        status, text = self.get("/metrics")
        self.assertEqual(status, 200)
        ok, output = promtool_check_metrics(text)
        self.assertTrue(ok, output)
        for family in ("plexiproxy_server_connections", "plexiproxy_backend_is_primary",
                       "plexiproxy_query_duration_seconds_bucket", "plexiproxy_pool_wait_seconds",
                       "plexiproxy_errors_total", "plexiproxy_bytes_total",
                       "plexiproxy_build_info"):
            self.assertIn(family, text)

    def test_the_token_guards_metrics_and_status_but_not_the_probes(self):
        self.assertEqual(self.get("/metrics", token=None)[0], 401)
        self.assertEqual(self.get("/metrics", token="wrong")[0], 401)
        self.assertEqual(self.get("/status", token=None)[0], 401)
        self.assertEqual(self.get("/healthz", token=None), (200, "ok\n"))
        self.assertIn(self.get("/readyz", token=None)[0], (200, 503))

    def test_status_describes_backends_pools_and_queries(self):
        client = self.connect()
        for i in range(3):
            client.execute(f"SELECT {i} AS status_probe")
        status, body = self.get("/status?queries=1")
        self.assertEqual(status, 200)
        state = json.loads(body)
        self.assertEqual(state["version"], "0.1.0")
        self.assertEqual(state["audit"], {"file": str(self.audit_file), "dropped": 0})
        self.assertGreaterEqual(state["clients"], 1)
        backends = {(b["cluster"], b["backend"]): b for b in state["backends"]}
        self.assertEqual(backends[(DB, "pg1")]["state"], "up")
        self.assertEqual(backends[(DB, "pg1")]["writes"], "yes")
        self.assertTrue(any(p["cluster"] == DB for p in state["pools"]))
        probes = [q for q in state["queries"] if "status_probe" in q["query"]]
        self.assertEqual(len(probes), 1, state["queries"])
        self.assertEqual(probes[0]["calls"], 3)
        self.assertNotIn("queries", json.loads(self.get("/status")[1]))

    def test_audit_log_has_one_line_per_statement(self):
        client = self.connect()
        client.execute("SELECT 'audit-marker', 41 + 1")
        with self.assertRaises(Exception):
            client.execute("SELECT * FROM no_such_table_for_audit")
        deadline = time.monotonic() + 10
        lines = []
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in self.audit_path().read_text().splitlines()]
            if any("no_such_table_for_audit" in line.get("shape", "") for line in lines):
                break
            time.sleep(0.1)
        ok = [l for l in lines if "audit-marker" in l.get("shape", "") or
              "SELECT ?, ? + ?" == l.get("shape")]
        failed = [l for l in lines if "no_such_table_for_audit" in l.get("shape", "")]
        self.assertEqual(len(failed), 1, lines[-5:])
        self.assertEqual(failed[0]["error"]["code"], "42P01")
        self.assertEqual(failed[0]["user"], USER)
        self.assertEqual(failed[0]["backend"], "pg1")
        self.assertRegex(failed[0]["client"], r"^127\.0\.0\.1:\d+$")
        self.assertGreaterEqual(len(ok), 1, lines[-5:])
        self.assertEqual(ok[-1]["rows"], 1)
        # log.statements is off: literals stay out of the file.
        self.assertNotIn("audit-marker", self.audit_path().read_text())
