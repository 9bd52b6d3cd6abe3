#!/usr/bin/env bash
# Apply the migrations in sql/ in order, recording each in
# chat_schema_migrations; a migration already recorded is skipped, so
# running this again is a no-op. Each file runs in one transaction with
# its record: it is applied whole or not at all.
#
# usage: tools/migrate.sh [CONNINFO]   (a libpq URL or key=value string;
#                                       default: $DATABASE_URL)
#
# The SQL files: $CHAT_SQL_DIR if set, else sql/ of the checkout this
# script is in, else where `make install` put them beside it
# (PREFIX/lib/swappart-chat/migrate.sh -> PREFIX/share/swappart-chat/sql).
set -euo pipefail
conn=${1:-${DATABASE_URL:-}}
[ -n "$conn" ] || { echo "usage: migrate.sh CONNINFO (or set DATABASE_URL)" >&2; exit 2; }
here=$(dirname "$0")
sqldir=${CHAT_SQL_DIR:-}
if [ -z "$sqldir" ]; then
	for d in "$here/../sql" "$here/../../share/swappart-chat/sql"; do
		if [ -d "$d" ]; then sqldir=$d; break; fi
	done
fi
if [ -z "$sqldir" ] || ! ls "$sqldir"/[0-9]*.sql >/dev/null 2>&1; then
	echo "migrate: no migrations in '${sqldir:-$here/../sql}'; set CHAT_SQL_DIR" >&2
	exit 1
fi
psql=(psql -X -q -v ON_ERROR_STOP=1 --no-psqlrc -d "$conn")

"${psql[@]}" -c "CREATE TABLE IF NOT EXISTS chat_schema_migrations (
	version text PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now())" 2>&1 | grep -v 'already exists, skipping' || true

applied=0
for f in "$sqldir"/[0-9]*.sql; do
	v=$(basename "$f" .sql)
	done_already=$("${psql[@]}" -tA -v v="$v" -f - <<<"SELECT 1 FROM chat_schema_migrations WHERE version = :'v'")
	[ -n "$done_already" ] && continue
	# Notices such as "column already exists, skipping" are expected on a
	# production database; errors stop the run (ON_ERROR_STOP).
	"${psql[@]}" --single-transaction -v v="$v" -c "SET client_min_messages = warning" -f "$f" \
		-f <(echo "INSERT INTO chat_schema_migrations (version) VALUES (:'v');")
	echo "migrate: applied $v"
	applied=$((applied + 1))
done
[ "$applied" -gt 0 ] || echo "migrate: up to date"
