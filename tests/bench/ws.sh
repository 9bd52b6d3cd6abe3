#!/usr/bin/env bash
# `make bench-ws`: the websocket benchmark (docs/bench-ws.md).
#
# Starts a throw-away stack (tools/stack.sh) on free ports in a temporary
# RUN_DIR, seeds 500 two-person rooms (1,000 users) plus 7,500 rooms for
# the idle users, then runs build/ws-load against the ws-daemon's own port
# (not through nginx, so the figures are the daemon's):
#   flood    1,000 users send as fast as confirmations allow; once more
#            through nginx (its peer: the flood straight to the daemon);
#            then its ceiling, a plain batched INSERT of the same rows
#            with pgbench (below), right after each run
#   rate     2,000 messages/s in total, latency percentiles; again with
#            15,000 idle connections held (its peer: the run without)
#   idle     15,000 connections held, daemon RSS per connection
#   admit    15,000 clients connect at once through nginx to a freshly
#            restarted daemon while the rate load flows
#   store    the ceilings of the store path: a plain batched INSERT of the
#            same rows and chat_ws_insert alone (the daemon's statement),
#            with pgbench, same database
#   foreign  the next live message after a foreign writer's insert
# and prints every run, then each figure beside its ceiling or peer from
# the same run, with the ratio. The stack and the directory are removed at
# the end, also on failure or Ctrl-C.
#
# Settings (environment):
#   WS_BENCH_RUNS        runs of each test                     (3)
#   WS_BENCH_SECS        measured seconds of a flood/rate run  (10)
#   WS_BENCH_WINDOW      flood: unconfirmed per connection     (1)
#   WS_BENCH_RATE        rate: messages/s in total             (2000)
#   WS_BENCH_IDLE        idle connections                      (15000)
#   WS_BENCH_IDLE_PROCS  ws-load processes sharing them        (2)
#   WS_BENCH_CEIL_ROWS   rows per statement of the store ceilings (1000)
#   WS_BENCH_HISTORY     messages to store, then measure rate again (0: no)
#   CHAT_DB_WORKERS      the daemon's database workers (2); the flood is
#                        also run with 1, as its peer
#   WS_BENCH_SWEEP       flood windows to try once each, e.g. "1 2 4 8" (none)
#   WS_BENCH_KEEP=1      keep the run directory (logs, raw outputs)
#   CHAT_BIN_DIR         the programs under test               (build)
# Benchmarks are not tests: nothing here fails on a slow figure; the
# exit status is 1 only when a run broke (delivery check, lost connections).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=${WS_BENCH_RUNS:-3}
secs=${WS_BENCH_SECS:-10}
window=${WS_BENCH_WINDOW:-1}
rate=${WS_BENCH_RATE:-2000}
idle=${WS_BENCH_IDLE:-15000}
procs=${WS_BENCH_IDLE_PROCS:-2}
ceil_rows=${WS_BENCH_CEIL_ROWS:-1000}
history=${WS_BENCH_HISTORY:-0}
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -n 1)
load=$root/build/ws-load
PYTHON=/usr/bin/python3

# Each ws-load process needs a descriptor per connection; the daemon gets
# its own raised limit from tools/stack.sh.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
per_proc=$(((idle + procs - 1) / procs))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((per_proc + 100)) ]; then
	echo "ws.sh: open files limited to $(ulimit -n); raise it or WS_BENCH_IDLE_PROCS" >&2
	exit 1
fi

# n distinct free ports below the kernel's ephemeral range: the 15,000
# client connections take ports from that range, and a listener restarted
# later (restart-ws) must not find its port taken by one of them.
free_ports() {
	"$PYTHON" - "$1" <<-'PY'
	import random, socket, sys
	got = []
	while len(got) < int(sys.argv[1]):
	    p = random.randrange(20000, 32000)
	    s = socket.socket()
	    try:
	        s.bind(("127.0.0.1", p))
	        if p not in got:
	            got.append(p)
	    except OSError:
	        pass
	    finally:
	        s.close()
	print(*got)
	PY
}

