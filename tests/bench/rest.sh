#!/usr/bin/env bash
# make bench-rest: throughput and latency of the REST tier through nginx.
#
# Starts a private stack (tools/stack.sh, temporary RUN_DIR, free ports),
# seeds one user in BENCH_ROOMS rooms with messages and one room with 100
# messages, then drives nginx with wrk (BENCH_CONNS connections,
# BENCH_SECONDS each) for:
#   static      nginx answering `return 200` itself (the ceiling)
#   GET /rooms  the seeded user's room list
#   GET /rooms/:id   a room with 100 messages
#   POST /rooms a new room with two other users per request
# and prints req/s and latency percentiles. Not a test: no pass/fail.
#
# Settings: CHAT_BIN_DIR (build), CHAT_REST_WORKERS (8), BENCH_SECONDS (10),
# BENCH_BG_ROOMS (20000 rooms of other users),
# BENCH_WARMUP (3, unmeasured seconds before each run),
# BENCH_CONNS (64), BENCH_THREADS (2), BENCH_ROOMS (20), BENCH_ONLY
# (space separated subset of: static list get create), BENCH_KEEP (1: leave
# the stack running for a closer look).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
secs=${BENCH_SECONDS:-10}
warm=${BENCH_WARMUP:-3}
conns=${BENCH_CONNS:-64}
threads=${BENCH_THREADS:-2}
nrooms=${BENCH_ROOMS:-20}
only=${BENCH_ONLY:-static list get create}

free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export RUN_DIR=$(mktemp -d /tmp/chat-bench-XXXXXX)
chmod 755 "$RUN_DIR"
export CHAT_BIN_DIR=${CHAT_BIN_DIR:-$root/build}
export CHAT_HTTP_PORT=$(free_port) CHAT_WS_PORT=$(free_port) CHAT_PG_PORT=$(free_port)
export CHAT_REST_WORKERS=${CHAT_REST_WORKERS:-8}
export CHAT_LOG_LEVEL=warn
# One user creates thousands of rooms a second here: the per-user rate
# limits (README "Limits") would refuse all but the first 30. Off unless
# set, so the run measures creating rooms.
export CHAT_ROOMS_PER_MIN=${CHAT_ROOMS_PER_MIN:-0} CHAT_ADDS_PER_MIN=${CHAT_ADDS_PER_MIN:-0}
unset DATABASE_URL
# a load generator: nginx's per-address limits (README "Limits") off for it
export CHAT_NGINX_UNLIMITED=127.0.0.0/8
static_port=$(free_port)
export NGINX_EXTRA="server { listen 127.0.0.1:$static_port; access_log off; location / { return 200 \"ok\"; } }"

cleanup() {
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "bench: stack kept: RUN_DIR=$RUN_DIR CHAT_HTTP_PORT=$CHAT_HTTP_PORT" \
			"CHAT_PG_PORT=$CHAT_PG_PORT (tools/stack.sh purge with those)"
		return
	fi
	"$root/tools/stack.sh" purge >/dev/null 2>&1 || true
	rm -rf "$RUN_DIR"
}
trap cleanup EXIT

"$root/tools/stack.sh" start >/dev/null
dsn="postgresql://chat@127.0.0.1:$CHAT_PG_PORT/chat?passfile=$RUN_DIR/pgpass"
base="http://127.0.0.1:$CHAT_HTTP_PORT"

user=$(cat /proc/sys/kernel/random/uuid)
token=$("$CHAT_BIN_DIR/chat-token" --ttl 7200 "$user")
# POST /rooms runs as another user, so that the rooms it creates do not
# grow the list GET /rooms reads (whatever the order of the runs).
creator_token=$("$CHAT_BIN_DIR/chat-token" --ttl 7200 "$(cat /proc/sys/kernel/random/uuid)")

# Seed: the user in nrooms rooms of 4 participants with 20 messages each,
# and one more room with 100 messages for GET /rooms/:id.
room=$(psql -X -q -tA "$dsn" -v u="$user" -v n="$nrooms" <<'SQL'
WITH rooms AS (
	INSERT INTO chat_rooms (owner_id, apartment_id)
	SELECT CASE WHEN i % 2 = 0 THEN :'u'::uuid ELSE gen_random_uuid() END,
	       CASE WHEN i % 3 = 0 THEN NULL ELSE i END
	FROM generate_series(1, :n + 1) i RETURNING id, owner_id),
parts AS (
	INSERT INTO chat_rooms_participants (room_id, participant_id, is_owner)
	SELECT id, :'u'::uuid, owner_id = :'u'::uuid FROM rooms
	UNION ALL
	SELECT id, owner_id, true FROM rooms WHERE owner_id <> :'u'::uuid
	UNION ALL
	SELECT id, gen_random_uuid(), false FROM rooms, generate_series(1, 2)),
msgs AS (
	INSERT INTO chat_room_messages (room_id, message, sender_id)
	SELECT id, 'message number ' || k || ' of a benchmark room', :'u'::uuid
	FROM rooms, generate_series(1, 20) k)
SELECT max(id) FROM rooms;
SQL
)
# Background: other users' rooms, so that the tables and their statistics
# look like a service in use (on tables of a few rows the planner picks
# sequential scans, and foreign key checks keep such plans per session).
psql -X -q "$dsn" -v r="$room" -v u="$user" -v bg="${BENCH_BG_ROOMS:-20000}" <<'SQL'
INSERT INTO chat_room_messages (room_id, message, sender_id)
SELECT :r, 'history message ' || k, :'u'::uuid FROM generate_series(1, 80) k;
WITH rooms AS (
	INSERT INTO chat_rooms (owner_id, apartment_id)
	SELECT gen_random_uuid(), i FROM generate_series(1, :bg) i RETURNING id, owner_id),
