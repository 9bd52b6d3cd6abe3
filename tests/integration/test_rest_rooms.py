"""REST /rooms (SPEC.md section 2) through nginx: every endpoint's success
path with every field checked against Postgres, the owner / participant
rules, atomicity and concurrent changes."""
import threading

import pytest

from conftest import ISO, create_room

MSG_KEYS = {"id", "room_id", "message", "sender_id", "created_at"}


def participants(stack, room):
    return {str(u): o for u, o in stack.sql(
        "SELECT participant_id, is_owner FROM chat_rooms_participants WHERE room_id = %s",
        (room,))}


def add_message(stack, room, sender, text, offset="0 s"):
    (row,) = stack.sql(
        "INSERT INTO chat_room_messages (room_id, message, sender_id, created_at)"
        " VALUES (%s, %s, %s, now() + %s::interval) RETURNING id", (room, text, sender, offset))
    return row[0]


def check_message(m, room, sender, text, msg_id):
    assert set(m) == MSG_KEYS
    assert m["id"] == msg_id and isinstance(m["id"], int)
    assert m["room_id"] == room
    assert m["message"] == text
    assert m["sender_id"] == sender
    assert ISO.match(m["created_at"]), m["created_at"]


def put(stack, sub, body):
    return stack.req("PUT", "/rooms", sub=sub, json=body)


# ---- POST /rooms ----

def test_create_room_owner_participants_and_duplicates(stack):
    owner, a, b = stack.new_user(), stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [a, a.upper(), b, owner], apartment_id=42)
    assert stack.sql("SELECT owner_id::text, apartment_id FROM chat_rooms WHERE id = %s",
                     (room,)) == [(owner, 42)]
    assert participants(stack, room) == {owner: True, a: False, b: False}


def test_create_room_minimal_body_and_chat_prefix(stack):
    owner = stack.new_user()
    r = stack.req("POST", "/chat/rooms", sub=owner, json={})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    room = r.json()["data"]
    assert stack.sql("SELECT apartment_id FROM chat_rooms WHERE id = %s", (room,)) == [(None,)]
    assert participants(stack, room) == {owner: True}
    # explicit null is the same as absent; unknown fields are ignored
    room2 = create_room(stack, owner, [], None)
    r = stack.req("POST", "/rooms", sub=owner,
                  json={"users": [], "apartment_id": None, "colour": "red"})
    assert r.status_code == 201
    assert r.json()["data"] > room2 > room


# ---- GET /rooms ----

def test_list_rooms_every_field_and_activity_order(stack):
    me, other, third = stack.new_user(), stack.new_user(), stack.new_user()
    quiet = create_room(stack, me, [other], apartment_id=7)      # no message
    mine = create_room(stack, me, [other, third])                 # older message
    theirs = create_room(stack, other, [me], apartment_id=9)      # newest message
    unrelated = create_room(stack, other, [third])
    m1 = add_message(stack, mine, other, 'hello "quoted" \\ \u00e9\n', "1 s")
    add_message(stack, theirs, me, "first", "2 s")
    m3 = add_message(stack, theirs, other, "latest", "3 s")

    r = stack.req("GET", "/rooms", sub=me)
    assert r.status_code == 200
    env = r.json()
    assert env["error_message"] is None
    rooms = env["data"]
    assert [x["room_id"] for x in rooms] == [theirs, mine, quiet]
    assert unrelated not in [x["room_id"] for x in rooms]
    keys = {"room_id", "participants_id", "apartment_id", "is_owner", "created_at", "last_message"}
    by_id = {x["room_id"]: x for x in rooms}
    for x in rooms:
        assert set(x) == keys
        assert me in x["participants_id"]
        assert ISO.match(x["created_at"])
        (created,) = stack.sql("SELECT chat_iso(created_at) FROM chat_rooms WHERE id = %s",
                               (x["room_id"],))[0]
        assert x["created_at"] == created
    assert sorted(by_id[quiet]["participants_id"]) == sorted([me, other])
    assert sorted(by_id[mine]["participants_id"]) == sorted([me, other, third])
    assert by_id[quiet]["apartment_id"] == 7
    assert by_id[mine]["apartment_id"] is None and "apartment_id" in by_id[mine]
    assert by_id[quiet]["is_owner"] is True and by_id[mine]["is_owner"] is True
    assert by_id[theirs]["is_owner"] is False
    assert by_id[quiet]["last_message"] is None
    check_message(by_id[mine]["last_message"], mine, other, 'hello "quoted" \\ \u00e9\n', m1)
    check_message(by_id[theirs]["last_message"], theirs, other, "latest", m3)


