"""The Swappart mobile app against the service (SPEC.md section 2
"Dialects", PUT /rooms, and the 4003, 4007 and 4012 rows of section 3).

Each test replays what the app's own chat code sends, in its order and
with its bodies, through nginx: REST under /chat/rooms (the app's gateway
prefix, app dialect in the shipped config) and, for contrast, /rooms (the
documented dialect); the websocket at the app's configured base URL with
"?token=" appended. What the app then does with the answer is written
next to each assertion."""
import json
import threading
import time

import pytest
import websocket

from conftest import Stack, make_token, running
from test_ws import confirmation, received, send

APP = "/chat/rooms"  # what the app calls (its gateway adds /chat)
DOC = "/rooms"  # the documented API
WS_BASE = "/chat/ws"  # the app's configured websocket base; it appends ?token=


def app_ws(stack, user, base=WS_BASE):
    """Connect as the app does: base URL + "?token=" + the raw JWT."""
    return websocket.create_connection(stack.ws + base + "?token=" + make_token(user),
                                       timeout=10)


def app_rooms(stack, user):
    """The app's room list: `const data: Room[] = await response.json()`."""
    r = stack.req("GET", APP, sub=user)
    assert r.status_code == 200, r.text
    rooms = r.json()
    assert isinstance(rooms, list), "the app iterates the body: %r" % (rooms,)
    return rooms


def app_create_room(stack, user, other, apartment_id):
    """The app's "contact" button: list, look for a room with that user
    and apartment, create it when there is none (201, data = the id)."""
    rooms = app_rooms(stack, user)
    found = [x for x in rooms if other in x["participants_id"]
             and x["apartment_id"] == apartment_id]
    if found:
        return found[0]["room_id"]
    r = stack.req("POST", APP, sub=user, json={"users": [other], "apartment_id": apartment_id})
    assert r.status_code == 201, r.text
    assert r.json() == {"error_message": None, "data": r.json()["data"]}
    assert isinstance(r.json()["data"], int)
    return r.json()["data"]


