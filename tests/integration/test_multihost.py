"""A deployment over three hosts (SPEC.md section 4; issue 9, item 7), built
from network namespaces this test creates and removes itself.

Layout. Four namespaces named chatmh-<random>-{sw,a,b,c}: "sw" holds only a
bridge; each host namespace has one veth ("eth0") whose peer is a port of
that bridge, so hosts A, B and C share a private /24 (NET) that exists only
on those veths; the root namespace gets no interface, address or route.

  host A  10.231.7.1  Postgres (scram-sha-256, listening on eth0 only),
                      rest-fcgi under spawn-fcgi (2 workers, FastCGI unix
                      socket 0660 for www-data), nginx (the shipped site,
                      nginx/chat.conf, on 127.0.0.1:8080 of A, upstream
                      chat_ws = B:3030 and C:3030)
  host B  10.231.7.2  ws-daemon 0, event inbox tcp://10.231.7.2:5601
  host C  10.231.7.3  ws-daemon 1, event inbox tcp://10.231.7.3:5601

Every link of the event bus is tcp:// with CURVE, as an operator sets it up
(README, deploy/chat.env): build/chat-keygen makes one key pair per process
role (rest, ws-0, ws-1), each in its host's directory; each daemon's
CHAT_EVT_ALLOWED_KEYS lists the REST host's and the other daemon's public
keys; every publisher knows the inboxes' public keys (CHAT_EVT_INBOX_KEYS).
The tiers run as the unprivileged user swappart-chat and reach Postgres on
A over tcp with the chat role's password, from a pgpass file on their own
host (PGPASSFILE). Tokens are signed with a random SUPABASE_JWT_SECRET (no
development mode). The programs come from CHAT_BIN_DIR (the ASan builds
during `make test`); processes start with `ip netns exec NAME ...`.

The test's own clients (websocket, HTTP, SQL, a ZeroMQ publisher) run on
host A: this process moves its thread into A's namespace with setns(2) for
as long as it takes to open a socket (`Multihost.inside`); a socket keeps
the namespace it was created in, so the connection is then used from the
root namespace as usual. ZeroMQ sockets are made with a context created
inside A (its I/O threads, which do the connecting, start there). REST and
websockets through nginx use 127.0.0.1:8080 of A; "a user connected to B"
connects to B's daemon directly (10.231.7.2:3030, as nginx would), so that
which daemon holds a connection is certain.

Teardown (also after a failure, or a failed setup): Postgres gets a fast
shutdown, every other process still in one of the namespaces (`ip netns
pids`) is killed, then the namespaces (with their veths and bridge) and the
temporary directories are removed. The module skips, with the reason, where
the machine cannot create namespaces (not root, no `ip`, or `ip netns add`
failing); anything else that fails is a failure. (Only a run killed outright
leaves its chatmh-* namespaces behind: `ip netns pids NAME`, `ip netns del`.)

Every host listens on the same ports (its own namespace), and each run has
its own bridge, so runs in parallel do not collide. About 10 s in all.
"""
import contextlib
import ctypes
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import psycopg
import pytest
import requests
import websocket
from psycopg import sql as pgsql

from conftest import ROOT, make_token, recv_close, recv_json
from test_ws import assert_closed_with, assert_silent, confirmation, received, send

NET = "10.231.7"
ADDR = {"a": NET + ".1", "b": NET + ".2", "c": NET + ".3"}
WS_PORT = 3030
EVT_PORT = 5601
PG_PORT = 5432
HTTP = "http://127.0.0.1:8080"
WS_NGINX = "ws://127.0.0.1:8080"
TIER_USER = "swappart-chat"  # the unprivileged user tools/stack.sh uses too
DAEMON_HOST = {0: "b", 1: "c"}
SECRET = secrets.token_urlsafe(36)  # SUPABASE_JWT_SECRET of this deployment

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def jwt(sub, **kw):
    """A user token this deployment accepts."""
    return make_token(sub, secret=SECRET, **kw)


def admin_token():
    return make_token(str(uuid.uuid4()), secret=SECRET, role="service_role")


def new_user():
    return str(uuid.uuid4())


