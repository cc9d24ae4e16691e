"""auth_query and secrets hygiene against a real PostgreSQL: users created on the server log
in through the proxy without appearing in its config (their SCRAM secret looked up, cached
for auth_query_cache_ttl, and the client's own keys used to log in to the server), wrong
passwords get 28P01, and no password or secret shows in the proxy's log, SHOW CONFIG or
/status. Also: a config file others may read is refused while it holds plain passwords."""

import json
import subprocess
import time
import unittest
import urllib.request

import psycopg
from psycopg import sql

from harness.clients import connect
from harness.plexiproxy import Plexiproxy, binary, daemon_environment, print_log_if_failed
from harness.relay import DB, app_server
from harness.watchdog import start_watchdog

LOOKUP, LOOKUP_PASSWORD = "lookup", "lookup-secret-7f3a"
ADMIN, ADMIN_PASSWORD = "ops", "ops-secret-91c2"
TTL = 5.0  # auth_query_cache_ttl of cluster appdb, in seconds


class AuthQueryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = app_server(cls)  # database appdb
        # PgBouncer's recommended setup: an unprivileged user calls a SECURITY DEFINER function
        # that reads pg_shadow.
        cls.pg.create_user(LOOKUP, LOOKUP_PASSWORD)
        cls.pg.execute("""
            CREATE FUNCTION public.user_lookup(name text)
            RETURNS TABLE (usename name, passwd text) LANGUAGE sql SECURITY DEFINER
            SET search_path = pg_catalog AS
            $$ SELECT usename, passwd FROM pg_shadow WHERE usename = name $$""", dbname=DB)
        cls.pg.execute("REVOKE ALL ON FUNCTION public.user_lookup(text) FROM PUBLIC", dbname=DB)
        cls.pg.execute(sql.SQL("GRANT EXECUTE ON FUNCTION public.user_lookup(text) TO {}").format(
            sql.Identifier(LOOKUP)), dbname=DB)

        cls.proxy = Plexiproxy()
        cls.addClassCleanup(cls.proxy.close)
        password_file = cls.proxy.dir / "lookup.pw"
        password_file.write_text(LOOKUP_PASSWORD + "\n")
        backend = {"name": "pg1", "type": "postgres", "role": "primary", "host": cls.pg.host,
                   "port": cls.pg.port}
        cls.proxy.write_config({
            "threads": 2,
            "log": {"level": "debug"},
            "users": [{"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True}],
            "health": {"user": cls.pg.user, "password": "${PG_SUPERUSER_PASSWORD}"},
            "clusters": {
                DB: {"auth_user": LOOKUP, "auth_password_file": str(password_file),
                     "auth_query": "SELECT usename, passwd FROM public.user_lookup($1)",
                     "auth_query_cache_ttl": f"{TTL}s", "backends": [backend]},
                # The default query, on pg_shadow, as the superuser.
                "postgres": {"auth_user": cls.pg.user, "auth_password": "${PG_SUPERUSER_PASSWORD}",
                             "backends": [{**backend, "database": "postgres"}]},
            },
        })
        cls.proxy.env = {"PG_SUPERUSER_PASSWORD": cls.pg.password}
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy, self.pg)
        start_watchdog(self, 120, self.proxy, self.pg)

    def create_user(self, name: str, password: str) -> None:
        self.pg.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        self.pg.create_user(name, password)
        self.pg.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(
            sql.Identifier(name)), dbname=DB)

    def login(self, user: str, password: str, database: str = DB) -> psycopg.Connection:
        conn = connect(self.proxy.port, user, database, password)
        self.addCleanup(conn.close)
        return conn

    def assert_refused(self, user: str, password: str, database: str = DB) -> None:
        with self.assertRaises(psycopg.OperationalError) as caught:
            self.login(user, password, database)
        # 28P01's text; libpq keeps only the server's FATAL message of a failed login.
        self.assertIn(f'password authentication failed for user "{user}"', str(caught.exception))

    def test_user_created_on_the_server_logs_in(self):
        self.create_user("alice", "alice-pw-1")
        conn = self.login("alice", "alice-pw-1")
        # The server session is alice's own: the proxy logged in with her keys, not the
        # lookup user's.
        self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], "alice")
        conn.execute("CREATE TABLE IF NOT EXISTS alice_notes (note text)")
        owner = self.pg.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'alice_notes'",
                                dbname=DB)
        self.assertEqual(owner, [("alice",)])
        # The default query through the superuser, on another cluster.
        other = self.login("alice", "alice-pw-1", database="postgres")
        self.assertEqual(other.execute("SELECT current_database()").fetchone()[0], "postgres")

    def test_wrong_password_and_unknown_user_are_refused(self):
        self.create_user("carol", "carol-pw")
        self.assert_refused("carol", "not-carols")
        self.assert_refused("nobody", "whatever")
        self.login("carol", "carol-pw")  # the refusal cached nothing wrong

    def test_changed_password_takes_effect_when_the_cache_expires(self):
        self.create_user("bob", "bob-pw-old")
        first = self.login("bob", "bob-pw-old")
        cached_at = time.monotonic()
        first.execute("SELECT 1")
        self.pg.execute("ALTER ROLE bob PASSWORD 'bob-pw-new'")
        # Within the TTL the proxy still holds the old secret.
        self.login("bob", "bob-pw-old").execute("SELECT 1")
        self.assert_refused("bob", "bob-pw-new")
        self.assertLess(time.monotonic() - cached_at, TTL, "too slow to test within the TTL")

        time.sleep(max(0.0, cached_at + TTL + 0.5 - time.monotonic()))
        self.assert_refused("bob", "bob-pw-old")
        holder = self.login("bob", "bob-pw-new")
        holder.execute("BEGIN")  # holds the pooled server connection opened before the change
        fresh = self.login("bob", "bob-pw-new")
        # This one needs a new server connection, logged in with the new password's keys.
        self.assertNotEqual(fresh.execute("SELECT pg_backend_pid()").fetchone()[0],
                            holder.execute("SELECT pg_backend_pid()").fetchone()[0])
        holder.execute("COMMIT")

    def test_secrets_stay_out_of_log_show_config_and_status(self):
        self.create_user("dave", "dave-pw-secret")
        self.login("dave", "dave-pw-secret").execute("SELECT 1")
        with self.assertRaises(psycopg.OperationalError):
            self.login("dave", "dave-wrong-guess")
        dave_secret = self.pg.execute("SELECT passwd FROM pg_shadow WHERE usename = 'dave'")[0][0]

        admin = connect(self.proxy.port, ADMIN, "plexiproxy", ADMIN_PASSWORD)
        self.addCleanup(admin.close)
        config = dict(admin.execute("SHOW CONFIG").fetchall())
        self.assertEqual(config[f"clusters.{DB}.auth_user"], LOOKUP)
        self.assertEqual(config[f"clusters.{DB}.auth_password"], "set")
        url = f"http://127.0.0.1:{self.proxy.admin_port}/status?queries=1"
        with urllib.request.urlopen(url, timeout=10) as response:
            status = response.read().decode()
        json.loads(status)

        shown = {"log": self.proxy.log(), "SHOW CONFIG": json.dumps(config), "/status": status}
        for secret in [LOOKUP_PASSWORD, ADMIN_PASSWORD, self.pg.password, "dave-pw-secret",
                       "dave-wrong-guess", dave_secret, dave_secret.split("$")[-1]]:
            for where, text in shown.items():
                self.assertNotIn(secret, text, f"a secret in the {where}")
        self.assertIn("dave", self.proxy.log())  # the log does see the logins


