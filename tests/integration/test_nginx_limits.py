"""What nginx answers before the application sees a request (SPEC.md
section 2: "Every error, including those nginx answers itself, has a JSON
body"), and its limits per client address (README "Limits").

One stack of its own (one daemon), started with small limits through the
local stack's CHAT_NGINX_* settings and 127.0.0.1 on the allow-list: the
error tests below come from 127.0.0.1 and are never limited, the limit
tests from other loopback addresses (127.0.0.2 and up reach the same
listener, and nginx sees them as other clients). Malformed requests go
over raw sockets.
"""
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time

import pytest
import requests
import websocket

from conftest import ROOT, Stack, free_port, make_token, running, unix_established

REST_RATE = 5       # requests per second per address
REST_BURST = 5
WS_PER_ADDR = 3
CLIENT_TIMEOUT = 2  # seconds: client_header_timeout, client_body_timeout
REST_TIMEOUT = 2    # seconds: fastcgi_read_timeout

DOCUMENTED, APP = "documented", "app"


@pytest.fixture(scope="module")
def nstack():
    s = Stack(ws_count=1,
              CHAT_NGINX_REST_RATE="%dr/s" % REST_RATE,
              CHAT_NGINX_REST_BURST=REST_BURST,
              CHAT_NGINX_WS_PER_ADDR=WS_PER_ADDR,
              CHAT_NGINX_CLIENT_TIMEOUT="%ds" % CLIENT_TIMEOUT,
              CHAT_NGINX_REST_TIMEOUT="%ds" % REST_TIMEOUT,
              CHAT_NGINX_UNLIMITED="127.0.0.1")
    with running(s):
        yield s


def port(stack):
    return int(stack.env["CHAT_HTTP_PORT"])


