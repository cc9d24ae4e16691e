"""plexiproxy's admin console (database `plexiproxy` on the PostgreSQL port) as tests read
it: SHOW tables as rows keyed by column name, and waiting for a backend's health state."""

import time

import psycopg


def show(proxy, user: str, password: str, what: str) -> list[dict]:
    """SHOW <what>, a dict a row."""
    with psycopg.connect(host="127.0.0.1", port=proxy.port, user=user, password=password,
                         dbname="plexiproxy", autocommit=True) as conn:
        cursor = conn.execute(f"SHOW {what}")
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def wait_for_state(test, proxy, user: str, password: str, state: str, timeout: float = 10.0,
                   **where: str) -> dict:
    """The row of SHOW BACKENDS whose columns have the values `where` gives, once the
    checks give it `state`; fails `test` with the row when they do not within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        row = next(row for row in show(proxy, user, password, "BACKENDS")
                   if all(row[key] == value for key, value in where.items()))
        if row["state"] == state or time.monotonic() > deadline:
            test.assertEqual(row["state"], state, row)
            return row
        time.sleep(0.1)
