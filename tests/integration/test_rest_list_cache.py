"""The GET /rooms cache (docs/rest.md "List cache", rest-fcgi/listcache.c)
on a real stack: an answer is served again only while nothing it was made
of changed. Changes made over REST are in the very next list, whichever
worker answers it; messages from the daemons and rows written by anything
else reach the list once Postgres' notification arrives; while a worker's
listener is not listening it serves nothing from its cache."""
import contextlib
import os
import re
import select
import signal
import time

import psycopg

from conftest import Stack, create_room, running

from test_ws import confirmation, send


def rooms_of(stack, sub):
    r = stack.req("GET", "/rooms", sub=sub)
    assert r.status_code == 200, r.text
    return {x["room_id"]: x for x in r.json()["data"]}


def workers(stack):
    return int(stack.env["CHAT_REST_WORKERS"])


def warm(stack, sub):
    """List often enough that every worker has sub's answer kept."""
    for _ in range(4 * workers(stack)):
        rooms_of(stack, sub)


def until(pred, what, timeout=2.0):
    """Freshness after a commit is one notification away: a list that is
    still stale after `timeout` is a bug, not a slow machine."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "still stale after %ss: %s" % (timeout, what)
        time.sleep(0.01)


def cache_counts(stack):
    text = stack.req("GET", "/metrics").text
    got = {}
    for line in text.splitlines():
        if line.startswith("chat_rest_list_cache_total{"):
            got[line.split('"')[1]] = float(line.split()[-1])
    return got


@contextlib.contextmanager
def notifications_off(stack):
    """No announcements at all (sql/007's chat_list_notify a no-op, which
    the triggers and the tiers both call): what the REST tier changes must
    then reach the next list through the change table alone (the bumps the
    writing worker makes before it answers), not through a notification
    that happens to arrive before the next request."""
    (orig,) = stack.sql("SELECT pg_get_functiondef("
                        "'chat_list_notify(bigint[], uuid[])'::regprocedure)")[0]
    stack.sql("CREATE OR REPLACE FUNCTION chat_list_notify(p_rooms bigint[], p_users uuid[])"
              " RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$")
    try:
        yield
    finally:
        stack.sql(orig)


class Listener:
    """A session of the test's own that LISTENs as the REST workers do."""

    def __init__(self, stack):
        self.c = psycopg.connect(stack.dsn, autocommit=True)
        self.c.execute("LISTEN chat_list_changed")

    def take(self, quiet=0.3, timeout=5, enough=lambda got: False):
        """Payloads until `enough`, or `quiet` s without one, or `timeout`."""
        got, pg = [], self.c.pgconn
        deadline, last = time.monotonic() + timeout, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < quiet:
            if select.select([pg.socket], [], [], 0.02)[0]:
                pg.consume_input()
            n = pg.notifies()
            while n is not None:
                got.append(n.extra.decode())
                last = time.monotonic()
                n = pg.notifies()
            if enough(got):
                break
        return got

    def close(self):
        self.c.close()


def test_repeated_lists_are_served_from_the_cache(stack):
    user = stack.new_user()
    create_room(stack, user, [stack.new_user()])
    before = cache_counts(stack)
    first = stack.req("GET", "/rooms", sub=user).text
    for _ in range(30):
        assert stack.req("GET", "/rooms", sub=user).text == first
    after = cache_counts(stack)
    misses = after["miss"] - before["miss"]
    assert after["hit"] - before["hit"] + misses == 31
    # a query per worker, and one more each if another worker's first
    # connection announced "everything changed" meanwhile
    assert 1 <= misses <= 2 * workers(stack)


def test_rest_changes_are_in_the_next_list_whichever_worker_answers(stack):
    owner, guest, third = stack.new_user(), stack.new_user(), stack.new_user()
    mine = create_room(stack, owner, [])
    warm(stack, owner)
    warm(stack, guest)
    with notifications_off(stack):
        rest_changes(stack, owner, guest, third, mine)


def rest_changes(stack, owner, guest, third, mine):
    for i in range(3 * workers(stack)):
        # a new room with guest: in guest's next list
        room = create_room(stack, owner, [guest])
        assert room in rooms_of(stack, guest)
        # guest removed, then added: gone, then back
        r = stack.req("PUT", "/rooms", sub=owner, json={"room_id": room, "users_to_remove": [guest]})
        assert r.status_code == 200, r.text
        assert room not in rooms_of(stack, guest)
        r = stack.req("PUT", "/rooms", sub=owner, json={"room_id": room, "users_to_add": [guest]})
        assert r.status_code == 200, r.text
        assert room in rooms_of(stack, guest)
        # the owner's list of a room it is in: the new member's id is there
        r = stack.req("PUT", "/rooms", sub=owner, json={"room_id": mine, "users_to_add": [third]}
                      if i % 2 == 0 else {"room_id": mine, "users_to_remove": [third]})
        assert r.status_code == 200, r.text
        assert (third in rooms_of(stack, owner)[mine]["participants_id"]) == (i % 2 == 0)
        # deleted: in nobody's next list
        assert stack.req("DELETE", "/rooms/%d" % room, sub=owner).status_code == 200
        assert room not in rooms_of(stack, guest)
        assert room not in rooms_of(stack, owner)


