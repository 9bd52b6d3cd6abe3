#!/usr/bin/env bash
# Make sure the Debian 12 packages the project needs are installed.
# As root, missing ones are installed with apt-get; otherwise the
# apt-get command to run is printed and the script fails.
#
# usage: tools/deps.sh [build|run|test|fuzz|bench]...   (default: all)
set -euo pipefail

build=(build-essential pkg-config libfcgi-dev libwebsockets-dev libjson-c-dev
	libwebsockets-evlib-ev libev-dev
	libpq-dev libjwt-dev libzmq3-dev libssl-dev libcmocka-dev)
run=(postgresql nginx-light spawn-fcgi)
# systemd-analyze (package systemd) checks the service units of `make
# install`, which run multiwatch: the check wants it at its path.
test=(python3 python3-pytest python3-websocket python3-websockets
	python3-requests python3-psycopg python3-zmq systemd multiwatch)
# The libFuzzer harnesses of `make fuzz` (tests/fuzz/): clang and its
# runtime libraries (libclang_rt.fuzzer is in libclang-rt-14-dev, not in
# clang-14 itself). `make test` runs them, so the test group needs them.
fuzz=(clang-14 libclang-rt-14-dev)
test+=("${fuzz[@]}")
# Issue 11's tests: promtool checks the /metrics exposition (package
# prometheus); the web pages are driven in headless Chromium through
# chromedriver and selenium; the API documents (YAML) are checked against
# live answers with jsonschema.
test+=(prometheus chromium chromium-driver python3-selenium
	python3-jsonschema python3-yaml)
# ip (the multihost test's network namespaces) and ss (which addresses
# nginx connects to the daemons from) are iproute2's.
test+=(iproute2)
bench=(wrk python3-websocket python3-psycopg)

want=()
[ $# -gt 0 ] || set -- build run test fuzz bench
for group in "$@"; do
	case $group in
	build) want+=("${build[@]}") ;;
	run) want+=("${run[@]}") ;;
	test) want+=("${test[@]}") ;;
	fuzz) want+=("${fuzz[@]}") ;;
	bench) want+=("${bench[@]}") ;;
	*) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
# nginx-light or any other nginx flavour will do.
if printf '%s\n' "${missing[@]}" | grep -qx nginx-light && command -v nginx >/dev/null; then
	missing=($(printf '%s\n' "${missing[@]}" | grep -vx nginx-light || true))
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages; install them with:" >&2
	echo "  sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services; the project runs its own copies on
# its own ports, so stop the system ones rather than leave them running.
if [ -d /run/systemd/system ]; then
	systemctl disable --now nginx postgresql prometheus >/dev/null 2>&1 || true
else
	service nginx stop >/dev/null 2>&1 || true
	service postgresql stop >/dev/null 2>&1 || true
	service prometheus stop >/dev/null 2>&1 || true
fi