class InsecureConfigTest(unittest.TestCase):
    def check(self, *flags: str) -> subprocess.CompletedProcess:
        return subprocess.run([binary(), "--config", str(self.proxy.config_path), "--check-config",
                               *flags], capture_output=True, text=True, timeout=30,
                              env=daemon_environment())

    def setUp(self):
        self.proxy = Plexiproxy({"users": [{"name": "app", "password": "plain-in-the-file"}],
                                 "clusters": {DB: {"backends": [{"host": "127.0.0.1"}]}}})
        self.addCleanup(self.proxy.close)

    def test_readable_file_with_plain_passwords_is_refused_unless_allowed(self):
        allowed = self.check()
        self.assertEqual(allowed.returncode, 0, allowed.stderr)  # the harness writes it 0600
        self.proxy.config_path.chmod(0o644)
        refused = self.check()
        self.assertEqual(refused.returncode, 1)
        self.assertIn("readable by group or others (mode 0644)", refused.stderr)
        self.assertIn("users[0].password", refused.stderr)
        self.assertNotIn("plain-in-the-file", refused.stderr)
        self.assertEqual(self.check("--allow-insecure-config").returncode, 0)

        help_text = subprocess.run([binary(), "--help"], capture_output=True, text=True).stdout
        self.assertIn("--allow-insecure-config", help_text)


if __name__ == "__main__":
    unittest.main()