RUN_DIR=$(mktemp -d /tmp/chat-bench-ws.XXXXXX)
# As root, Postgres runs as "postgres" and keeps its data under /var/tmp
# (tools/stack.sh, pg_home): the cleanup purges it (2.4-2.8 GB a run),
# as tests/bench/rest.sh does.
export RUN_DIR
read -r CHAT_HTTP_PORT CHAT_WS_PORT CHAT_PG_PORT < <(free_ports 3)
export CHAT_HTTP_PORT CHAT_WS_PORT CHAT_PG_PORT
export CHAT_WS_COUNT=1
export CHAT_DB_WORKERS=${CHAT_DB_WORKERS:-2}
dbw=$CHAT_DB_WORKERS
# Idle connections must stay for the memory figure; per-connection log
# lines would cost more than the traffic.
export CHAT_IDLE_TIMEOUT=0
export CHAT_LOG_LEVEL=${CHAT_LOG_LEVEL:-warn}
# The flood sends as fast as confirmations allow (30+ messages/s per user,
# far over CHAT_WS_MSG_RATE's default of 20/s): the daemon's rate limit
# is set out of reach, so that the figures measure throughput, not the
# limit. The rate test (5/s per user) would pass under the default.
export CHAT_WS_MSG_RATE=${CHAT_WS_MSG_RATE:-1000000}
export CHAT_WS_MSG_BURST=${CHAT_WS_MSG_BURST:-1000000}
unset DATABASE_URL CHAT_EVT_ENDPOINTS	# always the embedded, throw-away Postgres
# ws-load connects from 127.0.0.x, thousands at once: nginx's per-address
# limits (README "Limits") off for it
export CHAT_NGINX_UNLIMITED=127.0.0.0/8
out=$RUN_DIR/out
mkdir -p "$out"
bg_pids=()
failed=0

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ $rc -ne 0 ] && [ -f "$RUN_DIR/logs/ws-0.log" ]; then
		echo "--- last lines of the ws-daemon log" >&2
		tail -n 20 "$RUN_DIR/logs/ws-0.log" >&2 || true
	fi
	if [ "${WS_BENCH_KEEP:-0}" = 1 ]; then
		timeout 60 tools/stack.sh stop >/dev/null 2>&1 || true
		echo "ws.sh: run directory kept: $RUN_DIR (tools/stack.sh purge with it removes its Postgres data)"
	else
		timeout 60 tools/stack.sh purge >/dev/null 2>&1 || true
		rm -rf "$RUN_DIR"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Everything shares the machine's cores: other work running meanwhile
# shows in the figures, so the load average is printed with them.
echo "== build $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) cores," \
	"load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "== starting the stack in $RUN_DIR (ws-daemon on 127.0.0.1:$CHAT_WS_PORT, nginx on :$CHAT_HTTP_PORT)"
timeout 180 tools/stack.sh start >"$out/stack.log" 2>&1 || {
	cat "$out/stack.log" >&2; exit 1; }
dsn="postgresql://chat@127.0.0.1:$CHAT_PG_PORT/chat?passfile=$RUN_DIR/pgpass"

# Two-person rooms for the users first .. first+2*n-1; prints
# "room_id uuid_a uuid_b" lines. The UUID formula is ws-load's (-u).
seed() {
	local first=$1 n=$2
	timeout 120 psql "$dsn" -X -q -v ON_ERROR_STOP=1 -tA -F ' ' <<-SQL
	CREATE TEMP TABLE bench_pairs AS
	SELECT g AS k,
	       ('00000000-0000-4000-8000-' || lpad(to_hex($first + 2 * g), 12, '0'))::uuid AS a,
	       ('00000000-0000-4000-8000-' || lpad(to_hex($first + 2 * g + 1), 12, '0'))::uuid AS b
	FROM generate_series(0, $n - 1) g;
	WITH r AS (
		INSERT INTO chat_rooms (owner_id)
		SELECT a FROM bench_pairs ORDER BY k RETURNING id, owner_id
	), j AS (
		SELECT r.id, p.k, p.a, p.b FROM r JOIN bench_pairs p ON p.a = r.owner_id
	), ins AS (
		INSERT INTO chat_rooms_participants (room_id, participant_id, is_owner)
		SELECT id, a, true FROM j UNION ALL SELECT id, b, false FROM j
	)
	SELECT id, a, b FROM j ORDER BY k;
	SQL
}
seed 0 500 >"$RUN_DIR/rooms.txt"
seed 1000000 $(((idle + 1) / 2)) >"$RUN_DIR/idle-rooms.txt"
echo "== seeded $(wc -l <"$RUN_DIR/rooms.txt") rooms of 2 users, $(wc -l <"$RUN_DIR/idle-rooms.txt") for the idle users"