def run(*cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


def read_dead(ws, timeout=10):
    """Every JSON frame until the connection ends (a daemon killed under it)."""
    frames = []
    ws.settimeout(timeout)
    while True:
        try:
            op, data = ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return frames
        if op == websocket.ABNF.OPCODE_CLOSE:
            return frames
        if op == websocket.ABNF.OPCODE_TEXT:
            frames.append(json.loads(data))


class Multihost:
    """The three hosts: their namespaces, files, processes and clients."""

    def __init__(self):
        self.tag = "chatmh-" + secrets.token_hex(3)
        self.ns = {h: "%s-%s" % (self.tag, h) for h in ("sw", "a", "b", "c")}
        self.made_ns = []
        self.tmp = tempfile.mkdtemp(prefix="chat-multihost-")
        os.chmod(self.tmp, 0o711)  # the tier user, postgres and www-data enter
        self.bin = os.environ.get("CHAT_BIN_DIR", os.path.join(ROOT, "build"))
        self.pg = None
        self.daemons = {}
        self.pg_super_pw = secrets.token_urlsafe(18)
        self.pg_chat_pw = secrets.token_urlsafe(18)

    # ---- paths and environments ----

    def dir(self, host, *parts):
        return os.path.join(self.tmp, host, *parts)

    def log(self, host, name):
        return self.dir(host, "logs", name + ".log")

    def read_log(self, host, name):
        try:
            with open(self.log(host, name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def logs(self):
        out = []
        for host in ("a", "b", "c"):
            d = self.dir(host, "logs")
            for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                with open(os.path.join(d, f), errors="replace") as fh:
                    out.append("==> %s/%s\n%s" % (host, f, fh.read()[-3000:]))
        return "\n".join(out)

    def tier_env(self, host, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CHAT_", "SUPABASE_", "PG")) and k != "DATABASE_URL"}
        env.update({
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
            "SUPABASE_JWT_SECRET": SECRET,
            "DATABASE_URL": "postgresql://chat@%s:%d/chat" % (ADDR["a"], PG_PORT),
            "PGPASSFILE": self.dir(host, "pgpass"),
            "CHAT_EVT_ENDPOINTS": ",".join("tcp://%s:%d" % (ADDR[DAEMON_HOST[i]], EVT_PORT)
                                           for i in (0, 1)),
            "CHAT_EVT_INBOX_KEYS": ",".join(self.dir(host, "keys", "ws-%d.pub" % i)
                                            for i in (0, 1)),
            "CHAT_LOG_LEVEL": "info",
            # the kill test sends its burst as fast as it can; the rate
            # limit has tests of its own (test_ws_limits.py)
            "CHAT_WS_MSG_RATE": "0",
        })
        env.update(extra)
        return env

    # ---- namespaces ----

    @contextlib.contextmanager
    def inside(self, host):
        """Run the body with this thread in host's network namespace."""
        with open("/proc/thread-self/ns/net") as home, open("/run/netns/" + self.ns[host]) as ns:
            setns(ns.fileno())
            try:
                yield
            finally:
                setns(home.fileno())

    def exec_in(self, host, *cmd):
        return ["ip", "netns", "exec", self.ns[host], *cmd]

    def as_tier(self, *cmd):
        return ["setpriv", "--reuid=" + TIER_USER, "--regid=" + TIER_USER, "--init-groups",
                "--", *cmd]

    def make_network(self):
        if os.geteuid() != 0:
            pytest.skip("network namespaces need root (ip netns add)")
        if not shutil.which("ip"):
            pytest.skip("no `ip` command (iproute2): cannot create network namespaces")
        r = run("ip", "netns", "add", self.ns["sw"], check=False)
        if r.returncode != 0:
            pytest.skip("this machine cannot create network namespaces: ip netns add: %s"
                        % r.stderr.strip())
        self.made_ns.append(self.ns["sw"])
        for h in ("a", "b", "c"):
            run("ip", "netns", "add", self.ns[h])
            self.made_ns.append(self.ns[h])
        sw = self.ns["sw"]
        run("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", sw, "link", "set", "br0", "up")
        for h in ("a", "b", "c"):
            # the pair is born inside the host namespace, its peer moved
            # straight into sw: nothing appears in the root namespace
            run("ip", "-n", self.ns[h], "link", "add", "eth0", "type", "veth",
                "peer", "name", "port-" + h, "netns", sw)
            run("ip", "-n", sw, "link", "set", "port-" + h, "master", "br0", "up")
            run("ip", "-n", self.ns[h], "addr", "add", ADDR[h] + "/24", "dev", "eth0")
            run("ip", "-n", self.ns[h], "link", "set", "eth0", "up")
            run("ip", "-n", self.ns[h], "link", "set", "lo", "up")

    # ---- setup ----

    def make_dirs(self):
        try:
            pwd.getpwnam(TIER_USER)
        except KeyError:  # as tools/stack.sh makes it
            run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", TIER_USER)
        u = pwd.getpwnam(TIER_USER)
        for h in ("a", "b", "c"):
            for d in ("", "keys", "logs"):
                os.makedirs(self.dir(h, d), exist_ok=True)
                os.chmod(self.dir(h, d), 0o711)
            # the tiers' database password, on each host
            p = self.dir(h, "pgpass")
            with open(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write("%s:%d:chat:chat:%s\n" % (ADDR["a"], PG_PORT, self.pg_chat_pw))
            os.chown(p, u.pw_uid, u.pw_gid)
        # rest-fcgi's workers append to their log themselves
        open(self.log("a", "rest"), "a").close()
        os.chown(self.log("a", "rest"), u.pw_uid, u.pw_gid)

    def keygen(self):
        """One pair per process role, made on its own host; the public keys
        are then handed to the hosts that need them."""
        keygen = os.path.join(self.bin, "chat-keygen")
        if not os.access(keygen, os.X_OK):  # `make test` builds it in build/
            keygen = os.path.join(ROOT, "build", "chat-keygen")
        u = pwd.getpwnam(TIER_USER)
        self.pub = {}
        for host, name in (("a", "rest"), ("b", "ws-0"), ("c", "ws-1")):
            base = self.dir(host, "keys", name)
            run(keygen, base)
            os.chown(base + ".key", u.pw_uid, u.pw_gid)
            with open(base + ".pub") as f:
                self.pub[name] = f.read().strip()
        assert len(set(self.pub.values())) == 3
        for host in ("a", "b", "c"):
            for name, key in self.pub.items():
                p = self.dir(host, "keys", name + ".pub")
                if not os.path.exists(p):
                    with open(p, "w") as f:
                        f.write(key + "\n")
        # each inbox admits the REST host and the other daemon
        for host, other in (("b", "ws-1"), ("c", "ws-0")):
            with open(self.dir(host, "keys", "publishers"), "w") as f:
                f.write("# rest on host A\n%s\n# %s\n%s\n" % (self.pub["rest"], other,
                                                               self.pub[other]))

    def start_postgres(self):
        pgbin = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v))[-1]
        pgbin = "/usr/lib/postgresql/%s/bin" % pgbin
        data = os.path.join(self.tmp, "pg")
        os.mkdir(data, 0o700)
        shutil.chown(data, "postgres", "postgres")
        pw = os.path.join(self.tmp, "pg-pw")
        with open(os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(self.pg_super_pw + "\n")
        shutil.chown(pw, "postgres", "postgres")
        as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
        run(*as_pg, pgbin + "/initdb", "-D", data, "-U", "postgres", "--auth=scram-sha-256",
            "--pwfile=" + pw, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", cwd="/")
        os.unlink(pw)
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '%s'\nunix_socket_directories = ''\n"
                    "port = %d\nlog_min_messages = warning\n" % (ADDR["a"], PG_PORT))
        with open(os.path.join(data, "pg_hba.conf"), "a") as f:
            f.write("host all all %s.0/24 scram-sha-256\n" % NET)
        log = open(self.log("a", "postgres"), "ab")
        self.pg = subprocess.Popen(self.exec_in("a", *as_pg, pgbin + "/postgres", "-D", data),
                                   stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd="/")
        log.close()
        deadline = time.time() + 30
        while True:
            try:
                with self.inside("a"):
                    c = psycopg.connect(host=ADDR["a"], port=PG_PORT, user="postgres",
                                        password=self.pg_super_pw, dbname="postgres",
                                        connect_timeout=2, autocommit=True)
                break
            except psycopg.OperationalError:
                if self.pg.poll() is not None or time.time() > deadline:
                    raise RuntimeError("Postgres on host A did not start:\n" + self.logs())
                time.sleep(0.1)
        with c:
            c.execute(pgsql.SQL("CREATE ROLE chat LOGIN PASSWORD {}").format(
                pgsql.Literal(self.pg_chat_pw)))
            c.execute("CREATE DATABASE chat OWNER chat")
        # the shipped migration tool, from host A, with A's password file
        env = dict(os.environ, PGPASSFILE=self.dir("a", "pgpass"))
        run(*self.exec_in("a", os.path.join(ROOT, "tools", "migrate.sh"),
                          "postgresql://chat@%s:%d/chat" % (ADDR["a"], PG_PORT)), env=env)

    def start_rest(self):
        env = self.tier_env("a", CHAT_EVT_KEY_FILE=self.dir("a", "keys", "rest.key"))
        run(*self.exec_in(
            "a", "spawn-fcgi", "-s", self.dir("a", "rest.sock"), "-M", "0660",
            "-u", TIER_USER, "-g", TIER_USER, "-U", TIER_USER, "-G", "www-data",
            "-F", "2", "-P", self.dir("a", "rest.pid"), "--",
            # spawn-fcgi sends the workers' stderr to /dev/null: put it back
            "/bin/sh", "-c", 'exec "$0" 2>>"$1"', os.path.join(self.bin, "rest-fcgi"),
            self.log("a", "rest")), env=env, cwd="/")

    def start_daemon(self, i):
        host = DAEMON_HOST[i]
        env = self.tier_env(
            host, CHAT_WS_ID=str(i), CHAT_WS_LISTEN=ADDR[host], CHAT_WS_PORT=str(WS_PORT),
            CHAT_EVT_KEY_FILE=self.dir(host, "keys", "ws-%d.key" % i),
            CHAT_EVT_ALLOWED_KEYS=self.dir(host, "keys", "publishers"))
        log = open(self.log(host, "ws"), "ab")
        p = subprocess.Popen(self.exec_in(host, *self.as_tier(os.path.join(self.bin, "ws-daemon"))),
                             env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, cwd="/")
        log.close()
        self.daemons[i] = p
        deadline = time.time() + 20
        while True:
            try:
                with self.inside("a"):
                    socket.create_connection((ADDR[host], WS_PORT), timeout=1).close()
                return p
            except OSError:
                if p.poll() is not None or time.time() > deadline:
                    raise RuntimeError("ws-daemon %d on host %s did not start:\n%s"
                                       % (i, host, self.read_log(host, "ws")))
                time.sleep(0.05)

    def kill_daemon(self, i):
        p = self.daemons.pop(i)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def start_nginx(self):
        run_dir = self.dir("a")
        os.makedirs(os.path.join(run_dir, "nginx"))
        os.makedirs(os.path.join(run_dir, "nginx-tmp"))
        shutil.chown(os.path.join(run_dir, "nginx-tmp"), "www-data", "www-data")
        os.chmod(os.path.join(run_dir, "nginx-tmp"), 0o700)
        shutil.copy("/etc/nginx/fastcgi_params", os.path.join(run_dir, "nginx"))
        servers = "\n\t".join("server %s:%d;" % (ADDR[DAEMON_HOST[i]], WS_PORT) for i in (0, 1))
        metrics = "\n\t".join("/metrics/ws/%d %s:%d;" % (i + 1, ADDR[DAEMON_HOST[i]], WS_PORT)
                                for i in (0, 1))
        subst = {"@HTTP_PORT@": "8080", "@FCGI_SOCKET@": self.dir("a", "rest.sock"),
                 "@RUN_DIR@": run_dir, "@WS_SERVERS@": servers, "@WS_METRICS@": metrics}
        out = []
        with open(os.path.join(ROOT, "nginx", "chat.conf")) as f:
            for line in f:
                if not line.lstrip().startswith("#"):
                    for k, v in subst.items():
                        line = line.replace(k, v)
                out.append(line)
        with open(os.path.join(run_dir, "nginx", "chat.conf"), "w") as f:
            f.write("".join(out))
        with open(os.path.join(ROOT, "nginx", "local.conf.in")) as f:
            main = (f.read().replace("@RUN_DIR@", run_dir)
                    .replace("@USER_LINE@", "user www-data;").replace("@EXTRA@", ""))
        conf = os.path.join(run_dir, "nginx", "nginx.conf")
        with open(conf, "w") as f:
            f.write(main)
        run(*self.exec_in("a", "nginx", "-q", "-t", "-c", conf, "-p", run_dir))
        run(*self.exec_in("a", "nginx", "-c", conf, "-p", run_dir))
        deadline = time.time() + 30
        while True:
            try:
                r = self.req("GET", "/health")
                if r.status_code == 200:
                    return
            except requests.RequestException:
                r = None
            if time.time() > deadline:
                raise RuntimeError("no healthy answer through nginx on host A: %s\n%s"
                                   % (r and r.text, self.logs()))
            time.sleep(0.1)

    def up(self):
        self.make_network()
        self.make_dirs()
        self.keygen()
        self.start_postgres()
        # daemons first: the REST workers' first events find their inboxes
        self.start_daemon(0)
        self.start_daemon(1)
        self.start_rest()
        self.start_nginx()
        self.warm_up()

    def warm_up(self):
        """Wait until events travel on every link of the bus: REST to each
        inbox (an admin disconnect closes a probe user on B and one on C,
        several times in a row so both REST workers are seen), and each
        daemon to the other (a message between probe users on B and C).
        ZeroMQ connects in the background; until then events are dropped."""
        deadline, streak = time.time() + 20, 0
        while streak < 6:
            assert time.time() < deadline, "REST events do not reach B and C:\n" + self.logs()
            pb, pc = new_user(), new_user()
            wb, wc = self.ws("b", pb), self.ws("c", pc)
            time.sleep(0.05)
            ok = True
            for user, w in ((pb, wb), (pc, wc)):
                r = self.req("POST", "/admin/users/%s/disconnect" % user, token=admin_token())
                assert r.status_code == 200, r.text
                try:
                    code, _, _ = recv_close(w, timeout=0.5)
                    ok = ok and code == 4004
                except websocket.WebSocketTimeoutException:
                    ok = False
            streak = streak + 1 if ok else 0
            for w in (wb, wc):
                w.close()
        pb, pc = new_user(), new_user()
        room = self.create_room(pb, [pc])
        wb, wc = self.ws("b", pb), self.ws("c", pc)
        for sender, receiver in ((wb, wc), (wc, wb)):
            while True:
                assert time.time() < deadline, "B and C do not hear each other:\n" + self.logs()
                send(sender, room, "probe")
                assert confirmation(sender)["confirmed"] is True
                try:
                    received(receiver, timeout=1)
                    break
                except websocket.WebSocketTimeoutException:
                    pass
        for w in (wb, wc):
            w.close()

    # ---- teardown ----

    def down(self):
        if self.pg and self.pg.poll() is None:
            self.pg.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.pg.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        for _ in range(50):
            left = []
            for ns in self.made_ns:
                r = run("ip", "netns", "pids", ns, check=False)
                left += [int(p) for p in r.stdout.split()]
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        for p in list(self.daemons.values()) + ([self.pg] if self.pg else []):
            with contextlib.suppress(Exception):
                p.wait(timeout=5)
        for ns in reversed(self.made_ns):
            run("ip", "netns", "del", ns, check=False)
        if os.environ.get("CHAT_KEEP_RUN_DIR"):
            print("multihost files kept:", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- clients (on host A) ----

    def ws(self, host, sub, timeout=10):
        """A websocket of user sub on the daemon of host (b or c) itself."""
        with self.inside("a"):
            return websocket.create_connection(
                "ws://%s:%d/?token=%s" % (ADDR[host], WS_PORT, jwt(sub)), timeout=timeout)

    def ws_nginx(self, sub, timeout=10):
        """A websocket of user sub through nginx on host A."""
        with self.inside("a"):
            return websocket.create_connection("%s/?token=%s" % (WS_NGINX, jwt(sub)),
                                               timeout=timeout)

    def req(self, method, path, sub=None, token=None, **kw):
        """A REST request through nginx on host A."""
        headers = kw.pop("headers", {})
        if token is None and sub is not None:
            token = jwt(sub)
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        with self.inside("a"):
            return requests.request(method, HTTP + path, headers=headers, timeout=15, **kw)

    def create_room(self, owner, users):
        r = self.req("POST", "/rooms", sub=owner, json={"users": list(users)})
        assert r.status_code == 201, r.text
        return r.json()["data"]

    def sql(self, query, params=()):
        with self.inside("a"):
            c = psycopg.connect(host=ADDR["a"], port=PG_PORT, user="chat", dbname="chat",
                                password=self.pg_chat_pw, autocommit=True, connect_timeout=5)
        with c:
            cur = c.execute(query, params)
            return cur.fetchall() if cur.description else None

    def nginx_upstream_conns(self):
        """nginx's established connections to each daemon, by host."""
        r = run(*self.exec_in("a", "ss", "-Htnp", "state", "established",
                              "( dport = :%d )" % WS_PORT))
        out = {"b": 0, "c": 0}
        for line in r.stdout.splitlines():
            if '"nginx"' not in line:
                continue
            for h in out:
                if " %s:%d " % (ADDR[h], WS_PORT) in " %s " % line:
                    out[h] += 1
        return out


@pytest.fixture(scope="module")
def hosts():
    for tool in ("nginx", "spawn-fcgi", "psql", "setpriv", "ss"):
        assert shutil.which(tool), "%s is not installed (tools/deps.sh run)" % tool
    m = Multihost()
    try:
        m.up()
        yield m
    finally:
        m.down()


# ---- the deployment at work ----


def test_nginx_on_a_spreads_websockets_over_b_and_c(hosts):
    """Clients connect through nginx on A; nginx's upstream uses both
    daemons, and the users, wherever they landed, hear each other."""
    users = [new_user() for _ in range(4)]
    room = hosts.create_room(users[0], users[1:])
    before = hosts.nginx_upstream_conns()
    conns = [hosts.ws_nginx(u) for u in users]
    try:
        time.sleep(0.2)
        after = hosts.nginx_upstream_conns()
        assert after["b"] > before["b"] and after["c"] > before["c"], (before, after)
        send(conns[0], room, "to everyone, via nginx")
        assert confirmation(conns[0])["confirmed"] is True
        for w in conns[1:]:
            assert received(w)["message"] == "to everyone, via nginx"
    finally:
        for w in conns:
            w.close()


def test_message_from_b_reaches_c_in_order(hosts):
    a, b = new_user(), new_user()
    room = hosts.create_room(a, [b])
    wa, wb = hosts.ws("b", a), hosts.ws("c", b)
    try:
        temps = [send(wa, room, "m%d" % i) for i in range(30)]
        confs = [confirmation(wa) for _ in temps]
        assert [c["message_id"] for c in confs] == temps
        assert all(c["confirmed"] for c in confs), confs
        ids = [c["id"] for c in confs]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        got = [received(wb) for _ in temps]
        assert [m["id"] for m in got] == ids
        assert [m["message"] for m in got] == ["m%d" % i for i in range(30)]
        assert {m["sender_id"] for m in got} == {a}
        # and back, C to B
        send(wb, room, "from C")
        c = confirmation(wb)
        assert c["confirmed"] and c["id"] > ids[-1]
        assert received(wa)["message"] == "from C"
    finally:
        wa.close()
        wb.close()


def test_put_rooms_through_nginx_takes_effect_on_b_and_c(hosts):
    owner, out_b, out_c, in_b, in_c = (new_user() for _ in range(5))
    room = hosts.create_room(owner, [out_b, out_c])
    ws = {"owner": hosts.ws("b", owner), "out_b": hosts.ws("b", out_b),
          "out_c": hosts.ws("c", out_c), "in_b": hosts.ws("b", in_b),
          "in_c": hosts.ws("c", in_c)}
    try:
        send(ws["owner"], room, "before")
        assert confirmation(ws["owner"])["confirmed"] is True
        for k in ("out_b", "out_c"):
            assert received(ws[k])["message"] == "before"
        r = hosts.req("PUT", "/rooms", sub=owner,
                      json={"room_id": room, "users_to_add": [in_b, in_c],
                            "users_to_remove": [out_b, out_c]})
        assert r.status_code == 200, r.text
        assert r.json() == {"error_message": None, "data": None}
        time.sleep(0.3)  # REST -> ZeroMQ over tcp -> both daemons
        send(ws["owner"], room, "after")
        assert confirmation(ws["owner"])["confirmed"] is True
        for k in ("in_b", "in_c"):
            assert received(ws[k])["message"] == "after"
        # an added user on C speaks; the owner on B hears it
        send(ws["in_c"], room, "hello from C")
        assert confirmation(ws["in_c"])["confirmed"] is True
        assert received(ws["owner"])["message"] == "hello from C"
        assert received(ws["in_b"])["message"] == "hello from C"
        for k in ("out_b", "out_c"):
            assert_silent(ws[k], 0.3)
            send(ws[k], room, "am I still in?")
            c = confirmation(ws[k])
            assert c["confirmed"] is False, c
            assert_silent(ws[k], 0.3)  # refused, the connection stays
    finally:
        for w in ws.values():
            w.close()


def test_new_device_on_c_closes_the_connection_on_b_with_4008(hosts):
    user, peer = new_user(), new_user()
    room = hosts.create_room(peer, [user])
    old = hosts.ws("b", user)
    time.sleep(0.05)
    new = hosts.ws("c", user)
    wp = None
    try:
        assert_closed_with(old, 4008)
        # the newer connection, on C, alone receives the room
        wp = hosts.ws("b", peer)
        send(wp, room, "for the new device")
        assert confirmation(wp)["confirmed"] is True
        assert received(new)["message"] == "for the new device"
    finally:
        for w in (old, new, wp):
            if w:
                w.close()


def refusals(hosts, key):
    """The counts in B's log lines refusing publisher key."""
    return [int(n) for n in re.findall(
        r"event bus: refused a publisher from %s with key %s \((\d+) refused so far\)"
        % (re.escape(ADDR["a"]), re.escape(key)), hosts.read_log("b", "ws"))]


def test_publisher_without_an_admitted_key_is_refused(hosts):
    import zmq
    victim, peer = new_user(), new_user()
    room = hosts.create_room(peer, [victim])
    wv = hosts.ws("b", victim)
    forged = json.dumps({"v": 1, "type": "disconnect", "user": victim,
                         "at": int(time.time() * 1000)}).encode()
    inbox = "tcp://%s:%d" % (ADDR["b"], EVT_PORT)
    with hosts.inside("a"):  # the context's I/O threads connect from host A
        ctx = zmq.Context()
        stranger = ctx.socket(zmq.PUB)
        plain = ctx.socket(zmq.PUB)
        admitted = ctx.socket(zmq.PUB)
    try:
        pub, sec = zmq.curve_keypair()
        stranger.curve_secretkey, stranger.curve_publickey = sec, pub
        stranger.curve_serverkey = hosts.pub["ws-0"].encode()
        for s in (stranger, plain, admitted):
            s.linger = 0
        stranger.connect(inbox)
        plain.connect(inbox)  # no CURVE at all
        # a stranger with a fresh key pair, and one without CURVE, keep
        # publishing a well-formed disconnect of the victim for 1.5 s
        end = time.time() + 1.5
        while time.time() < end:
            stranger.send(forged)
            plain.send(forged)
            time.sleep(0.05)
        assert_silent(wv, 0.5)
        # the victim is still connected and served
        wp = hosts.ws("c", peer)
        send(wv, room, "still here")
        assert confirmation(wv)["confirmed"] is True
        assert received(wp)["message"] == "still here"
        wp.close()
        # B logged the refusal of that key, with its running count
        deadline = time.time() + 5
        while not refusals(hosts, pub.decode()) and time.time() < deadline:
            time.sleep(0.1)
        counts = refusals(hosts, pub.decode())
        assert counts, "no refusal line in B's log:\n" + hosts.read_log("b", "ws")[-3000:]
        assert counts == sorted(counts) and counts[-1] >= len(counts)
        # Control: the same event from an admitted key (the REST host's)
        # does disconnect the victim, so the refusal above was the key's.
        with open(hosts.dir("a", "keys", "rest.key")) as f:
            pair = dict(line.split() for line in f if line.strip())
        admitted.curve_secretkey = pair["secret"].encode()
        admitted.curve_publickey = pair["public"].encode()
        admitted.curve_serverkey = hosts.pub["ws-0"].encode()
        admitted.connect(inbox)
        deadline = time.time() + 5
        wv.settimeout(0.1)
        while True:
            assert time.time() < deadline, "an admitted publisher's event never arrived"
            admitted.send(forged)
            try:
                op, data = wv.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            if op == websocket.ABNF.OPCODE_CLOSE:
                assert int.from_bytes(data[:2], "big") == 4004
                break
            assert json.loads(data)["data"]["code"] == 4004
    finally:
        for s in (stranger, plain, admitted):
            s.close()
        ctx.term()
        wv.close()


def test_sigkill_of_b_loses_no_confirmed_message(hosts):
    """B's daemon is killed (SIGKILL) in the middle of a burst: every
    message it confirmed is in Postgres; REST and C keep serving meanwhile;
    B restarted, its client reconnects, resends what was not confirmed
    (stored once), and both directions between B and C work again."""
    sender, reader, late = new_user(), new_user(), new_user()
    room = hosts.create_room(sender, [reader, late])
    ws_s, ws_r = hosts.ws("b", sender), hosts.ws("c", reader)
    n = 300
    temps = [send(ws_s, room, "burst %d" % i) for i in range(n)]
    confirmed = {}
    while len(confirmed) < 20:
        c = confirmation(ws_s)
        assert c["confirmed"] is True, c
        confirmed[c["message_id"]] = c["id"]
    hosts.kill_daemon(0)
    for f in read_dead(ws_s):
        if f["type"] == "MessageSentConfirmation" and f["data"]["confirmed"]:
            confirmed[f["data"]["message_id"]] = f["data"]["id"]
    ws_s.close()
    print("confirmed before the kill: %d of %d" % (len(confirmed), n))

    rows = dict(hosts.sql("SELECT client_temp_id, id FROM chat_room_messages "
                          "WHERE room_id = %s", (room,)))
    for temp, mid in confirmed.items():
        assert rows.get(temp) == mid, "confirmed message %s (id %d) is not stored" % (temp, mid)

    # B is down: REST through nginx still answers, and nginx sends a new
    # websocket to C
    r = hosts.req("GET", "/rooms/%d" % room, sub=reader)
    assert r.status_code == 200, r.text
    ws_l = hosts.ws_nginx(late)
    send(ws_l, room, "while B is down")
    assert confirmation(ws_l)["confirmed"] is True

    hosts.start_daemon(0)
    ws_s = hosts.ws("b", sender)
    # Besides its confirmations the sender may be handed, live, messages
    # of others it missed while away: C's publisher queued its events for
    # B during the outage and delivers them once B is back.
    others = []

    def confirmed_next(ws):
        while True:
            f = recv_json(ws, 10)
            if f["type"] == "MessageSentConfirmation":
                return f["data"]
            assert f["type"] == "MessageReceived", f
            others.append(f["data"])

    try:
        for temp in temps:
            if temp not in confirmed:
                send(ws_s, room, "burst %d" % temps.index(temp), temp)
                c = confirmed_next(ws_s)
                assert c["confirmed"] is True and c["message_id"] == temp, c
                if temp in rows:  # stored before the kill: the same row
                    assert c["id"] == rows[temp]
        rows = hosts.sql("SELECT client_temp_id, count(*) FROM chat_room_messages "
                         "WHERE room_id = %s AND sender_id = %s GROUP BY 1", (room, sender))
        assert len(rows) == n and all(cnt == 1 for _, cnt in rows)

        # continue: B's message reaches the reader on C, who got the
        # room's messages once each and in id order all along
        send(ws_s, room, "B is back")
        last = confirmed_next(ws_s)["id"]
        seen = []
        while not seen or seen[-1]["id"] < last:
            seen.append(received(ws_r))
        ids = [m["id"] for m in seen]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
        assert seen[-1]["message"] == "B is back"
        assert "while B is down" in [m["message"] for m in seen]
        # and C's message reaches the sender on B (after, at most, what it
        # missed, once each and in order)
        send(ws_r, room, "C hears you")
        assert confirmation(ws_r)["confirmed"] is True
        while not others or others[-1]["message"] != "C hears you":
            others.append(received(ws_s))
        ids = [m["id"] for m in others]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), others
        assert {m["sender_id"] for m in others} <= {reader, late}, others
        print("the sender on B also got, after its return: %s"
              % [m["message"] for m in others[:-1]])
        # the whole history, through nginx
        r = hosts.req("GET", "/rooms/%d" % room, sub=reader)
        assert r.status_code == 200, r.text
        hist = r.json()["messages"]
        assert len(hist) == n + 3  # the burst, "while B is down", "B is back", "C hears you"
        assert [m["id"] for m in hist] == sorted(m["id"] for m in hist)
    finally:
        for w in (ws_s, ws_r, ws_l):
            w.close()
