"""The websocket tier (SPEC.md sections 3 to 5) on the session stack: two
ws-daemons behind nginx, rooms and admin actions through REST, frames and
close codes as a client sees them, rows in Postgres.

Settings that need short timeouts (idle, token expiry, slow readers,
moderation) are in test_ws_lifecycle.py, on a stack of their own."""
import json
import os
import socket
import time
import uuid

import pytest
import websocket

from conftest import create_room, make_token, recv_close, recv_json, wait_rest

# ---- helpers (test_ws_lifecycle.py uses them too) ----


def send(ws, room_id, message, temp_id=None):
    """Send a SendMessage frame; returns the temp id used."""
    temp_id = temp_id or uuid.uuid4().hex
    ws.send(json.dumps({"type": "SendMessage",
                        "data": {"room_id": room_id, "message": message,
                                 "message_temp_id": temp_id}}))
    return temp_id


def confirmation(ws, timeout=10):
    f = recv_json(ws, timeout)
    assert f["type"] == "MessageSentConfirmation", f
    return f["data"]


def received(ws, timeout=10):
    f = recv_json(ws, timeout)
    assert f["type"] == "MessageReceived", f
    return f["data"]


def assert_silent(ws, secs=0.6):
    """Nothing arrives for secs (and the connection is still open)."""
    ws.settimeout(secs)
    try:
        op, data = ws.recv_data(control_frame=False)
    except websocket.WebSocketTimeoutException:
        return
    raise AssertionError("unexpected frame: opcode %d %r" % (op, data[:200]))


def assert_closed_with(ws, code, timeout=10):
    """The server sends Disconnection with code, then closes with code."""
    got, reason, frames = recv_close(ws, timeout)
    assert frames and frames[-1] == {"type": "Disconnection",
                                     "data": {"code": code, "reason": reason}}, frames
    assert got == code, (got, reason, frames)
    return reason, frames


def direct(stack, i, sub=None, token=None, **kw):
    """Connect to daemon i itself (port CHAT_WS_PORT + i), not via nginx."""
    if token is None:
        token = make_token(sub)
    port = int(stack.env["CHAT_WS_PORT"]) + i
    return websocket.create_connection("ws://127.0.0.1:%d/?token=%s" % (port, token),
                                       timeout=10, **kw)


def stored(stack, sender, temp_id):
    return stack.sql("SELECT id, room_id, message FROM chat_room_messages "
                     "WHERE sender_id = %s AND client_temp_id = %s", (sender, temp_id))


@pytest.fixture
def pair(stack):
    """Two users in one room, a on daemon 0 and b on daemon 1."""
    a, b = stack.new_user(), stack.new_user()
    room = create_room(stack, a, [b])
    wa, wb = direct(stack, 0, a), direct(stack, 1, b)
    yield a, b, room, wa, wb
    wa.close()
    wb.close()


# ---- connect: 4001, 4002, 4005 at connect, 4008 ----


def test_no_token_gets_4001_after_the_handshake(stack):
    ws = stack.connect()
    assert ws.status == 101
    assert_closed_with(ws, 4001)


@pytest.mark.parametrize("kind", ["garbage", "wrong-secret", "alg-none", "expired",
                                  "wrong-aud", "sub-not-uuid", "empty"])
def test_invalid_token_gets_4002(stack, kind):
    user = stack.new_user()
    token = {
        "garbage": "not.a.jwt",
        "wrong-secret": make_token(user, secret="another-secret-another-secret-0123456789"),
        "alg-none": make_token(user, alg="none"),
        "expired": make_token(user, exp_in=-3600),
        "wrong-aud": make_token(user, aud="anon"),
        "sub-not-uuid": make_token("alice"),
        "empty": "",
    }[kind]
    ws = stack.connect(token=token)
    if kind == "empty":
        # "?token=" with nothing in it is no token at all
        assert_closed_with(ws, 4001)
        return
    reason, _ = assert_closed_with(ws, 4002)
    assert token not in reason
    if kind == "expired":
        assert "token is expired" in reason


