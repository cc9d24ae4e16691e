#!/bin/bash
# The PostgreSQL replica's entrypoint. On the first start (empty data directory) it copies the
# primary with pg_basebackup, whose -R writes standby.signal and primary_conninfo; then the
# image's own entrypoint finds the directory initialised and starts the server, which streams
# from the primary as a hot standby.
set -euo pipefail

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h "$PRIMARY_HOST" -U replicator; do
    echo "waiting for $PRIMARY_HOST"
    sleep 1
  done
  install -d -o postgres -g postgres -m 0700 "$PGDATA"
  gosu postgres env PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" \
    -U replicator -D "$PGDATA" -R --wal-method=stream --checkpoint=fast
fi

exec docker-entrypoint.sh "$@"