def test_list_rooms_empty_in_both_dialects(stack):
    user = stack.new_user()
    r = stack.req("GET", "/rooms", sub=user)
    assert r.status_code == 200
    assert r.json() == {"error_message": None, "data": []}
    r = stack.req("GET", "/chat/rooms", sub=user)  # the app dialect: bare array
    assert r.status_code == 200
    assert r.json() == []


# ---- GET /rooms/:id ----

def test_get_room_details_not_enveloped(stack):
    owner, a = stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [a], apartment_id=5)
    ids = [add_message(stack, room, s, "m%d" % i) for i, s in enumerate([owner, a, owner])]
    for path in ("/rooms/%d" % room, "/chat/rooms/%d" % room, "/rooms/%d/" % room):
        r = stack.req("GET", path, sub=a)
        assert r.status_code == 200, path
        d = r.json()
        assert set(d) == {"room_id", "apartment_id", "created_at", "owner_id",
                          "participants_id", "messages"}
        assert d["room_id"] == room and d["apartment_id"] == 5
        assert d["owner_id"] == owner
        assert sorted(d["participants_id"]) == sorted([owner, a])
        assert ISO.match(d["created_at"])
        assert [m["id"] for m in d["messages"]] == ids
        for i, (m, s) in enumerate(zip(d["messages"], [owner, a, owner])):
            check_message(m, room, s, "m%d" % i, ids[i])


def test_get_room_empty_history_and_null_apartment(stack):
    owner = stack.new_user()
    room = create_room(stack, owner)
    d = stack.req("GET", "/rooms/%d" % room, sub=owner).json()
    assert d["messages"] == [] and d["apartment_id"] is None and "apartment_id" in d


def test_get_room_keyset_paging(stack):
    owner = stack.new_user()
    room = create_room(stack, owner)
    ids = [add_message(stack, room, owner, "p%d" % i) for i in range(10)]

    def page(q):
        r = stack.req("GET", "/rooms/%d?%s" % (room, q), sub=owner)
        assert r.status_code == 200, r.text
        return [m["id"] for m in r.json()["messages"]]

    assert page("limit=3") == ids[7:]
    assert page("limit=3&before=%d" % ids[7]) == ids[4:7]
    assert page("before=%d&limit=100" % ids[2]) == ids[:2]
    assert page("before=%d" % ids[0]) == []
    assert page("limit=1000000") == ids


def test_get_room_history_cap(stack):
    owner = stack.new_user()
    room = create_room(stack, owner)
    stack.sql("INSERT INTO chat_room_messages (room_id, message, sender_id)"
              " SELECT %s, 'c' || k, %s FROM generate_series(1, 1005) k", (room, owner))
    first, last = stack.sql("SELECT min(id), max(id) FROM chat_room_messages WHERE room_id = %s",
                            (room,))[0]
    msgs = stack.req("GET", "/rooms/%d" % room, sub=owner).json()["messages"]
    assert len(msgs) == 1000    # CHAT_HISTORY_CAP default: the newest 1000
    assert msgs[0]["id"] == first + 5 and msgs[-1]["id"] == last
    assert msgs[0]["message"] == "c6"


def test_get_room_not_visible_is_404(stack):
    owner, outsider = stack.new_user(), stack.new_user()
    room = create_room(stack, owner)
    for sub, rid in ((outsider, room), (owner, room + 10**9)):
        r = stack.req("GET", "/rooms/%d" % rid, sub=sub)
        assert r.status_code == 404
        assert r.json() == {"error_message": "room %d not found" % rid, "data": None}


@pytest.mark.parametrize("q,field", [("limit=0", "limit"), ("limit=abc", "limit"),
                                     ("limit=-1", "limit"), ("before=x", "before"),
                                     ("before=0", "before")])
def test_get_room_bad_paging_is_400(stack, q, field):
    owner = stack.new_user()
    room = create_room(stack, owner)
    r = stack.req("GET", "/rooms/%d?%s" % (room, q), sub=owner)
    assert r.status_code == 400
    assert "'%s'" % field in r.json()["error_message"]
    assert r.json()["data"] is None


def test_get_room_bad_id_is_400(stack):
    r = stack.req("GET", "/rooms/abc", sub=stack.new_user())
    assert r.status_code == 400
    assert "room id 'abc'" in r.json()["error_message"]


# ---- PUT /rooms ----

