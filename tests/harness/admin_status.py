"""The backends' health as plexiproxy's admin HTTP /status shows it, for the health tests."""

import json
import time
import urllib.request


class BackendStatus:
    """A mixin for a unittest.TestCase whose `proxy` is a running Plexiproxy; `cluster` names
    the cluster read when none is given."""

    cluster: str

    def get(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.proxy.admin_port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def backends(self, cluster: str | None = None) -> dict[str, dict]:
        """Backend name -> its /status entry."""
        cluster = cluster or self.cluster
        state = json.loads(self.get("/status"))
        return {b["backend"]: b for b in state["backends"] if b["cluster"] == cluster}

    def wait_for_backends(self, done, timeout: float = 10.0, cluster: str | None = None) -> dict:
        """The backends of /status once done(backends) holds."""
        deadline = time.monotonic() + timeout
        while True:
            backends = self.backends(cluster)
            if done(backends):
                return backends
            if time.monotonic() > deadline:
                self.fail(f"not reached within {timeout}s; /status backends: {backends}")
            time.sleep(0.02)