def raw(stack, data, source="127.0.0.1", timeout=10):
    """Send data on a fresh connection from source; returns everything
    the server sends until it closes the connection or a complete
    response (by Content-Length) has arrived, and how long that took."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port(stack)))
    t0 = time.monotonic()
    out = b""
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            head, sep, body = out.partition(b"\r\n\r\n")
            if sep:
                n = [int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
                     if l.lower().startswith(b"content-length:")]
                if n and len(body) >= n[0]:
                    break
    finally:
        s.close()
    return out, time.monotonic() - t0


def parse(resp):
    """(status, {lower-case header: value}, body) of a raw HTTP response."""
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def check_envelope(status, headers, body, want_status, dialect, text=None):
    """The JSON error envelope of SPEC.md in the dialect, with its status,
    and a Server header that names no version."""
    assert status == want_status, body
    assert headers["content-type"].startswith("application/json"), (headers, body)
    assert headers.get("server", "nginx") == "nginx", headers
    env = json.loads(body)
    if dialect == APP:
        assert set(env) == {"error_message", "data", "message"}, env
        assert env["message"] == env["error_message"]
    else:
        assert set(env) == {"error_message", "data"}, env
    assert env["data"] is None
    assert isinstance(env["error_message"], str) and env["error_message"]
    if text is not None:
        assert env["error_message"] == text, env
    return env["error_message"]


def check_raw(stack, data, want_status, dialect, text=None, source="127.0.0.1"):
    resp, _ = raw(stack, data, source=source)
    assert resp, "no answer"
    status, headers, body = parse(resp)
    return check_envelope(status, headers, body, want_status, dialect, text), headers


def check_requests(r, want_status, dialect, text=None):
    return check_envelope(r.status_code, {k.lower(): v for k, v in r.headers.items()},
                          r.content, want_status, dialect, text)


# ---- 400, 414, 431: a request line or headers nginx cannot use ----

def test_unreadable_request_line_is_400_json(nstack):
    for line in (b"GARBAGE\r\n\r\n", b"GET /chat/rooms HTTP/1.1 extra\r\n\r\n",
                 b"GET /rooms\x01 HTTP/1.1\r\nHost: x\r\n\r\n"):
        # no path nginx could read: the documented dialect
        check_raw(nstack, line, 400, DOCUMENTED, "bad request")


def test_bad_header_is_400_json_in_the_paths_dialect(nstack):
    for path, dialect in (("/rooms", DOCUMENTED), ("/chat/rooms", APP), ("/chat/ws", APP)):
        # a header line without a colon; then a request without Host
        check_raw(nstack, b"GET %s HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n" % path.encode(),
                  400, dialect, "bad request")
        check_raw(nstack, b"GET %s HTTP/1.1\r\n\r\n" % path.encode(), 400, dialect,
                  "bad request")


def test_long_uri_is_414_json(nstack):
    for path in (b"/rooms/" + b"1" * 10240, b"/chat/rooms?x=" + b"a" * 10240,
                 b"/?token=" + b"a" * 10240):
        check_raw(nstack, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path, 414, DOCUMENTED,
                  "request URI too long")


def test_huge_header_is_431_json(nstack):
    big = b"Authorization: Bearer " + b"a" * 10240 + b"\r\n"
    many = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 7000) for i in range(6))
    for path, dialect in (("/rooms", DOCUMENTED), ("/chat/rooms", APP), ("/", DOCUMENTED)):
        for extra in (big, many):
            check_raw(nstack, b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), extra),
                      431, dialect, "request headers too large")
    # ... while the limits leave room for a fat Supabase token (4 KB)
    tok = make_token(nstack.new_user(), user_metadata={"pad": "x" * 3000})
    assert len(tok) > 4000
    r = nstack.req("GET", "/rooms", token=tok)
    assert r.status_code == 200, r.text


# ---- 403, 404, 405, 501, 505 ----

def test_refusals_of_the_websocket_path_are_json(nstack):
    # a plain GET: the daemon's 404; an upgrade to something else: its 403
    check_requests(nstack.req("GET", "/chat/ws"), 404, APP, "not found")
    check_requests(nstack.req("POST", "/anything", data="x"), 404, DOCUMENTED, "not found")
    check_raw(nstack, b"GET /chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\n"
              b"Connection: Upgrade\r\n\r\n", 403, APP, "forbidden")
    # the error page's own location is not reachable from outside
    check_requests(nstack.req("GET", "/.chat-error"), 404, DOCUMENTED, "not found")


def test_websocket_upgrade_without_its_key_is_400_json(nstack):
    """The daemon would just close such a connection (nginx: 502, shown as
    503 'try again'); it is the client's mistake: 400."""
    for path, dialect in (("/", DOCUMENTED), ("/chat/ws", APP)):
        check_raw(nstack, b"GET %s?token=x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n" % path.encode(),
                  400, dialect, "bad request")


def test_methods_and_protocols_nginx_refuses_are_json(nstack):
    check_requests(nstack.req("TRACE", "/chat/rooms"), 405, APP, "method not allowed")
    check_raw(nstack, b"POST /rooms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
              501, DOCUMENTED, "not implemented")
    check_raw(nstack, b"GET /rooms HTTP/2.0\r\nHost: x\r\n\r\n", 505, DOCUMENTED,
              "HTTP version not supported")


# ---- 408 ----

@pytest.mark.parametrize("partial", [
    b"GET /rooms HTTP/1.1\r\nHost: x\r\n",                              # headers never end
    b"POST /chat/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",  # body stops
])
def test_a_client_that_stalls_is_cut_off_without_a_page(nstack, partial):
    """nginx answers no 408 at all: on client_header_timeout or
    client_body_timeout it closes the connection. What matters to a
    client is that it is cut off in time and sees no HTML page."""
    resp, took = raw(nstack, partial, timeout=CLIENT_TIMEOUT + 10)
    assert resp == b"", resp
    assert CLIENT_TIMEOUT - 0.5 <= took < CLIENT_TIMEOUT + 5, took


# ---- 429: limit_req on REST, limit_conn on websockets ----

def session_from(source):
    """A requests session whose connections leave from source."""
    from requests.adapters import HTTPAdapter

    class Src(HTTPAdapter):
        def init_poolmanager(self, *a, **kw):
            kw["source_address"] = (source, 0)
            super().init_poolmanager(*a, **kw)

    s = requests.Session()
    s.mount("http://", Src())
    return s


