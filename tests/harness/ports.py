"""Picks free loopback TCP ports below the ephemeral range, so servers never collide with
client sockets lingering in TIME_WAIT (Linux hands out 32768 and up to outgoing sockets)."""

import random
import socket

LOW, HIGH = 20000, 32000
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """Returns a port nobody listens on or holds right now, never the same one twice."""
    start = random.randrange(LOW, HIGH)
    for port in [*range(start, HIGH), *range(LOW, start)]:
        if port in _handed_out:
            continue
        # No SO_REUSEADDR: the bind fails while any socket, even one in TIME_WAIT, uses it.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {LOW}-{HIGH}")
