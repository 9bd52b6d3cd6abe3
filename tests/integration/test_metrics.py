"""Prometheus metrics (docs/metrics.md): GET /metrics of the REST tier
(totals of every rest-fcgi worker) and of each ws-daemon, through nginx's
allow list and on the daemons' own ports. A scripted session of REST calls
and websocket traffic moves the counters by exactly what it did; every
exposition passes `promtool check metrics`."""
import collections
import concurrent.futures
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests
import websocket

from conftest import Stack, create_room, running
from test_ws import assert_closed_with, confirmation, direct, received, send

RATE, BURST = 1, 3      # the 4th of 4 frames sent at once is rate limited
WORKERS = 4
CONCURRENT_GETS = 40


@pytest.fixture(scope="module")
def mstack():
    with running(Stack(ws_count=2, CHAT_REST_WORKERS=WORKERS, CHAT_WS_MSG_RATE=RATE,
                       CHAT_WS_MSG_BURST=BURST, CHAT_LOG_LEVEL="debug")) as s:
        yield s


# ---- reading an exposition ----

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, ((label, value), ...)): float} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = tuple(sorted((k, re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), v))
                              for k, v in LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def promtool(text):
    """`promtool check metrics` must accept text without a complaint."""
    assert shutil.which("promtool"), "promtool is not installed (tools/deps.sh, prometheus)"
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        "promtool: rc %d\n%s%s" % (r.returncode, r.stdout, r.stderr)


def scrape(url):
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, (url, r.status_code, r.text)
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return r.text


class Scrape:
    """The REST tier's and each daemon's exposition at one moment."""

    def __init__(self, stack, check=True):
        self.rest_text = scrape(stack.http + "/metrics")
        self.ws_text = [scrape("%s/metrics/ws/%d" % (stack.http, i + 1))
                        for i in range(stack.ws_count)]
        if check:
            for t in [self.rest_text] + self.ws_text:
                promtool(t)
        self.rest = parse(self.rest_text)
        self.ws = [parse(t) for t in self.ws_text]

    def r(self, name, **labels):
        return self.rest.get((name, tuple(sorted(labels.items()))), 0.0)

    def w(self, i, name, **labels):
        return self.ws[i].get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after, fn, *args, **labels):
    return getattr(after, fn)(*args, **labels) - getattr(before, fn)(*args, **labels)


# ---- the session ----


