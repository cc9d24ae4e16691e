#!/usr/bin/python3
"""Writes routing/redis_commands_data.cc, the built-in Redis command table, from a live
server's COMMAND reply. Run by hand (never at build time) to refresh the table for a newer
Redis; the generated file is committed.

    scripts/redis_command_table.py                  # starts /usr/bin/redis-server itself
    scripts/redis_command_table.py --port 6379      # or asks a server already running

Needs Debian's python3-redis. Names (flags, key spec flags, ACL categories, tips) are kept
as Redis spells them: the C++ side reads them with the same lookups it uses for a COMMAND
reply, so a name it does not know is ignored there rather than rejected here.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "routing" / "redis_commands_data.cc"
REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    """A loopback port below the ephemeral range that nothing holds right now."""
    for port in range(24000, 32000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in 24000-32000")


def start_server() -> tuple[subprocess.Popen, int, str]:
    workdir = tempfile.mkdtemp(prefix="plexi-redis-commands-")
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return process, port, workdir
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not answer on port {port}")


def text(value):
    """The reply with every bulk string decoded, as nested lists."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [text(item) for item in value]
    return value


def pairs(flat: list) -> dict:
    return dict(zip(flat[0::2], flat[1::2]))


def cxx_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spec_row(spec: list) -> str:
    """One key spec: flags, begin search (type, index or startfrom, keyword), find keys (type
    and its three numbers: lastkey, keystep, limit for a range; keynumidx, firstkey, keystep
    for keynum)."""
    fields = pairs(spec)
    begin = pairs(fields["begin_search"])
    find = pairs(fields["find_keys"])
    begin_spec = pairs(begin["spec"]) if begin["spec"] else {}
    find_spec = pairs(find["spec"]) if find["spec"] else {}
    if begin["type"] == "index":
        begin_number, keyword = begin_spec["index"], ""
    elif begin["type"] == "keyword":
        begin_number, keyword = begin_spec["startfrom"], begin_spec["keyword"]
    else:
        begin_number, keyword = 0, ""
    if find["type"] == "range":
        numbers = (find_spec["lastkey"], find_spec["keystep"], find_spec["limit"])
    elif find["type"] == "keynum":
        numbers = (find_spec["keynumidx"], find_spec["firstkey"], find_spec["keystep"])
    else:
        numbers = (0, 0, 0)
    return (f'{{{cxx_string(" ".join(fields["flags"]))}, "{begin["type"]}", {begin_number}, '
            f'{cxx_string(keyword)}, "{find["type"]}", {{{numbers[0]}, {numbers[1]}, '
            f'{numbers[2]}}}}}')


def command_rows(entry: list, specs: list[str], rows: list[str]) -> None:
    """Appends the command's row, then its subcommands' rows right after it."""
    name, arity, flags, first, last, step, acl, tips, key_specs, subcommands = entry
    spec_begin = len(specs)
    specs.extend(spec_row(spec) for spec in key_specs)
    rows.append(f'{{{cxx_string(name)}, {arity}, {cxx_string(" ".join(flags))}, {first}, '
                f'{last}, {step}, {cxx_string(" ".join(acl))}, {cxx_string(" ".join(tips))}, '
                f'{spec_begin}, {len(key_specs)}, {len(subcommands)}}},')
    for sub in sorted(subcommands, key=lambda sub: sub[0]):
        command_rows(sub, specs, rows)


def generate(client: redis.Redis) -> str:
    client.set_response_callback("COMMAND", lambda reply, **_: reply)
    commands = text(client.execute_command("COMMAND"))
    version = client.info("server")["redis_version"]
    specs: list[str] = []
    rows: list[str] = []
    for entry in sorted(commands, key=lambda entry: entry[0]):
        command_rows(entry, specs, rows)
    lines = [
        f"// The built-in Redis command table: redis-server {version}'s COMMAND reply, as",
        "// scripts/redis_command_table.py wrote it. Do not edit; run the script again.",
        '#include "routing/redis_commands_data.h"',
        "",
        "namespace plexi::routing::builtin_commands {",
        "",
        "namespace {",
        "",
        "// clang-format off",
        "constexpr SpecRow kSpecRows[] = {",
        *(f"    {spec}," for spec in specs),
        "};",
        "",
        "constexpr CommandRow kCommandRows[] = {",
        *(f"    {row}" for row in rows),
        "};",
        "// clang-format on",
        "",
        "}  // namespace",
        "",
        "const std::span<const SpecRow> kSpecs{kSpecRows};",
        "const std::span<const CommandRow> kCommands{kCommandRows};",
        f"const std::string_view kServerVersion = {cxx_string(version)};",
        "",
        "}  // namespace plexi::routing::builtin_commands",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="a running server's port (default: start one)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    process = None
    workdir = None
    port = args.port
    try:
        if port is None:
            process, port, workdir = start_server()
        args.output.write_text(generate(redis.Redis(host="127.0.0.1", port=port)))
    finally:
        if process is not None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
