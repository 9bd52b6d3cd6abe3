#!/usr/bin/env bash
# The local stack: Postgres, the migrations, rest-fcgi under spawn-fcgi,
# ws-daemon(s) and nginx, all under one run directory.
#
# usage: tools/stack.sh start|run|stop|purge|status|restart-rest|restart-ws [N]|reload-nginx|logs|psql
#        (and stop-rest, start-rest, stop-pg, start-pg, used by the fault tests;
#        settings prints what the stack runs with, one NAME=value a line)
#
# Settings (environment; defaults good for a laptop):
#   RUN_DIR            where state, sockets and logs go     (.run)
#   CHAT_BIN_DIR       where the built programs are         (build)
#   CHAT_HTTP_PORT     nginx                                (8080)
#   CHAT_WS_PORT       first ws-daemon; daemon i on +i      (3030)
#   CHAT_WS_COUNT      how many ws-daemons                  (1)
#   CHAT_PG_PORT       the embedded Postgres                (5544)
#   CHAT_REST_WORKERS  rest-fcgi processes                  (4)
#   DATABASE_URL       an external Postgres instead of the embedded one
# and every CHAT_* / SUPABASE_* setting of the programs (README.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${RUN_DIR:-$root/.run}
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
CHAT_BIN_DIR=${CHAT_BIN_DIR:-$root/build}
export CHAT_HTTP_PORT=${CHAT_HTTP_PORT:-8080}
export CHAT_WS_PORT=${CHAT_WS_PORT:-3030}
export CHAT_PG_PORT=${CHAT_PG_PORT:-5544}
CHAT_WS_COUNT=${CHAT_WS_COUNT:-1}
CHAT_REST_WORKERS=${CHAT_REST_WORKERS:-4}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
logs=$RUN_DIR/logs

# The daemons' event inboxes: unix sockets inside the run directory.
if [ -z "${CHAT_EVT_ENDPOINTS:-}" ]; then
	eps=()
	for ((i = 0; i < CHAT_WS_COUNT; i++)); do eps+=("ipc://$RUN_DIR/evt-$i.sock"); done
	CHAT_EVT_ENDPOINTS=$(IFS=,; echo "${eps[*]}")
fi
export CHAT_EVT_ENDPOINTS
embedded_pg=0
if [ -z "${DATABASE_URL:-}" ]; then
	embedded_pg=1
	export DATABASE_URL="postgresql://chat@127.0.0.1:$CHAT_PG_PORT/chat"
fi

say() { echo "stack: $*"; }

# Postgres refuses to run as root: as root, run its commands as "postgres".
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Where the embedded Postgres keeps its data. As root, Postgres runs as the
# "postgres" user, which may not be able to enter a checkout under /root:
# then the data lives under /var/tmp, one folder per run directory.
pg_home() {
	if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$RUN_DIR" 2>/dev/null; then
		local d=/var/tmp/swappart-chat/$(echo "$RUN_DIR" | md5sum | cut -c1-12)
		mkdir -p "$d"; chown postgres: "$d"; chmod 755 /var/tmp/swappart-chat 2>/dev/null || true
		echo "$d"
	else
		[ "$(id -u)" -ne 0 ] || chmod o+rx "$RUN_DIR"
		echo "$RUN_DIR"
	fi
}

pg_start() {
	[ "$embedded_pg" = 1 ] || return 0
	local home data
	home=$(pg_home)
	data=$home/pg
	if [ ! -s "$data/PG_VERSION" ]; then
		mkdir -p "$data"
		[ "$(id -u)" -ne 0 ] || chown postgres: "$data"
		chmod 700 "$data"
		as_pg "$pgbin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
			--locale=C.UTF-8 >"$logs/initdb.log" 2>&1 || {
			cat "$logs/initdb.log" >&2; return 1; }
		cat >>"$data/postgresql.conf" <<-PGCONF
		listen_addresses = '127.0.0.1'
		unix_socket_directories = ''
		max_connections = 300
		shared_buffers = 256MB
		wal_buffers = 16MB
		logging_collector = off
		log_min_messages = warning
		PGCONF
		say "initialised Postgres in $data"
	fi
	if as_pg "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		say "Postgres already running"
	else
		touch "$home/postgres.log"; [ "$(id -u)" -ne 0 ] || chown postgres: "$home/postgres.log"
		[ "$home" = "$RUN_DIR" ] || ln -sf "$home/postgres.log" "$logs/postgres.log"
		as_pg "$pgbin/pg_ctl" -D "$data" -l "$home/postgres.log" -w -t 60 \
			-o "-p $CHAT_PG_PORT" start >/dev/null
	fi
	if ! psql -X -q -h 127.0.0.1 -p "$CHAT_PG_PORT" -U postgres -d postgres -tA \
		-c "SELECT 1 FROM pg_roles WHERE rolname = 'chat'" | grep -q 1; then
		psql -X -q -h 127.0.0.1 -p "$CHAT_PG_PORT" -U postgres -d postgres \
			-c "CREATE ROLE chat LOGIN" -c "CREATE DATABASE chat OWNER chat"
	fi
}