def test_counters_move_by_exactly_what_a_session_did(mstack):
    s = mstack
    alice, bob = s.new_user(), s.new_user()
    bob_tok = s.token(bob)
    before = Scrape(s)

    # -- REST: known routes, methods and statuses --
    room = create_room(s, alice, [bob])                                   # POST /rooms 201
    with concurrent.futures.ThreadPoolExecutor(8) as ex:                  # GET /rooms 200
        codes = list(ex.map(lambda _: s.req("GET", "/rooms", sub=alice).status_code,
                            range(CONCURRENT_GETS)))
    assert codes == [200] * CONCURRENT_GETS
    assert s.req("GET", "/rooms/%d" % room, sub=alice).status_code == 200
    assert s.req("GET", "/rooms/999999999", sub=alice).status_code == 404
    assert s.req("GET", "/rooms").status_code == 401
    assert s.req("DELETE", "/rooms", sub=alice).status_code == 405
    assert s.req("GET", "/rooms/%d/nothing" % room, sub=alice).status_code == 404  # no route

    # -- websocket: alice on daemon 0, bob on daemon 1 --
    wa = direct(s, 0, alice)
    wb = direct(s, 1, token=bob_tok)
    nobody = websocket.create_connection("ws://127.0.0.1:%s/" % s.env["CHAT_WS_PORT"],
                                         timeout=10)
    assert_closed_with(nobody, 4001)
    time.sleep(0.3)  # both admitted (ban checks answered)
    temps = [send(wa, room, "m%d" % i) for i in range(BURST + 1)]
    confs = {c["message_id"]: c for c in (confirmation(wa) for _ in temps)}
    assert [confs[t]["confirmed"] for t in temps] == [True] * BURST + [False]
    assert confs[temps[-1]]["reason"] == "rate limited"
    assert [received(wb)["message"] for _ in range(BURST)] == ["m%d" % i for i in range(BURST)]
    # a second device of alice: the first one gets 4008
    wa2 = direct(s, 0, alice)
    assert_closed_with(wa, 4008)
    # an administrator disconnects bob: 4004
    r = s.req("POST", "/admin/users/%s/disconnect" % bob, token=s.admin_token())
    assert r.status_code == 200, r.text
    assert_closed_with(wb, 4004)
    # alice leaves normally
    wa2.close(status=1000)
    time.sleep(0.5)  # closes and events counted on both daemons

    after = Scrape(s)

    # -- REST: exact deltas, totals of all workers --
    def req_delta(route, method, status):
        return delta(before, after, "r", "chat_rest_requests_total",
                     route=route, method=method, status=str(status))

    assert req_delta("/rooms", "POST", 201) == 1
    assert req_delta("/rooms", "GET", 200) == CONCURRENT_GETS
    assert req_delta("/rooms", "GET", 401) == 1
    assert req_delta("/rooms", "DELETE", 405) == 1
    assert req_delta("/rooms/:id", "GET", 200) == 1
    assert req_delta("/rooms/:id", "GET", 404) == 1
    assert req_delta("other", "GET", 404) == 1
    assert req_delta("/admin/users/:id/disconnect", "POST", 200) == 1
    assert req_delta("/metrics", "GET", 200) == 1  # the first scrape (counted once answered)
    moved = {k for k in after.rest if k[0] == "chat_rest_requests_total"
             and after.rest[k] != before.rest.get(k, 0.0)}
    assert len(moved) == 9, sorted(moved)  # nothing else moved
    assert delta(before, after, "r", "chat_rest_request_seconds_count",
                 route="/rooms") == CONCURRENT_GETS + 3
    assert delta(before, after, "r", "chat_rest_request_seconds_count", route="/rooms/:id") == 2
    assert delta(before, after, "r", "chat_rest_request_seconds_count", route="other") == 1
    assert delta(before, after, "r", "chat_rest_request_seconds_bucket",
                 route="/rooms", le="+Inf") == CONCURRENT_GETS + 3
    assert delta(before, after, "r", "chat_rest_db_errors_total") == 0
    # each GET /rooms 200 was a cache hit or a query; each worker queried
    # alice's list once (nothing she is in changed meanwhile), and once
    # more if another worker's first connection announced "everything
    # changed" after it (shared/listnotify.h)
    hits = delta(before, after, "r", "chat_rest_list_cache_total", result="hit")
    misses = delta(before, after, "r", "chat_rest_list_cache_total", result="miss")
    assert hits + misses == CONCURRENT_GETS
    assert 1 <= misses <= 2 * int(s.env["CHAT_REST_WORKERS"]), (hits, misses)
    assert after.r("chat_db_reconnects_total") == 0
    # the GETs went to several workers, and the total counts every one of them
    assert len(set(served_since(s, 0, "GET /rooms -> 200"))) >= 2
    assert after.r("chat_build_info", tier="rest", version=next(
        dict(k[1])["version"] for k in after.rest if k[0] == "chat_build_info")) == 1

    # -- daemon 0 (alice) and daemon 1 (bob) --
    def d(i, name, **labels):
        return delta(before, after, "w", i, name, **labels)

    closed = lambda i, code: d(i, "chat_ws_connections_closed_total", code=code)
    assert d(0, "chat_ws_connections_opened_total") == 3        # alice twice, the tokenless
    assert d(1, "chat_ws_connections_opened_total") == 1
    assert (closed(0, "4001"), closed(0, "4008"), closed(0, "1000")) == (1, 1, 1)
    assert closed(1, "4004") == 1
    for i in (0, 1):
        assert sum(v for k, v in after.ws[i].items()
                   if k[0] == "chat_ws_connections_closed_total") - \
            sum(v for k, v in before.ws[i].items()
                if k[0] == "chat_ws_connections_closed_total") == (3 if i == 0 else 1)
        assert after.w(i, "chat_ws_connections") == before.w(i, "chat_ws_connections") == 0
        # every websocket and the scrape that reads them came through the
        # daemon's own accept (listener.h); nothing is left mid-handshake
        assert d(i, "chat_ws_accepted_total") >= d(i, "chat_ws_connections_opened_total") + 1
        assert after.w(i, "chat_ws_handshakes_in_progress") == 0
        assert after.w(i, "chat_ws_handshakes_queued") == 0
    assert d(0, "chat_ws_messages_received_total") == BURST + 1
    assert d(0, "chat_ws_messages_stored_total") == BURST
    assert d(0, "chat_ws_messages_confirmed_total", result="true", reason="") == BURST
    assert d(0, "chat_ws_messages_confirmed_total", result="false",
             reason="rate limited") == 1
    assert d(0, "chat_ws_messages_rate_limited_total") == 1
    assert d(1, "chat_ws_messages_delivered_total") == BURST
    assert d(0, "chat_ws_messages_delivered_total") == 0
    assert d(0, "chat_ws_store_batch_size_sum") == BURST
    assert 1 <= d(0, "chat_ws_store_batch_size_count") <= BURST
    assert d(0, "chat_ws_store_seconds_count") == d(0, "chat_ws_store_batch_size_count")
    # frames written: alice's confirmations, the refusal, the 4001 and 4008
    # Disconnections; bob's messages and his 4004. Frames queued together
    # leave in one write (conn.c): a batch's confirmations, one write each
    # but for the refusal and the Disconnections.
    assert d(0, "chat_ws_frames_sent_total") == BURST + 3
    assert d(1, "chat_ws_frames_sent_total") == BURST + 1
    assert 1 <= d(1, "chat_ws_writes_total") <= d(1, "chat_ws_frames_sent_total")
    assert d(0, "chat_ws_writes_total") <= d(0, "chat_ws_store_batch_size_count") + 3
    assert d(0, "chat_ws_store_seconds_sum") > 0
    assert d(0, "chat_ws_queue_drops_total") == d(1, "chat_ws_queue_drops_total") == 0
    ev = lambda i, kind, t: d(i, "chat_ws_events_%s_total" % kind, type=t)
    assert ev(0, "published", "message") == BURST and ev(1, "received", "message") == BURST
    assert ev(0, "published", "connected") == 2 and ev(1, "received", "connected") == 2
    assert ev(1, "published", "connected") == 1 and ev(0, "received", "connected") == 1
    for i in (0, 1):  # from the REST tier, to every daemon
        assert ev(i, "received", "room") == 1
        assert ev(i, "received", "disconnect") == 1
        for k, v in after.ws[i].items():
            if k[0] == "chat_ws_events_dropped_total":
                assert v == before.ws[i].get(k, 0.0), k
    # nothing in a daemon's exposition moved that the session did not do
    for i in (0, 1):
        assert after.w(i, "chat_db_reconnects_total") == 0
        assert after.w(i, "process_start_time_seconds") == before.w(i, "process_start_time_seconds")


