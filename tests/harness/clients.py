"""Real PostgreSQL clients pointed at a port: psql and pgbench (PostgreSQL 15's own), and
psycopg connections."""

import os
import re
import subprocess

import psycopg

from .postgres import PG_BIN


def _env(password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def psql(port: int, user: str, database: str, password: str | None = None, *args: str,
         timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs psql without ~/.psqlrc, stopping at the first error; returns its output."""
    command = [str(PG_BIN / "psql"), "-X", "-w", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
               "-p", str(port), "-U", user, database, *args]
    return subprocess.run(command, env=_env(password), capture_output=True, text=True,
                          timeout=timeout)


def pgbench(port: int, user: str, database: str, password: str | None = None, *args: str,
            timeout: float = 300) -> subprocess.CompletedProcess:
    command = [str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-p", str(port), "-U", user,
               *args, database]
    return subprocess.run(command, env=_env(password), capture_output=True, text=True,
                          timeout=timeout)


def pgbench_counts(output: str) -> tuple[int, int]:
    """(transactions processed, failed transactions) from pgbench 15's report."""
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if not processed or not failed:
        raise AssertionError(f"no pgbench report in:\n{output}")
    return int(processed.group(1)), int(failed.group(1))


def connect(port: int, user: str, database: str, password: str | None = None,
            **kwargs) -> psycopg.Connection:
    """A psycopg connection (autocommit unless told otherwise)."""
    kwargs.setdefault("autocommit", True)
    kwargs.setdefault("connect_timeout", 10)
    return psycopg.connect(host="127.0.0.1", port=port, user=user, dbname=database,
                           password=password, **kwargs)