def test_rest_burst_past_the_limit_is_429_json_and_others_stay_fine(nstack):
    user = nstack.new_user()
    auth = {"Authorization": "Bearer " + make_token(user)}
    burst = session_from("127.0.0.2")
    calm = session_from("127.0.0.3")
    listed = session_from("127.0.0.1")  # CHAT_NGINX_UNLIMITED
    calm_codes = []

    def calm_client():
        # below the rate, spread over the burst
        for _ in range(6):
            calm_codes.append(calm.get(nstack.http + "/rooms", headers=auth, timeout=15).status_code)
            time.sleep(1.5 / REST_RATE)

    t = threading.Thread(target=calm_client)
    t.start()
    codes, answers = [], []
    for i in range(REST_BURST * 8):
        path = "/chat/rooms" if i % 2 else "/rooms"
        r = burst.get(nstack.http + path, headers=auth, timeout=15)
        codes.append(r.status_code)
        if r.status_code == 429:
            answers.append((r, APP if path == "/chat/rooms" else DOCUMENTED))
    listed_codes = [listed.get(nstack.http + "/rooms", headers=auth, timeout=15).status_code
                    for _ in range(REST_BURST * 4)]
    t.join()
    # the burst is served, then 429 (a few tokens come back meanwhile)
    assert codes[:REST_BURST] == [200] * REST_BURST, codes
    assert codes.count(429) >= REST_BURST * 2, codes
    assert set(codes) == {200, 429}, codes
    dialects = set()
    for r, dialect in answers:
        check_requests(r, 429, dialect, "too many requests, slow down")
        assert r.headers["Retry-After"] == "1"
        dialects.add(dialect)
    assert dialects == {APP, DOCUMENTED}
    assert calm_codes == [200] * 6, calm_codes
    assert listed_codes == [200] * (REST_BURST * 4), listed_codes
    # the budget comes back at the configured rate
    time.sleep(2.0 / REST_RATE + 0.2)
    assert burst.get(nstack.http + "/rooms", headers=auth, timeout=15).status_code == 200


def ws_from(stack, source, user, path="/chat/ws"):
    s = socket.create_connection(("127.0.0.1", port(stack)), timeout=10,
                                 source_address=(source, 0))
    return websocket.create_connection(stack.ws + path + "?token=" + make_token(user),
                                       socket=s, timeout=10)


def upgrade_request(path, user):
    return (b"GET %s?token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n" % (path.encode(), make_token(user).encode()))


def test_websockets_past_the_limit_per_address_are_429_json(nstack):
    src = "127.0.0.4"
    held = [ws_from(nstack, src, nstack.new_user()) for _ in range(WS_PER_ADDR)]
    try:
        for ws in held:  # each one is a live session, not a refused one
            ws.ping("p")
        # the N+1-th upgrade from the same address: 429, JSON, both dialects
        for path, dialect in (("/chat/ws", APP), ("/", DOCUMENTED)):
            _, headers = check_raw(nstack, upgrade_request(path, nstack.new_user()), 429,
                                   dialect, "too many requests, slow down", source=src)
            assert headers["retry-after"] == "1"
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            ws_from(nstack, src, nstack.new_user())
        assert e.value.status_code == 429
        # another address, and the allow-listed one, are not affected
        other = ws_from(nstack, "127.0.0.5", nstack.new_user())
        listed = [ws_from(nstack, "127.0.0.1", nstack.new_user())
                  for _ in range(WS_PER_ADDR + 1)]
        for ws in [other] + listed:
            ws.close()
        # one closed: the address may connect again
        held.pop().close()
        deadline = time.time() + 5
        while True:
            try:
                held.append(ws_from(nstack, src, nstack.new_user()))
                break
            except websocket.WebSocketBadStatusException:
                assert time.time() < deadline, "the freed slot was not given back"
                time.sleep(0.1)
    finally:
        for ws in held:
            ws.close()


