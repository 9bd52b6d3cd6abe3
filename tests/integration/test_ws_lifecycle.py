"""The websocket tier's timers and limits (SPEC.md section 3 close codes
4003, 4009, 4011, server pings) on a small stack of its own with short
settings: one daemon, an AFK limit of 4 s (an operator's choice; off by
default), pings every second, no JWT leeway, a queue of 8 frames per
connection and a moderation list."""
import os
import socket
import subprocess
import threading
import time

import pytest
import websocket

from conftest import (Stack, create_room, make_token, recv_close, recv_json, running,
                      stack_settings)
from test_ws import assert_closed_with, assert_silent, confirmation, received, send, stored

IDLE = 4  # leaves a dead peer (dropped after 2-3 ping intervals) clear of the idle close
PING = 1


@pytest.fixture(scope="module")
def small():
    s = Stack(ws_count=1, CHAT_IDLE_TIMEOUT=IDLE, CHAT_PING_INTERVAL=PING, CHAT_JWT_LEEWAY=0,
              CHAT_QUEUE_MAX=8)
    terms = os.path.join(s.run_dir, "moderation.txt")
    with open(terms, "w") as f:
        f.write("# banned terms\nbadword\nvery bad phrase\n\nCAPS\n")
    s.env["CHAT_MODERATION_FILE"] = terms
    with running(s):
        yield s


def daemon_url(s, token):
    return "ws://127.0.0.1:%s/?token=%s" % (s.env["CHAT_WS_PORT"], token)


def keep_busy_until_closed(ws, room, limit):
    """Send a (refused, blank) frame every 0.5 s so the idle timeout never
    fires; returns (code, reason, frames, seconds) of the server's close."""
    start = time.time()
    ws.settimeout(0.5)
    frames = []
    while time.time() - start < limit:
        try:
            send(ws, room, " ")
        except (BrokenPipeError, websocket.WebSocketConnectionClosedException):
            pass
        try:
            while True:
                op, data = ws.recv_data(control_frame=True)
                if op == websocket.ABNF.OPCODE_CLOSE:
                    return int.from_bytes(data[:2], "big"), data[2:].decode(), frames, \
                        time.time() - start
                if op == websocket.ABNF.OPCODE_TEXT:
                    import json
                    frames.append(json.loads(data))
        except websocket.WebSocketTimeoutException:
            pass
    raise AssertionError("not closed within %ss" % limit)


def test_idle_connection_gets_4003(small):
    ws = small.connect(sub=small.new_user())
    start = time.time()
    reason, frames = assert_closed_with(ws, 4003, timeout=IDLE + 5)
    took = time.time() - start
    assert IDLE - 0.5 <= took <= IDLE + 2.5, took


def test_afk_limit_set_by_an_operator_closes_a_reader_with_4003(small):
    """This stack's operator set CHAT_IDLE_TIMEOUT (off by default): a
    reader who answers pings and receives messages but sends nothing is
    AFK, and gets 4003."""
    a, b = small.new_user(), small.new_user()
    room = create_room(small, a, [b])
    wb = small.connect(sub=b)
    start = time.time()
    wa = small.connect(sub=a)
    send(wa, room, "are you reading?")
    assert confirmation(wa)["confirmed"] is True
    assert received(wb)["message"] == "are you reading?"
    reason, frames = assert_closed_with(wb, 4003, timeout=IDLE + 5)
    assert IDLE - 0.5 <= time.time() - start <= IDLE + 2.5
    wa.close()


def test_frames_keep_a_connection_from_idling(small):
    a, b = small.new_user(), small.new_user()
    room = create_room(small, a, [b])
    ws = small.connect(sub=a)
    for _ in range(IDLE * 2 + 1):
        send(ws, room, "still typing")
        assert confirmation(ws)["confirmed"] is True
        time.sleep(0.5)
    ws.close()


def test_token_expiry_gets_4009(small):
    user = small.new_user()
    ws = small.connect(token=make_token(user, exp_in=2))
    code, reason, frames, took = keep_busy_until_closed(ws, 1, 10)
    assert code == 4009
    assert "token is expired" in reason
    assert frames[-1] == {"type": "Disconnection", "data": {"code": 4009, "reason": reason}}
    assert took <= 4.5


def test_server_pings_and_a_client_that_answers_stays(small):
    ws = small.connect(sub=small.new_user())
    ws.settimeout(IDLE + 2)
    op, _ = ws.recv_data(control_frame=True)
    assert op == websocket.ABNF.OPCODE_PING
    ws.close()


