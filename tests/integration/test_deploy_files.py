"""The monitoring files in deploy/ as an operator would use them: promtool accepts the
Prometheus config (and finds the rule file it names), the alert rules and their unit tests
pass, the Grafana dashboard asks only for metrics plexiproxy exports, and a real Prometheus
started by the test harness scrapes, evaluates every dashboard and alert expression, and
loads the alert rules.

promtool and prometheus come from Debian's prometheus package; without it these tests fail
rather than skip (scripts/test.sh installs it)."""

import http.server
import json
import re
import socket
import subprocess
import threading
import unittest
import urllib.request
from pathlib import Path

import yaml

from harness.plexiproxy import print_log_if_failed
from harness.ports import free_port
from harness.prometheus import PrometheusServer, executable, promtool_check_metrics

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy/prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
DASHBOARD = REPO / "deploy/grafana/plexiproxy-dashboard.json"

# What plexiproxy exports on its admin port, by type.
METRICS = {
    "plexiproxy_client_connections": "gauge",
    "plexiproxy_client_connections_total": "counter",
    "plexiproxy_server_connections": "gauge",
    "plexiproxy_pool_size": "gauge",
    "plexiproxy_pool_waiting_clients": "gauge",
    "plexiproxy_queries_total": "counter",
    "plexiproxy_query_duration_seconds": "histogram",
    "plexiproxy_pool_wait_seconds": "histogram",
    "plexiproxy_backend_up": "gauge",
    "plexiproxy_backend_is_primary": "gauge",
    "plexiproxy_replication_lag_seconds": "gauge",
    "plexiproxy_cluster_write_target_available": "gauge",
    "plexiproxy_failovers_total": "counter",
    "plexiproxy_errors_total": "counter",
    "plexiproxy_pinned_sessions_total": "counter",
    "plexiproxy_bytes_total": "counter",
    "plexiproxy_config_reloads_total": "counter",
    "plexiproxy_build_info": "gauge",
    "plexiproxy_start_time_seconds": "gauge",
}
ALERT_NAMES = {"PlexiproxyDown", "PlexiproxyBackendDown", "PlexiproxyNoWriteTarget",
               "PlexiproxyPoolSaturated", "PlexiproxyHighErrorRate",
               "PlexiproxyReplicationLag", "PlexiproxyConfigReloadFailed"}

# Grafana's variables, replaced by values Prometheus accepts when an expression is run.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h",
                     "$instance": ".*", "$cluster": ".*"}


