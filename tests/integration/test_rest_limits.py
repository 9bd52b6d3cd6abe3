"""REST limits (README "Limits", issue 10) through nginx against a stack
with small limits: the room size cap (409), rooms created and users added
per window (429 with Retry-After), the list length cap (400). Each refusal
is checked in both dialects and against Postgres: nothing of a refused
request is applied or counted. The rate windows are CHAT_LIMIT_WINDOW
seconds long here, so recovery is waited for, not faked."""
import threading
import time

import pytest

from conftest import Stack, create_room, running

MAX_MEMBERS = 20
ROOMS_PER_WINDOW = 5
ADDS_PER_WINDOW = 40
WINDOW = 5
LIST_MAX = 50


@pytest.fixture(scope="module")
def lim():
    s = Stack(ws_count=1, CHAT_ROOM_MAX_MEMBERS=MAX_MEMBERS, CHAT_ROOMS_PER_MIN=ROOMS_PER_WINDOW,
              CHAT_ADDS_PER_MIN=ADDS_PER_WINDOW, CHAT_LIMIT_WINDOW=WINDOW,
              CHAT_LIST_MAX=LIST_MAX,
              # nginx's per-address limits (test_nginx_limits.py) off: every
              # 429 here must be the REST tier's own
              CHAT_NGINX_UNLIMITED="127.0.0.0/8")
    with running(s):
        yield s


def users(s, n):
    return [s.new_user() for _ in range(n)]


def members(s, room):
    return {str(u) for (u,) in s.sql(
        "SELECT participant_id FROM chat_rooms_participants WHERE room_id = %s", (room,))}


def rooms_of(s, user):
    return {r for (r,) in s.sql(
        "SELECT room_id FROM chat_rooms_participants WHERE participant_id = %s", (user,))}


def owned(s, owner):
    return s.sql("SELECT count(*) FROM chat_rooms WHERE owner_id = %s", (owner,))[0][0]


def refused(r, status, path="/rooms"):
    """The error envelope of r in the dialect of path (the app's adds
    "message"), with status; returns the error text."""
    assert r.status_code == status, r.text
    env = r.json()
    if path.startswith("/chat/"):
        assert set(env) == {"error_message", "data", "message"}
        assert env["message"] == env["error_message"]
    else:
        assert set(env) == {"error_message", "data"}
    assert env["data"] is None
    if status == 429:
        assert 1 <= int(r.headers["Retry-After"]) <= WINDOW
    else:
        assert "Retry-After" not in r.headers
    return env["error_message"]


def put(s, sub, room, add=(), remove=(), path="/rooms"):
    return s.req("PUT", path, sub=sub, json={"room_id": room, "users_to_add": list(add),
                                             "users_to_remove": list(remove)})


# ---- room size: CHAT_ROOM_MAX_MEMBERS ----

@pytest.mark.parametrize("path", ["/rooms", "/chat/rooms"])
def test_post_beyond_the_room_cap_is_409_and_creates_nothing(lim, path):
    owner = lim.new_user()
    others = users(lim, MAX_MEMBERS)     # + the owner: one too many
    r = lim.req("POST", path, sub=owner, json={"users": others})
    msg = refused(r, 409, path)
    assert msg == "room would have %d members; the limit is %d" % (MAX_MEMBERS + 1, MAX_MEMBERS)
    assert owned(lim, owner) == 0
    assert not rooms_of(lim, others[0]) and not rooms_of(lim, owner)
    # exactly at the cap: created; duplicates and the owner listed do not count twice
    room = create_room(lim, owner, others[1:] + others[1:3] + [owner], path=path)
    assert members(lim, room) == set(others[1:]) | {owner}


def test_twenty_puts_cannot_build_a_huge_room(lim):
    """Issue 10: 'twenty PUTs built a 20,000-member room'. Here twenty PUTs
    of five users each against a cap of 20: three fit, the rest are 409
    and add nobody."""
    owner = lim.new_user()
    room = create_room(lim, owner)
    batches = [users(lim, 5) for _ in range(20)]
    codes = [put(lim, owner, room, add=b).status_code for b in batches]
    assert codes == [200] * 3 + [409] * 17
    assert members(lim, room) == {owner} | set(sum(batches[:3], []))
    r = put(lim, owner, room, add=batches[3], path="/chat/rooms")
    assert refused(r, 409, "/chat/rooms") == "room would have 21 members; the limit is 20"


def test_put_beyond_the_cap_changes_nothing(lim):
    owner = lim.new_user()
    inside = users(lim, 14)
    room = create_room(lim, owner, inside)                 # 15 members
    before = members(lim, room)
    newcomers = users(lim, 6)
    # add 6, remove 0: 21. Refused whole: the removal of the same request too
    r = put(lim, owner, room, add=newcomers)
    assert refused(r, 409) == "room would have 21 members; the limit is 20"
    r = put(lim, owner, room, add=newcomers, remove=[])
    assert r.status_code == 409
    assert members(lim, room) == before
    # add 6 and remove 1 in one request: 20, allowed
    r = put(lim, owner, room, add=newcomers, remove=inside[:1])
    assert r.status_code == 200, r.text
    assert members(lim, room) == (before - {inside[0]}) | set(newcomers)
    # users already in the room are no additions: a full room takes them again
    assert put(lim, owner, room, add=newcomers[:3] + [owner]).status_code == 200
    # leaving and removing always work, also at the cap
    assert put(lim, newcomers[0], room, remove=[newcomers[0]]).status_code == 200
    assert len(members(lim, room)) == MAX_MEMBERS - 1


