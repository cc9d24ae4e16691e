"""Certificates for TLS tests, made with the openssl command in a temporary directory: a CA,
server certificates for 127.0.0.1 and localhost signed by it, and client certificates whose
common name is a user name."""

import subprocess
from pathlib import Path

from .procs import make_workdir, remove_workdir

OPENSSL = "/usr/bin/openssl"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Certificates:
    """A CA in its own directory; server() and client() sign certificates with it. Paths
    returned are absolute, so a config can name them from anywhere."""

    def __init__(self, name: str = "plexiproxy test CA"):
        self.dir = make_workdir("plexi-tls-", for_service_user=False)
        self.ca_cert = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        self._serial = 1
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(self.ca_key),
                 "-out", str(self.ca_cert), cwd=self.dir)

    def _sign(self, stem: str, subject: str, extensions: str) -> tuple[Path, Path]:
        key, request, cert = (self.dir / f"{stem}.key", self.dir / f"{stem}.csr",
                              self.dir / f"{stem}.crt")
        ext_file = self.dir / f"{stem}.ext"
        ext_file.write_text(extensions)
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", subject, "-keyout", str(key), "-out", str(request), cwd=self.dir)
        self._serial += 1
        _openssl("x509", "-req", "-in", str(request), "-CA", str(self.ca_cert), "-CAkey",
                 str(self.ca_key), "-set_serial", str(self._serial), "-days", "2",
                 "-extfile", str(ext_file), "-out", str(cert), cwd=self.dir)
        return cert, key

    def server(self, stem: str = "server", name: str = "plexiproxy") -> tuple[Path, Path]:
        """(certificate, key) for 127.0.0.1 and localhost, with `name` as its common name."""
        return self._sign(stem, f"/CN={name}",
                          "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                          "extendedKeyUsage=serverAuth\n")

    def client(self, user: str) -> tuple[Path, Path]:
        """(certificate, key) of a client whose common name is `user`."""
        return self._sign(f"client-{user}", f"/CN={user}", "extendedKeyUsage=clientAuth\n")

    def close(self) -> None:
        remove_workdir(self.dir)