def test_nginx_reaches_the_daemon_through_its_unix_socket(nstack):
    """The websockets nginx opens to a daemon on this host go to its unix
    socket (CHAT_WS_SOCKET, chat.conf's upstream): cheaper per frame than
    TCP over loopback, and no ephemeral port is taken per connection, so a
    reconnect storm cannot run nginx out of them (docs/ws-daemon.md). Its
    TCP port is left to direct clients and /metrics."""
    ws_port = int(nstack.env["CHAT_WS_PORT"])
    sock_path = os.path.join(nstack.run_dir, "ws", "0.sock")
    assert stat.S_ISSOCK(os.stat(sock_path).st_mode)

    def counts():
        tcp = subprocess.run(["ss", "-Htn", "state", "established",
                              "( dport = :%d )" % ws_port],
                             capture_output=True, text=True, check=True).stdout
        return len(tcp.splitlines()), unix_established(sock_path)

    tcp0, unix0 = counts()
    held = [nstack.connect(nstack.new_user()) for _ in range(24)]
    try:
        for ws in held:
            ws.ping("p")
        tcp1, unix1 = counts()
        assert unix1 - unix0 >= 24, (unix0, unix1)
        assert tcp1 == tcp0, (tcp0, tcp1)
    finally:
        for ws in held:
            ws.close()


# ---- 500, 502/503, 504: a tier down, or misbehaving ----

class FakeUpstream:
    """A listener in place of a tier: answers each connection with
    reply(data) (None: never answers), until closed."""

    def __init__(self, family, addr, reply):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(addr)
        if family == socket.AF_UNIX:
            os.chmod(addr, 0o666)  # nginx's workers may be another user
        self.sock.listen(16)
        self.reply = reply
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            c.settimeout(2)
            try:
                data = c.recv(65536)
            except socket.timeout:
                data = b""
            out = self.reply(data)
            if out is not None:
                c.sendall(out)
                c.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_tier_down_failing_or_silent_is_json_503_500_504(nstack):
    """A tier that is down (nginx's 502: nothing listens, or the peer hangs
    up) is 503 "try again"; a daemon that answers 500 is 500 (nginx's own
    500s come from its internal failures, which no request can provoke:
    the daemons' errors pass through the same error page); a REST tier that
    does not answer within CHAT_NGINX_REST_TIMEOUT is 504."""
    user = nstack.new_user()
    ws_sock = os.path.join(nstack.run_dir, "ws", "0.sock")  # nginx's way in
    rest_sock = os.path.join(nstack.run_dir, "rest.sock")
    unavailable = "service unavailable, try again shortly"

    nstack.tool("stop-ws", "0")
    fake = None
    try:
        check_requests(nstack.req("GET", "/chat/ws"), 503, APP, unavailable)
        check_raw(nstack, upgrade_request("/", user), 503, DOCUMENTED, unavailable)
        os.unlink(ws_sock)  # the stopped daemon's (the next one replaces it)
        fake = FakeUpstream(socket.AF_UNIX, ws_sock, lambda data: (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
            b"Content-Length: 12\r\nConnection: close\r\n\r\n<h1>500</h1>"))
        check_requests(nstack.req("GET", "/chat/ws"), 500, APP, "internal server error")
        check_requests(nstack.req("GET", "/"), 500, DOCUMENTED, "internal server error")
    finally:
        if fake:
            fake.close()
        nstack.tool("start-ws", "0")

    nstack.tool("stop-rest")
    fake = None
    try:
        check_requests(nstack.req("GET", "/rooms", sub=user), 503, DOCUMENTED, unavailable)
        fake = FakeUpstream(socket.AF_UNIX, rest_sock, lambda data: b"")  # hangs up
        check_requests(nstack.req("GET", "/chat/rooms", sub=user), 503, APP, unavailable)
        fake.close()
        os.unlink(rest_sock)
        fake = FakeUpstream(socket.AF_UNIX, rest_sock, lambda data: None)  # silent
        t0 = time.monotonic()
        check_requests(nstack.req("GET", "/rooms", sub=user), 504, DOCUMENTED,
                       "service timed out")
        assert REST_TIMEOUT - 0.5 < time.monotonic() - t0 < REST_TIMEOUT + 5
        check_requests(nstack.req("GET", "/chat/rooms", sub=user), 504, APP,
                       "service timed out")
    finally:
        if fake:
            fake.close()
        if os.path.exists(rest_sock):
            os.unlink(rest_sock)
        nstack.tool("start-rest")
    wait_up(nstack, user)