def test_a_ban_is_in_the_next_list(stack):
    user = stack.new_user()
    create_room(stack, user, [])
    warm(stack, user)
    admin = stack.admin_token()
    with notifications_off(stack):
        for _ in range(workers(stack)):
            assert stack.req("PUT", "/admin/bans/%s" % user, token=admin).status_code == 200
            r = stack.req("GET", "/rooms", sub=user)
            assert r.status_code == 403, r.text
            assert stack.req("DELETE", "/admin/bans/%s" % user,
                             token=admin).status_code == 200
            warm(stack, user)


def test_messages_and_foreign_writes_reach_a_kept_list(stack):
    owner, other = stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [other])
    warm(stack, owner)

    # a message stored by a daemon
    ws = stack.connect(sub=owner)
    try:
        send(ws, room, "over the websocket")
        mid = confirmation(ws)["id"]
    finally:
        ws.close()
    until(lambda: (rooms_of(stack, owner)[room]["last_message"] or {}).get("id") == mid,
          "the daemon's message")

    # rows written by something else: a message, the room, a membership
    (fid,) = stack.sql("INSERT INTO chat_room_messages (room_id, message, sender_id)"
                       " VALUES (%s, 'from a script', %s) RETURNING id", (room, other))[0]
    until(lambda: rooms_of(stack, owner)[room]["last_message"]["id"] == fid, "an INSERT")
    stack.sql("UPDATE chat_room_messages SET message = 'edited' WHERE id = %s", (fid,))
    until(lambda: rooms_of(stack, owner)[room]["last_message"]["message"] == "edited",
          "an UPDATE of a message")
    stack.sql("DELETE FROM chat_room_messages WHERE id = %s", (fid,))
    until(lambda: rooms_of(stack, owner)[room]["last_message"]["id"] == mid,
          "a DELETE of the last message")
    stack.sql("UPDATE chat_rooms SET apartment_id = 777 WHERE id = %s", (room,))
    until(lambda: rooms_of(stack, owner)[room]["apartment_id"] == 777, "the room's row")
    warm(stack, other)
    stack.sql("DELETE FROM chat_rooms_participants WHERE room_id = %s AND participant_id = %s",
              (room, other))
    until(lambda: room not in rooms_of(stack, other), "a membership deleted")
    until(lambda: other not in rooms_of(stack, owner)[room]["participants_id"],
          "the members of a kept room")


def listeners(stack):
    with psycopg.connect(stack.db_dsn("chat", superuser=True), autocommit=True) as c:
        return [r[0] for r in c.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'rest-fcgi list cache'"
            " AND datname = 'chat'")]


def test_no_hits_while_not_listening(stack):
    user = stack.new_user()
    room = create_room(stack, user, [])
    assert len(listeners(stack)) == 1    # one per tier, not per worker
    warm(stack, user)
    su = stack.db_dsn("chat", superuser=True)
    with psycopg.connect(su, autocommit=True) as c:
        # the listeners cannot come back while this holds (existing
        # sessions, the workers' own among them, are not touched)
        c.execute("ALTER ROLE chat CONNECTION LIMIT 0")
        try:
            log = os.path.join(stack.run_dir, "logs", "rest.log")
            failed = open(log).read().count("the listening connection failed")
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE application_name = 'rest-fcgi list cache'")
            until(lambda: not listeners(stack), "listeners gone")
            # the listener has seen it (it logs after it stopped the hits)
            until(lambda: open(log).read().count("the listening connection failed") > failed,
                  "the listener noticing", timeout=10)
            # a write nobody hears about: every worker must query
            (mid,) = c.execute("INSERT INTO chat_room_messages (room_id, message, sender_id)"
                               " VALUES (%s, 'unheard', %s) RETURNING id", (room, user)).fetchone()
            before = cache_counts(stack)
            for _ in range(3 * workers(stack)):
                assert rooms_of(stack, user)[room]["last_message"]["id"] == mid
            after = cache_counts(stack)
            assert after["hit"] == before["hit"]
        finally:
            c.execute("ALTER ROLE chat CONNECTION LIMIT -1")
    # back (the listener retries every second), and hits again
    until(lambda: len(listeners(stack)) == 1, "the listener back", timeout=10)
    before = cache_counts(stack)
    warm(stack, user)
    assert cache_counts(stack)["hit"] > before["hit"]
    assert "GET /rooms cache on again" in open(stack.run_dir + "/logs/rest.log").read()


