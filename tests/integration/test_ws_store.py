"""The websocket tier's write as Postgres runs it. chat_ws_insert
(sql/008_ws_insert.sql) is what the daemon calls (ws-daemon/store.c):
each locked room's previous message, the stored rows in input order, the
rooms held elsewhere; chat_ws_lookup says what became of the others.
chat_ws_store (sql/006_ws_store_rows.sql) stays for daemons of earlier
builds during a rolling restart, so both forms pass the same tests: the
daemon's chaining of chat_ws_insert's rows (store()) must give the
prev_id chat_ws_store computes. Every daemon relies on prev_id to deliver
a room's messages in id order; a message stored by a foreign writer must
never be named as a predecessor, or the next live message waits for an
event that never comes (issue 12)."""
import time
import uuid

import psycopg
import pytest
import websocket

from conftest import create_room
from test_metrics import parse, scrape
from test_ws import assert_silent, confirmation, direct, pair, received, send  # noqa: F401


# chat_ws_insert as the daemon calls it for most batches (the plain INSERT),
# as it calls it after a resend (ON CONFLICT), and 006's chat_ws_store
PLAIN, RESENDS, OLD = "chat_ws_insert", "chat_ws_insert, resends", "chat_ws_store"


@pytest.fixture(params=[PLAIN, RESENDS, OLD])
def form(request):
    return request.param


def insert(stack, rows, resends=True):
    """chat_ws_insert's own rows: (kind, id, sender, temp, room, created_at)."""
    s, r, m, t = (list(c) for c in zip(*rows))
    return stack.sql(
        "SELECT kind, id, sender_id::text, client_temp_id, room_id, created_at"
        " FROM chat_ws_insert(%s::uuid[], %s::bigint[], %s::text[], %s::text[], %s)",
        (s, r, m, t, resends))


def store(stack, rows, form=RESENDS):
    """rows: (sender, room, text, temp) -> (id, sender, temp, room,
    created_at, prev_id) per stored row in input order, then (None, None,
    None, room, None, None) per room held elsewhere: chat_ws_store's
    answer, and chat_ws_insert's chained as ws-daemon/store.c chains it."""
    if form == OLD:
        s, r, m, t = (list(c) for c in zip(*rows))
        return stack.sql(
            "SELECT id, sender_id::text, client_temp_id, room_id, created_at, prev_id"
            " FROM chat_ws_store(%s::uuid[], %s::bigint[], %s::text[], %s::text[])",
            (s, r, m, t))
    got = insert(stack, rows, resends=form == RESENDS)
    kinds = [g[0] for g in got]
    assert kinds == sorted(kinds, key=[1, 0, 2].index), kinds   # 1 rows, then 0, then 2
    last = {g[4]: g[1] for g in got if g[0] == 1}
    out = []
    for _, i, sender, temp, room, created in (g for g in got if g[0] == 0):
        out.append((i, sender, temp, room, created, last[room]))
        last[room] = i
    return out + [(None, None, None, g[4], None, None) for g in got if g[0] == 2]


def lookup(stack, rows):
    return stack.sql(
        "SELECT ord, status, id, room_id FROM chat_ws_lookup(%s::uuid[], %s::text[])",
        ([r[0] for r in rows], [r[1] for r in rows]))


def foreign_insert(stack, room, sender, text):
    """What another service or a script would do: no client_temp_id."""
    return stack.sql("INSERT INTO chat_room_messages (room_id, message, sender_id)"
                     " VALUES (%s, %s, %s) RETURNING id", (room, text, sender))[0][0]


def test_rows_come_in_input_order_and_chain_per_room(stack, form):
    a, b, c = stack.new_user(), stack.new_user(), stack.new_user()
    r1 = create_room(stack, a, [b])
    r2 = create_room(stack, a, [c])
    got = store(stack, [(a, r1, "one", "t1"), (a, r2, "two", "t2"),
                        (b, r1, "three", "t3"), (c, r2, "four", "t4")], form)
    assert [(g[1], g[2], g[3]) for g in got] == [
        (a, "t1", r1), (a, "t2", r2), (b, "t3", r1), (c, "t4", r2)]
    ids = [g[0] for g in got]
    assert ids == sorted(ids)
    # first message of a room: no predecessor; then the chain of its room
    assert got[0][5] is None and got[1][5] is None
    assert got[2][5] == ids[0] and got[3][5] == ids[1]
    # a later batch continues the chain from Postgres
    again = store(stack, [(b, r1, "five", "t5")], form)
    assert again[0][5] == ids[2]