# The value of key in a ws-load output ("-" when absent).
val() { awk -v k="$2" '$1 == k { v = $2 } END { print v == "" ? "-" : v }' "$1"; }
# The same for counts: 0 when absent.
num() { local v; v=$(val "$1" "$2"); [ "$v" = - ] && v=0; echo "$v"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }'; }

# A run is broken when the delivery check fails or connections were lost.
check() {
	local f=$1
	if [ "$(val "$f" verified)" != yes ] || [ "$(val "$f" failed)" != 0 ] ||
		[ "$(val "$f" closed_by_server)" != 0 ]; then
		echo "   !! $(basename "$f"): verified=$(val "$f" verified) failed=$(val "$f" failed)" \
			"closed=$(val "$f" closed_by_server) undelivered=$(val "$f" undelivered)" \
			"close_codes:$(awk '$1 == "close_codes" { $1 = ""; print }' "$f")"
		failed=1
	fi
}

# Run ws-load with a time bound; its output goes to file $1.
run_load() {
	local f=$1 bound=$2
	shift 2
	timeout -s TERM -k 10 "$bound" "$load" "$@" >"$f" 2>"$f.err" || true
	[ -s "$f.err" ] && sed 's/^/   /' "$f.err" | head -n 5
	return 0
}

# The store path's ceilings, with pgbench on the same database: the same
# rows the flood stores (the flood's rooms and users, a 48-character text,
# a fresh temp id each), $ceil_rows per statement (the flood keeps up to
# 1,000 messages in flight, so its batches reach that size), one statement
# per transaction as the daemon commits.
timeout 60 psql "$dsn" -X -q -v ON_ERROR_STOP=1 <<-SQL
CREATE TABLE bench_rooms (k serial, room bigint, a uuid, b uuid);
\copy bench_rooms (room, a, b) FROM '$RUN_DIR/rooms.txt' WITH (DELIMITER ' ')
ANALYZE bench_rooms;
SQL
nrooms=$(wc -l <"$RUN_DIR/rooms.txt")
rows_sql="FROM generate_series(1, $ceil_rows) g JOIN bench_rooms r ON r.k = 1 + g % $nrooms"
cat >"$RUN_DIR/ceil-insert.sql" <<-SQL
INSERT INTO chat_room_messages (room_id, message, sender_id, client_temp_id)
SELECT r.room, rpad('ceiling ' || g, 48, '.'), CASE WHEN g % 2 = 0 THEN r.a ELSE r.b END,
       md5(random()::text) $rows_sql ORDER BY g;
SQL
cat >"$RUN_DIR/ceil-store.sql" <<-SQL
SELECT count(*) FROM (SELECT
	array_agg(CASE WHEN g % 2 = 0 THEN r.a ELSE r.b END ORDER BY g) s,
	array_agg(r.room ORDER BY g) rm,
	array_agg(rpad('ceiling ' || g, 48, '.') ORDER BY g) m,
	array_agg(md5(random()::text) ORDER BY g) t $rows_sql) x,
	chat_ws_insert(x.s, x.rm, x.m, x.t, false);
