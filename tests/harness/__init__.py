"""The integration test harness: throwaway servers (PostgreSQL, PgBouncer, plexiproxy) on
loopback ports, and the raw clients the tests drive them with."""