def test_concurrent_puts_cannot_exceed_the_cap(lim):
    """Twelve PUTs of three users each, released at once on three workers:
    1 + 6 x 3 = 19 fits, a seventh would make 22. Exactly six pass."""
    owner = lim.new_user()
    room = create_room(lim, owner)
    batches = [users(lim, 3) for _ in range(12)]
    codes = {}
    barrier = threading.Barrier(len(batches))

    def run(i):
        barrier.wait()
        codes[i] = put(lim, owner, room, add=batches[i]).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    passed = [i for i, c in codes.items() if c == 200]
    assert sorted(codes.values()) == [200] * 6 + [409] * 6
    assert members(lim, room) == {owner} | {u for i in passed for u in batches[i]}
    (n,) = lim.sql("SELECT cardinality(participant_ids) FROM chat_rooms WHERE id = %s", (room,))[0]
    assert n == 19


def test_list_longer_than_chat_list_max_is_400(lim):
    owner = lim.new_user()
    r = lim.req("POST", "/chat/rooms", sub=owner, json={"users": users(lim, LIST_MAX + 1)})
    assert refused(r, 400, "/chat/rooms") == "field 'users' has more than %d entries" % LIST_MAX
    room = create_room(lim, owner)
    r = put(lim, owner, room, remove=users(lim, LIST_MAX + 1))
    assert "'users_to_remove' has more than" in refused(r, 400)
    assert owned(lim, owner) == 1


# ---- rooms per window: CHAT_ROOMS_PER_MIN ----

def test_rooms_forced_onto_a_victim_are_capped_then_recover(lim):
    """Issue 10: '300 rooms forced onto one victim in 3 s'. Thirty POSTs at
    once, spread over the REST workers: the counter is Postgres', so
    exactly the limit passes, whichever worker serves which."""
    attacker, victim = lim.new_user(), lim.new_user()
    results = []
    barrier = threading.Barrier(30)

    def run(i):
        barrier.wait()
        path = "/chat/rooms" if i % 2 else "/rooms"
        results.append((path, lim.req("POST", path, sub=attacker, json={"users": [victim]})))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for _, r in results if r.status_code == 201]
    assert len(ok) == ROOMS_PER_WINDOW
    for path, r in results:
        if r.status_code != 201:
            msg = refused(r, 429, path)
            assert msg.startswith("too many rooms created: the limit is %d per %d s; retry in "
                              % (ROOMS_PER_WINDOW, WINDOW))
            assert msg.endswith(" s")
    assert rooms_of(lim, victim) == {r.json()["data"] for r in ok}
    assert owned(lim, attacker) == ROOMS_PER_WINDOW
    assert lim.sql("SELECT kind, used FROM chat_rate_limits WHERE user_id = %s ORDER BY kind",
                   (attacker,)) == [("adds", ROOMS_PER_WINDOW), ("rooms", ROOMS_PER_WINDOW)]

    # after Retry-After the window has ended: creating works again
    r = lim.req("POST", "/rooms", sub=attacker, json={"users": [victim]})
    refused(r, 429)
    time.sleep(int(r.headers["Retry-After"]) + 0.3)
    room = create_room(lim, attacker, [victim])
    assert room in rooms_of(lim, victim)
    assert owned(lim, attacker) == ROOMS_PER_WINDOW + 1


def test_rooms_limit_is_per_user_and_not_for_service_role(lim):
    busy, other = lim.new_user(), lim.new_user()
    for _ in range(ROOMS_PER_WINDOW):
        create_room(lim, busy)
    refused(lim.req("POST", "/rooms", sub=busy, json={}), 429)
    create_room(lim, other)       # someone else's window is their own
    admin = lim.admin_token()
    for _ in range(ROOMS_PER_WINDOW + 2):
        r = lim.req("POST", "/rooms", token=admin, json={"users": [other]})
        assert r.status_code == 201, r.text
    # the room size cap is a rule of the room: it holds for service_role too
    r = lim.req("POST", "/rooms", token=admin, json={"users": users(lim, MAX_MEMBERS)})
    refused(r, 409)


# ---- users added per window: CHAT_ADDS_PER_MIN ----

@pytest.mark.parametrize("path", ["/rooms", "/chat/rooms"])
def test_adds_per_window_429_change_nothing_then_recover(lim, path):
    owner = lim.new_user()
    a = create_room(lim, owner, users(lim, 10), path=path)     # 10 added
    b = create_room(lim, owner, users(lim, 10), path=path)     # 20
    c = create_room(lim, owner, path=path)                     # 20
    assert put(lim, owner, c, add=users(lim, 15), path=path).status_code == 200   # 35
    before = members(lim, a)
    r = put(lim, owner, a, add=users(lim, 6), path=path)       # 41: refused, whole
    msg = refused(r, 429, path)
    assert msg.startswith("too many users added to rooms: the limit is %d per %d s "
                          "(35 added already, this request adds 6); retry in "
                          % (ADDS_PER_WINDOW, WINDOW)), msg
    assert members(lim, a) == before
    # a POST whose users do not fit: no room
    r = lim.req("POST", path, sub=owner, json={"users": users(lim, 6)})
    assert "this request adds 6" in refused(r, 429, path)
    assert owned(lim, owner) == 3
    # the refusals counted nothing: five more still fit, then nothing does
    assert put(lim, owner, a, add=users(lim, 5), path=path).status_code == 200   # 40
    last = lim.new_user()
    r = put(lim, owner, b, add=[last], path=path)
    refused(r, 429, path)
    assert last not in members(lim, b)
    # re-adding members and removing are not additions
    assert put(lim, owner, b, add=list(members(lim, b))[:3], path=path).status_code == 200
    assert put(lim, owner, a, remove=list(before - {owner})[:2], path=path).status_code == 200
    time.sleep(int(r.headers["Retry-After"]) + 0.3)
    assert put(lim, owner, b, add=[last], path=path).status_code == 200
    assert last in members(lim, b)