SQL
# The same two on $dbw backends at once, as the daemon's $dbw database
# workers run (each client its own rooms: the workers share rooms out).
rows_sql="FROM generate_series(1, $ceil_rows) g JOIN bench_rooms r"
rows_sql+=" ON r.k = 1 + ($dbw * g + :client_id) % $nrooms"
sed "s/FROM generate_series.*JOIN bench_rooms r ON r.k = 1 + g % $nrooms/$rows_sql/" \
	"$RUN_DIR/ceil-insert.sql" >"$RUN_DIR/ceil-insert-n.sql"
sed "s/FROM generate_series.*JOIN bench_rooms r ON r.k = 1 + g % $nrooms/$rows_sql/" \
	"$RUN_DIR/ceil-store.sql" >"$RUN_DIR/ceil-store-n.sql"
pgb() {	# rows/s of script $1 run by pgbench for $secs s on $2 connections
	PGPASSFILE=$RUN_DIR/pgpass "$pgbench" -n -T "$secs" -c "${2:-1}" -j "${2:-1}" -f "$1" \
		"postgresql://chat@127.0.0.1:$CHAT_PG_PORT/chat" 2>&1 |
		awk -v n="$ceil_rows" '/^tps/ { printf "%.0f", $3 * n }'
}

bound=$((secs + 90))
flood_c=() flood_d=() flood_c50=() flood_n=() flood_ceil=()
for i in $(seq "$runs"); do
	f=$out/flood-$i.txt
	run_load "$f" $bound flood -p "$CHAT_WS_PORT" -r "$RUN_DIR/rooms.txt" -w "$window" -d "$secs"
	check "$f"
	flood_c+=("$(val "$f" confirmed_per_s)") flood_d+=("$(val "$f" delivered_per_s)")
	flood_c50+=("$(val "$f" confirm_p50_ms)")
	echo "flood run $i: confirmed/s ${flood_c[-1]} deliveries/s ${flood_d[-1]}" \
		"send->confirm p50 ${flood_c50[-1]} p99 $(val "$f" confirm_p99_ms) ms verified $(val "$f" verified)"
	# its peer: the same flood through nginx, right after it
	f=$out/flood-nginx-$i.txt
	run_load "$f" $bound flood -p "$CHAT_HTTP_PORT" -r "$RUN_DIR/rooms.txt" -w "$window" -d "$secs"
	check "$f"
	flood_n+=("$(val "$f" confirmed_per_s)")
	echo "flood run $i through nginx: confirmed/s ${flood_n[-1]} deliveries/s" \
		"$(val "$f" delivered_per_s) verified $(val "$f" verified)"
	# its ceiling: the plain INSERT of the same rows, right after it, so
	# that both see the same table and the same moment of the machine
	flood_ceil+=("$(pgb "$RUN_DIR/ceil-insert.sql")")
	echo "flood run $i: plain INSERT ceiling right after it ${flood_ceil[-1]} rows/s;" \
		"flood / ceiling $(ratio "${flood_c[-1]}" "${flood_ceil[-1]}")"
done

# The flood's peer for the database workers: the same flood with one
# worker (every room on one backend), on a daemon restarted for it.
flood_1w=()
if [ "$dbw" -ne 1 ]; then
	CHAT_DB_WORKERS=1 timeout 60 tools/stack.sh restart-ws >/dev/null
	sleep 1
	for i in $(seq "$runs"); do
		f=$out/flood-1w-$i.txt
		run_load "$f" $bound flood -p "$CHAT_WS_PORT" -r "$RUN_DIR/rooms.txt" -w "$window" -d "$secs"
		check "$f"
		flood_1w+=("$(val "$f" confirmed_per_s)")
		echo "flood run $i with 1 database worker: confirmed/s ${flood_1w[-1]} verified $(val "$f" verified)"
	done
	timeout 60 tools/stack.sh restart-ws >/dev/null
	sleep 1
fi

for w in ${WS_BENCH_SWEEP:-}; do
	f=$out/sweep-$w.txt
	run_load "$f" $bound flood -p "$CHAT_WS_PORT" -r "$RUN_DIR/rooms.txt" -w "$w" -d "$secs"
	check "$f"
	echo "flood window $w: confirmed/s $(val "$f" confirmed_per_s) deliveries/s $(val "$f" delivered_per_s)" \
		"send->confirm p50 $(val "$f" confirm_p50_ms) p99 $(val "$f" confirm_p99_ms) ms verified $(val "$f" verified)"