def test_token_with_a_huge_exp_is_served_and_the_daemon_lives(stack, pair):
    """exp near 2^62 s: accepted (it has not expired); its expiry time in
    ms saturates instead of overflowing (the sanitizer build aborted)."""
    a, b, room, wa, wb = pair
    for i in (0, 1):
        ws = direct(stack, i, token=make_token(a, exp_in=2 ** 62))
        temp = send(ws, room, "far future")
        assert confirmation(ws)["confirmed"] is True
        assert received(wb)["message"] == "far future"
        ws.close()
    # both daemons still serve
    for i in (0, 1):
        ws = direct(stack, i, stack.new_user())
        assert_silent(ws, 0.2)
        ws.close()


def test_banned_user_gets_4005_at_connect(stack):
    user = stack.new_user()
    r = stack.req("PUT", "/admin/bans/" + user, token=stack.admin_token(), json={})
    assert r.status_code == 200, r.text
    ws = stack.connect(sub=user)
    assert ws.status == 101
    assert_closed_with(ws, 4005)


def test_new_connection_closes_older_with_4008_same_daemon(stack):
    user = stack.new_user()
    old = direct(stack, 0, user)
    new = direct(stack, 0, user)
    assert_closed_with(old, 4008)
    new.ping()
    assert_silent(new)
    new.close()


def test_new_connection_closes_older_with_4008_across_daemons(stack):
    user, peer = stack.new_user(), stack.new_user()
    room = create_room(stack, peer, [user])
    old = direct(stack, 0, user)
    time.sleep(0.05)
    new = direct(stack, 1, user)
    assert_closed_with(old, 4008)
    # the newer connection keeps working and alone receives the room
    wp = direct(stack, 0, peer)
    send(wp, room, "for the new device")
    assert confirmation(wp)["confirmed"] is True
    assert received(new)["message"] == "for the new device"
    for w in (new, wp):
        w.close()


# ---- SendMessage ----


def test_message_is_confirmed_stored_and_delivered_without_echo(stack, pair):
    a, b, room, wa, wb = pair
    temp = send(wa, room, 'hello "b" \\ ünïcode ✓')
    c = confirmation(wa)
    assert c["confirmed"] is True and c["reason"] == ""
    assert c["message_id"] == temp
    assert isinstance(c["id"], int)
    assert c["created_at"].endswith("+00:00") and "T" in c["created_at"]
    m = received(wb)
    assert m == {"room_id": room, "sender_id": a, "message": 'hello "b" \\ ünïcode ✓',
                 "id": c["id"], "created_at": c["created_at"]}
    assert isinstance(m["room_id"], int)
    assert stored(stack, a, temp) == [(c["id"], room, 'hello "b" \\ ünïcode ✓')]
    assert_silent(wa)  # no echo to the sender


def test_ids_increase_per_room_and_arrive_in_order(stack, pair):
    a, b, room, wa, wb = pair
    temps = [send(wa, room, "n%d" % i) for i in range(50)]
    confs = [confirmation(wa) for _ in temps]
    assert [c["message_id"] for c in confs] == temps
    ids = [c["id"] for c in confs]
    assert ids == sorted(ids) and len(set(ids)) == 50
    got = [received(wb) for _ in temps]
    assert [m["id"] for m in got] == ids
    assert [m["message"] for m in got] == ["n%d" % i for i in range(50)]