def app_error(r, status):
    """An error in the app dialect: the app shows errorData.message."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error_message", "data", "message"}, body
    assert body["data"] is None and body["message"] == body["error_message"]
    assert isinstance(body["message"], str) and body["message"]
    return body["message"]


def doc_error(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error_message", "data"}, body
    assert body["data"] is None
    return body["error_message"]


# ---- REST: the two dialects ----


def test_app_creates_a_room_and_finds_it_in_its_list(stack):
    me, landlord = stack.new_user(), stack.new_user()
    room = app_create_room(stack, me, landlord, 42)
    # pressing "contact" again finds the room instead of making another
    assert app_create_room(stack, me, landlord, 42) == room
    rooms = app_rooms(stack, me)
    assert [x["room_id"] for x in rooms] == [room]
    (x,) = rooms
    assert sorted(x["participants_id"]) == sorted([me, landlord])
    assert x["apartment_id"] == 42 and x["is_owner"] is True and x["last_message"] is None
    # the other side's conversation list shows it too, apartment_id null works
    other = app_create_room(stack, landlord, stack.new_user(), None)
    listed = {x["room_id"]: x for x in app_rooms(stack, landlord)}
    assert set(listed) == {room, other}
    assert listed[other]["apartment_id"] is None and listed[room]["is_owner"] is False


def test_conversation_list_is_the_same_data_in_both_dialects(stack):
    me, a = stack.new_user(), stack.new_user()
    app_create_room(stack, me, a, 7)
    bare = app_rooms(stack, me)
    r = stack.req("GET", DOC, sub=me)
    assert r.status_code == 200
    assert r.json() == {"error_message": None, "data": bare}


def test_app_adds_someone_to_a_group(stack):
    owner, a, newcomer = stack.new_user(), stack.new_user(), stack.new_user()
    room = app_create_room(stack, owner, a, 3)
    # "add to a group": allRooms.filter(...) over the list, then PUT
    all_rooms = app_rooms(stack, owner)
    mine = [x for x in all_rooms if x["is_owner"] and x["room_id"] == room]
    assert mine
    r = stack.req("PUT", APP, sub=owner, json={"room_id": room, "users_to_add": [newcomer],
                                                "users_to_remove": []})
    assert r.status_code == 200, r.text
    assert r.json() == {"error_message": None, "data": None}
    (x,) = [x for x in app_rooms(stack, newcomer) if x["room_id"] == room]
    assert sorted(x["participants_id"]) == sorted([owner, a, newcomer])


def test_owner_removes_the_other_member_of_a_two_person_room(stack):
    """The app lists both ids, the other's and the owner's own; nobody may
    answer 401/403 (the app would sign the user out)."""
    owner, other = stack.new_user(), stack.new_user()
    room = app_create_room(stack, owner, other, None)
    for path in (APP, DOC):
        if path == DOC:
            r = stack.req("PUT", APP, sub=owner, json={"room_id": room, "users_to_add": [other]})
            assert r.status_code == 200
        r = stack.req("PUT", path, sub=owner, json={"room_id": room, "users_to_add": [],
                                                    "users_to_remove": [other, owner]})
        assert r.status_code == 200, (path, r.text)
        assert r.json() == {"error_message": None, "data": None}
        assert stack.sql("SELECT participant_id::text, is_owner FROM chat_rooms_participants "
                         "WHERE room_id = %s", (room,)) == [(owner, True)]
        assert [x["room_id"] for x in app_rooms(stack, other)] == []
        assert [x["room_id"] for x in app_rooms(stack, owner)] == [room]


def test_errors_carry_message_in_the_app_dialect_only(stack):
    user = stack.new_user()
    cases = [
        ("POST", "{not json", 400),
        ("PUT", json.dumps({"room_id": "1"}), 400),
        ("GET/404", None, 404),
        ("PATCH", None, 405),
    ]
    for method, body, status in cases:
        for path, check in ((APP, app_error), (DOC, doc_error)):
            url = path + "/999999999" if method == "GET/404" else path
            r = stack.req(method.split("/")[0], url, sub=user, data=body,
                          headers={"Content-Type": "application/json"})
            check(r, status)
    # an expired token: the app refreshes its session when it reads this
    expired = make_token(user, exp_in=-120)
    assert "token is expired" in app_error(stack.req("GET", APP, token=expired), 401)
    assert "token is expired" in doc_error(stack.req("GET", DOC, token=expired), 401)
    # errors nginx answers itself follow the same dialect
    big = "x" * (100 * 1024)
    assert app_error(stack.req("POST", APP, sub=user, data=big), 413) == "request body too large"
    assert doc_error(stack.req("POST", DOC, sub=user, data=big), 413) == "request body too large"


def test_room_details_stay_bare_in_both_dialects(stack):
    me, other = stack.new_user(), stack.new_user()
    room = app_create_room(stack, me, other, 5)
    for path in (APP, DOC):
        r = stack.req("GET", "%s/%d" % (path, room), sub=me)
        assert r.status_code == 200
        body = r.json()
        assert body["room_id"] == room and body["messages"] == [] and "error_message" not in body


# ---- websocket: a stale screen, through nginx ----


def test_stale_screen_send_is_refused_and_the_socket_stays(stack):
    owner, me = stack.new_user(), stack.new_user()
    kept = app_create_room(stack, owner, me, 1)
    gone = app_create_room(stack, owner, me, 2)
    left = app_create_room(stack, owner, me, 3)
    ws, wo = app_ws(stack, me), app_ws(stack, owner)
    # the owner deletes one room and removes me from another
    assert stack.req("DELETE", "%s/%d" % (APP, gone), sub=owner).status_code == 200
    r = stack.req("PUT", APP, sub=owner, json={"room_id": left, "users_to_add": [],
                                               "users_to_remove": [me, owner]})
    assert r.status_code == 200
    time.sleep(0.3)  # REST -> ZeroMQ -> daemons
    # my screen still shows both rooms: each send is refused with a reason
    for room in (gone, left):
        temp = send(ws, room, "are you there?")
        c = confirmation(ws)
        assert c["confirmed"] is False and c["message_id"] == temp
        assert c["reason"] and c["id"] is None
    # ... and the one socket still serves the room I am in
    temp = send(ws, kept, "still here")
    c = confirmation(ws)
    assert c["confirmed"] is True and c["message_id"] == temp
    assert received(wo)["message"] == "still here"
    ws.close()
    wo.close()


# ---- a stack with the app's timing: pings every second, no AFK limit ----

PING = 1
GRACE_MS = 1500


@pytest.fixture(scope="module")
def app_stack():
    # CHAT_IDLE_TIMEOUT unset: the default, no AFK limit
    s = Stack(ws_count=1, CHAT_PING_INTERVAL=PING, CHAT_SHUTDOWN_GRACE_MS=GRACE_MS,
              CHAT_IDLE_TIMEOUT=None)
    with running(s):
        yield s


def test_a_reader_who_never_sends_keeps_receiving(app_stack):
    """The app sends nothing while its user reads. Its websocket answers
    the server's pings, so it stays, for well over three ping intervals."""
    s = app_stack
    reader, writer = s.new_user(), s.new_user()
    r = s.req("POST", APP, sub=writer, json={"users": [reader], "apartment_id": None})
    room = r.json()["data"]
    wr, ww = app_ws(s, reader), app_ws(s, writer)
    got, pings = [], 0
    start = time.time()
    wr.settimeout(0.2)
    i = 0
    while time.time() - start < PING * 3 + 3:
        send(ww, room, "line %d" % i)
        assert confirmation(ww)["confirmed"] is True
        i += 1
        end = time.time() + 0.5
        while time.time() < end:  # read like the app: frames and pings
            try:
                op, data = wr.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            if op == websocket.ABNF.OPCODE_PING:
                pings += 1
            elif op == websocket.ABNF.OPCODE_TEXT:
                got.append(json.loads(data))
            else:
                raise AssertionError("reader closed: opcode %d %r" % (op, data))
    assert pings >= 3, "the server pinged the reader %d time(s)" % pings
    assert [f["data"]["message"] for f in got] == ["line %d" % k for k in range(i)]
    assert all(f["type"] == "MessageReceived" for f in got)
    wr.close()
    ww.close()