done

# Buffers Postgres' checkpointer has written so far; the difference over
# a rate run tells whether a checkpoint (the floods write a lot of WAL)
# was running while the latencies were taken.
checkpoints() {
	timeout 30 psql "$dsn" -X -tA -c \
		"SELECT buffers_checkpoint FROM pg_stat_bgwriter" 2>/dev/null || echo 0
}

# One rate run into file $1 ($2: label for the line printed).
rate_run() {
	local f=$1 label=$2 ck
	ck=$(checkpoints)
	run_load "$f" $bound rate -p "$CHAT_WS_PORT" -r "$RUN_DIR/rooms.txt" -R "$rate" -d "$secs"
	ck=$(($(checkpoints) - ck))
	check "$f"
	echo "$label ($(val "$f" confirmed_per_s) msg/s): send->confirm p50 $(val "$f" confirm_p50_ms)" \
		"p90 $(val "$f" confirm_p90_ms) p99 $(val "$f" confirm_p99_ms) max $(val "$f" confirm_max_ms) ms;" \
		"send->receive p50 $(val "$f" deliver_p50_ms) p90 $(val "$f" deliver_p90_ms)" \
		"p99 $(val "$f" deliver_p99_ms) max $(val "$f" deliver_max_ms) ms; checkpoint wrote $ck buffers"
}

rate_c50=() rate_c99=() rate_r50=() rate_r99=() rate_got=()
for i in $(seq "$runs"); do
	f=$out/rate-$i.txt
	rate_run "$f" "rate run $i"
	rate_c50+=("$(val "$f" confirm_p50_ms)") rate_c99+=("$(val "$f" confirm_p99_ms)")
	rate_r50+=("$(val "$f" deliver_p50_ms)") rate_r99+=("$(val "$f" deliver_p99_ms)")
	rate_got+=("$(val "$f" confirmed_per_s)")
done

rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

# Idle connections: WS_BENCH_IDLE users of the idle rooms, shared by
# $procs ws-load processes, each with its own slice of users and of
# 127.0.0.2.. source addresses. idle_start PORT TAG PARALLEL starts them
# (PARALLEL: handshakes in progress at once per process) and returns once
# each has opened all it could; idle_stop collects what they held.
per_lines=$(((per_proc + 1) / 2))
idle_files=()
idle_start() {
	local port=$1 tag=$2 par=$3 p f n
	bg_pids=() idle_files=()
	for ((p = 0; p < procs; p++)); do
		f=$out/idle-$tag-$p.txt
		idle_files+=("$f")
		: >"$f"
		sed -n "$((p * per_lines + 1)),$(((p + 1) * per_lines))p" \
			"$RUN_DIR/idle-rooms.txt" >"$RUN_DIR/idle-rooms-$p.txt"
		timeout -s TERM -k 10 600 "$load" idle -p "$port" \
			-r "$RUN_DIR/idle-rooms-$p.txt" -s "127.0.0.$((2 + 8 * p))" -S 8 \
			-c "$par" -t 90 -d 500 >"$f" 2>"$f.err" &
		bg_pids+=($!)
	done
	for _ in $(seq 1200); do
		n=0
		for f in "${idle_files[@]}"; do grep -q '^ready' "$f" && n=$((n + 1)); done
		[ $n -eq "$procs" ] && break
		sleep 0.1
	done
}
idle_sum() {	# the sum of key $1 over the idle processes' outputs
	local f t=0
	for f in "${idle_files[@]}"; do t=$((t + $(num "$f" "$1"))); done
	echo $t
}
idle_max() {	# the largest value of key $1 over the idle processes' outputs
	local f
	for f in "${idle_files[@]}"; do val "$f" "$1"; done | sort -g | tail -n 1
}
idle_stop() {	# sets held: how many connections were still held
	local f
	kill -TERM "${bg_pids[@]}" 2>/dev/null || true
	wait "${bg_pids[@]}" || true	# not in a subshell: they are our children
	bg_pids=()
	held=0
	for f in "${idle_files[@]}"; do
		held=$((held + $(num "$f" held)))
		if [ -s "$f.err" ]; then sed 's/^/   /' "$f.err" | head -n 5; fi
	done
	return 0
}

