#!/bin/bash
# The PostgreSQL primary's first start (run by the image from /docker-entrypoint-initdb.d,
# once, when the data directory is created): a role the replica streams WAL as, and the
# pg_hba.conf line that lets it (the image's own "host all all all" covers no replication
# connection).
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL

echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