pg_stop() {
	[ "$embedded_pg" = 1 ] || return 0
	local data
	data=$(pg_home)/pg
	[ -s "$data/PG_VERSION" ] || return 0
	as_pg "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# Stop the processes listed in a pid file, waiting for them to exit.
kill_pidfile() {
	local f=$1 sig=${2:-TERM} pids
	[ -f "$f" ] || return 0
	pids=$(cat "$f")
	kill -"$sig" $pids 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 $pids 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL $pids 2>/dev/null || true
	rm -f "$f"
}

rest_start() {
	rm -f "$RUN_DIR/rest.sock"
	# spawn-fcgi forks the workers; each writes its pid to the pid file.
	# spawn-fcgi points the workers' stderr at /dev/null: a shell that
	# execs (same pid) puts their log lines back into rest.log.
	spawn-fcgi -s "$RUN_DIR/rest.sock" -M 0666 -F "$CHAT_REST_WORKERS" \
		-P "$RUN_DIR/rest.pid" -- /bin/sh -c 'exec "$0" 2>>"$1"' \
		"$CHAT_BIN_DIR/rest-fcgi" "$logs/rest.log" \
		>>"$logs/rest.log" 2>&1 </dev/null
}

rest_stop() { kill_pidfile "$RUN_DIR/rest.pid"; rm -f "$RUN_DIR/rest.sock"; }

ws_start_one() {
	local i=$1
	CHAT_WS_ID=$i CHAT_WS_PORT=$((CHAT_WS_PORT + i)) \
		nohup "$CHAT_BIN_DIR/ws-daemon" >>"$logs/ws-$i.log" 2>&1 </dev/null &
	echo $! >"$RUN_DIR/ws-$i.pid"
}

ws_stop_one() { kill_pidfile "$RUN_DIR/ws-$1.pid"; }

# Wait until something accepts TCP connections on a port.
wait_port() {
	local port=$1 what=$2
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.05
	done
	say "$what did not come up on port $port; see $logs" >&2
	return 1
}

nginx_render() {
	local servers="" user_line=""
	for ((i = 0; i < CHAT_WS_COUNT; i++)); do
		servers+="server 127.0.0.1:$((CHAT_WS_PORT + i));"$'\n\t'
	done
	[ "$(id -u)" -ne 0 ] || user_line="user root;"
	mkdir -p "$RUN_DIR/nginx" "$RUN_DIR/nginx-tmp"
	# chat.conf includes fastcgi_params relative to its own folder.
	cp /etc/nginx/fastcgi_params "$RUN_DIR/nginx/"
	# Comment lines keep their placeholders: they document them.
	sed -e "/^\s*#/!s|@HTTP_PORT@|$CHAT_HTTP_PORT|g" \
		-e "/^\s*#/!s|@FCGI_SOCKET@|$RUN_DIR/rest.sock|g" \
		-e "/^\s*#/!s|@RUN_DIR@|$RUN_DIR|g" \
		-e "/^\s*#/!s|@WS_SERVERS@|${servers//$'\n'/\\n}|g" \
		"$root/nginx/chat.conf" >"$RUN_DIR/nginx/chat.conf"
	sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@USER_LINE@|$user_line|" \
		-e "s|@EXTRA@|${NGINX_EXTRA:-}|" \
		"$root/nginx/local.conf.in" >"$RUN_DIR/nginx/nginx.conf"
}

nginx_start() {
	nginx_render
	nginx -q -t -c "$RUN_DIR/nginx/nginx.conf" -p "$RUN_DIR" 2>"$logs/nginx-test.log" || {
		cat "$logs/nginx-test.log" >&2; return 1; }
	nginx -c "$RUN_DIR/nginx/nginx.conf" -p "$RUN_DIR" 2>>"$logs/nginx-error.log"
}

nginx_stop() { kill_pidfile "$RUN_DIR/nginx.pid" QUIT; }

wait_health() {
	local url="http://127.0.0.1:$CHAT_HTTP_PORT/health"
	for _ in $(seq 300); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; then
			say "up: $url"; return 0
		fi
		sleep 0.1
	done
	say "no healthy answer from $url; logs in $logs" >&2
	curl -s "$url" >&2 || true
	return 1
}

start() {
	mkdir -p "$logs"
	for p in rest-fcgi ws-daemon; do
		[ -x "$CHAT_BIN_DIR/$p" ] || { say "$CHAT_BIN_DIR/$p is not built (make)" >&2; exit 1; }
	done
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	stop_tiers	# a second start restarts the tiers instead of doubling them
	pg_start
	"$root/tools/migrate.sh" "$DATABASE_URL"
	rest_start
	for ((i = 0; i < CHAT_WS_COUNT; i++)); do
		ws_start_one "$i"
		wait_port $((CHAT_WS_PORT + i)) "ws-daemon $i"
	done
	nginx_start
	wait_health
}

stop_tiers() {
	nginx_stop
	for f in "$RUN_DIR"/ws-*.pid; do
		[ -e "$f" ] && kill_pidfile "$f"
	done
	rest_stop
}

stop() {
	stop_tiers
	pg_stop
	say "stopped"
}

case ${1:-} in
start) start ;;
stop) stop ;;
purge)
	# stop, then delete the embedded Postgres data of this RUN_DIR, which
	# may live under /var/tmp (pg_home): throw-away stacks (benchmarks)
	# would otherwise leave it behind.
	stop
	if [ "$embedded_pg" = 1 ]; then
		home=$(pg_home)
		if [ "$home" = "$RUN_DIR" ]; then rm -rf "$home/pg"; else rm -rf "$home"; fi
	fi ;;
