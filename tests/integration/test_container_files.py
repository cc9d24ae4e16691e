"""The container files as an operator would use them: docker/Dockerfile builds the binary in
one Debian 12 stage and runs it as a non-root user with its libraries, health check and ports
in another; docker/compose.yaml starts the demo with every file it mounts present, and its
plexiproxy config passes --check-config; deploy/kubernetes holds manifests whose kinds,
required fields, labels, selectors, probes and drain times agree, and whose config passes
--check-config with the Secret's files beside it.

Where tools are missing the checks are documented ones here: `docker compose config` runs
when the compose plugin is installed (it needs no engine), `kubectl kustomize` when kubectl
is; the rest reads the files with PyYAML. No image is built and no container started."""

import fnmatch
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from harness.plexiproxy import Plexiproxy, binary, daemon_environment, print_log_if_failed
from harness.ports import free_port
from harness.prometheus import executable

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
DEMO_CONFIG = DOCKER / "plexiproxy.yaml"
KUBERNETES = REPO / "deploy/kubernetes"
CONFIG_DIR = "/etc/plexiproxy"          # where the image looks for plexiproxy.yaml
VARIABLE = re.compile(r"\$\{(\w+)(?::-[^}]*)?\}")


def run(*command: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)


def check_config(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run(binary(), "--check-config", "--config", str(config),
               env=daemon_environment(**env))


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as docker compose reads .env."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def config_files(config: dict) -> list[str]:
    """The values of every *_file key of a plexiproxy config, at any depth."""
    if isinstance(config, dict):
        found = [v for k, v in config.items() if k.endswith("_file") and isinstance(v, str)]
        return found + [f for v in config.values() for f in config_files(v)]
    if isinstance(config, list):
        return [f for v in config for f in config_files(v)]
    return []


def backends(config: dict) -> list[dict]:
    return [b for cluster in config["clusters"].values() for b in cluster["backends"]]


# ---- Dockerfile ----

def dockerfile_stages(text: str) -> list[dict]:
    """[{"from": image, "name": alias, "instructions": [(INSTRUCTION, arguments)]}]: lines
    joined at trailing backslashes, comment lines dropped."""
    lines, pending = [], ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):  # a comment, even inside a continued instruction
            continue
        pending += " " + line.removesuffix("\\")
        if not line.endswith("\\"):
            lines.append(pending.strip())
            pending = ""
    stages = []
    for line in filter(None, lines):
        instruction, _, arguments = line.partition(" ")
        instruction, arguments = instruction.upper(), arguments.strip()
        if instruction == "FROM":
            image, _, name = re.sub(r"--platform=\S+\s+", "", arguments).partition(" AS ")
            stages.append({"from": image.strip(), "name": name.strip(), "instructions": []})
        else:
            stages[-1]["instructions"].append((instruction, arguments))
    return stages


def stage_args(stage: dict, instruction: str) -> list[str]:
    return [args for name, args in stage["instructions"] if name == instruction]


