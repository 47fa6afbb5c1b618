#!/bin/sh
# Creates or upgrades Temporal's two MySQL databases. Runs in the
# temporalio/admin-tools image (docker-compose.yml: temporal-admin-tools),
# after Temporal's samples-server compose/scripts/setup-mysql.sh, with the
# host, user and port from the environment and the password from
# SQL_PASSWORD (read by temporal-sql-tool). Safe to re-run: `create` is
# CREATE DATABASE IF NOT EXISTS, `setup-schema -v 0.0` keeps a newer
# version, and `update-schema` applies only the missing versions — so the
# same step upgrades the schema after a server image upgrade.
set -eu

: "${MYSQL_SEEDS:?}" "${MYSQL_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT=${DB_PORT:-3306}
DBNAME=${DBNAME:-temporal}
VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
SCHEMA_DIR=/etc/temporal/schema/mysql/v8

echo "Waiting for MySQL at $MYSQL_SEEDS:$DB_PORT..."
nc -z -w 10 "$MYSQL_SEEDS" "$DB_PORT"

tool() { temporal-sql-tool --plugin mysql8 --ep "$MYSQL_SEEDS" -u "$MYSQL_USER" -p "$DB_PORT" "$@"; }

tool --db "$DBNAME" create
tool --db "$DBNAME" setup-schema -v 0.0
tool --db "$DBNAME" update-schema -d "$SCHEMA_DIR/temporal/versioned"

tool --db "$VISIBILITY_DBNAME" create
tool --db "$VISIBILITY_DBNAME" setup-schema -v 0.0
tool --db "$VISIBILITY_DBNAME" update-schema -d "$SCHEMA_DIR/visibility/versioned"

echo "MySQL schema setup complete"