def test_every_send_crossing_a_shutdown_gets_one_answer(app_stack):
    """restart-ws while the app keeps sending: it is told first
    (Disconnection 4007), and each frame it sent before the close frame
    is answered before that close; confirmed ones are in Postgres."""
    s = app_stack
    me, other = s.new_user(), s.new_user()
    r = s.req("POST", APP, sub=me, json={"users": [other], "apartment_id": None})
    room = r.json()["data"]
    ws = app_ws(s, me)
    sent, frames, state = [], [], {"disc_at": None, "close": None}

    def reader():
        ws.settimeout(30)
        while True:
            op, data = ws.recv_data(control_frame=True)
            if op == websocket.ABNF.OPCODE_CLOSE:
                state["close"] = (int.from_bytes(data[:2], "big"), data[2:].decode())
                return
            if op == websocket.ABNF.OPCODE_TEXT:
                f = json.loads(data)
                frames.append(f)
                if f["type"] == "Disconnection" and state["disc_at"] is None:
                    state["disc_at"] = time.time()

    t = threading.Thread(target=reader)
    t.start()
    restarter = threading.Thread(target=lambda: s.tool("restart-ws", "0"))
    i = 0
    # the user goes on typing for a while after the Disconnection (less than
    # the grace period), as someone who does not look at the banner would
    while state["close"] is None:
        if state["disc_at"] and time.time() - state["disc_at"] > GRACE_MS / 3000.0:
            break
        if i == 20:
            restarter.start()
        sent.append(send(ws, room, "typing %d" % i))
        i += 1
        time.sleep(0.01)
    t.join(30)
    restarter.join(60)
    assert state["close"] and state["close"][0] == 4007, state
    disc = [k for k, f in enumerate(frames) if f["type"] == "Disconnection"]
    assert len(disc) == 1 and frames[disc[0]]["data"]["code"] == 4007
    answers = {}
    for f in frames:
        if f["type"] == "MessageSentConfirmation":
            assert f["data"]["message_id"] not in answers, "answered twice"
            answers[f["data"]["message_id"]] = f["data"]
    assert set(answers) == set(sent), "unanswered: %s" % sorted(set(sent) - set(answers))
    crossed = [f for f in frames[disc[0]:] if f["type"] == "MessageSentConfirmation"]
    assert crossed, "no frame crossed the announcement; the test proves nothing"
    rows = dict(s.sql("SELECT client_temp_id, id FROM chat_room_messages WHERE room_id = %s",
                      (room,)))
    for temp, a in answers.items():
        if a["confirmed"]:
            assert rows.get(temp) == a["id"]
        else:
            assert a["reason"] == "server shutting down" and temp not in rows
    # the app reconnects on 4007 and the restarted daemon serves it
    ws = app_ws(s, me)
    send(ws, room, "back")
    assert confirmation(ws)["confirmed"] is True
    ws.close()