@pytest.mark.parametrize("form", [RESENDS, OLD])  # PLAIN fails on them: test_without_resends_...
def test_unstored_rows_are_left_out_and_explained_by_lookup(stack, form):
    a, b, outsider, banned = (stack.new_user() for _ in range(4))
    room = create_room(stack, a, [b, banned])
    stack.sql("INSERT INTO chat_bans (user_id) VALUES (%s)", (banned,))
    first = store(stack, [(a, room, "hello", "dup")], form)
    got = store(stack, [(a, room, "hello again", "dup"),      # a resend
                        (outsider, room, "let me in", "x1"),  # not a participant
                        (banned, room, "still here", "x2"),   # banned
                        (b, room, "fine", "ok"),
                        (b, room, "fine twice", "ok")], form)  # same temp id in one batch
    assert [(g[1], g[2]) for g in got] == [(b, "ok")]
    assert got[0][5] == first[0][0]
    st = lookup(stack, [(a, "dup"), (outsider, "x1"), (banned, "x2"), (b, "ok")])
    assert [(s[0], s[1]) for s in st] == [(1, 1), (2, 2), (3, 3), (4, 1)]
    assert st[0][2] == first[0][0] and st[0][3] == room
    assert st[3][2] == got[0][0]


def test_a_room_held_elsewhere_comes_back_as_a_row_without_id(stack, form):
    """A room another transaction holds is skipped, not waited for; the
    daemon retries its messages (test_ws_limits.py)."""
    a, b = stack.new_user(), stack.new_user()
    held, free = create_room(stack, a, [b]), create_room(stack, a, [b])
    with psycopg.connect(stack.dsn) as other:
        other.execute("SELECT 1 FROM chat_rooms WHERE id = %s FOR UPDATE", (held,))
        got = store(stack, [(a, held, "waits", "w1"), (a, free, "goes", "g1")], form)
        other.rollback()
    assert [(g[0] is None, g[3]) for g in got] == [(False, free), (True, held)]
    assert stack.sql("SELECT count(*) FROM chat_room_messages WHERE room_id = %s",
                     (held,))[0][0] == 0


def test_a_foreign_writers_message_is_no_predecessor(stack, form):
    a, b = stack.new_user(), stack.new_user()
    room = create_room(stack, a, [b])
    live = store(stack, [(a, room, "live", str(uuid.uuid4()))], form)[0][0]
    foreign = foreign_insert(stack, room, b, "written by a script")
    assert foreign > live
    got = store(stack, [(a, room, "after the script", str(uuid.uuid4())),
                        (b, room, "and another", str(uuid.uuid4()))], form)
    # the daemons never saw the foreign message: nothing to wait for
    assert got[0][5] is None
    assert got[1][5] == got[0][0]


def test_without_resends_a_repeated_temp_id_fails_the_statement_and_stores_nothing(stack):
    """The daemon asks for the plain INSERT (p_resends false) and, on
    unique_violation, sends the same batch again with ON CONFLICT."""
    a, b = stack.new_user(), stack.new_user()
    room = create_room(stack, a, [b])
    first = insert(stack, [(a, room, "hello", "dup")], resends=False)
    assert [g[0] for g in first] == [1, 0]
    assert first[0][1] is None and first[0][4] == room   # no previous message
    fresh = "fresh-%s" % uuid.uuid4()
    for batch in ([(b, room, "new", fresh), (a, room, "hello again", "dup")],  # a resend
                  [(b, room, "new", fresh), (b, room, "twice", fresh)]):       # twice in one
        with pytest.raises(psycopg.errors.UniqueViolation):
            insert(stack, batch, resends=False)
        assert stack.sql("SELECT count(*) FROM chat_room_messages WHERE room_id = %s",
                         (room,))[0][0] == 1
    got = insert(stack, [(b, room, "new", fresh), (a, room, "hello again", "dup")])
    assert [(g[0], g[2], g[3]) for g in got] == [(1, None, None), (0, b, fresh)]
    assert got[0][1] == first[1][1]        # the room's previous message