def dockerignore_keeps(patterns: list[str], path: str) -> bool:
    """Whether a file is in the build context: Docker's rule, the last pattern matching the
    path or one of its parent folders decides, ! includes again."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    kept = True
    for pattern in patterns:
        exclude = not pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        forms = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        # fnmatch's * also crosses "/", where Go's does not: the same verdicts for the
        # patterns of our .dockerignore, whose only deep one starts with **/.
        if any(fnmatch.fnmatchcase(c, f) for c in candidates for f in forms):
            kept = not exclude
    return kept


def needed_packages(path: str) -> set[str]:
    """The Debian packages of the shared libraries a binary names as NEEDED."""
    dynamic = run("readelf", "-d", path).stdout
    sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)
    loaded = run("ldd", path).stdout
    resolved = dict(re.findall(r"^\t(\S+) => (\S+)", loaded, re.M))
    resolved.update((Path(p).name, p) for p in re.findall(r"^\t(/\S+) \(", loaded, re.M))
    # dpkg knows a file by the path its package installed, which merged /usr may hide: ask
    # for both spellings, one dpkg call for all.
    files = [os.path.realpath(resolved[soname]) for soname in sonames]
    spellings = files + [f.removeprefix("/usr") if f.startswith("/usr/") else "/usr" + f
                         for f in files]
    owners = run("dpkg", "-S", *spellings).stdout
    packages = {line.split(":")[0] for line in owners.splitlines()}
    found = {line.split(": ", 1)[1] for line in owners.splitlines()}
    for file in files:
        self_or_other = {file, file.removeprefix("/usr"), "/usr" + file}
        if not self_or_other & found:
            raise AssertionError(f"no Debian package holds {file}")
    return packages


class DockerfileTest(unittest.TestCase):
    """docker/Dockerfile read instruction by instruction."""

    @classmethod
    def setUpClass(cls):
        cls.stages = dockerfile_stages(DOCKERFILE.read_text())
        cls.build, cls.runtime = cls.stages[0], cls.stages[-1]
        cls.demo = yaml.safe_load(DEMO_CONFIG.read_text())

    def test_builds_on_debian_12_and_runs_from_a_second_stage(self):
        self.assertEqual(len(self.stages), 2)
        self.assertEqual(self.build["from"], "debian:12")
        self.assertIn(self.runtime["from"], ("debian:12", "debian:12-slim"))
        copied = [args for args in stage_args(self.runtime, "COPY") if args.startswith("--from")]
        self.assertEqual(copied, [f"--from={self.build['name']} /build/plexiproxy "
                                  "/usr/local/bin/plexiproxy"])

    def test_build_stage_installs_what_lib_sh_installs_and_builds_release(self):
        self.assertIn("scripts/lib.sh /src/scripts/lib.sh", stage_args(self.build, "COPY"))
        runs = " ".join(stage_args(self.build, "RUN"))
        self.assertIn('install_missing_packages "${BUILD_PACKAGES[@]}"', runs)
        self.assertIn("-DCMAKE_BUILD_TYPE=Release", runs)
        self.assertIn("--target plexiproxy", runs)

    def runtime_packages(self) -> list[str]:
        """The packages the runtime stage's apt-get install names."""
        runs = " ".join(stage_args(self.runtime, "RUN"))
        words = re.search(r"apt-get install (.*?)(?:&&|$)", runs).group(1).split()
        return [word for word in words if not word.startswith("-")]

    def test_runtime_stage_installs_the_libraries_the_binary_needs(self):
        # The C runtime is in every Debian image; a sanitizer's runtime is only in a test build
        # (the image builds Release).
        missing = needed_packages(binary()) - set(self.runtime_packages()) - {"libc6", "libgcc-s1"}
        missing = {package for package in missing
                   if not re.fullmatch(r"lib(asan|ubsan|tsan|lsan)\d+", package)}
        self.assertEqual(missing, set())

    def test_runtime_packages_exist_in_debian(self):
        if run("apt-cache", "show", "--no-all-versions", "libc6").returncode:
            self.skipTest("apt's package lists are empty (apt-get update has not run)")
        wanted = self.runtime_packages()
        shown = run("apt-cache", "show", "--no-all-versions", *wanted).stdout
        self.assertEqual(set(wanted) - set(re.findall(r"^Package: (\S+)$", shown, re.M)), set())

    def test_health_check_command_passes_on_a_running_proxy_only(self):
        if shutil.which("curl") is None:
            self.skipTest("no curl to run the health check with")
        command = stage_args(self.runtime, "HEALTHCHECK")[0].split(" CMD ", 1)[1]
        proxy = Plexiproxy()
        self.addCleanup(proxy.close)
        self.addCleanup(print_log_if_failed, self, proxy)
        proxy.start()
        # As the image runs it (/bin/sh -c), with the proxy's admin port in the variable.
        # A port nothing listens on fails it with 1, the code Docker reads as unhealthy.
        for port, expected in ((proxy.admin_port, 0), (free_port(), 1)):
            env = {"PATH": os.environ["PATH"], "PLEXIPROXY_LISTEN__ADMIN": f"0.0.0.0:{port}"}
            result = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True,
                                    text=True, timeout=30)
            self.assertEqual(result.returncode, expected, (port, result.stderr))

    def test_runs_as_the_plexiproxy_user(self):
        users = stage_args(self.runtime, "USER")
        self.assertEqual(len(users), 1)
        user = users[0].split(":")[0]
        self.assertNotIn(user, ("root", "0"))
        self.assertIn(f"--uid 10001 --gid {user}", " ".join(stage_args(self.runtime, "RUN")))

    def test_health_check_asks_healthz_on_the_admin_listener(self):
        env = dict(args.split("=", 1) for args in stage_args(self.runtime, "ENV"))
        self.assertEqual(env["PLEXIPROXY_LISTEN__ADMIN"], "0.0.0.0:9930")
        checks = stage_args(self.runtime, "HEALTHCHECK")
        self.assertEqual(len(checks), 1)
        self.assertIn("/healthz", checks[0])
        self.assertIn("${PLEXIPROXY_LISTEN__ADMIN##*:}", checks[0])
        self.assertEqual(stage_args(self.runtime, "STOPSIGNAL"), ["SIGTERM"])

    def test_reads_the_mounted_config(self):
        self.assertEqual(stage_args(self.runtime, "ENTRYPOINT"), ['["/usr/local/bin/plexiproxy"]'])
        self.assertEqual(stage_args(self.runtime, "CMD"),
                         [f'["--config", "{CONFIG_DIR}/plexiproxy.yaml"]'])

    def test_exposes_the_ports_of_the_demo_config(self):
        exposed = {int(p) for args in stage_args(self.runtime, "EXPOSE") for p in args.split()}
        listen = self.demo["listen"]
        self.assertEqual(exposed, {port_of(address) for address in listen.values()})
        for address in listen.values():
            self.assertTrue(address.startswith("0.0.0.0:"), address)

    def test_dockerignore_sends_the_sources_and_nothing_else(self):
        lines = (REPO / ".dockerignore").read_text().splitlines()
        patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
        tracked = run("git", "ls-files").stdout.split()
        if not tracked:
            self.skipTest("not a git checkout")
        sources = [p for p in tracked if p.split("/")[0] in
                   ("common", "config", "daemon", "pools", "protocol", "routing")
                   and not p.endswith("_test.cc")]
        for path in sources + ["CMakeLists.txt", "scripts/lib.sh"]:
            self.assertTrue(dockerignore_keeps(patterns, path), path)
        for path in ["build/test/plexiproxy", ".git/HEAD", "tests/CMakeLists.txt",
                     "config/config_test.cc", "plexiproxy.db", "docker/compose.yaml"]:
            self.assertFalse(dockerignore_keeps(patterns, path), path)


