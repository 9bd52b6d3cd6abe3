"""Integration tests: the real stack (Postgres, nginx, spawn-fcgi,
rest-fcgi, ws-daemon) started by tools/stack.sh on free ports in a
temporary directory, driven over HTTP and websocket as a client would.

Fixtures:
  stack   - the running stack (session-wide): urls, tokens, SQL, restarts.
  user    - a fresh random user id (UUID string) per call of stack.new_user().
"""
import base64
import contextlib
import glob
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import psycopg
import pytest
import requests
import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK_SH = os.path.join(ROOT, "tools", "stack.sh")


def dev_jwt_secret():
    """CHAT_DEV_JWT_SECRET as shared/ defines it: the key a stack started
    without SUPABASE_JWT_SECRET verifies HS256 tokens with."""
    found = set()
    for path in glob.glob(os.path.join(ROOT, "shared", "*.h")):
        with open(path) as f:
            found.update(re.findall(r'^#define\s+CHAT_DEV_JWT_SECRET\s+"([^"\\]*)"',
                                    f.read(), re.M))
    if len(found) != 1:
        raise RuntimeError("expected one CHAT_DEV_JWT_SECRET in shared/*.h, found %r" % found)
    return found.pop()


DEV_SECRET = dev_jwt_secret()


def stack_settings(env):
    """What tools/stack.sh runs with under env, its defaults and derived
    values included (event endpoints, DATABASE_URL): `stack.sh settings`."""
    r = subprocess.run([STACK_SH, "settings"], env=env, check=True, capture_output=True,
                       text=True, timeout=30)
    return dict(line.split("=", 1) for line in r.stdout.splitlines())


def unix_established(sock_path):
    """How many connections to the unix socket sock_path are established
    (the accepted side of each names the path in /proc/net/unix)."""
    n = 0
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            n += len(cols) >= 8 and cols[5] == "03" and cols[7] == sock_path
    return n


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_run(n):
    """n consecutive free ports (the daemons take CHAT_WS_PORT + i)."""
    for _ in range(200):
        base = free_port()
        ok = True
        for i in range(1, n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", base + i))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no run of free ports")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(sub, secret=DEV_SECRET, alg="HS256", exp_in=3600, aud="authenticated",
               role="authenticated", header_extra=None, **claims):
    """An HS256 token signed in Python (independent of the C signer), or an
    unsigned one for alg 'none'. Claims set to None are left out."""
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT"}
    header.update(header_extra or {})
    payload = {"sub": sub, "aud": aud, "role": role, "iat": now,
               "exp": now + exp_in if exp_in is not None else None}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    if alg == "none":
        return signing + "."
    key = secret.encode() if isinstance(secret, str) else secret
    sig = hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