def test_two_senders_on_two_daemons_one_order_for_everyone(stack):
    """Messages committed by different daemons into one room reach every
    recipient in id order."""
    a, b, c, d = (stack.new_user() for _ in range(4))
    room = create_room(stack, a, [b, c, d])
    wa, wb = direct(stack, 0, a), direct(stack, 1, b)
    wc, wd = direct(stack, 0, c), direct(stack, 1, d)
    for i in range(40):
        send(wa, room, "a%d" % i)
        send(wb, room, "b%d" % i)
    # a sender sees its 40 confirmations and the other's 40 messages
    got = {}
    for w in (wa, wb):
        frames = []
        try:
            while len(frames) < 80:
                frames.append(recv_json(w, 10))
        except websocket.WebSocketTimeoutException:
            pass
        confs = [f["data"] for f in frames if f["type"] == "MessageSentConfirmation"]
        assert len(confs) == 40 and all(c["confirmed"] for c in confs), frames
        got[w] = [f["data"] for f in frames if f["type"] == "MessageReceived"]
    rows = [r[0] for r in stack.sql("SELECT id FROM chat_room_messages WHERE room_id = %s "
                                    "ORDER BY id", (room,))]
    assert len(rows) == 80
    for w in (wc, wd):
        assert [received(w)["id"] for _ in range(80)] == rows
    for w, me in ((wa, a), (wb, b)):
        assert len(got[w]) == 40 and all(m["sender_id"] != me for m in got[w])
        assert [m["id"] for m in got[w]] == [r for r in rows if r in {m["id"] for m in got[w]}]
        assert [m["id"] for m in got[w]] == sorted(m["id"] for m in got[w])
    for w in (wa, wb, wc, wd):
        w.close()


def test_resend_of_a_temp_id_is_stored_once(stack, pair):
    a, b, room, wa, wb = pair
    temp = send(wa, room, "only once")
    first = confirmation(wa)
    assert received(wb)["id"] == first["id"]
    # a retry after a reconnect, possibly through the other daemon
    wa.close()
    wa2 = stack.connect(sub=a)
    send(wa2, room, "only once", temp)
    again = confirmation(wa2)
    assert again["confirmed"] is True
    assert again["id"] == first["id"] and again["created_at"] == first["created_at"]
    assert_silent(wb)
    assert len(stored(stack, a, temp)) == 1
    wa2.close()


def test_same_temp_id_twice_in_a_burst_is_stored_once(stack, pair):
    a, b, room, wa, wb = pair
    send(wa, room, "burst", "same-temp")
    send(wa, room, "burst", "same-temp")
    c1, c2 = confirmation(wa), confirmation(wa)
    assert c1["id"] == c2["id"] and c1["confirmed"] and c2["confirmed"]
    received(wb)
    assert_silent(wb)
    assert len(stored(stack, a, "same-temp")) == 1