def test_the_daemon_port_answers_its_own_metrics(mstack):
    s = mstack
    for i in range(s.ws_count):
        own = requests.get("http://127.0.0.1:%d/metrics" % (int(s.env["CHAT_WS_PORT"]) + i),
                           timeout=10)
        assert own.status_code == 200
        assert own.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        promtool(own.text)
        via = parse(scrape("%s/metrics/ws/%d" % (s.http, i + 1)))
        mine = parse(own.text)
        # the same daemon: same start time, same counters of what did not move
        assert mine[("process_start_time_seconds", ())] == via[("process_start_time_seconds", ())]
        assert mine[("chat_build_info", (("tier", "ws"), ("version", next(
            dict(k[1])["version"] for k in mine if k[0] == "chat_build_info"))))] == 1
        other = requests.get("http://127.0.0.1:%d/nothing" % (int(s.env["CHAT_WS_PORT"]) + i),
                             timeout=10)
        assert other.status_code == 404
        assert other.json() == {"error_message": "not found: this port takes websocket "
                                                 "connections only", "data": None}
    rs = [float(l.split()[1]) for l in scrape(s.http + "/metrics").splitlines()
          if l.startswith("process_start_time_seconds ")]
    assert len(rs) == 1 and abs(rs[0] - time.time()) < 3600


