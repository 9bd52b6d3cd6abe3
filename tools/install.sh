#!/usr/bin/env bash
# `make install`: lay out a deployment (README.md, "Operating a
# deployment"): the programs, the SQL and its migration tool, the systemd
# units, the env file and the nginx site. Run from the checkout after
# `make`.
#
# Settings (environment; make passes them on):
#   PREFIX      programs, SQL, web pages, units, docs    (/usr/local)
#   DESTDIR     staging root for packagers; empty = this machine
#   SYSCONFDIR  the env file and the nginx site          (/etc)
#   UNITDIR     systemd units                            ($PREFIX/lib/systemd/system)
#
# Run as root with no DESTDIR, it also creates the system user the units
# run as and gives it the configuration's group. With a DESTDIR it only
# says what a package must do on the target host instead.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
bindir=$PREFIX/bin
# The programs only the units run; migrate.sh finds the SQL at
# ../../share/swappart-chat/sql from here (or CHAT_SQL_DIR).
libexecdir=$PREFIX/lib/swappart-chat
sqldir=$PREFIX/share/swappart-chat/sql
# The chat page and the admin console, which nginx serves as /web/.
webdir=$PREFIX/share/swappart-chat/web
docdir=$PREFIX/share/doc/swappart-chat
confdir=$SYSCONFDIR/swappart-chat
sitedir=$SYSCONFDIR/nginx/sites-available
user=swappart-chat
# What the units and the nginx site agree on (deploy/systemd/).
fcgi_socket=/run/swappart-chat/rest.sock
http_port=8080
logs=/var/log/nginx/swappart-chat

say() { echo "install: $*"; }
die() { echo "install: $*" >&2; exit 1; }

for p in rest-fcgi ws-daemon chat-token chat-keygen; do
	[ -x "$root/build/$p" ] || die "build/$p is not built (make)"
done

d=$DESTDIR
install -d -m 0755 "$d$bindir" "$d$libexecdir" "$d$sqldir" "$d$docdir" "$d$UNITDIR" "$d$sitedir"
install -d -m 0750 "$d$confdir"

install -m 0755 "$root/build/chat-token" "$root/build/chat-keygen" "$d$bindir/"
install -m 0755 "$root/build/rest-fcgi" "$root/build/ws-daemon" "$root/tools/migrate.sh" "$d$libexecdir/"
install -m 0644 "$root"/sql/[0-9]*.sql "$d$sqldir/"
install -m 0644 "$root/README.md" "$root"/docs/*.md "$d$docdir/"
# web/ as it is in the checkout: folders 0755, files 0644 (nginx's
# workers read them; nothing there is secret or executable).
(cd "$root/web" && find . -type d) | while read -r dir; do
	install -d -m 0755 "$d$webdir/$dir"
done
(cd "$root/web" && find . -type f) | while read -r f; do
	install -m 0644 "$root/web/$f" "$d$webdir/$f"
done

for f in "$root"/deploy/systemd/*.in; do
	sed -e "s|@LIBEXECDIR@|$libexecdir|g" -e "s|@SQLDIR@|$sqldir|g" \
		-e "s|@SYSCONFDIR@|$SYSCONFDIR|g" -e "s|@DOCDIR@|$docdir|g" \
		"$f" >"$d$UNITDIR/$(basename "$f" .in)"
	chmod 0644 "$d$UNITDIR/$(basename "$f" .in)"
done

# Install a file an operator edits: an existing copy that differs is kept,
# and the new one goes beside it as NAME.new.
install_conf() {
	local src=$1 dst=$2 mode=$3
	if [ -e "$dst" ] && ! cmp -s "$src" "$dst"; then
		install -m "$mode" "$src" "$dst.new"
		say "kept $dst (edited); the new version is $dst.new"
	else
		install -m "$mode" "$src" "$dst"
	fi
}

install_conf "$root/deploy/chat.env" "$d$confdir/chat.env" 0640

# The nginx site: nginx/chat.conf with its placeholders filled in for this
# layout, one upstream server per inbox in CHAT_EVT_ENDPOINTS of the env
# file: daemon i's socket (chat-ws@.socket), and its metrics on
# CHAT_WS_PORT + i. Comment lines keep their placeholders: they document
# them (as in tools/stack.sh).
endpoints=$(sed -n 's/^CHAT_EVT_ENDPOINTS=//p' "$root/deploy/chat.env")
ws_port=$(sed -n 's/^#\?CHAT_WS_PORT=//p' "$root/deploy/chat.env")
[ -n "$endpoints" ] && [ -n "$ws_port" ] || die "deploy/chat.env: no CHAT_EVT_ENDPOINTS or CHAT_WS_PORT"
servers="" metrics="" i=0
IFS=, read -ra eps <<<"$endpoints"
for _ in "${eps[@]}"; do
	servers+="server unix:/run/swappart-chat/ws-$i.sock;\\n\\t"
	metrics+="/metrics/ws/$((i + 1))\\t127.0.0.1:$((ws_port + i));\\n\\t"
	i=$((i + 1))
done
site=$(mktemp)
trap 'rm -f "$site"' EXIT
{
	echo "# Installed by \`make install\` from nginx/chat.conf of the Swappart chat"
	echo "# service, for the units in $UNITDIR (README.md, \"Operating"
	echo "# a deployment\"). Enable it with"
	echo "#   ln -s $sitedir/swappart-chat $SYSCONFDIR/nginx/sites-enabled/"
	echo "# and after every edit run \`nginx -t\` before \`systemctl reload nginx\`."
	echo "# It listens on 127.0.0.1 only, for a gateway or TLS proxy on this host;"
	echo "# change the listen line to serve other hosts."
	echo "#"
	sed -e "/^\s*#/!s|@HTTP_PORT@|$http_port|g" \
		-e "/^\s*#/!s|@FCGI_SOCKET@|$fcgi_socket|g" \
		-e "/^\s*#/!s|@RUN_DIR@/logs/nginx-|$logs-|g" \
		-e "/^\s*#/!s|@WEB_ROOT@|$webdir|g" \
		-e "/^\s*#/!s|@WS_SERVERS@|${servers%\\n\\t}|g" \
		-e "/^\s*#/!s|@WS_METRICS@|${metrics%\\n\\t}|g" \
		"$root/nginx/chat.conf"
} >"$site"
if left=$(grep -v '^\s*#' "$site" | grep -o '@[A-Z_]*@'); then
	die "nginx/chat.conf has placeholders this script does not fill: $left"
fi
install_conf "$site" "$d$sitedir/swappart-chat" 0644

# The system user. Its group reads the configuration (the env file is
# read by systemd itself; JWKS and moderation files by the tiers).
useradd_cmd=(useradd --system --user-group --no-create-home --home-dir /nonexistent
	--shell /usr/sbin/nologin --comment "Swappart chat service" "$user")
if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ]; then
	if ! id "$user" >/dev/null 2>&1; then
		"${useradd_cmd[@]}"
		say "created the system user $user"
	fi
	chgrp "$user" "$confdir" "$confdir/chat.env"
	[ ! -e "$confdir/chat.env.new" ] || chgrp "$user" "$confdir/chat.env.new"
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload
	fi
else
	say "not creating the system user $user (DESTDIR set, or not root);"
	say "on the target host, as root (a package: in its postinst):"
	printf -v shown '%q ' "${useradd_cmd[@]}"
	say "  id $user >/dev/null 2>&1 || $shown"
	say "  chgrp $user $confdir $confdir/chat.env"
fi
say "installed under ${DESTDIR:-/}: $bindir, $libexecdir, $sqldir, $webdir, $UNITDIR, $confdir, $sitedir"