def test_who_announces_what(stack):
    """sql/007 and shared/listnotify.h: foreign writers are announced by
    the triggers, the service's sessions (chat.list_notify = after) by
    the tiers after their commit; long lists are split, never lost."""
    owner, other = stack.new_user(), stack.new_user()
    room = create_room(stack, owner, [])
    lis = Listener(stack)
    try:
        # ("*" comes whenever a writer of the service opens a connection,
        # e.g. a REST worker serving its first request: not checked here)
        def take():
            return [p for p in lis.take() if p != "*"]

        # a foreign writer: the trigger, one notification per statement
        stack.sql("INSERT INTO chat_room_messages (room_id, message, sender_id)"
                  " SELECT %s, 'x' || g, %s FROM generate_series(1, 3) g", (room, owner))
        assert take() == ["r:%d" % room]
        # a session that says it announces itself: the trigger is silent
        with psycopg.connect(stack.dsn, autocommit=True,
                             options="-c chat.list_notify=after") as c:
            c.execute("INSERT INTO chat_room_messages (room_id, message, sender_id)"
                      " VALUES (%s, 'quiet', %s)", (room, owner))
        assert take() == []
        # the REST tier: after its commit, the users it added and the room
        r = stack.req("PUT", "/rooms", sub=owner, json={"room_id": room, "users_to_add": [other]})
        assert r.status_code == 200, r.text
        assert sorted(take()) == sorted(["r:%d" % room, "u:%s" % other])
        # a daemon: after its batch's commit, the batch's rooms
        ws = stack.connect(sub=owner)
        try:
            send(ws, room, "announced by the daemon")
            assert confirmation(ws)["confirmed"] is True
        finally:
            ws.close()
        assert take() == ["r:%d" % room]
        # thousands of rooms: several notifications under 8000 bytes, all ids
        stack.sql("SELECT chat_list_notify(array(SELECT g FROM generate_series(1000000, 1002999)"
                  " g), NULL)")
        got = lis.take()
        assert len(got) > 1 and all(len(p) < 8000 and p.startswith("r:") for p in got)
        ids = [int(x) for p in got for x in p[2:].split(",")]
        assert ids == list(range(1000000, 1003000))
    finally:
        lis.close()


def test_another_worker_listens_when_the_listener_dies():
    """The listening worker killed (no goodbye): no hits from that moment,
    another worker takes the lock and listens, hits again. Its own stack:
    the local stack's spawn-fcgi does not replace a dead worker."""
    with running(Stack(ws_count=1)) as s:
        user = s.new_user()
        room = create_room(s, user, [])
        warm(s, user)
        log = os.path.join(s.run_dir, "logs", "rest.log")
        began = r"rest-fcgi\[(\d+)\]: (?:listening for GET /rooms|GET /rooms cache on again)"
        leaders = re.findall(began, open(log).read())
        assert len(leaders) == 1, leaders
        os.kill(int(leaders[0]), signal.SIGKILL)
        (mid,) = s.sql("INSERT INTO chat_room_messages (room_id, message, sender_id)"
                       " VALUES (%s, 'while nobody listens', %s) RETURNING id", (room, user))[0]
        # fresh at once: either nobody listens (no hits) or the new
        # listener counted everything as changed when it began
        for _ in range(3 * workers(s)):
            assert rooms_of(s, user)[room]["last_message"]["id"] == mid
        until(lambda: len(re.findall(began, open(log).read())) == 2, "a new listener",
              timeout=10)
        assert len(listeners(s)) == 1
        before = cache_counts(s)
        warm(s, user)
        assert cache_counts(s)["hit"] > before["hit"]


def test_a_kept_answer_serves_both_dialects(stack):
    """The cache keeps the room array alone: the app's path gets it bare,
    the documented one inside the envelope, whichever dialect filled it
    (SPEC.md section 2, "Dialects"; through nginx, as the app asks)."""
    me, other = stack.new_user(), stack.new_user()
    create_room(stack, me, [other], apartment_id=5)
    before = cache_counts(stack)
    for first, second in (("/chat/rooms", "/rooms"), ("/rooms", "/chat/rooms")) * 2:
        for path in (first, second) * (2 * workers(stack)):
            r = stack.req("GET", path, sub=me)
            assert r.status_code == 200, r.text
            body = r.json()
            rooms = body if path == "/chat/rooms" else body["data"]
            if path == "/rooms":
                assert body == {"error_message": None, "data": rooms}
            assert isinstance(rooms, list) and len(rooms) == 1
            assert rooms[0]["apartment_id"] == 5
            assert sorted(rooms[0]["participants_id"]) == sorted([me, other])
    assert cache_counts(stack)["hit"] > before["hit"]
