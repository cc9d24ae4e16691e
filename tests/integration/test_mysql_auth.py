"""MySQL logins without plain passwords, against a real MariaDB: users whose config password
is only a mysql_native_password hash, and users looked up on the server with auth_query. The
backends hold no username or password: the proxy logs in to MariaDB as the client's user with
SHA1(password), recovered from the client's own answer (native passthrough).

- A hash-only user logs in with PyMySQL and the mariadb client, and the server runs its
  statements as that user (CURRENT_USER()), on shared read links and on pooled connections,
  also after COM_CHANGE_USER.
- A wrong password gets 1045 and no connection reaches the server.
- An account whose plugin the proxy cannot answer from a hash (ed25519) gets 1045 saying so.
- auth_query: a user created on MariaDB logs in without being in the config; wrong
  passwords and unknown users get 1045; of a user's several accounts the one the server
  matches for the proxy's connections counts; ALTER USER takes effect when the cache expires.
- No password, hash or SHA1(password) in the log, SHOW CONFIG or /status."""

import hashlib
import json
import subprocess
import time
import unittest
import urllib.request

import pymysql
from pymysql.converters import escape_string

from harness.clients import connect
from harness.libmariadb import CClient
from harness.mariadb import MariaDBServer
from harness.plexiproxy import Plexiproxy, print_log_if_failed
from harness.watchdog import start_watchdog

LOOKUP, LOOKUP_PASSWORD = "lookup", "lookup-secret-5d1e"
ADMIN, ADMIN_PASSWORD = "ops", "ops-secret-83ab"
HASHED = {"hashy": "hashy-pw-6a2f", "edu": "edu-pw-9c41"}  # users: with hashes only
TTL = 5.0  # auth_query_cache_ttl of cluster lookdb, in seconds


def stage1(password: str) -> bytes:
    return hashlib.sha1(password.encode()).digest()


def native_hash(password: str) -> str:
    return "*" + hashlib.sha1(stage1(password)).hexdigest().upper()


class MysqlAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = MariaDBServer().start()
        cls.proxy = None
        try:
            cls.setUpServer()
            cls.proxy = Plexiproxy()
            password_file = cls.proxy.dir / "lookup.pw"
            password_file.write_text(LOOKUP_PASSWORD + "\n")
            backend = {"name": "maria", "type": "mysql", "role": "primary",
                       "host": cls.db.host, "port": cls.db.port, "database": "appdb"}
            cls.proxy.write_config({
                "threads": 2,
                "log": {"level": "debug"},
                "users": [{"name": ADMIN, "password": ADMIN_PASSWORD, "admin": True},
                          *({"name": name, "password": native_hash(password)}
                            for name, password in HASHED.items())],
                "clusters": {
                    "appdb": {"protocol": "mysql", "backends": [backend]},
                    # The default query, as an auth_user that may read mysql.user.
                    "lookdb": {"protocol": "mysql", "auth_user": LOOKUP,
                               "auth_password_file": str(password_file),
                               "auth_query_cache_ttl": f"{TTL}s", "backends": [backend]},
                },
            })
            cls.proxy.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def setUpServer(cls):
        cls.db.execute("INSTALL SONAME 'auth_ed25519'")
        cls.create_user("hashy", HASHED["hashy"])
        cls.db.execute("CREATE USER 'edu'@'%' IDENTIFIED VIA ed25519 USING "
                       f"PASSWORD('{escape_string(HASHED['edu'])}')")
        cls.db.execute("GRANT ALL ON appdb.* TO 'edu'@'%'")
        cls.create_user(LOOKUP, LOOKUP_PASSWORD)
        cls.db.execute(f"GRANT SELECT ON mysql.user TO '{LOOKUP}'@'%'")

    @classmethod
    def tearDownClass(cls):
        if cls.proxy:
            cls.proxy.close()
        cls.db.close()

    @classmethod
    def create_user(cls, name: str, password: str, host: str = "%") -> None:
        cls.db.execute(f"DROP USER IF EXISTS '{name}'@'{host}'")
        cls.db.execute(f"CREATE USER '{name}'@'{host}' IDENTIFIED BY '{escape_string(password)}'")
        cls.db.execute(f"GRANT ALL ON appdb.* TO '{name}'@'{host}'")

    def setUp(self):
        self.addCleanup(print_log_if_failed, self, self.proxy, self.db)
        start_watchdog(self, 120, self.proxy, self.db)

    def login(self, user: str, password: str, database: str = "appdb"):
        conn = pymysql.connect(host="127.0.0.1", port=self.proxy.mysql_port, user=user,
                               password=password, database=database, autocommit=True,
                               connect_timeout=10)
        self.addCleanup(conn.close)
        return conn

    @staticmethod
    def value(conn, sql: str):
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]

    def assert_refused(self, user: str, password: str, database: str = "appdb") -> str:
        with self.assertRaises(pymysql.err.OperationalError) as caught:
            self.login(user, password, database)
        self.assertEqual(caught.exception.args[0], 1045, caught.exception)
        return str(caught.exception)

    # ------------------------------------------------------------------ hashes in the config

    def test_hash_only_user_runs_statements_as_itself(self):
        conn = self.login("hashy", HASHED["hashy"])
        # An autocommit read (on a shared read link), then a transaction (a pooled connection
        # of its own): both logged in to MariaDB as hashy.
        self.assertEqual(self.value(conn, "SELECT CURRENT_USER()"), "hashy@%")
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS appdb.hashy_notes (note VARCHAR(20))")
            cursor.execute("BEGIN")
            cursor.execute("INSERT INTO appdb.hashy_notes VALUES (CURRENT_USER())")
            cursor.execute("SELECT CURRENT_USER(), @@in_transaction")
            self.assertEqual(cursor.fetchone(), ("hashy@%", 1))
            cursor.execute("COMMIT")
        self.assertIn(("hashy@%",), self.db.execute("SELECT note FROM appdb.hashy_notes"))

    def test_hash_only_user_with_the_mariadb_client(self):
        base = ["mariadb", "-h", "127.0.0.1", "-P", str(self.proxy.mysql_port), "-u", "hashy",
                "--skip-ssl", "-N", "-B"]
        # caching_sha2_password's first answer is switched to mysql_native_password: the
        # proxy holds only that plugin's hash.
        for auth in ("mysql_native_password", "caching_sha2_password"):
            out = subprocess.run([*base, f"-p{HASHED['hashy']}", f"--default-auth={auth}",
                                  "appdb", "-e", "SELECT CURRENT_USER(); SELECT USER()"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.split(), ["hashy@%", "hashy@127.0.0.1"], auth)
        out = subprocess.run([*base, "-pnot-hashys", "appdb", "-e", "SELECT 1"],
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("1045", out.stderr)

    def test_change_user_to_a_looked_up_user_logs_in_as_that_user(self):
        self.create_user("erin", "erin-pw")
        with CClient(self.proxy.mysql_port, "hashy", HASHED["hashy"], "lookdb") as client:
            self.assertEqual(client.value("SELECT CURRENT_USER()"), b"hashy@%")
            self.assertTrue(client.change_user("erin", "erin-pw", "lookdb"), client.error())
            self.assertEqual(client.value("SELECT CURRENT_USER()"), b"erin@%")
            self.assertTrue(client.change_user("hashy", HASHED["hashy"], "lookdb"),
                            client.error())
            self.assertEqual(client.value("SELECT CURRENT_USER()"), b"hashy@%")
            self.assertFalse(client.change_user("erin", "not-erins", "lookdb"))
            self.assertEqual(client.errno(), 1045)

    def test_wrong_password_never_reaches_the_server(self):
        self.login("hashy", HASHED["hashy"]).ping()  # the proxy is up and hashy known
        with self.db.connect() as watcher, watcher.cursor() as cursor:
            def counters():
                cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                               "('Connections', 'Access_denied_errors')")
                return dict(cursor.fetchall())
            before = counters()
            self.assert_refused("hashy", "not-hashys")
            self.assert_refused("nobody", "whatever")
            self.assertEqual(counters(), before)

    def test_account_the_proxy_cannot_log_in_to_gets_1045(self):
        # The proxy checks edu against its hash, but MariaDB wants ed25519 for the account:
        # SHA1(password) cannot answer that, and the client is told so.
        conn = self.login("edu", HASHED["edu"])
        with self.assertRaises(pymysql.err.OperationalError) as caught:
            self.value(conn, "SELECT CURRENT_USER()")
        self.assertEqual(caught.exception.args[0], 1045, caught.exception)
        self.assertIn("holds only a mysql_native_password hash", str(caught.exception))
        self.assertIn("client_ed25519", str(caught.exception))
        self.assertIn("holds only a mysql_native_password hash", self.proxy.log())

    # ------------------------------------------------------------------ auth_query

    def test_user_created_on_the_server_logs_in(self):
        self.create_user("alice", "alice-pw-1")
        conn = self.login("alice", "alice-pw-1", "lookdb")
        self.assertEqual(self.value(conn, "SELECT CURRENT_USER()"), "alice@%")
        with conn.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT CURRENT_USER()")
            self.assertEqual(cursor.fetchone()[0], "alice@%")
            cursor.execute("COMMIT")
        # A user of the config is the config's, also in this cluster.
        self.assertEqual(self.value(self.login("hashy", HASHED["hashy"], "lookdb"),
                                    "SELECT CURRENT_USER()"), "hashy@%")

    def test_wrong_password_and_unknown_user_are_refused(self):
        self.create_user("carol", "carol-pw")
        self.assert_refused("carol", "not-carols", "lookdb")
        self.assert_refused("nobody", "whatever", "lookdb")
        # Not looked up in a cluster without auth_user.
        self.assert_refused("carol", "carol-pw", "appdb")
        self.login("carol", "carol-pw", "lookdb").ping()  # the refusal cached nothing wrong

    def test_the_account_the_server_matches_counts(self):
        # MariaDB matches the proxy's connections (from 127.0.0.1) to the more specific
        # account; the lookup picks the same one.
        self.create_user("multi", "multi-anywhere")
        self.create_user("multi", "multi-loopback", host="127.0.0.1")
        self.addCleanup(self.db.execute, "DROP USER 'multi'@'127.0.0.1'")
        conn = self.login("multi", "multi-loopback", "lookdb")
        self.assertEqual(self.value(conn, "SELECT CURRENT_USER()"), "multi@127.0.0.1")
        self.assert_refused("multi", "multi-anywhere", "lookdb")

    def test_changed_password_takes_effect_when_the_cache_expires(self):
        self.create_user("bob", "bob-pw-old")
        first = self.login("bob", "bob-pw-old", "lookdb")
        cached_at = time.monotonic()
        self.value(first, "SELECT 1")
        self.db.execute("ALTER USER 'bob'@'%' IDENTIFIED BY 'bob-pw-new'")
        # Within the TTL the proxy still holds the old hash (and takes the old password,
        # which the server now refuses for any new connection).
        self.login("bob", "bob-pw-old", "lookdb")
        self.assert_refused("bob", "bob-pw-new", "lookdb")
        self.assertLess(time.monotonic() - cached_at, TTL, "too slow to test within the TTL")

        time.sleep(max(0.0, cached_at + TTL + 0.5 - time.monotonic()))
        self.assert_refused("bob", "bob-pw-old", "lookdb")
        holder = self.login("bob", "bob-pw-new", "lookdb")
        with holder.cursor() as cursor:
            cursor.execute("BEGIN")  # holds the pooled server connection
            cursor.execute("SELECT CONNECTION_ID()")
            held = cursor.fetchone()[0]
            fresh = self.login("bob", "bob-pw-new", "lookdb")
            with fresh.cursor() as other:
                # This one needs a new server connection, logged in with the new password.
                other.execute("BEGIN")
                other.execute("SELECT CONNECTION_ID(), CURRENT_USER()")
                opened, user = other.fetchone()
                other.execute("COMMIT")
            cursor.execute("COMMIT")
        self.assertNotEqual(opened, held)
        self.assertEqual(user, "bob@%")

    # ------------------------------------------------------------------ secrets

    def test_secrets_stay_out_of_log_show_config_and_status(self):
        self.create_user("dave", "dave-pw-secret")
        self.value(self.login("dave", "dave-pw-secret", "lookdb"), "SELECT 1")
        self.value(self.login("hashy", HASHED["hashy"]), "SELECT 1")
        self.assert_refused("dave", "dave-wrong-guess", "lookdb")

        admin = connect(self.proxy.port, ADMIN, "plexiproxy", ADMIN_PASSWORD)
        self.addCleanup(admin.close)
        config = dict(admin.execute("SHOW CONFIG").fetchall())
        self.assertEqual(config["clusters.lookdb.auth_user"], LOOKUP)
        self.assertEqual(config["clusters.lookdb.auth_password"], "set")
        url = f"http://127.0.0.1:{self.proxy.admin_port}/status?queries=1"
        with urllib.request.urlopen(url, timeout=10) as response:
            status = response.read().decode()
        json.loads(status)

        shown = {"log": self.proxy.log(), "SHOW CONFIG": json.dumps(config), "/status": status}
        secrets = [LOOKUP_PASSWORD, ADMIN_PASSWORD, "dave-pw-secret", "dave-wrong-guess"]
        for password in ("dave-pw-secret", *HASHED.values()):
            secrets += [native_hash(password)[1:], stage1(password).hex()]
            secrets.append(stage1(password).hex().upper())
        for secret in secrets + list(HASHED.values()):
            for where, text in shown.items():
                self.assertNotIn(secret, text, f"a secret in the {where}")
        self.assertIn("dave", self.proxy.log())  # the log does see the logins


if __name__ == "__main__":
    unittest.main()