def wait_up(stack, user, timeout=20):
    deadline = time.time() + timeout
    while stack.req("GET", "/rooms", sub=user).status_code != 200:
        assert time.time() < deadline, "REST did not come back"
        time.sleep(0.1)


def test_nginx_logs_no_websocket_token_even_in_its_alerts(nstack, tmp_path):
    """nginx writes a request's line, ?token= included, into every error
    log line about it, alerts too. The site logs websocket requests at
    "emerg" only (chat.conf, location /): a second nginx with the stack's
    site and 40 descriptors runs out of them while websockets connect to
    the daemon ("Too many open files" while connecting upstream, and at
    accept), and its log names the shortage but no token. (Without that
    line, the alert while connecting upstream names the request.)"""
    run_dir, d = nstack.run_dir, str(tmp_path)
    os.chmod(d, 0o755)
    for sub in ("nginx", "logs", "nginx-tmp"):
        os.mkdir(os.path.join(d, sub))
    shutil.chown(os.path.join(d, "nginx-tmp"), "www-data", "www-data")
    shutil.copy("/etc/nginx/fastcgi_params", os.path.join(d, "nginx"))
    http = free_port()
    with open(os.path.join(run_dir, "nginx", "chat.conf")) as f:
        site = f.read()
    site = re.sub(r"listen 127\.0\.0\.1:\d+", "listen 127.0.0.1:%d" % http, site)
    site = site.replace(run_dir + "/logs/", d + "/logs/")
    with open(os.path.join(d, "nginx", "chat.conf"), "w") as f:
        f.write(site)
    with open(os.path.join(ROOT, "nginx", "local.conf.in")) as f:
        main = (f.read().replace("@RUN_DIR@", d).replace("@USER_LINE@", "user www-data;")
                .replace("@EXTRA@", ""))
    main, n = re.subn(r"worker_rlimit_nofile \d+;", "worker_rlimit_nofile 40;", main)
    assert n == 1
    main = re.sub(r"worker_processes \d+;", "worker_processes 1;", main)
    conf = os.path.join(d, "nginx", "nginx.conf")
    with open(conf, "w") as f:
        f.write(main)
    subprocess.run(["nginx", "-q", "-t", "-c", conf, "-p", d], check=True)
    subprocess.run(["nginx", "-c", conf, "-p", d], check=True)
    held, idle, tokens, refused = [], [], [], 0
    try:
        # Each websocket takes two of nginx's descriptors (the client's, the
        # daemon's). Whether the last free one goes to a client (and the
        # connect upstream fails) or the accept fails depends on parity:
        # a bare connection now and then (one descriptor) tries both.
        while refused < 4:
            tok = make_token(nstack.new_user())
            tokens.append(tok)
            try:
                held.append(websocket.create_connection(
                    "ws://127.0.0.1:%d/?token=%s" % (http, tok), timeout=2))
            except (websocket.WebSocketException, OSError):
                refused += 1
                idle.append(socket.create_connection(("127.0.0.1", http), timeout=3))
            assert len(tokens) < 60
    finally:
        for c in held + idle:
            c.close()
        subprocess.run(["nginx", "-c", conf, "-p", d, "-s", "stop"], check=False)
    with open(os.path.join(d, "logs", "nginx-error.log"), errors="replace") as f:
        log = f.read()
    assert "Too many open files" in log, log[-2000:]
    assert "token=" not in log and not any(t.split(".")[2] in log for t in tokens), log[-3000:]