# ---- compose demo ----

def compose_volumes(service: dict) -> list[tuple[str, str]]:
    """(source, target) of a service's volumes, short syntax."""
    return [tuple(volume.split(":")[:2]) for volume in service.get("volumes", [])]


def bind_mounts(service: dict) -> dict[str, Path]:
    """target -> source file in the repository, for the sources that are paths."""
    return {target: (DOCKER / source).resolve() for source, target in compose_volumes(service)
            if source.startswith((".", "/"))}


class ComposeTest(unittest.TestCase):
    """docker/compose.yaml and the files it mounts."""

    @classmethod
    def setUpClass(cls):
        cls.compose = yaml.safe_load(COMPOSE.read_text())
        cls.services = cls.compose["services"]
        cls.env = env_file(DOCKER / ".env")
        cls.demo = yaml.safe_load(DEMO_CONFIG.read_text())

    def test_docker_compose_accepts_it(self):
        if shutil.which("docker") is None or run("docker", "compose", "version").returncode:
            self.skipTest("no docker compose plugin: the YAML checks of this class stand in")
        result = run("docker", "compose", "-f", str(COMPOSE), "config", "--quiet")
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_the_demo_has_every_service_on_official_images(self):
        images = {name: service.get("image") for name, service in self.services.items()}
        self.assertEqual(images, {
            "plexiproxy": "plexiproxy:demo", "postgres-primary": "postgres:15",
            "postgres-replica": "postgres:15", "mariadb-primary": "mariadb:10.11",
            "mariadb-replica": "mariadb:10.11", "redis": "redis:7",
            "prometheus": "prom/prometheus", "grafana": "grafana/grafana"})
        build = self.services["plexiproxy"]["build"]
        self.assertEqual((DOCKER / build["context"] / build["dockerfile"]).resolve(), DOCKERFILE)

    def test_mounted_files_exist_and_named_volumes_are_declared(self):
        declared = set(self.compose.get("volumes") or {})
        for name, service in self.services.items():
            for source, target in compose_volumes(service):
                with self.subTest(service=name, volume=source):
                    self.assertTrue(target.startswith("/"))
                    if source.startswith((".", "/")):
                        self.assertTrue((DOCKER / source).resolve().is_file())
                    else:
                        self.assertIn(source, declared)

    def test_dependencies_name_services(self):
        for name, service in self.services.items():
            for dependency in service.get("depends_on", {}):
                with self.subTest(service=name):
                    self.assertIn(dependency, self.services)
                    self.assertNotEqual(dependency, name)

    def test_ports_are_published_on_loopback_only(self):
        published = [port for service in self.services.values()
                     for port in service.get("ports", [])]
        self.assertTrue(published)
        for port in published:
            host, host_port, container_port = str(port).split(":")
            self.assertEqual(host, "127.0.0.1")
            self.assertEqual(host_port, container_port)
        proxy_ports = {int(p.split(":")[2]) for p in self.services["plexiproxy"]["ports"]}
        self.assertEqual(proxy_ports, {port_of(a) for a in self.demo["listen"].values()})

    def test_every_variable_has_a_value_in_env_file(self):
        used = set(VARIABLE.findall(COMPOSE.read_text()))
        self.assertEqual(used - set(self.env), set())
        # And the proxy gets every variable its config expands.
        needed = set(VARIABLE.findall(DEMO_CONFIG.read_text()))
        self.assertEqual(needed - set(self.services["plexiproxy"]["environment"]), set())

    def test_demo_config_passes_check_config(self):
        environment = {name: VARIABLE.sub(lambda m: self.env[m.group(1)], str(value))
                       for name, value in self.services["plexiproxy"]["environment"].items()}
        result = check_config(DEMO_CONFIG, environment)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("configuration is valid", result.stdout + result.stderr)
        # Without the passwords it is refused: the check does read the environment.
        result = check_config(DEMO_CONFIG, {})
        self.assertEqual(result.returncode, 1)
        self.assertIn("APP_PASSWORD is not set", result.stdout + result.stderr)

    def test_config_and_its_files_are_mounted_where_the_image_reads_them(self):
        mounts = bind_mounts(self.services["plexiproxy"])
        self.assertEqual(mounts[f"{CONFIG_DIR}/plexiproxy.yaml"], DEMO_CONFIG)
        files = config_files(self.demo)
        self.assertIn("secrets/admin-token", files)
        for relative in files:
            with self.subTest(file=relative):
                self.assertEqual(mounts[f"{CONFIG_DIR}/{relative}"], DOCKER / relative)

    def test_backends_are_the_database_services(self):
        hosts = {backend["host"] for backend in backends(self.demo)}
        databases = {name for name, service in self.services.items()
                     if service["image"].split(":")[0] in ("postgres", "mariadb", "redis")}
        self.assertEqual(hosts, databases)

    def test_replicas_follow_their_primaries(self):
        pg = self.services["postgres-replica"]
        self.assertEqual(pg["environment"]["PRIMARY_HOST"], "postgres-primary")
        self.assertIn("pg_basebackup", (DOCKER / "postgres/replica-entrypoint.sh").read_text())
        maria = self.services["mariadb-replica"]
        self.assertEqual(maria["environment"]["MARIADB_MASTER_HOST"], "mariadb-primary")
        self.assertEqual(maria["environment"]["MARIADB_REPLICATION_USER"],
                         self.services["mariadb-primary"]["environment"]
                         ["MARIADB_REPLICATION_USER"])
        # plexiproxy's health checks tell a MariaDB replica by @@read_only.
        self.assertIn("--read-only=1", maria["command"])

    def test_stop_grace_period_covers_the_drain(self):
        grace = self.services["plexiproxy"]["stop_grace_period"]
        timeout = self.demo["limits"]["shutdown_timeout"]
        self.assertGreater(int(grace.rstrip("s")), int(timeout.rstrip("s")))

    def test_prometheus_config_is_valid_and_scrapes_the_proxy(self):
        service = self.services["prometheus"]
        with tempfile.TemporaryDirectory() as root:
            # The files laid out as the container sees them in /etc/prometheus.
            for target, source in bind_mounts(service).items():
                self.assertTrue(target.startswith("/etc/prometheus/"), target)
                shutil.copy(source, Path(root) / target.removeprefix("/etc/prometheus/"))
            config = Path(root) / "prometheus.yml"
            result = run(executable("promtool"), "check", "config", str(config))
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn("SUCCESS: 1 rule files found", result.stdout + result.stderr)
            scrape = yaml.safe_load(config.read_text())["scrape_configs"][0]
        self.assertEqual(scrape["job_name"], "plexiproxy")
        admin = port_of(self.demo["listen"]["admin"])
        self.assertEqual(scrape["static_configs"][0]["targets"], [f"plexiproxy:{admin}"])
        token = bind_mounts(service)["/etc/prometheus/" + scrape["authorization"]
                                     ["credentials_file"]]
        self.assertEqual(token, DOCKER / self.demo["admin"]["token_file"])

    def test_grafana_loads_the_dashboard_from_prometheus(self):
        mounts = bind_mounts(self.services["grafana"])
        sources = yaml.safe_load(
            mounts["/etc/grafana/provisioning/datasources/plexiproxy.yaml"].read_text())
        self.assertEqual([(s["type"], s["url"], s["isDefault"]) for s in sources["datasources"]],
                         [("prometheus", "http://prometheus:9090", True)])
        providers = yaml.safe_load(
            mounts["/etc/grafana/provisioning/dashboards/plexiproxy.yaml"].read_text())
        folder = providers["providers"][0]["options"]["path"]
        dashboards = {target: source for target, source in mounts.items()
                      if target.startswith(folder + "/")}
        self.assertEqual(list(dashboards.values()),
                         [REPO / "deploy/grafana/plexiproxy-dashboard.json"])