# Rate with the idle connections held: the cost of an event must not grow
# with the number of connections (the peer is the rate run above).
idle_start "$CHAT_WS_PORT" rate 256
echo "== $(idle_sum established) idle connections held for the rate runs"
irate_r50=() irate_r99=() irate_c99=()
for i in $(seq "$runs"); do
	f=$out/rate-idle-$i.txt
	rate_run "$f" "rate run $i, $idle idle held"
	irate_r50+=("$(val "$f" deliver_p50_ms)") irate_r99+=("$(val "$f" deliver_p99_ms)")
	irate_c99+=("$(val "$f" confirm_p99_ms)")
done
idle_stop
[ "$held" -eq "$idle" ] || { echo "   !! rate with idle: $held of $idle held"; failed=1; }

# Idle memory: a freshly started daemon each run, so memory freed by
# earlier runs cannot be reused and hide the cost of the new connections.
idle_held=() idle_per=()
for i in $(seq "$runs"); do
	timeout 60 tools/stack.sh restart-ws >/dev/null
	pid=$(cat "$RUN_DIR/ws-0.pid")
	sleep 2
	before=$(rss_kib "$pid")
	idle_start "$CHAT_WS_PORT" mem-$i 256
	sleep 3
	after=$(rss_kib "$pid")
	est=$(idle_sum established)
	idle_stop
	[ "$held" -eq "$idle" ] || { echo "   !! idle run $i: $held of $idle held"; failed=1; }
	per=$(awk -v a="$after" -v b="$before" -v n="$est" 'BEGIN { printf "%.2f", n ? (a - b) / n : 0 }')
	idle_held+=("$held") idle_per+=("$per")
	echo "idle run $i: established $est held $held; daemon RSS $before KiB -> $after KiB;" \
		"$per KiB per connection"
done

# Admission: a reconnect storm after a restart. The daemon is restarted,
# the rate load (direct) starts flowing, then every idle client connects
# through nginx at once (all handshakes in progress together). The time
# is from the first connect to the last answered handshake, per process;
# the rate run checks that no message of the flow went astray meanwhile.
admit_ms=() admit_est=()
for i in $(seq "$runs"); do
	timeout 60 tools/stack.sh restart-ws >/dev/null
	sleep 1
	f=$out/admit-rate-$i.txt
	timeout -s TERM -k 10 $((bound + 30)) "$load" rate -p "$CHAT_WS_PORT" \
		-r "$RUN_DIR/rooms.txt" -R "$rate" -d $((secs + 10)) >"$f" 2>"$f.err" &
	rate_pid=$!
	sleep 4
	idle_start "$CHAT_HTTP_PORT" admit-$i "$per_proc"
	est=$(idle_sum established)
	ms=$(idle_max open_ms)
	idle_stop
	wait "$rate_pid" || true
	check "$f"
	admit_ms+=("$ms") admit_est+=("$est")
	[ "$est" -eq "$idle" ] || { echo "   !! admission run $i: $est of $idle admitted"; failed=1; }
	echo "admission run $i: $est of $idle admitted through nginx in $ms ms" \
		"while $(val "$f" confirmed_per_s) msg/s flowed (verified $(val "$f" verified))"
done