def test_dead_peer_is_dropped_by_pings(small):
    """A client that completed the handshake and then never reads nor
    answers pings is dropped after about two ping intervals, before the
    idle timeout."""
    sock = socket.create_connection(("127.0.0.1", int(small.env["CHAT_WS_PORT"])))
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sock.sendall(("GET /?token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % (make_token(small.new_user()), key)).encode())
    start = time.time()
    sock.settimeout(IDLE + 5)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    took = time.time() - start
    assert b" 101 " in data.split(b"\r\n")[0]
    body = data.split(b"\r\n\r\n", 1)[1]
    assert body[:1] == b"\x89"  # a ping frame came first
    assert b"Disconnection" not in body  # dropped, not closed as idle
    assert took < IDLE, took
    sock.close()


def test_moderated_message_gets_4011_and_is_not_stored(small):
    a, b = small.new_user(), small.new_user()
    room = create_room(small, a, [b])
    wa, wb = small.connect(sub=a), small.connect(sub=b)
    ok = send(wa, room, "badwords and capslock are fine")
    assert confirmation(wa)["confirmed"] is True
    assert received(wb)["message"] == "badwords and capslock are fine"
    temp = send(wa, room, "you are a BadWord!")
    c = confirmation(wa)
    assert c["confirmed"] is False and c["message_id"] == temp
    assert_closed_with(wa, 4011)
    assert stored(small, a, temp) == [] and len(stored(small, a, ok)) == 1
    assert_silent(wb)
    wa = small.connect(sub=a)
    temp = send(wa, room, "a very   bad, phrase indeed")
    assert confirmation(wa)["confirmed"] is False
    assert_closed_with(wa, 4011)
    assert stored(small, a, temp) == []
    wb.close()


def test_slow_reader_is_closed_with_4009(small):
    a, b = small.new_user(), small.new_user()
    room = create_room(small, a, [b])
    # b reads nothing and has a tiny receive buffer; straight to the daemon
    wb = websocket.create_connection(daemon_url(small, make_token(b)), timeout=10,
                                     sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    wa = small.connect(sub=a)
    text = "y" * 4000
    sent = 0
    # bursts of 4: fewer than the queue's 8, so only a full socket fills
    # it; the daemon logs when it gives up on b, and b then reads at once
    # (a closing connection that reads nothing for 5 s more is dropped)
    log = os.path.join(small.run_dir, "logs", "ws-0.log")
    while sent < 4000:
        for _ in range(4):
            send(wa, room, text)
        for _ in range(4):
            assert confirmation(wa)["confirmed"] is True
        sent += 4
        with open(log, errors="replace") as f:
            if "reads too slowly" in f.read():
                break
    n = small.sql("SELECT count(*) FROM chat_room_messages WHERE room_id = %s", (room,))[0][0]
    assert n == sent
    code, reason, frames = recv_close(wb, timeout=20)
    assert code == 4009 and reason == "too slow"
    assert frames[-1] == {"type": "Disconnection", "data": {"code": 4009, "reason": "too slow"}}
    got = [f for f in frames if f["type"] == "MessageReceived"]
    assert 0 < len(got) < sent
    ids = [f["data"]["id"] for f in got]
    assert ids == sorted(ids)
    # the sender was not affected
    send(wa, room, "still fine")
    assert confirmation(wa)["confirmed"] is True
    wa.close()


def test_connections_that_end_before_their_handshake_never_block_later_ones(small):
    """The daemon hands at most 1,024 handshakes at a time to lws
    (ws-daemon/listener.h); each one must give its place back however it
    ends: closed silently, a broken request, a plain HTTP request answered.
    More of each than the limit, then a websocket still connects at once."""
    port = int(small.env["CHAT_WS_PORT"])
    limit = 1024

    def burst(payload):
        socks = []
        for _ in range(limit + 100):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            if payload:
                s.sendall(payload)
            socks.append(s)
            if len(socks) >= 200:  # keep the test's own descriptors few
                for t in socks:
                    if payload:
                        t.settimeout(10)
                        t.recv(4096)  # the daemon's answer, or its close
                    t.close()
                socks = []
        for t in socks:
            t.close()

    burst(b"")                                                  # gone silently
    burst(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")   # no key: refused
    burst(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")  # answered
    a = Stack.new_user()
    start = time.time()
    ws = websocket.create_connection(daemon_url(small, make_token(a)), timeout=5)
    assert time.time() - start < 3
    ws.ping("p")
    ws.close()


def test_a_socket_passed_by_systemd_serves_nginx_and_holds_clients_across_a_restart(small):
    """Socket activation (deploy/systemd/chat-ws@.socket): the daemon takes
    the listening unix socket it is passed as descriptor 3 (LISTEN_PID,
    LISTEN_FDS) and serves nginx on it. The socket outlives the daemon: a
    client that connects while no daemon runs waits in its queue and is
    served once one starts. Here the test holds the socket, as systemd
    would, at the path nginx's upstream names."""
    path = os.path.join(small.run_dir, "ws", "0.sock")
    env = dict(small.env, **stack_settings(small.env))
    env.update(CHAT_WS_ID="0", CHAT_WS_SOCKET="/nonexistent/unused.sock")
    small.tool("stop-ws", "0")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    daemon = None
    try:
        os.unlink(path)
        lsock.bind(path)
        os.chmod(path, 0o666)  # nginx's workers are www-data
        lsock.listen(64)
        a, b = Stack.new_user(), Stack.new_user()
        room = create_room(small, a, [b])
        # a client through nginx while no daemon runs: queued, not refused
        waiting = {}

        def connect_b():
            try:
                waiting["ws"] = small.connect(b, timeout=30)
            except Exception as e:  # reported by the assertion below
                waiting["error"] = e
        t = threading.Thread(target=connect_b)
        t.start()
        time.sleep(1.5)
        assert not waiting, waiting
        # the socket as descriptor 3 of the daemon (set up in the child:
        # this process's 3 is pytest's), its pid in LISTEN_PID
        fd = lsock.fileno()
        daemon = subprocess.Popen(
            ["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0"',
             os.path.join(small.env["CHAT_BIN_DIR"], "ws-daemon")],
            env=env, pass_fds=(3,), preexec_fn=lambda: os.dup2(fd, 3),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t.join(30)
        assert "ws" in waiting, waiting
        wb = waiting["ws"]
        wa = small.connect(a)
        send(wa, room, "through the passed socket")
        assert confirmation(wa)["confirmed"] is True
        assert received(wb)["message"] == "through the passed socket"
        wa.close()
        wb.close()
    finally:
        if daemon:
            daemon.terminate()
            try:
                _, err = daemon.communicate(timeout=60)
                assert b"the socket systemd passed" in err, err[-2000:]
            finally:
                daemon.kill()
        lsock.close()
        small.tool("start-ws", "0")