# ---- Kubernetes ----

# The kinds used and their API versions, with the fields each needs (dotted paths).
KINDS = {
    "Deployment": ("apps/v1", ["metadata.name", "spec.selector.matchLabels",
                               "spec.template.metadata.labels", "spec.template.spec.containers"]),
    "Service": ("v1", ["metadata.name", "spec.selector", "spec.ports"]),
    "Secret": ("v1", ["metadata.name"]),
    "ConfigMap": ("v1", ["metadata.name", "data"]),
    "PodDisruptionBudget": ("policy/v1", ["metadata.name", "spec.selector.matchLabels"]),
    "HorizontalPodAutoscaler": ("autoscaling/v2", ["metadata.name", "spec.scaleTargetRef",
                                                   "spec.maxReplicas", "spec.metrics"]),
    "ServiceMonitor": ("monitoring.coreos.com/v1", ["metadata.name", "spec.selector.matchLabels",
                                                    "spec.endpoints"]),
}


def field(document: dict, path: str):
    for key in path.split("."):
        document = document[key]
    return document


def duration_seconds(text: str) -> int:
    return int(text.rstrip("s"))


class KubernetesTest(unittest.TestCase):
    """deploy/kubernetes: the resources kustomization.yaml lists, and the ConfigMap it
    generates from plexiproxy.yaml."""

    @classmethod
    def setUpClass(cls):
        cls.kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
        cls.documents = [yaml.safe_load((KUBERNETES / name).read_text())
                         for name in cls.kustomization["resources"]]
        cls.by_kind = {document["kind"]: document for document in cls.documents}
        cls.deployment = cls.by_kind["Deployment"]
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.container = cls.pod["containers"][0]
        cls.config = yaml.safe_load((KUBERNETES / "plexiproxy.yaml").read_text())

    def test_kustomize_builds_and_wires_the_generated_config_map(self):
        if shutil.which("kubectl") is None:
            self.skipTest("no kubectl: the other checks of this class read the files alone")
        result = run("kubectl", "kustomize", str(KUBERNETES))
        self.assertEqual(result.returncode, 0, result.stderr)
        built = list(yaml.safe_load_all(result.stdout))
        kinds = {document["kind"]: document for document in built}
        self.assertEqual(set(kinds), set(KINDS))
        config_map = kinds["ConfigMap"]
        self.assertEqual(yaml.safe_load(config_map["data"]["plexiproxy.yaml"]), self.config)
        volumes = {v["name"]: v for v in kinds["Deployment"]["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(volumes["config"]["configMap"]["name"], config_map["metadata"]["name"])
        self.assertRegex(config_map["metadata"]["name"], r"^plexiproxy-config-\w+$")

    def test_every_kind_is_known_with_its_required_fields(self):
        kinds = [document["kind"] for document in self.documents]
        self.assertEqual(sorted(kinds), sorted(set(KINDS) - {"ConfigMap"}))
        for document in self.documents:
            api_version, required = KINDS[document["kind"]]
            with self.subTest(kind=document["kind"]):
                self.assertEqual(document["apiVersion"], api_version)
                for path in required:
                    self.assertTrue(field(document, path), path)
        generated = self.kustomization["configMapGenerator"][0]
        self.assertEqual(generated["files"], ["plexiproxy.yaml"])

    def test_labels_and_selectors_agree(self):
        pod_labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        selectors = {
            "Deployment": self.deployment["spec"]["selector"]["matchLabels"],
            "Service": self.by_kind["Service"]["spec"]["selector"],
            "PodDisruptionBudget": self.by_kind["PodDisruptionBudget"]["spec"]["selector"]
            ["matchLabels"]}
        for kind, selector in selectors.items():
            with self.subTest(kind=kind):
                self.assertTrue(selector.items() <= pod_labels.items())
        monitor = self.by_kind["ServiceMonitor"]["spec"]["selector"]["matchLabels"]
        self.assertTrue(monitor.items() <= self.by_kind["Service"]["metadata"]["labels"].items())
        target = self.by_kind["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
        self.assertEqual((target["apiVersion"], target["kind"], target["name"]),
                         ("apps/v1", "Deployment", self.deployment["metadata"]["name"]))

    def test_ports_agree_with_the_config(self):
        container = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(container, {name: port_of(address)
                                     for name, address in self.config["listen"].items()})
        service = self.by_kind["Service"]
        ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
        self.assertEqual(ports, {name: (port, name) for name, port in container.items()})
        # The job label the alerts expect is the Service's name.
        self.assertEqual(service["metadata"]["name"], "plexiproxy")
        endpoint = self.by_kind["ServiceMonitor"]["spec"]["endpoints"][0]
        self.assertEqual((endpoint["port"], endpoint["path"]), ("admin", "/metrics"))
        credentials = endpoint["authorization"]["credentials"]
        secret = self.by_kind["Secret"]
        self.assertEqual(credentials["name"], secret["metadata"]["name"])
        self.assertIn(credentials["key"], secret["stringData"])
        self.assertEqual(self.config["admin"]["token_file"], "secrets/" + credentials["key"])

    def test_probes_ask_the_admin_port(self):
        self.assertEqual(self.container["readinessProbe"]["httpGet"],
                         {"path": "/readyz", "port": "admin"})
        self.assertEqual(self.container["livenessProbe"]["httpGet"],
                         {"path": "/healthz", "port": "admin"})
        self.assertTrue(self.config["listen"]["admin"].startswith("0.0.0.0:"))

    def test_probe_paths_answer_on_a_running_proxy(self):
        proxy = Plexiproxy()
        self.addCleanup(proxy.close)
        self.addCleanup(print_log_if_failed, self, proxy)
        proxy.start()

        def status(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{proxy.admin_port}{path}",
                                            timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        self.assertEqual(status(self.container["livenessProbe"]["httpGet"]["path"]), 200)
        self.assertEqual(status(self.container["readinessProbe"]["httpGet"]["path"]), 200)
        self.assertEqual(status("/no-such-probe"), 404)

    def test_grace_period_covers_pre_stop_and_drain(self):
        pre_stop = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre_stop[0], "sleep")
        drain = duration_seconds(self.config["limits"]["shutdown_timeout"])
        self.assertGreater(self.pod["terminationGracePeriodSeconds"], int(pre_stop[1]) + drain)
        rollout = self.deployment["spec"]["strategy"]["rollingUpdate"]
        self.assertEqual(rollout["maxUnavailable"], 0)

    def test_runs_unprivileged_on_a_read_only_root(self):
        pod, container = self.pod["securityContext"], self.container["securityContext"]
        self.assertTrue(pod["runAsNonRoot"])
        self.assertEqual(pod["runAsUser"], 10001)  # the Dockerfile's plexiproxy user
        self.assertTrue(container["readOnlyRootFilesystem"])
        self.assertFalse(container["allowPrivilegeEscalation"])
        self.assertEqual(container["capabilities"]["drop"], ["ALL"])
        resources = self.container["resources"]
        self.assertTrue(resources["requests"]["cpu"] and resources["requests"]["memory"])
        self.assertTrue(resources["limits"]["memory"])

    def test_disruptions_and_scaling_leave_a_pod_serving(self):
        budget = self.by_kind["PodDisruptionBudget"]["spec"]["minAvailable"]
        scaling = self.by_kind["HorizontalPodAutoscaler"]["spec"]
        self.assertLess(budget, scaling["minReplicas"])  # a node can still be drained
        self.assertLessEqual(scaling["minReplicas"], scaling["maxReplicas"])
        metric = scaling["metrics"][0]["resource"]
        self.assertEqual(metric["name"], "cpu")
        self.assertIn("cpu", self.container["resources"]["requests"])

    def test_config_passes_check_config_with_the_secret_mounted(self):
        mounts = {m["name"]: m for m in self.container["volumeMounts"]}
        volumes = {v["name"]: v for v in self.pod["volumes"]}
        self.assertEqual(mounts["config"]["mountPath"], f"{CONFIG_DIR}/plexiproxy.yaml")
        self.assertEqual(self.container["args"], ["--config", f"{CONFIG_DIR}/plexiproxy.yaml"])
        secret_dir = mounts["secrets"]["mountPath"]
        secret = self.by_kind["Secret"]
        self.assertEqual(volumes["secrets"]["secret"]["secretName"], secret["metadata"]["name"])
        with tempfile.TemporaryDirectory() as root:
            # /etc/plexiproxy as the pod sees it: the config, and the Secret's keys as files.
            config_dir = Path(root) / CONFIG_DIR.lstrip("/")
            files = Path(root) / secret_dir.lstrip("/")
            files.mkdir(parents=True)
            shutil.copy(KUBERNETES / "plexiproxy.yaml", config_dir / "plexiproxy.yaml")
            for key, value in secret["stringData"].items():
                (files / key).write_text(value)
            for relative in config_files(self.config):
                with self.subTest(file=relative):
                    self.assertTrue((config_dir / relative).is_file())
            result = check_config(config_dir / "plexiproxy.yaml", {})
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            # One key fewer in the Secret, and the config is refused.
            (files / "pg-password").unlink()
            result = check_config(config_dir / "plexiproxy.yaml", {})
            self.assertEqual(result.returncode, 1)
            self.assertIn("pg-password", result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main()