restart-rest) rest_stop; rest_start; say "rest-fcgi restarted" ;;
stop-rest) rest_stop ;;
start-rest) rest_start ;;
restart-ws)
	ids=${2:-$(seq 0 $((CHAT_WS_COUNT - 1)))}
	for i in $ids; do ws_stop_one "$i"; ws_start_one "$i"; wait_port $((CHAT_WS_PORT + i)) "ws-daemon $i"; done
	say "ws-daemon(s) $ids restarted" ;;
stop-pg) pg_stop ;;
start-pg) pg_start ;;
reload-nginx) nginx_render; nginx -c "$RUN_DIR/nginx/nginx.conf" -p "$RUN_DIR" -s reload ;;
status)
	for f in "$RUN_DIR"/*.pid; do
		[ -e "$f" ] || continue
		for p in $(cat "$f"); do
			kill -0 "$p" 2>/dev/null && s=running || s=dead
			echo "$(basename "$f" .pid) $p $s"
		done
	done ;;
logs) tail -n 50 -F "$logs"/*.log ;;
run)
	# start, follow the logs, stop on Ctrl-C (or TERM, or HUP)
	start
	trap 'trap - INT TERM HUP; kill $tail_pid 2>/dev/null; stop; exit 0' INT TERM HUP
	tail -n 0 -F "$logs"/*.log &
	tail_pid=$!
	say "following the logs; Ctrl-C stops the stack"
	wait $tail_pid ;;
psql) exec psql "$DATABASE_URL" ;;
settings)
	# The settings after the defaults and derived values above, so that
	# a caller (the integration tests) reads them instead of recomputing.
	for v in RUN_DIR CHAT_BIN_DIR CHAT_HTTP_PORT CHAT_WS_PORT CHAT_WS_COUNT \
		CHAT_PG_PORT CHAT_REST_WORKERS CHAT_EVT_ENDPOINTS DATABASE_URL; do
		echo "$v=${!v}"
	done ;;
*) echo "usage: $0 start|run|stop|purge|status|restart-rest|restart-ws [N]|stop-rest|start-rest|stop-pg|start-pg|reload-nginx|logs|psql|settings" >&2; exit 2 ;;
esac