def test_same_temp_id_from_two_users_is_two_messages(stack, pair):
    a, b, room, wa, wb = pair
    send(wa, room, "from a", "shared-temp")
    send(wb, room, "from b", "shared-temp")
    ca, cb = confirmation(wa), confirmation(wb)
    assert ca["id"] != cb["id"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t \u00a0\u3000"])
def test_blank_message_is_refused_and_the_connection_stays(stack, pair, text):
    a, b, room, wa, wb = pair
    temp = send(wa, room, text)
    c = confirmation(wa)
    assert c == {"confirmed": False, "reason": c["reason"], "message_id": temp,
                 "id": None, "created_at": None}
    assert "empty" in c["reason"]
    assert stored(stack, a, temp) == []
    assert_silent(wb)
    send(wa, room, "still here")
    assert confirmation(wa)["confirmed"] is True


def test_length_limit_counts_characters_not_bytes(stack, pair):
    a, b, room, wa, wb = pair
    ok = send(wa, room, "é" * 4000)  # 8000 bytes, 4000 characters
    assert confirmation(wa)["confirmed"] is True
    assert received(wb)["message"] == "é" * 4000
    long = send(wa, room, "x" * 4001)
    c = confirmation(wa)
    assert c["confirmed"] is False and "4000" in c["reason"] and c["message_id"] == long
    assert stored(stack, a, long) == [] and len(stored(stack, a, ok)) == 1
    send(wa, room, "after")
    assert confirmation(wa)["confirmed"] is True


BAD_FRAMES = {
    "not-json": "hello",
    "array": "[1, 2]",
    "trailing": '{"type": "SendMessage"} x',
    "unknown-type": '{"type": "Typing", "data": {}}',
    "no-type": '{"data": {"room_id": 1, "message": "x", "message_temp_id": "t"}}',
    "room-id-string": '{"type": "SendMessage", "data": {"room_id": "1", "message": "x", "message_temp_id": "t"}}',
    "room-id-float": '{"type": "SendMessage", "data": {"room_id": 1.5, "message": "x", "message_temp_id": "t"}}',
    "message-number": '{"type": "SendMessage", "data": {"room_id": 1, "message": 5, "message_temp_id": "t"}}',
    "temp-id-missing": '{"type": "SendMessage", "data": {"room_id": 1, "message": "x"}}',
    "data-not-object": '{"type": "SendMessage", "data": "x"}',
    "room-id-2^64": '{"type": "SendMessage", "data": {"room_id": 18446744073709551616, "message": "x", "message_temp_id": "t"}}',
    "room-id-2^63": '{"type": "SendMessage", "data": {"room_id": 9223372036854775808, "message": "x", "message_temp_id": "t"}}',
    "nul-in-message": '{"type": "SendMessage", "data": {"room_id": 1, "message": "a\\u0000b", "message_temp_id": "t"}}',
}


@pytest.mark.parametrize("pad", range(4))
def test_cut_text_in_a_close_stays_valid_utf8(stack, pad):
    """The type is quoted in the 4010 reason, cut to 40 bytes and to 120 in
    the close frame: 4-byte characters shifted across every cut point."""
    ws = direct(stack, 0, stack.new_user())
    ws.send(json.dumps({"type": "x" * pad + "\U0001F600" * 40, "data": {}}, ensure_ascii=False))
    ws.settimeout(10)
    frames = []
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        frames.append(json.loads(data.decode("utf-8")))
    reason = data[2:].decode("utf-8")  # strict: fails on a cut character
    assert int.from_bytes(data[:2], "big") == 4010
    assert frames[-1]["data"]["reason"].startswith(reason)
    assert "unknown type 'x" in reason or pad == 0


@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
def test_malformed_frame_gets_4010(stack, kind):
    ws = stack.connect(sub=stack.new_user())
    ws.send(BAD_FRAMES[kind])
    assert_closed_with(ws, 4010)


def test_binary_frame_gets_4010(stack):
    ws = stack.connect(sub=stack.new_user())
    ws.send_binary(b'{"type": "SendMessage"}')
    assert_closed_with(ws, 4010)


def test_frame_over_the_size_limit_gets_4010(stack):
    ws = stack.connect(sub=stack.new_user())
    big = json.dumps({"type": "SendMessage",
                      "data": {"room_id": 1, "message": "x" * 70000, "message_temp_id": "t"}})
    ws.send(big)
    reason, _ = assert_closed_with(ws, 4010)
    assert "65536" in reason


def test_fragmented_frame_is_joined(stack, pair):
    a, b, room, wa, wb = pair
    text = json.dumps({"type": "SendMessage",
                       "data": {"room_id": room, "message": "in pieces", "message_temp_id": "frag"}})
    wa.send_frame(websocket.ABNF.create_frame(text[:20], websocket.ABNF.OPCODE_TEXT, fin=0))
    wa.send_frame(websocket.ABNF.create_frame(text[20:40], websocket.ABNF.OPCODE_CONT, fin=0))
    wa.send_frame(websocket.ABNF.create_frame(text[40:], websocket.ABNF.OPCODE_CONT, fin=1))
    assert confirmation(wa)["message_id"] == "frag"
    assert received(wb)["message"] == "in pieces"


UNAUTH_MAX = 5  # CHAT_UNAUTH_MAX's default: the session stack keeps it


@pytest.mark.parametrize("which", ["not-member", "no-such-room"])
def test_one_send_outside_ones_rooms_is_refused_and_the_connection_stays(stack, which):
    a, b, outsider = stack.new_user(), stack.new_user(), stack.new_user()
    room = create_room(stack, a, [b])
    own = create_room(stack, outsider, [a])
    target = room if which == "not-member" else room + 10 ** 9
    wb = direct(stack, 0, b)
    ws = direct(stack, 1, outsider)
    temp = send(ws, target, "let me in")
    c = confirmation(ws)
    assert c == {"confirmed": False, "reason": "not a participant of this room",
                 "message_id": temp, "id": None, "created_at": None}
    assert stored(stack, outsider, temp) == []
    assert_silent(wb)
    # still connected: the next send to its own room goes through
    ok = send(ws, own, "sorry, wrong room")
    assert confirmation(ws)["confirmed"] is True
    assert len(stored(stack, outsider, ok)) == 1
    wb.close()
    ws.close()


def test_repeated_sends_outside_ones_rooms_get_4012(stack):
    a, b, outsider = stack.new_user(), stack.new_user(), stack.new_user()
    room = create_room(stack, a, [b])
    ws = direct(stack, 1, outsider)
    for i in range(UNAUTH_MAX - 1):
        send(ws, room, "try %d" % i)
        assert confirmation(ws)["confirmed"] is False
    assert_silent(ws, 0.3)  # below the threshold: still open
    temp = send(ws, room, "once more")
    c = confirmation(ws)
    assert c["confirmed"] is False and c["message_id"] == temp
    reason, _ = assert_closed_with(ws, 4012)
    assert "%d sends" % UNAUTH_MAX in reason
    assert stack.sql("SELECT count(*) FROM chat_room_messages WHERE sender_id = %s",
                     (outsider,)) == [(0,)]


# ---- membership through REST, admin actions ----


def test_membership_changes_reach_live_connections(stack):
    a, b, c = stack.new_user(), stack.new_user(), stack.new_user()
    room = create_room(stack, a, [b])
    wa, wb, wc = direct(stack, 0, a), direct(stack, 1, b), direct(stack, 0, c)
    send(wa, room, "before")
    confirmation(wa)
    assert received(wb)["message"] == "before"
    assert_silent(wc, 0.3)

    r = stack.req("PUT", "/rooms", sub=a, json={"room_id": room, "users_to_add": [c],
                                                "users_to_remove": [b]})
    assert r.status_code == 200, r.text
    time.sleep(0.2)  # the event travels REST -> ZeroMQ -> daemons
    send(wa, room, "after")
    confirmation(wa)
    assert received(wc)["message"] == "after"
    assert_silent(wb)
    # the added user may send, the removed one may not
    send(wc, room, "hi from c")
    assert confirmation(wc)["confirmed"] is True
    assert received(wa)["message"] == "hi from c"
    send(wb, room, "am I still in?")
    assert confirmation(wb)["confirmed"] is False
    assert_silent(wb, 0.3)  # one stale send: refused, connection kept

    r = stack.req("DELETE", "/rooms/%d" % room, sub=a)
    assert r.status_code == 200, r.text
    time.sleep(0.2)
    send(wc, room, "anyone?")
    assert confirmation(wc)["confirmed"] is False
    assert_silent(wc, 0.3)
    assert_silent(wa)
    for w in (wa, wb, wc):
        w.close()


def test_admin_disconnect_gets_4004_on_every_daemon(stack):
    user = stack.new_user()
    for i in (0, 1):
        ws = direct(stack, i, user)
        time.sleep(0.1)
        r = stack.req("POST", "/admin/users/%s/disconnect" % user, token=stack.admin_token())
        assert r.status_code == 200, r.text
        assert_closed_with(ws, 4004)


def test_ban_while_connected_gets_4005_and_stops_sending(stack, pair):
    a, b, room, wa, wb = pair
    r = stack.req("PUT", "/admin/bans/" + b, token=stack.admin_token(), json={})
    assert r.status_code == 200, r.text
    assert_closed_with(wb, 4005)
    # a banned user cannot slip a message in on a fresh connection either
    ws = stack.connect(sub=b)
    got, _, frames = recv_close(ws)
    assert got == 4005


# ---- cross-daemon delivery ----


def test_delivery_across_daemons_both_ways(stack, pair):
    a, b, room, wa, wb = pair
    send(wa, room, "0 to 1")
    assert confirmation(wa)["confirmed"]
    assert received(wb)["message"] == "0 to 1"
    send(wb, room, "1 to 0")
    assert confirmation(wb)["confirmed"]
    assert received(wa)["message"] == "1 to 0"


# ---- Postgres outage, shutdown ----


def test_database_outage_gives_server_error_then_recovers(stack, pair):
    a, b, room, wa, wb = pair
    try:
        stack.tool("stop-pg")
        temp = send(wa, room, "while down")
        c = confirmation(wa, timeout=20)
        assert c == {"confirmed": False, "reason": "server error", "message_id": temp,
                     "id": None, "created_at": None}
        assert_silent(wb, 0.3)
    finally:
        stack.tool("start-pg")
        wait_rest(stack, in_a_row=10, timeout=30)  # leave the shared stack usable
    # the daemon reconnects by itself; the connection stayed open
    deadline = time.time() + 20
    while True:
        temp = send(wa, room, "after the outage")
        c = confirmation(wa, timeout=20)
        if c["confirmed"] or time.time() > deadline:
            break
        time.sleep(0.5)
    assert c["confirmed"] is True
    assert received(wb)["message"] == "after the outage"
    assert len(stored(stack, a, temp)) == 1


def test_sigterm_confirms_in_flight_then_closes_with_4007(stack):
    a, b = stack.new_user(), stack.new_user()
    room = create_room(stack, a, [b])
    wa = direct(stack, 0, a)
    temps = [send(wa, room, "burst %d" % i) for i in range(300)]
    r = stack.tool("restart-ws", "0")
    assert r.returncode == 0
    code, reason, frames = recv_close(wa, timeout=30)
    assert code == 4007
    # Disconnection 4007 first, exactly once, then the answers still due
    disc = [f for f in frames if f["type"] == "Disconnection"]
    assert disc == [{"type": "Disconnection", "data": {"code": 4007, "reason": reason}}]
    answers = [f["data"]["message_id"] for f in frames if f["type"] == "MessageSentConfirmation"]
    assert sorted(answers) == sorted(temps), "every frame read gets exactly one answer"
    confirmed = {f["data"]["message_id"]: f["data"]["id"] for f in frames
                 if f["type"] == "MessageSentConfirmation" and f["data"]["confirmed"]}
    assert confirmed, "nothing confirmed before the shutdown"
    rows = dict(stack.sql("SELECT client_temp_id, id FROM chat_room_messages WHERE room_id = %s",
                          (room,)))
    for temp, mid in confirmed.items():
        assert rows.get(temp) == mid
    # the restarted daemon serves again; unconfirmed messages can be resent
    wa = direct(stack, 0, a)
    for temp in temps:
        if temp not in confirmed:
            send(wa, room, "resent", temp)
            assert confirmation(wa)["confirmed"] is True
    n = stack.sql("SELECT count(*) FROM chat_room_messages WHERE room_id = %s", (room,))[0][0]
    assert n == 300
    wa.close()


def test_plain_http_to_a_daemon_port_gets_a_json_404(stack):
    """Issue 10: every error before the application is a JSON envelope,
    also on the daemon's own port (lws answered with an HTML page)."""
    import requests
    port = int(stack.env["CHAT_WS_PORT"])
    for method in ("GET", "POST"):
        r = requests.request(method, "http://127.0.0.1:%d/rooms" % port, data="x", timeout=10)
        assert r.status_code == 404
        assert r.headers["Content-Type"] == "application/json"
        body = r.json()
        assert body["data"] is None and "websocket" in body["error_message"]
