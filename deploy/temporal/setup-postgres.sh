#!/bin/sh
# Creates or upgrades Temporal's two PostgreSQL databases. Runs in the
# temporalio/admin-tools image (docker-compose.yml: temporal-admin-tools),
# after Temporal's samples-server compose/scripts/setup-postgres.sh, with
# the host, user and port from the environment and the password from
# SQL_PASSWORD (read by temporal-sql-tool). The same temporal-sql-tool
# commands set up the server of `make cluster` and the cluster tests
# (internal/cluster). Safe to re-run: `create` keeps an existing database,
# `setup-schema -v 0.0` keeps a newer version, and `update-schema` applies
# only the missing versions, so the same step upgrades the schema after a
# server image upgrade.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT=${DB_PORT:-5432}
DBNAME=${DBNAME:-temporal}
VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
SCHEMA_DIR=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

echo "Waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT..."
if command -v nc >/dev/null 2>&1; then # the admin-tools image has it
  nc -z -w 10 "$POSTGRES_SEEDS" "$DB_PORT"
fi

tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"; }

for db in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
  name=${db%%:*}
  dir=${db#*:}
  tool --db "$name" create || echo "database $name exists"
  tool --db "$name" setup-schema -v 0.0
  tool --db "$name" update-schema -d "$SCHEMA_DIR/$dir/versioned"
done

echo "PostgreSQL schema setup complete"
