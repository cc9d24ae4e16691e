"""A raw PostgreSQL v3 client over a plain socket, for what drivers hide: SQLSTATEs of
login failures, and malformed or oversized messages sent on purpose."""

import base64
import hashlib
import hmac
import os
import socket
import struct

PROTOCOL_V3 = 196608


class WireError(Exception):
    """The peer broke the protocol from the client's point of view."""


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def startup_packet(user: str, database: str, **params: str) -> bytes:
    fields = {"user": user, "database": database, **params}
    body = struct.pack("!I", PROTOCOL_V3)
    body += b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in fields.items()) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


def error_fields(body: bytes) -> dict[str, str]:
    """The fields of an ErrorResponse or NoticeResponse body, keyed by their code letter."""
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


class WireClient:
    """One socket to a PostgreSQL-speaking server."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0,
                 source: str | None = None):
        """source: the local address to connect from (another loopback address)."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self._buffer = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "WireClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return False
            self._buffer += chunk
        return True

    def read_message(self) -> tuple[bytes, bytes] | None:
        """The next (type, body), or None when the peer closed the connection."""
        if not self._fill(5):
            if self._buffer:
                raise WireError(f"connection closed inside a message header: {self._buffer!r}")
            return None
        kind, length = self._buffer[:1], struct.unpack("!I", self._buffer[1:5])[0]
        if length < 4 or length > 1 << 30:
            raise WireError(f"bad length {length} for message {kind!r}")
        if not self._fill(1 + length):
            raise WireError(f"connection closed inside a {kind!r} message")
        body, self._buffer = self._buffer[5:1 + length], self._buffer[1 + length:]
        return kind, body

    def read_until_close(self) -> list[tuple[bytes, bytes]]:
        """Every message up to the peer closing the connection (a read timeout raises)."""
        messages = []
        while (msg := self.read_message()) is not None:
            messages.append(msg)
        return messages

    def login(self, user: str, database: str, password: str | None = None,
              **params: str) -> dict[str, str] | None:
        """Starts up and authenticates. Returns None at ReadyForQuery, or the fields of the
        ErrorResponse that refused us."""
        self.send(startup_packet(user, database, **params))
        scram = None
        while (msg := self.read_message()) is not None:
            kind, body = msg
            if kind == b"E":
                return error_fields(body)
            if kind == b"Z":
                return None
            if kind != b"R":
                continue
            code = struct.unpack("!I", body[:4])[0]
            if code == 3:  # cleartext
                self.send(message(b"p", password.encode() + b"\0"))
            elif code == 5:  # md5 with a 4-byte salt
                inner = hashlib.md5((password + user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                self.send(message(b"p", b"md5" + outer.encode() + b"\0"))
            elif code == 10:  # SASL: pick SCRAM-SHA-256
                scram = _Scram(password)
                first = scram.client_first()
                self.send(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first))
            elif code == 11:  # SASLContinue
                self.send(message(b"p", scram.client_final(body[4:])))
            elif code not in (0, 12):  # 0 ok, 12 SASLFinal
                raise WireError(f"unsupported authentication request {code}")
        raise WireError("connection closed during login")


class _Scram:
    """The client side of SCRAM-SHA-256 (RFC 5802/7677), without channel binding."""

    def __init__(self, password: str):
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"

    def client_first(self) -> bytes:
        return ("n,," + self.first_bare).encode()

    def client_final(self, server_first: bytes) -> bytes:
        attrs = dict(item.split("=", 1) for item in server_first.decode().split(","))
        if not attrs["r"].startswith(self.nonce):
            raise WireError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                     base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self.first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def login_error(port: int, user: str, database: str, password: str | None = None) -> str | None:
    """The SQLSTATE a login attempt is refused with, or None when it succeeds."""
    with WireClient(port) as client:
        fields = client.login(user, database, password)
    return fields.get("C") if fields else None
