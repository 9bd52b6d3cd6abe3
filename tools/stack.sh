#!/usr/bin/env bash
# The local stack: Postgres, the migrations, rest-fcgi under spawn-fcgi,
# ws-daemon(s) and nginx, all under one run directory.
#
# usage: tools/stack.sh start|run|stop|purge|status|restart-rest|restart-ws [N]|reload-nginx|logs|psql
#        (and stop-rest, start-rest, stop-ws N, start-ws N, stop-pg, start-pg,
#        used by the fault tests;
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
#   CHAT_REST_METRICS_FILE  their shared counters      (RUN_DIR/rest/metrics)
#   CHAT_REST_CACHE_FILE    their GET /rooms change table (RUN_DIR/rest/lists)
#   DATABASE_URL       an external Postgres instead of the embedded one
#   CHAT_NGINX_*       nginx's limits and timeouts (README "Limits"); unset,
#                      the value in nginx/chat.conf stays
# and every CHAT_* / SUPABASE_* setting of the programs (README.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${RUN_DIR:-$root/.run}
umask 077
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
# Started as root, the tiers run as an unprivileged system user and nginx's
# workers as www-data; as anyone else, everything runs as that user.
CHAT_USER=${CHAT_USER:-swappart-chat}
is_root=0
[ "$(id -u)" -ne 0 ] || is_root=1
# Development mode (CHAT_DEV=1, set by make start/run/test) is remembered
# for the stack's lifetime, so that restart-ws and restart-rest keep it.
if [ "${CHAT_DEV:-}" = 1 ] && [ "${1:-}" = start -o "${1:-}" = run ]; then
	touch "$RUN_DIR/dev-mode"
elif [ "${1:-}" = start -o "${1:-}" = run ]; then
	rm -f "$RUN_DIR/dev-mode"
fi
[ ! -e "$RUN_DIR/dev-mode" ] || export CHAT_DEV=1
CHAT_BIN_DIR=${CHAT_BIN_DIR:-$root/build}
export CHAT_HTTP_PORT=${CHAT_HTTP_PORT:-8080}
export CHAT_WS_PORT=${CHAT_WS_PORT:-3030}
export CHAT_PG_PORT=${CHAT_PG_PORT:-5544}
CHAT_WS_COUNT=${CHAT_WS_COUNT:-1}
CHAT_REST_WORKERS=${CHAT_REST_WORKERS:-4}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
logs=$RUN_DIR/logs

# The daemons' event inboxes: unix sockets in the run directory's evt/
# (0700, the tiers' user only: nobody else can publish an event).
if [ -z "${CHAT_EVT_ENDPOINTS:-}" ]; then
	eps=()
	for ((i = 0; i < CHAT_WS_COUNT; i++)); do eps+=("ipc://$RUN_DIR/evt/ws-$i.sock"); done
	CHAT_EVT_ENDPOINTS=$(IFS=,; echo "${eps[*]}")
fi
export CHAT_EVT_ENDPOINTS
# rest-fcgi's workers count into one file: /metrics reports the tier's totals.
export CHAT_REST_METRICS_FILE=${CHAT_REST_METRICS_FILE:-$RUN_DIR/rest/metrics}
# ... and share which rooms and users changed: the GET /rooms cache
# (docs/rest.md "List cache"). Set it empty for no cache.
export CHAT_REST_CACHE_FILE=${CHAT_REST_CACHE_FILE-$RUN_DIR/rest/lists}
embedded_pg=0
if [ -z "${DATABASE_URL:-}" ]; then
	embedded_pg=1
	export DATABASE_URL="postgresql://chat@127.0.0.1:$CHAT_PG_PORT/chat"
	export PGPASSFILE=$RUN_DIR/pgpass	# libpq reads the password from here
fi

say() { echo "stack: $*"; }