class Stack:
    def __init__(self, ws_count=2, **settings):
        """A stack of ws_count daemons; settings (CHAT_* variables, None to
        unset one) go to every program of it."""
        self.run_dir = tempfile.mkdtemp(prefix="chat-it-")
        self.ws_count = ws_count
        self.env = dict(os.environ)
        self.env.update({
            "RUN_DIR": self.run_dir,
            "CHAT_HTTP_PORT": str(free_port()),
            "CHAT_WS_PORT": str(free_port_run(self.ws_count)),
            "CHAT_PG_PORT": str(free_port()),
            "CHAT_WS_COUNT": str(self.ws_count),
            "CHAT_REST_WORKERS": "3",
            "CHAT_BIN_DIR": os.environ.get("CHAT_BIN_DIR", os.path.join(ROOT, "build")),
            "CHAT_LOG_LEVEL": "info",
            "CHAT_DEV": "1",  # a development stack: DEV_SECRET signs its tokens
            # Tests send bursts of hundreds of frames: no rate limit unless a
            # test asks for one (test_ws_limits.py passes its own values).
            "CHAT_WS_MSG_RATE": "0",
            # Nor nginx's per-address REST limit (100 at once, then 20/s):
            # the session's stack serves hundreds of tests from 127.0.0.1,
            # and on a faster machine test_rest_faults ran out of it (429).
            # The tests of that limit set their own (test_nginx_limits.py,
            # test_api_docs.py).
            "CHAT_NGINX_UNLIMITED": "127.0.0.0/8",
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
        })
        # The embedded Postgres, and tokens signed with DEV_SECRET (the
        # stack's key when no other is configured).
        for var in ("DATABASE_URL", "CHAT_EVT_ENDPOINTS", "SUPABASE_JWT_SECRET",
                    "SUPABASE_JWKS_FILE"):
            self.env.pop(var, None)
        for var, val in settings.items():
            if val is None:
                self.env.pop(var, None)
            else:
                self.env[var] = str(val)
        settings = stack_settings(self.env)
        # The daemons' event inboxes as tools/stack.sh lays them out
        # (daemon i binds entry i, so they come first), plus one inbox no
        # daemon binds: tests bind a ZeroMQ SUB socket there to see what
        # the tiers publish (evt_inbox).
        self.evt_test_endpoint = "ipc://%s/evt-test.sock" % self.run_dir
        self.env["CHAT_EVT_ENDPOINTS"] = "%s,%s" % (settings["CHAT_EVT_ENDPOINTS"],
                                                    self.evt_test_endpoint)
        self.http = "http://127.0.0.1:%s" % self.env["CHAT_HTTP_PORT"]
        self.ws = "ws://127.0.0.1:%s" % self.env["CHAT_HTTP_PORT"]
        # The embedded Postgres wants the password stack.sh made (pgpass).
        self.db_url = settings["DATABASE_URL"]
        self.passfile = settings["PGPASSFILE"]
        self.dsn = self.db_dsn("chat")

    def db_dsn(self, dbname, superuser=False):
        """The stack's database URL for database dbname, with its password
        file; superuser: as the embedded Postgres' "postgres" role."""
        u = urllib.parse.urlsplit(self.db_url)
        passfile = self.passfile
        if superuser:
            passfile = os.path.join(self.run_dir, "pg-super.pgpass")
            u = u._replace(netloc="postgres@" + u.netloc.split("@", 1)[1])
        return urllib.parse.urlunsplit(u._replace(path="/" + dbname, query="passfile=" + passfile))

    def tool(self, *args, check=True):
        return subprocess.run([STACK_SH, *args], env=self.env,
                              check=check, capture_output=True, text=True, timeout=180)

    def start(self):
        r = self.tool("start", check=False)
        if r.returncode != 0:
            raise RuntimeError("stack start failed:\n%s\n%s\n%s" % (r.stdout, r.stderr, self.logs()))

    def stop(self):
        self.tool("stop", check=False)

    def logs(self):
        out = []
        d = os.path.join(self.run_dir, "logs")
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, f), errors="replace") as fh:
                out.append("==> %s\n%s" % (f, fh.read()[-4000:]))
        return "\n".join(out)

    # identities
    @staticmethod
    def new_user():
        return str(uuid.uuid4())

    @staticmethod
    def token(sub, **kw):
        return make_token(sub, **kw)

    def admin_token(self):
        return make_token(str(uuid.uuid4()), role="service_role")

    # REST
    def req(self, method, path, sub=None, token=None, **kw):
        headers = kw.pop("headers", {})
        if token is None and sub is not None:
            token = make_token(sub)
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        return requests.request(method, self.http + path, headers=headers, timeout=15, **kw)

    # websocket
    def connect(self, sub=None, token=None, path="/", timeout=10):
        if token is None and sub is not None:
            token = make_token(sub)
        url = self.ws + path + ("?token=" + token if token is not None else "")
        ws = websocket.create_connection(url, timeout=timeout)
        return ws

    # SQL
    def sql(self, query, params=()):
        with psycopg.connect(self.dsn, autocommit=True) as c:
            cur = c.execute(query, params)
            return cur.fetchall() if cur.description else None


def recv_json(ws, timeout=5):
    """The next text frame as JSON (fails on a close or a timeout)."""
    ws.settimeout(timeout)
    op, data = ws.recv_data(control_frame=False)
    assert op == websocket.ABNF.OPCODE_TEXT, "expected a text frame, got opcode %d" % op
    return json.loads(data)


def recv_close(ws, timeout=5):
    """Read until the server's close frame; returns (code, reason) and the
    JSON frames seen before it."""
    ws.settimeout(timeout)
    frames = []
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            return code, data[2:].decode(errors="replace"), frames
        if op == websocket.ABNF.OPCODE_TEXT:
            frames.append(json.loads(data))