def test_put_owner_adds_and_removes(stack):
    owner, a, b, c = (stack.new_user() for _ in range(4))
    room = create_room(stack, owner, [a, b])
    r = put(stack, owner, {"room_id": room, "users_to_add": [c, c, a], "users_to_remove": [b]})
    assert r.status_code == 200
    assert r.json() == {"error_message": None, "data": None}
    assert participants(stack, room) == {owner: True, a: False, c: False}
    # removing a non-participant and empty / absent lists are no-ops
    for body in ({"room_id": room, "users_to_remove": [stack.new_user()]},
                 {"room_id": room, "users_to_add": [], "users_to_remove": []},
                 {"room_id": room}):
        assert put(stack, owner, body).status_code == 200
    assert participants(stack, room) == {owner: True, a: False, c: False}
    # the change shows in GET /rooms of the added user, not of the removed one
    assert room in [x["room_id"] for x in stack.req("GET", "/rooms", sub=c).json()["data"]]
    assert room not in [x["room_id"] for x in stack.req("GET", "/rooms", sub=b).json()["data"]]
    assert stack.req("GET", "/rooms/%d" % room, sub=b).status_code == 404


def test_put_participant_may_leave(stack):
    owner, a = stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [a])
    r = stack.req("PUT", "/chat/rooms", sub=a, json={"room_id": room, "users_to_remove": [a]})
    assert r.status_code == 200
    assert participants(stack, room) == {owner: True}
    assert stack.req("GET", "/rooms/%d" % room, sub=a).status_code == 404


def test_put_non_owner_rules_are_403_and_change_nothing(stack):
    owner, a, b = stack.new_user(), stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [a, b])
    before = participants(stack, room)
    for body, text in (({"room_id": room, "users_to_add": [stack.new_user()]}, "add"),
                       ({"room_id": room, "users_to_remove": [b]}, "remove other"),
                       ({"room_id": room, "users_to_remove": [a, b]}, "remove other"),
                       ({"room_id": room, "users_to_remove": [owner]}, "remove other")):
        r = put(stack, a, body)
        assert r.status_code == 403, body
        assert r.json()["data"] is None
        assert ("add" if text == "add" else "remove") in r.json()["error_message"]
    assert participants(stack, room) == before


def test_put_owner_in_users_to_remove_is_skipped(stack):
    """SPEC.md PUT /rooms: the owner never leaves; its own id in
    users_to_remove is skipped and the rest of the change happens."""
    owner, a, newcomer = stack.new_user(), stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [a])
    r = put(stack, owner, {"room_id": room, "users_to_add": [newcomer],
                           "users_to_remove": [a, owner]})
    assert r.status_code == 200, r.text
    assert r.json() == {"error_message": None, "data": None}
    assert participants(stack, room) == {owner: True, newcomer: False}
    # the owner alone in the list: nothing to do, still 200, still the owner
    r = put(stack, owner, {"room_id": room, "users_to_remove": [owner]})
    assert r.status_code == 200, r.text
    assert participants(stack, room) == {owner: True, newcomer: False}


def test_put_not_visible_room_is_404(stack):
    owner, outsider = stack.new_user(), stack.new_user()
    room = create_room(stack, owner)
    assert put(stack, outsider, {"room_id": room, "users_to_remove": [outsider]}).status_code == 404
    assert put(stack, outsider, {"room_id": room, "users_to_add": [outsider]}).status_code == 404
    r = put(stack, owner, {"room_id": room + 10**9, "users_to_add": [outsider]})
    assert r.status_code == 404
    assert participants(stack, room) == {owner: True}


@pytest.mark.parametrize("body,field", [
    ({}, "room_id"),
    ({"room_id": "1"}, "room_id"),
    ({"room_id": 1.5}, "room_id"),
    ({"room_id": 0}, "room_id"),
    ({"room_id": 1, "users_to_add": "x"}, "users_to_add"),
    ({"room_id": 1, "users_to_add": [1]}, "users_to_add"),
    ({"room_id": 1, "users_to_remove": ["not-a-uuid"]}, "users_to_remove"),
])
def test_put_bad_body_is_400_naming_the_field(stack, body, field):
    r = put(stack, stack.new_user(), body)
    assert r.status_code == 400
    assert "'%s'" % field in r.json()["error_message"]


def test_put_same_user_in_both_lists_is_400(stack):
    owner, a = stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [a])
    r = put(stack, owner, {"room_id": room, "users_to_add": [a], "users_to_remove": [a]})
    assert r.status_code == 400
    assert a in r.json()["error_message"]