# Postgres refuses to run as root: as root, run its commands as "postgres".
as_pg() {
	if [ "$is_root" = 1 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# The command prefix that runs a tier as CHAT_USER when root (setpriv
# execs: the pid stays the program's, for the pid file).
as_tier=()
[ "$is_root" != 1 ] || as_tier=(setpriv --reuid="$CHAT_USER" --regid="$CHAT_USER" --init-groups --)

# The run directory: root's (or the user's) alone but for what each
# program needs, so no tier can replace a pid file or nginx's config:
#   RUN_DIR     0711 (enter, not list)   nginx/, pid files, rest.sock
#   evt/        CHAT_USER 0700           the daemons' event inboxes
#   ws/         CHAT_USER 0755           the daemons' sockets for nginx (N.sock,
#                                        0666 like their loopback ports)
#   rest/       CHAT_USER 0700           rest-fcgi's shared metrics file and GET /rooms change table
#   logs/       group CHAT_USER 0750     rest.log is CHAT_USER's
#   pgpass      CHAT_USER 0600           the tiers' database password
#   nginx-tmp/  www-data 0700            nginx workers' buffers
#   web/        0755, files 0644         the pages nginx serves (copied from web/)
prepare_run_dir() {
	mkdir -p "$logs" "$RUN_DIR/evt" "$RUN_DIR/ws" "$RUN_DIR/rest" "$RUN_DIR/nginx-tmp"
	touch "$logs/rest.log"
	if [ "$is_root" = 1 ]; then
		id -u "$CHAT_USER" >/dev/null 2>&1 ||
			useradd --system --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$CHAT_USER"
		chown root:root "$RUN_DIR"
		chmod 0711 "$RUN_DIR"
		chown "$CHAT_USER:" "$RUN_DIR/evt" "$RUN_DIR/ws" "$RUN_DIR/rest" "$logs/rest.log"
		chown "root:$CHAT_USER" "$logs"
		chmod 0750 "$logs"
		chown www-data: "$RUN_DIR/nginx-tmp"
	else
		chmod 0700 "$RUN_DIR"
	fi
	chmod 0700 "$RUN_DIR/evt" "$RUN_DIR/rest" "$RUN_DIR/nginx-tmp"
	chmod 0755 "$RUN_DIR/ws"
}

# Where the embedded Postgres keeps its data. As root, Postgres runs as the
# "postgres" user, which cannot enter the run directory: the data lives in
# a directory made by mktemp under /var/tmp (a fresh, unpredictable name,
# created 0700: nothing planted there can be followed), remembered in
# RUN_DIR/pg-home and checked again at every start.
pg_home() {
	local d
	if [ "$is_root" != 1 ]; then
		echo "$RUN_DIR"
		return 0
	fi
	if [ -e "$RUN_DIR/pg-home" ]; then
		d=$(cat "$RUN_DIR/pg-home")
		if [ -L "$d" ] || [ ! -d "$d" ] || [ "$(stat -c %U "$d")" != postgres ]; then
			say "$d (from $RUN_DIR/pg-home) is not a directory of the postgres user" >&2
			return 1
		fi
	else
		d=$(mktemp -d /var/tmp/swappart-chat-pg.XXXXXXXXXX)
		chown postgres: "$d"
		echo "$d" >"$RUN_DIR/pg-home"
	fi
	echo "$d"
}

# The embedded Postgres asks for passwords (scram-sha-256). Made at its
# first start, they stay in the run directory: pg-super.pgpass (root's,
# for the setup below) and pgpass (the "chat" role's, for the tiers, who
# read it through PGPASSFILE; DATABASE_URL itself holds no password).
pg_password() {
	head -c 24 /dev/urandom | base64 | tr -d '/+='
}

pg_passwords() {
	local f
	for f in pg-super.pgpass pgpass; do
		[ -s "$RUN_DIR/$f" ] ||
			echo "127.0.0.1:$CHAT_PG_PORT:*:$([ $f = pgpass ] && echo chat || echo postgres):$(pg_password)" \
				>"$RUN_DIR/$f"
		chmod 0600 "$RUN_DIR/$f"
	done
	[ "$is_root" != 1 ] || chown "$CHAT_USER:" "$RUN_DIR/pgpass"
}

# The password field of a pgpass line.
pgpass_secret() { cut -d: -f5- "$1"; }

pg_start() {
	[ "$embedded_pg" = 1 ] || return 0
	local home data pw
	home=$(pg_home)
	data=$home/pg
	pg_passwords
	if [ ! -s "$data/PG_VERSION" ]; then
		mkdir -p "$data"
		[ "$is_root" != 1 ] || chown postgres: "$data"
		chmod 700 "$data"
		pw=$(mktemp)
		pgpass_secret "$RUN_DIR/pg-super.pgpass" >"$pw"
		[ "$is_root" != 1 ] || chown postgres: "$pw"
		as_pg "$pgbin/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$pw" \
			-E UTF8 --locale=C.UTF-8 >"$logs/initdb.log" 2>&1 || {
			rm -f "$pw"; cat "$logs/initdb.log" >&2; return 1; }
		rm -f "$pw"
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
	# The chat role and its password (from stdin, so never in argv).
	PGPASSFILE=$RUN_DIR/pg-super.pgpass psql -X -q -h 127.0.0.1 -p "$CHAT_PG_PORT" \
		-U postgres -d postgres -v ON_ERROR_STOP=1 -v pw="$(pgpass_secret "$RUN_DIR/pgpass")" \
		>/dev/null <<-'SQL'
		SELECT format('CREATE ROLE chat LOGIN PASSWORD %L', :'pw')
		WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chat') \gexec
		SELECT format('ALTER ROLE chat PASSWORD %L', :'pw') \gexec
		SELECT 'CREATE DATABASE chat OWNER chat'
		WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'chat') \gexec
		SQL
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
	# The workers' shared counters (/metrics totals): a tier started
	# afresh counts from zero, as a deployment's does (/run is emptied).
	[ "$CHAT_REST_METRICS_FILE" != "$RUN_DIR/rest/metrics" ] || rm -f "$CHAT_REST_METRICS_FILE"
	# spawn-fcgi forks the workers; each writes its pid to the pid file.
	# spawn-fcgi points the workers' stderr at /dev/null: a shell that
	# execs (same pid) puts their log lines back into rest.log.
	# The socket is 0660: only nginx's group may connect (as root: the
	# workers run as CHAT_USER, the socket's group is www-data's).
	local priv=()
	[ "$is_root" != 1 ] || priv=(-u "$CHAT_USER" -g "$CHAT_USER" -U "$CHAT_USER" -G www-data)
	spawn-fcgi -s "$RUN_DIR/rest.sock" -M 0660 "${priv[@]}" -F "$CHAT_REST_WORKERS" \
		-P "$RUN_DIR/rest.pid" -- /bin/sh -c 'exec "$0" 2>>"$1"' \
		"$CHAT_BIN_DIR/rest-fcgi" "$logs/rest.log" \
		>>"$logs/rest.log" 2>&1 </dev/null
}

rest_stop() { kill_pidfile "$RUN_DIR/rest.pid"; rm -f "$RUN_DIR/rest.sock"; }

ws_start_one() {
	local i=$1
	# nginx connects to the unix socket; the port serves direct clients
	# (tests, benchmarks) and the daemon's /metrics
	CHAT_WS_ID=$i CHAT_WS_PORT=$((CHAT_WS_PORT + i)) CHAT_WS_SOCKET="$RUN_DIR/ws/$i.sock" \
		nohup "${as_tier[@]}" "$CHAT_BIN_DIR/ws-daemon" >>"$logs/ws-$i.log" 2>&1 </dev/null &
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

# nginx's limits and timeouts for this stack (README "Limits"). chat.conf
# holds each default on a line ending in "# CHAT_NGINX_NAME": a variable
# that is set replaces the value before that line's ";". The addresses of
# CHAT_NGINX_UNLIMITED (space or comma separated) are added to the
# allow-list ("geo $chat_unlimited"). Values are checked here, so nothing
# but a number with its unit reaches the config.
nginx_settings() {
	local v val a args=()
	for v in CHAT_NGINX_REST_RATE CHAT_NGINX_REST_BURST CHAT_NGINX_WS_PER_ADDR \
		CHAT_NGINX_CLIENT_TIMEOUT CHAT_NGINX_REST_TIMEOUT; do
		val=${!v:-}
		[ -n "$val" ] || continue
		[[ $val =~ ^[0-9]+([a-z]+(/[a-z])?)?$ ]] || {
			say "$v=$val: expected a number with nginx's unit (20r/s, 15s, 100)" >&2; return 1; }
		grep -q "# $v\$" "$root/nginx/chat.conf" || {
			say "$v: no line of nginx/chat.conf ends in \"# $v\"" >&2; return 1; }
		args+=(-e "s|[^[:space:]=]*;\([[:space:]]*# $v\)\$|$val;\1|")
	done
	val=${CHAT_NGINX_UNLIMITED:-}
	for a in ${val//,/ }; do
		[[ $a =~ ^[0-9A-Fa-f:.]+(/[0-9]+)?$ ]] || {
			say "CHAT_NGINX_UNLIMITED: $a is not an address or CIDR" >&2; return 1; }
		args+=(-e "/^geo \\\$chat_unlimited {/a\\\t$a\t\t1;")
	done
	sed "${args[@]}" -e ''
}

nginx_render() {
	local servers="" metrics="" user_line=""
	for ((i = 0; i < CHAT_WS_COUNT; i++)); do
		servers+="server unix:$RUN_DIR/ws/$i.sock;"$'\n\t'
		metrics+="/metrics/ws/$((i + 1))	127.0.0.1:$((CHAT_WS_PORT + i));"$'\n\t'
	done
	[ "$is_root" != 1 ] || user_line="user www-data;"
	mkdir -p "$RUN_DIR/nginx" "$RUN_DIR/nginx-tmp"
	# chat.conf includes fastcgi_params relative to its own folder.
	cp /etc/nginx/fastcgi_params "$RUN_DIR/nginx/"
	# The pages (web/) are copied, not pointed to: as root nginx's workers
	# run as www-data, who may not read the checkout (a clone under /root).
	# After an edit of web/, reload-nginx copies them again.
	rm -rf "$RUN_DIR/web.new"
	cp -R "$root/web" "$RUN_DIR/web.new"
	chmod -R u=rwX,go=rX "$RUN_DIR/web.new"
	rm -rf "$RUN_DIR/web"
	mv "$RUN_DIR/web.new" "$RUN_DIR/web"
	# Comment lines keep their placeholders: they document them.
	sed -e "/^\s*#/!s|@HTTP_PORT@|$CHAT_HTTP_PORT|g" \
		-e "/^\s*#/!s|@FCGI_SOCKET@|$RUN_DIR/rest.sock|g" \
		-e "/^\s*#/!s|@RUN_DIR@|$RUN_DIR|g" \
		-e "/^\s*#/!s|@WEB_ROOT@|$RUN_DIR/web|g" \
		-e "/^\s*#/!s|@WS_SERVERS@|${servers//$'\n'/\\n}|g" \
		-e "/^\s*#/!s|@WS_METRICS@|${metrics//$'\n'/\\n}|g" \
		"$root/nginx/chat.conf" | nginx_settings >"$RUN_DIR/nginx/chat.conf.new"
	# a bad setting leaves the last good file in place
	mv "$RUN_DIR/nginx/chat.conf.new" "$RUN_DIR/nginx/chat.conf"
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
	# nginx workers (worker_rlimit_nofile) may not raise it past this
	ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	stop_tiers	# a second start restarts the tiers instead of doubling them
	prepare_run_dir
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
		if [ "$is_root" = 1 ]; then
			[ ! -e "$RUN_DIR/pg-home" ] || rm -rf "$(pg_home)" "$RUN_DIR/pg-home"
		else
			rm -rf "$RUN_DIR/pg"
		fi
		rm -f "$RUN_DIR/pgpass" "$RUN_DIR/pg-super.pgpass"
	fi ;;
restart-rest) rest_stop; rest_start; say "rest-fcgi restarted" ;;
stop-rest) rest_stop ;;
start-rest) rest_start ;;
restart-ws)
	ids=${2:-$(seq 0 $((CHAT_WS_COUNT - 1)))}
	for i in $ids; do ws_stop_one "$i"; ws_start_one "$i"; wait_port $((CHAT_WS_PORT + i)) "ws-daemon $i"; done
	say "ws-daemon(s) $ids restarted" ;;
stop-ws) ws_stop_one "${2:?stop-ws N}" ;;
start-ws) ws_start_one "${2:?start-ws N}"; wait_port $((CHAT_WS_PORT + $2)) "ws-daemon $2" ;;
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
		CHAT_PG_PORT CHAT_REST_WORKERS CHAT_EVT_ENDPOINTS CHAT_REST_METRICS_FILE \
		CHAT_REST_CACHE_FILE DATABASE_URL PGPASSFILE; do
		echo "$v=${!v:-}"
	done ;;
*) echo "usage: $0 start|run|stop|purge|status|restart-rest|restart-ws [N]|stop-rest|start-rest|stop-ws N|start-ws N|stop-pg|start-pg|reload-nginx|logs|psql|settings" >&2; exit 2 ;;
esac