parts AS (
	INSERT INTO chat_rooms_participants (room_id, participant_id, is_owner)
	SELECT id, owner_id, true FROM rooms
	UNION ALL SELECT id, gen_random_uuid(), false FROM rooms)
INSERT INTO chat_room_messages (room_id, message, sender_id)
SELECT id, 'background message ' || k, owner_id FROM rooms, generate_series(1, 5) k;
ANALYZE chat_rooms; ANALYZE chat_rooms_participants; ANALYZE chat_room_messages;
SQL

others="\"$(cat /proc/sys/kernel/random/uuid)\",\"$(cat /proc/sys/kernel/random/uuid)\""
lua=$RUN_DIR/post.lua
cat >"$lua" <<LUA
wrk.method = "POST"
wrk.body = '{"users":[$others],"apartment_id":42}'
wrk.headers["Content-Type"] = "application/json"
LUA

# Sanity: every endpoint answers as expected before it is measured.
check() {
	local want=$1; shift
	local got
	got=$(curl -s -o /dev/null -w '%{http_code}' "$@")
	[ "$got" = "$want" ] || { echo "bench: $* answered $got, not $want" >&2; exit 1; }
}
auth=(-H "Authorization: Bearer $token")
check 200 "http://127.0.0.1:$static_port/"
check 200 "${auth[@]}" "$base/rooms"
check 200 "${auth[@]}" "$base/rooms/$room"
check 201 "${auth[@]}" -X POST -d '{"users":[]}' "$base/rooms"

declare -A rps
run() {
	local name=$1; shift
	local out
	# Unmeasured warm-up: plan caches, and on a fresh cluster the WAL
	# segments that a steady-state server recycles instead of creating.
	wrk -t"$threads" -c"$conns" -d"${warm}s" "$@" >/dev/null
	out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$@")
	if echo "$out" | grep -q 'Non-2xx'; then
		echo "bench: $name: $(echo "$out" | grep 'Non-2xx')" >&2
	fi
	rps[$name]=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
	echo "$out" | awk -v name="$name" '
		/Requests\/sec/ { rps = $2 }
		/^ +50%/ { p50 = $2 } /^ +75%/ { p75 = $2 }
		/^ +90%/ { p90 = $2 } /^ +99%/ { p99 = $2 }
		END { printf "%-18s %10s req/s   p50 %-9s p75 %-9s p90 %-9s p99 %s\n",
		      name, rps, p50, p75, p90, p99 }'
}

echo "bench-rest: $conns connections, $threads wrk threads, ${secs}s each," \
	"$CHAT_REST_WORKERS rest-fcgi workers, $(nproc) cores"
for what in $only; do
	case $what in
	static) run "static (ceiling)" "http://127.0.0.1:$static_port/" ;;
	list) run "GET /rooms" "${auth[@]}" "$base/rooms" ;;
	get) run "GET /rooms/:id" "${auth[@]}" "$base/rooms/$room" ;;
	create) run "POST /rooms" -H "Authorization: Bearer $creator_token" -s "$lua" "$base/rooms" ;;
	esac
done

# Each figure beside its ceiling from this run: nginx answering a static
# "return 200" on the same machine at the same moment.
ceil=${rps["static (ceiling)"]:-}
if [ -n "$ceil" ]; then
	echo
	printf '%-18s %10s %12s %7s  %s\n' "figure" "req/s" "static" "ratio" "target"
	for name in "GET /rooms" "GET /rooms/:id" "POST /rooms"; do
		[ -n "${rps[$name]:-}" ] || continue
		printf '%-18s %10s %12s %7s  %s\n' "$name" "${rps[$name]}" "$ceil" \
			"$(awk -v a="${rps[$name]}" -v b="$ceil" 'BEGIN { printf "%.3f", a / b }')" \
			"$([ "$name" = "GET /rooms" ] && echo ">= 0.10")"
	done
fi