# The store path's ceilings again, after everything else: the plain INSERT
# beside chat_ws_insert alone, on one connection and on $dbw.
ceil_ins=() ceil_fn=() ceil_ins_n=() ceil_fn_n=()
for i in $(seq "$runs"); do
	ceil_ins+=("$(pgb "$RUN_DIR/ceil-insert.sql")") ceil_fn+=("$(pgb "$RUN_DIR/ceil-store.sql")")
	echo "store ceilings run $i: plain INSERT of $ceil_rows rows ${ceil_ins[-1]} rows/s;" \
		"chat_ws_insert alone ${ceil_fn[-1]} rows/s"
	if [ "$dbw" -gt 1 ]; then
		ceil_ins_n+=("$(pgb "$RUN_DIR/ceil-insert-n.sql" "$dbw")")
		ceil_fn_n+=("$(pgb "$RUN_DIR/ceil-store-n.sql" "$dbw")")
		echo "store ceilings run $i on $dbw connections: plain INSERT ${ceil_ins_n[-1]} rows/s;" \
			"chat_ws_insert ${ceil_fn_n[-1]} rows/s"
	fi
done

# Foreign writer: the next live message after an insert by a script.
timeout 60 tools/stack.sh restart-ws >/dev/null
sleep 1
read -r froom fa fb < <(head -n 1 "$RUN_DIR/rooms.txt")
f=$out/foreign.txt
CHAT_BIN_DIR=${CHAT_BIN_DIR:-$root/build} timeout 120 "$PYTHON" tests/bench/foreign.py \
	"$dsn" "$CHAT_WS_PORT" "$froom" "$fa" "$fb" 20 >"$f" 2>"$f.err" || {
	sed 's/^/   /' "$f.err" | tail -n 5; failed=1; }
echo "foreign writer: next live message p50 $(val "$f" foreign_p50_ms) max $(val "$f" foreign_max_ms) ms;" \
	"without the insert p50 $(val "$f" plain_p50_ms) max $(val "$f" plain_max_ms) ms"

# History: latency must not grow with the number of stored messages.
hrate_r99=()
if [ "$history" -gt 0 ]; then
	echo "== storing $history messages of history (spread over every seeded room)"
	timeout 3600 psql "$dsn" -X -q -v ON_ERROR_STOP=1 <<-SQL
	INSERT INTO chat_room_messages (room_id, message, sender_id, client_temp_id)
	SELECT r.id, 'history ' || g, r.owner_id, 'h' || g
	FROM generate_series(1, $history) g
	JOIN (SELECT id, owner_id, row_number() OVER (ORDER BY id) - 1 AS k FROM chat_rooms) r
	  ON r.k = g % (SELECT count(*) FROM chat_rooms);
	ANALYZE chat_room_messages;
	SQL
	echo "== chat_room_messages now holds $(psql "$dsn" -X -tA -c 'SELECT count(*) FROM chat_room_messages') rows"
	for i in $(seq "$runs"); do
		f=$out/rate-history-$i.txt
		rate_run "$f" "rate run $i with history"
		hrate_r99+=("$(val "$f" deliver_p99_ms)")
	done
fi

# The ratio of two medians ("-" when either is missing).