def raw_get(port, path, source):
    """GET path from the local address source: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as c:
        c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def test_only_allowed_addresses_read_metrics(mstack):
    s = mstack
    port = int(s.env["CHAT_HTTP_PORT"])
    # 127.0.0.2 is loopback too, but not on the allow list
    for path in ("/metrics", "/metrics/ws/1", "/metrics/ws/2"):
        assert raw_get(port, path, "127.0.0.1")[0] == 200
        status, body = raw_get(port, path, "127.0.0.2")
        assert (status, body) == (403, '{"error_message":"forbidden","data":null}\n'), path
    # past the last daemon, or not a number: the JSON 404
    for path in ("/metrics/ws/3", "/metrics/ws/0", "/metrics/ws/x", "/metrics/other"):
        r = requests.get(s.http + path, timeout=10)
        assert r.status_code == 404, path
        assert r.json() == {"error_message": "not found", "data": None}
    r = requests.post(s.http + "/metrics", timeout=10)
    assert r.status_code == 405 and r.json()["data"] is None


def rest_log_lines(stack):
    with open(os.path.join(stack.run_dir, "logs", "rest.log"), errors="replace") as f:
        return f.read().count("\n")


def served_since(stack, skip, what):
    """The pids of the workers whose debug line answered what, in the
    rest.log lines after the first skip."""
    with open(os.path.join(stack.run_dir, "logs", "rest.log"), errors="replace") as f:
        text = "".join(f.readlines()[skip:])
    return [int(m.group(1)) for m in
            re.finditer(r"rest-fcgi\[(\d+)\]: %s\n" % re.escape(what), text)]


def test_every_worker_reports_the_totals(mstack):
    """Whichever rest-fcgi worker answers /metrics, it reports every
    worker's requests: scrape after scrape, with no other traffic, the
    count of GET /metrics grows by exactly one (the scrape before); and
    the requests of workers that have exited since stay in the totals
    that a surviving worker reports. (Runs last: it stops workers.)"""
    s = mstack
    last = None
    for _ in range(8):
        m = parse(scrape(s.http + "/metrics"))
        n = m[("chat_rest_requests_total",
               (("method", "GET"), ("route", "/metrics"), ("status", "200")))]
        if last is not None:
            assert n == last + 1
        last = n

    key = ("chat_rest_requests_total", (("method", "GET"), ("route", "/rooms"), ("status", "200")))
    before = parse(scrape(s.http + "/metrics")).get(key, 0.0)
    skip = rest_log_lines(s)
    user = s.new_user()
    for _ in range(20):
        assert s.req("GET", "/rooms", sub=user).status_code == 200
    served = collections.Counter(served_since(s, skip, "GET /rooms -> 200"))
    assert sum(served.values()) == 20
    # stop the workers that served them (all but one worker at most)
    gone = [pid for pid, _ in served.most_common(WORKERS - 1)]
    for pid in gone:
        os.kill(pid, 15)
    for pid in gone:
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("worker %d did not exit" % pid)
    skip = rest_log_lines(s)
    after = parse(scrape(s.http + "/metrics")).get(key, 0.0)
    answered_by = served_since(s, skip, "GET /metrics -> 200")
    assert len(answered_by) == 1 and answered_by[0] not in gone
    assert after - before == 20, (after, before, served)