# ---- helpers the test modules share ----

# A timestamp as the service writes it: UTC, six fraction digits, +00:00.
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def create_room(stack, owner, users=(), apartment_id=None, path="/rooms"):
    """POST a room as owner with users (and apartment_id unless None);
    asserts a 201 envelope holding the new room's integer id, returns it."""
    body = {"users": list(users)}
    if apartment_id is not None:
        body["apartment_id"] = apartment_id
    r = stack.req("POST", path, sub=owner, json=body)
    assert r.status_code == 201, r.text
    env = r.json()
    assert env["error_message"] is None
    assert isinstance(env["data"], int) and not isinstance(env["data"], bool)
    return env["data"]


def wait_rest(stack, sub=None, in_a_row=1, timeout=20):
    """Poll GET /rooms (as sub, else as a new user each time) until it
    answers 200 in_a_row times in a row; returns the last answer. After a
    Postgres restart each REST worker may spend one request noticing it,
    so in_a_row above the worker count means every worker is back."""
    deadline, ok = time.time() + timeout, 0
    while True:
        r = stack.req("GET", "/rooms", sub=sub or stack.new_user())
        ok = ok + 1 if r.status_code == 200 else 0
        if ok >= in_a_row:
            return r
        assert time.time() < deadline, "REST did not recover (%d of %d in a row): %s %s" % (
            ok, in_a_row, r.status_code, r.text)
        if not ok:
            time.sleep(0.2)


@contextlib.contextmanager
def running(s):
    """Start stack s, yield it, then stop it and remove its run directory
    (kept when CHAT_KEEP_RUN_DIR is set, for a look at the logs)."""
    for tool in ("nginx", "spawn-fcgi", "psql"):
        assert shutil.which(tool), "%s is not installed (tools/deps.sh run)" % tool
    try:
        s.start()
        yield s
    finally:
        if os.environ.get("CHAT_KEEP_RUN_DIR"):
            s.stop()
            print("run dir kept:", s.run_dir)
        else:
            s.tool("purge", check=False)  # stop, and remove its Postgres data
            shutil.rmtree(s.run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack():
    with running(Stack()) as s:
        yield s


# ---- events (REST engineer): see what the tiers publish over ZeroMQ ----

class EvtInbox:
    """A SUB socket bound at the stack's extra event endpoint (no daemon
    binds it), so a test sees every event rest-fcgi and the daemons
    publish (shared/evt.h format, one JSON object per frame)."""

    def __init__(self, endpoint):
        import zmq
        self.zmq = zmq
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        # bound as root; the tiers may run as an unprivileged user
        if endpoint.startswith("ipc://"):
            os.chmod(endpoint[len("ipc://"):], 0o666)

    def sync(self, stack):
        """Publishers reconnect to a new inbox by themselves, and a PUB
        drops what it sends before the subscription reaches it: returns
        once several events in a row (of whichever REST workers answer)
        got through. A test whose REST workers may have been restarted
        since (restart-rest earlier in the session) calls it again."""
        deadline, streak = time.time() + 15, 0
        while streak < 8 and time.time() < deadline:
            probe = str(uuid.uuid4())
            stack.req("POST", "/admin/users/%s/disconnect" % probe, token=stack.admin_token())
            try:
                self.wait(lambda e: e.get("user") == probe, timeout=0.3)
                streak += 1
            except AssertionError:
                streak = 0

    def wait(self, pred, timeout=5):
        """The first event (a dict) for which pred(event) is true; fails
        after timeout seconds."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no matching event within %ss" % timeout)
            if self.sock.poll(int(left * 1000) + 1):
                ev = json.loads(self.sock.recv())
                if pred(ev):
                    return ev

    def collect(self, pred, quiet=0.5):
        """Every matching event until none arrives for quiet seconds."""
        out = []
        while self.sock.poll(int(quiet * 1000)):
            ev = json.loads(self.sock.recv())
            if pred(ev):
                out.append(ev)
        return out

    def close(self):
        self.sock.close()
        self.ctx.term()


@pytest.fixture(scope="session")
def evt_inbox(stack):
    inbox = EvtInbox(stack.evt_test_endpoint)
    inbox.sync(stack)
    try:
        yield inbox
    finally:
        inbox.close()