def ws_metric(stack, i, name):
    return parse(scrape("http://127.0.0.1:%d/metrics" % (int(stack.env["CHAT_WS_PORT"]) + i)))[
        (name, ())]


def test_a_resend_costs_one_statement_more_and_fresh_messages_none(stack):
    """Through a daemon: fresh messages take the plain INSERT (no retry);
    a resend fails it once, the batch goes again with ON CONFLICT and the
    client gets the stored message's id, stored once."""
    a, b = stack.new_user(), stack.new_user()
    room = create_room(stack, a, [b])
    wa, wb = direct(stack, 0, a), direct(stack, 0, b)
    retries = "chat_ws_store_resend_retries_total"
    time.sleep(1.2)     # past any earlier test's resend window (STORE_RESENDS_US)
    before = ws_metric(stack, 0, retries)
    temps = [send(wa, room, "fresh %d" % i) for i in range(5)]
    confs = [confirmation(wa) for _ in temps]
    assert all(c["confirmed"] for c in confs)
    assert [received(wb)["id"] for _ in temps] == [c["id"] for c in confs]
    assert ws_metric(stack, 0, retries) == before
    time.sleep(1.2)
    send(wa, room, "fresh 0", temps[0])
    again = confirmation(wa)
    assert again["confirmed"] is True and again["id"] == confs[0]["id"]
    assert ws_metric(stack, 0, retries) == before + 1
    assert_silent(wb)
    assert stack.sql("SELECT count(*) FROM chat_room_messages WHERE room_id = %s",
                     (room,))[0][0] == 5
    wa.close()
    wb.close()


def test_after_a_foreign_writer_live_messages_still_flow_in_order(stack, pair):
    """End to end, across two daemons: the foreign message is not pushed
    live (it is in GET /rooms/:id), the live ones arrive, in order. How long
    they wait is a figure of `make bench-ws` ("foreign writer")."""
    a, b, room, wa, wb = pair
    foreign_insert(stack, room, a, "written by a script")
    for text in ("first after the script", "second"):
        send(wa, room, text)
        assert confirmation(wa)["confirmed"] is True
    got = [received(wb), received(wb)]
    assert [g["message"] for g in got] == ["first after the script", "second"]
    assert got[0]["id"] < got[1]["id"]
    assert_silent(wb)


def test_rooms_on_several_database_workers_keep_each_rooms_order(stack):
    """CHAT_DB_WORKERS (2 on this stack) share the rooms by id: a burst
    over six rooms goes through both workers at once. Every frame gets
    one confirmation; in every room the ids follow the order the frames
    were sent, in Postgres and at the recipient on the other daemon."""
    a, b = stack.new_user(), stack.new_user()
    rooms = [create_room(stack, a, [b]) for _ in range(6)]
    assert {r % 2 for r in rooms} == {0, 1}  # both workers have rooms
    wa, wb = direct(stack, 0, a), direct(stack, 1, b)
    sent = {r: [] for r in rooms}
    temps = {}
    for i in range(120):
        room = rooms[i % len(rooms)]
        text = "r%d-%d" % (room, i)
        temps[send(wa, room, text)] = room
        sent[room].append(text)
    confs = []
    try:
        while len(confs) < 120:
            confs.append(confirmation(wa, 20))
    except websocket.WebSocketTimeoutException:
        raise AssertionError("%d of 120 confirmed; stuck: %r" % (
            len(confs), sorted(set(temps) - {c["message_id"] for c in confs})[:5]))
    assert sorted(c["message_id"] for c in confs) == sorted(temps)
    assert all(c["confirmed"] for c in confs), [c for c in confs if not c["confirmed"]]
    got = []
    try:
        while len(got) < 120:
            got.append(received(wb, 20))
    except websocket.WebSocketTimeoutException:
        raise AssertionError("%d of 120 delivered: %r" % (len(got), got[-3:]))
    assert_silent(wb)
    for room in rooms:
        rows = stack.sql("SELECT id, message FROM chat_room_messages WHERE room_id = %s"
                         " ORDER BY id", (room,))
        assert [m for _, m in rows] == sent[room]
        live = [m for m in got if m["room_id"] == room]
        assert [m["id"] for m in live] == [i for i, _ in rows]
        assert [m["message"] for m in live] == sent[room]
    wa.close()
    wb.close()