def test_concurrent_puts_leave_a_consistent_set(stack):
    owner = stack.new_user()
    leavers = [stack.new_user() for _ in range(6)]
    kicked = [stack.new_user() for _ in range(6)]
    added = [stack.new_user() for _ in range(12)]
    room = create_room(stack, owner, leavers + kicked)
    jobs = ([(u, {"room_id": room, "users_to_remove": [u]}) for u in leavers]
            + [(owner, {"room_id": room, "users_to_remove": [u]}) for u in kicked]
            + [(owner, {"room_id": room, "users_to_add": [u, added[0]]}) for u in added]
            + [(owner, {"room_id": room, "users_to_add": added[:6]})] * 4)
    codes = []
    barrier = threading.Barrier(len(jobs))

    def run(sub, body):
        barrier.wait()
        codes.append(put(stack, sub, body).status_code)

    threads = [threading.Thread(target=run, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * len(jobs)
    rows = stack.sql("SELECT participant_id::text FROM chat_rooms_participants WHERE room_id = %s",
                     (room,))
    assert sorted(u for (u,) in rows) == sorted([owner] + added)
    assert participants(stack, room)[owner] is True


# ---- DELETE /rooms/:id ----

def test_delete_room_owner_only(stack):
    owner, a, outsider = stack.new_user(), stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [a])
    add_message(stack, room, a, "bye")
    r = stack.req("DELETE", "/rooms/%d" % room, sub=a)
    assert r.status_code == 403
    assert "only the owner" in r.json()["error_message"]
    assert stack.req("DELETE", "/rooms/%d" % room, sub=outsider).status_code == 404
    assert stack.sql("SELECT count(*) FROM chat_rooms WHERE id = %s", (room,)) == [(1,)]

    r = stack.req("DELETE", "/chat/rooms/%d" % room, sub=owner)
    assert r.status_code == 200
    assert r.json() == {"error_message": None, "data": None}
    for table, col in (("chat_rooms", "id"), ("chat_rooms_participants", "room_id"),
                       ("chat_room_messages", "room_id")):
        assert stack.sql("SELECT count(*) FROM %s WHERE %s = %%s" % (table, col),
                         (room,)) == [(0,)]
    assert stack.req("GET", "/rooms/%d" % room, sub=owner).status_code == 404
    assert stack.req("DELETE", "/rooms/%d" % room, sub=owner).status_code == 404
    assert room not in [x["room_id"] for x in stack.req("GET", "/rooms", sub=a).json()["data"]]


def test_timestamps_keep_six_fraction_digits_and_offset(stack):
    owner = stack.new_user()
    room = create_room(stack, owner)
    stack.sql("UPDATE chat_rooms SET created_at = '2026-01-02 03:04:05+00' WHERE id = %s", (room,))
    mid = add_message(stack, room, owner, "tick\ttab \u0001 \U0001F600")
    stack.sql("UPDATE chat_room_messages SET created_at = '2026-01-02 03:04:06.5+00' WHERE id = %s",
              (mid,))
    (x,) = [x for x in stack.req("GET", "/rooms", sub=owner).json()["data"] if x["room_id"] == room]
    assert x["created_at"] == "2026-01-02T03:04:05.000000+00:00"
    assert x["last_message"]["created_at"] == "2026-01-02T03:04:06.500000+00:00"
    assert x["last_message"]["message"] == "tick\ttab \u0001 \U0001F600"
    d = stack.req("GET", "/rooms/%d" % room, sub=owner).json()
    assert d["created_at"] == "2026-01-02T03:04:05.000000+00:00"
    assert d["messages"][0]["created_at"] == "2026-01-02T03:04:06.500000+00:00"


def test_room_list_follows_participants_written_by_sql(stack):
    # chat_rooms.participant_ids is kept by triggers (sql/004), so another
    # Swappart component writing chat_rooms_participants directly on a
    # shared database cannot leave GET /rooms stale.
    owner, a, b = stack.new_user(), stack.new_user(), stack.new_user()
    r = stack.req("POST", "/rooms", sub=owner, json={"users": [a]})
    assert r.status_code == 201
    room = r.json()["data"]

    def listed():
        rooms = {x["room_id"]: x for x in stack.req("GET", "/rooms", sub=owner).json()["data"]}
        return sorted(rooms[room]["participants_id"])

    assert listed() == sorted([owner, a])
    stack.sql("INSERT INTO chat_rooms_participants (room_id, participant_id) VALUES (%s, %s)",
              (room, b))
    assert listed() == sorted([owner, a, b])
    stack.sql("UPDATE chat_rooms_participants SET participant_id = %s WHERE room_id = %s "
              "AND participant_id = %s", (stack.new_user(), room, a))
    assert a not in listed() and len(listed()) == 3
    stack.sql("DELETE FROM chat_rooms_participants WHERE room_id = %s AND participant_id = %s",
              (room, b))
    assert b not in listed() and len(listed()) == 2