def series_names(expr: str) -> set[str]:
    """The metric names an expression selects: what is left once strings, label matchers,
    ranges, grouping clauses, function calls, keywords and numbers are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = re.findall(r"(?<![\w.$])([A-Za-z_:][\w:]*)\b(?!\s*\()", expr)
    keywords = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf",
                "nan", "Inf", "NaN"}
    return {name for name in names if name not in keywords}


def exported_family(name: str) -> str | None:
    """The plexiproxy metric a series name belongs to (a histogram's _bucket, _count and
    _sum belong to it), or None."""
    if METRICS.get(name) in ("gauge", "counter"):
        return name
    for suffix in ("_bucket", "_count", "_sum"):
        family = name.removesuffix(suffix)
        if family != name and METRICS.get(family) == "histogram":
            return family
    return None


def run(*command: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def dashboard_panels(panels: list[dict]):
    """Every panel, including those inside collapsed rows."""
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel.get("title", ""), target["expr"])
            for panel in dashboard_panels(dashboard["panels"])
            for target in panel.get("targets", [])]


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
            for rule in group["rules"]]


def with_values(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


class PromtoolTest(unittest.TestCase):
    """promtool's own checks, run the way the files' comments tell an operator to."""

    def test_config_is_valid_and_finds_the_rule_file(self):
        # From the repository root: the rule file resolves relative to the config file.
        result = run(executable("promtool"), "check", "config", str(CONFIG.relative_to(REPO)))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        self.assertIn("SUCCESS: 1 rule files found", output)
        self.assertIn(f"SUCCESS: {len(alert_rules())} rules found", output)

    def test_rules_are_valid(self):
        result = run(executable("promtool"), "check", "rules", str(ALERTS))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_rule_unit_tests_pass(self):
        result = run(executable("promtool"), "test", "rules", str(ALERTS_TEST))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        self.assertIn("SUCCESS", output)

    def test_every_alert_is_tested_firing_and_silent(self):
        tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        checks = [check for test in tests for check in test.get("alert_rule_test", [])]
        fired = {check["alertname"] for check in checks if check.get("exp_alerts")}
        silent = {check["alertname"] for check in checks if not check.get("exp_alerts")}
        self.assertEqual(fired, ALERT_NAMES)
        self.assertEqual(silent, ALERT_NAMES)

    def test_alerts_have_severity_and_text(self):
        rules = alert_rules()
        self.assertEqual({rule["alert"] for rule in rules}, ALERT_NAMES)
        for rule in rules:
            with self.subTest(alert=rule["alert"]):
                self.assertIn(rule["labels"]["severity"], ("critical", "warning"))
                self.assertTrue(rule["annotations"]["summary"])
                self.assertTrue(rule["annotations"]["description"])
                names = series_names(rule["expr"]) - {"up"}
                self.assertTrue(names or "up{" in rule["expr"], rule["expr"])
                self.assertEqual({n for n in names if exported_family(n) is None}, set(),
                                 rule["expr"])


class DashboardTest(unittest.TestCase):
    """The Grafana dashboard: loads as JSON, is parameterised by data source, instance and
    cluster, lays its panels out without overlap, and shows the metrics plexiproxy exports
    and nothing else."""

    @classmethod
    def setUpClass(cls):
        cls.dashboard = json.loads(DASHBOARD.read_text())
        cls.panels = list(dashboard_panels(cls.dashboard["panels"]))

    def test_grafana_9_or_10_schema_with_variables(self):
        self.assertIn(self.dashboard["schemaVersion"], range(36, 40))
        variables = {v["name"]: v for v in self.dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        for name in ("instance", "cluster"):
            self.assertEqual(variables[name]["type"], "query")
            self.assertEqual(variables[name]["datasource"]["uid"], "${datasource}")

    def test_every_query_uses_the_datasource_variable(self):
        for panel in self.panels:
            if panel["type"] == "row":
                continue
            with self.subTest(panel=panel["title"]):
                self.assertTrue(panel["targets"])
                self.assertEqual(panel["datasource"]["uid"], "${datasource}")
                for target in panel["targets"]:
                    self.assertEqual(target["datasource"]["uid"], "${datasource}")

    def test_expressions_name_only_exported_metrics(self):
        used = set()
        # A variable's label_values(selector, label) asks for the series of the selector.
        variables = [("variable " + v["name"],
                      re.fullmatch(r"label_values\((.*), *\w+\)", v["definition"]).group(1))
                     for v in self.dashboard["templating"]["list"] if v["type"] == "query"]
        for title, expr in dashboard_exprs() + variables:
            with self.subTest(panel=title, expr=expr):
                names = series_names(expr)
                self.assertTrue(names, "names no metric")
                unknown = {name for name in names if exported_family(name) is None}
                self.assertEqual(unknown, set(), "not exported by plexiproxy")
                used |= {exported_family(name) for name in names}
        self.assertEqual(used, set(METRICS), "exported metrics the dashboard does not show")

    def test_panels_have_unique_ids_and_do_not_overlap(self):
        ids = [panel["id"] for panel in self.panels]
        self.assertEqual(len(ids), len(set(ids)))
        cells = {}
        for panel in self.panels:
            box = panel["gridPos"]
            self.assertLessEqual(box["x"] + box["w"], 24, panel["title"])
            for x in range(box["x"], box["x"] + box["w"]):
                for y in range(box["y"], box["y"] + box["h"]):
                    self.assertNotIn((x, y), cells, f"{panel['title']} covers "
                                     f"{cells.get((x, y))}")
                    cells[(x, y)] = panel["title"]


class TokenExporter(http.server.BaseHTTPRequestHandler):
    """/metrics for those who send `Authorization: Bearer <token>`, 401 for the rest."""

    token = "scrape-secret"
    refused = 0

    def do_GET(self):
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            type(self).refused += 1
            self.send_response(401)
            self.end_headers()
            return
        body = b'plexiproxy_build_info{version="test"} 1\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class PrometheusHarnessTest(unittest.TestCase):
    """One real Prometheus for the class, loading deploy/prometheus/alerts.yml and scraping
    itself and, as job plexiproxy, an exporter that wants a bearer token and a port that
    refuses connections."""

    @classmethod
    def setUpClass(cls):
        # Bound but not listening: connections to it are refused, and no other server can
        # take the port while the class runs.
        cls.dead_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.addClassCleanup(cls.dead_socket.close)
        cls.dead_socket.bind(("127.0.0.1", free_port()))
        cls.dead_target = "127.0.0.1:{}".format(cls.dead_socket.getsockname()[1])

        exporter = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), TokenExporter)
        threading.Thread(target=exporter.serve_forever, daemon=True).start()
        cls.addClassCleanup(exporter.server_close)
        cls.addClassCleanup(exporter.shutdown)
        cls.token_target = "127.0.0.1:{}".format(exporter.server_address[1])

        cls.prometheus = PrometheusServer(
            targets=[cls.dead_target, cls.token_target], bearer_token=TokenExporter.token,
            scrape_self=True, rule_files=[ALERTS])
        cls.addClassCleanup(cls.prometheus.close)
        cls.prometheus.start()

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.prometheus)

    def test_scrapes_itself(self):
        address = self.prometheus.address
        result = self.prometheus.wait_for('up{job="prometheus"} == 1', lambda r: len(r) == 1)
        self.assertEqual(result[0][0]["instance"], address)
        self.assertEqual(result[0][1], 1.0)
        # A metric of its own scrapes, so more than up: the samples really went into storage.
        samples = self.prometheus.wait_for(
            f'scrape_samples_scraped{{job="prometheus", instance="{address}"}} > 0',
            lambda r: len(r) == 1)
        self.assertGreater(samples[0][1], 100)
        self.assertTrue(self.prometheus.targets_up()[("prometheus", address)])

    def test_target_that_does_not_answer_is_down_and_alert_pending(self):
        result = self.prometheus.wait_for('up{job="plexiproxy"} == 0', lambda r: len(r) == 1)
        self.assertEqual(result[0][0]["instance"], self.dead_target)
        self.assertFalse(self.prometheus.targets_up()[("plexiproxy", self.dead_target)])
        # alerts.yml is loaded and evaluated: PlexiproxyDown waits out its `for: 1m`.
        pending = self.prometheus.wait_for(
            'ALERTS{alertname="PlexiproxyDown", alertstate="pending"}', lambda r: len(r) == 1)
        self.assertEqual(pending[0][0]["instance"], self.dead_target)
        self.assertEqual(pending[0][0]["severity"], "critical")

    def test_sends_the_bearer_token(self):
        self.assertTrue(self.prometheus.targets_up()[("plexiproxy", self.token_target)])
        result = self.prometheus.query('plexiproxy_build_info{job="plexiproxy"}')
        self.assertEqual([(labels["instance"], labels["version"], value)
                          for labels, value in result], [(self.token_target, "test", 1.0)])
        self.assertEqual(TokenExporter.refused, 0)

    def test_dashboard_and_alert_expressions_evaluate(self):
        exprs = dashboard_exprs() + [(rule["alert"], rule["expr"]) for rule in alert_rules()]
        for title, expr in exprs:
            with self.subTest(panel=title):
                self.prometheus.query(with_values(expr))  # raises on a bad expression

    def test_query_reports_a_bad_expression(self):
        with self.assertRaisesRegex(RuntimeError, "bad_data"):
            self.prometheus.query("sum(")

    def test_promtool_checks_a_metrics_body(self):
        with urllib.request.urlopen(f"{self.prometheus.url}/metrics", timeout=10) as response:
            own = response.read().decode()
        ok, output = promtool_check_metrics(own)
        self.assertTrue(ok, output)
        ok, output = promtool_check_metrics("# TYPE requests counter\nrequests 1\n")
        self.assertFalse(ok)
        self.assertIn('should have "_total" suffix', output)
        ok, output = promtool_check_metrics("plexiproxy_up{ 1\n")
        self.assertFalse(ok)
        self.assertIn("parsing error", output)


if __name__ == "__main__":
    unittest.main()