echo
echo "== websocket benchmark, medians of $runs runs ($(nproc) cores, ws-load direct to ws-daemon port)"
echo "== load average now $(cut -d ' ' -f 1-3 /proc/loadavg)"
row() {	# measure, target, values of the runs
	local m=$1 t=$2
	shift 2
	printf '%-50s %10s  %-26s %s\n' "$m" "$(median "$@")" "$(IFS=/; echo "$*")" "$t"
}
printf '%-50s %10s  %-26s %s\n' "measure" "median" "runs" "target"
row "confirmed messages/s (flood, window $window)" "" "${flood_c[@]}"
row "deliveries/s (flood)" "= confirmed" "${flood_d[@]}"
row "send->confirm p50 ms (flood, 1 in flight per user)" "" "${flood_c50[@]}"
row "confirmed messages/s (flood through nginx)" "" "${flood_n[@]}"
[ ${#flood_1w[@]} -gt 0 ] && row "confirmed messages/s (flood, 1 database worker)" "" "${flood_1w[@]}"
row "store ceiling: plain INSERT after each flood, rows/s" "" "${flood_ceil[@]}"
row "store ceiling: plain INSERT, rows/s" "" "${ceil_ins[@]}"
row "store ceiling: chat_ws_insert alone, rows/s" "" "${ceil_fn[@]}"
if [ ${#ceil_fn_n[@]} -gt 0 ]; then
	row "store ceiling: plain INSERT, $dbw connections, rows/s" "" "${ceil_ins_n[@]}"
	row "store ceiling: chat_ws_insert, $dbw connections, rows/s" "" "${ceil_fn_n[@]}"
fi
row "achieved rate, msg/s (rate test)" "$rate" "${rate_got[@]}"
row "send->confirm p50 ms at $rate msg/s" "" "${rate_c50[@]}"
row "send->confirm p99 ms at $rate msg/s" "" "${rate_c99[@]}"
row "send->receive p50 ms at $rate msg/s" "" "${rate_r50[@]}"
row "send->receive p99 ms at $rate msg/s" "<= 10" "${rate_r99[@]}"
row "send->receive p50 ms, $idle idle held" "" "${irate_r50[@]}"
row "send->receive p99 ms, $idle idle held" "" "${irate_r99[@]}"
[ ${#hrate_r99[@]} -gt 0 ] && row "send->receive p99 ms, $history stored" "" "${hrate_r99[@]}"
row "idle connections held" "$idle" "${idle_held[@]}"
row "daemon RSS per idle connection, KiB" "<= 2" "${idle_per[@]}"
row "admission of $idle through nginx, ms" "<= 5000" "${admit_ms[@]}"
row "foreign writer: next live message p50 ms" "" "$(val "$out/foreign.txt" foreign_p50_ms)"
row "foreign writer: next live message max ms" "" "$(val "$out/foreign.txt" foreign_max_ms)"

fl=$(median "${flood_c[@]}")
echo
echo "== each figure beside its ceiling or peer, from this run"
printf '%-50s %10s %12s %7s  %s\n' "figure" "value" "ceiling/peer" "ratio" "target"
cmp() { printf '%-50s %10s %12s %7s  %s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4"; }
cmp "flood msgs/s / plain INSERT rows/s (paired)" "$fl" "$(median "${flood_ceil[@]}")" ">= 0.80"
pairs=()
for i in "${!flood_c[@]}"; do pairs+=("$(ratio "${flood_c[$i]}" "${flood_ceil[$i]}")"); done
echo "  each run against the INSERT right after it: $(IFS=/; echo "${pairs[*]}")"
cmp "chat_ws_insert rows/s / plain INSERT rows/s" "$(median "${ceil_fn[@]}")" "$(median "${ceil_ins[@]}")" ""
cmp "flood msgs/s / chat_ws_insert rows/s" "$fl" "$(median "${ceil_fn[@]}")" ""
if [ ${#ceil_fn_n[@]} -gt 0 ]; then
	cmp "flood msgs/s / plain INSERT on $dbw connections" "$fl" "$(median "${ceil_ins_n[@]}")" ""
	cmp "chat_ws_insert / plain INSERT, both on $dbw conns" "$(median "${ceil_fn_n[@]}")" "$(median "${ceil_ins_n[@]}")" ""
fi
[ ${#flood_1w[@]} -gt 0 ] &&
	cmp "flood, $dbw database workers / 1 worker" "$fl" "$(median "${flood_1w[@]}")" ""
cmp "flood through nginx / flood direct" "$(median "${flood_n[@]}")" "$fl" ">= 0.90"
cmp "p99 send->receive: $idle idle held / none" "$(median "${irate_r99[@]}")" "$(median "${rate_r99[@]}")" "<= 1.50"
[ ${#hrate_r99[@]} -gt 0 ] &&
	cmp "p99 send->receive: $history stored / before" "$(median "${hrate_r99[@]}")" "$(median "${rate_r99[@]}")" "~ 1"
cmp "foreign writer p50 / plain send->receive p50" "$(val "$out/foreign.txt" foreign_p50_ms)" "$(val "$out/foreign.txt" plain_p50_ms)" "~ 1"
[ $failed -eq 0 ] || echo "some runs broke (see !! lines above); their figures are not valid"
exit $failed
