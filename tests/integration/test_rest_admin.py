"""Administration (SPEC.md section 5) and the events rest-fcgi publishes to
the websocket daemons (shared/evt.h), seen by a ZeroMQ SUB socket bound at
the stack's extra test inbox."""
import uuid

import pytest

from conftest import ISO, create_room, make_token


def admin(stack, method, path, **kw):
    return stack.req(method, path, token=stack.admin_token(), **kw)


def room_event(room, **want):
    def pred(ev):
        return (ev.get("type") == "room" and ev.get("room_id") == room
                and all(ev.get(k) == v for k, v in want.items()))
    return pred


# ---- access ----

@pytest.mark.parametrize("method,path", [("POST", "/admin/users/%s/disconnect"),
                                         ("PUT", "/admin/bans/%s"),
                                         ("DELETE", "/admin/bans/%s")])
def test_admin_routes_need_service_role(stack, method, path):
    target = stack.new_user()
    r = stack.req(method, path % target, sub=stack.new_user())
    assert r.status_code == 403
    assert r.json() == {"error_message": "this endpoint needs a service_role token", "data": None}
    r = stack.req(method, path % target)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # an expired admin token is a 401 like any other
    r = stack.req(method, path % target,
                  token=make_token(str(uuid.uuid4()), role="service_role", exp_in=-120))
    assert r.status_code == 401 and "token is expired" in r.json()["error_message"]
    assert stack.sql("SELECT count(*) FROM chat_bans WHERE user_id = %s", (target,)) == [(0,)]


# ---- bans ----

def test_ban_blocks_every_rest_call_until_unbanned(stack, evt_inbox):
    user, friend = stack.new_user(), stack.new_user()
    room = create_room(stack, user, [friend])
    admin_sub = str(uuid.uuid4())
    atok = make_token(admin_sub, role="service_role")

    r = stack.req("PUT", "/admin/bans/%s" % user.upper(), token=atok, json={"reason": "spam"})
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert r.json()["error_message"] is None
    assert d["user_id"] == user and d["banned"] is True and d["reason"] == "spam"
    assert d["banned_by"] == admin_sub and ISO.match(d["banned_at"])
    assert stack.sql("SELECT banned_by::text, reason FROM chat_bans WHERE user_id = %s",
                     (user,)) == [(admin_sub, "spam")]
    ev = evt_inbox.wait(lambda e: e.get("type") == "ban" and e.get("user") == user)
    assert ev["v"] == 1 and isinstance(ev["at"], int)

    calls = [("GET", "/rooms", None), ("POST", "/rooms", {"users": []}),
             ("GET", "/rooms/%d" % room, None), ("DELETE", "/rooms/%d" % room, None),
             ("PUT", "/rooms", {"room_id": room, "users_to_remove": [friend]}),
             ("PUT", "/rooms", {"room_id": room + 10**9}),
             ("GET", "/chat/rooms", None)]
    for method, path, body in calls:
        r = stack.req(method, path, sub=user, json=body)
        assert r.status_code == 403, (method, path, r.text)
        want = {"error_message": "user is banned", "data": None}
        if path.startswith("/chat/"):  # the app dialect
            want["message"] = "user is banned"
        assert r.json() == want
    # nothing changed while banned
    assert stack.sql("SELECT count(*) FROM chat_rooms_participants WHERE room_id = %s",
                     (room,)) == [(2,)]
    assert stack.sql("SELECT count(*) FROM chat_rooms WHERE owner_id = %s", (user,)) == [(1,)]
    # banning again keeps the first ban and its time, updates nothing else
    r2 = admin(stack, "PUT", "/admin/bans/%s" % user)
    assert r2.status_code == 200
    assert r2.json()["data"]["banned_at"] == d["banned_at"]
    assert r2.json()["data"]["reason"] == "spam"

    r = admin(stack, "DELETE", "/admin/bans/%s" % user)
    assert r.status_code == 200
    assert r.json() == {"error_message": None, "data": None}
    assert stack.sql("SELECT count(*) FROM chat_bans WHERE user_id = %s", (user,)) == [(0,)]
    assert admin(stack, "DELETE", "/admin/bans/%s" % user).status_code == 200  # idempotent
    for method, path, body in calls[:3]:
        assert stack.req(method, path, sub=user, json=body).status_code in (200, 201)


def test_ban_bad_body_is_400(stack):
    user = stack.new_user()
    for body in ('{"reason": 5}', "[1]", "{"):
        r = admin(stack, "PUT", "/admin/bans/%s" % user, data=body)
        assert r.status_code == 400, body
    assert "'reason'" in admin(stack, "PUT", "/admin/bans/%s" % user,
                               data='{"reason": 5}').json()["error_message"]
    assert stack.sql("SELECT count(*) FROM chat_bans WHERE user_id = %s", (user,)) == [(0,)]


# ---- events ----

def test_disconnect_publishes_event(stack, evt_inbox):
    user = stack.new_user()
    r = admin(stack, "POST", "/admin/users/%s/disconnect" % user)
    assert r.status_code == 200
    assert r.json() == {"error_message": None, "data": None}
    ev = evt_inbox.wait(lambda e: e.get("type") == "disconnect" and e.get("user") == user)
    assert ev["v"] == 1


def test_room_events_follow_committed_changes(stack, evt_inbox):
    owner, a, b, c = (stack.new_user() for _ in range(4))
    room = create_room(stack, owner, [a, b])
    ev = evt_inbox.wait(room_event(room))
    assert ev["deleted"] is False and ev["removed"] == []
    assert sorted(ev["added"]) == sorted([owner, a, b])

    # a refused change publishes nothing; the next event is the real change
    assert stack.req("PUT", "/rooms", sub=a, json={"room_id": room,
                                                  "users_to_add": [c]}).status_code == 403
    r = stack.req("PUT", "/rooms", sub=owner,
                  json={"room_id": room, "users_to_add": [c, a], "users_to_remove": [b]})
    assert r.status_code == 200
    ev = evt_inbox.wait(room_event(room))
    assert ev["added"] == [c] and ev["removed"] == [b] and ev["deleted"] is False

    # a change that changes nothing publishes nothing
    assert stack.req("PUT", "/rooms", sub=owner,
                     json={"room_id": room, "users_to_add": [a]}).status_code == 200
    assert stack.req("PUT", "/rooms", sub=a,
                     json={"room_id": room, "users_to_remove": [a]}).status_code == 200
    ev = evt_inbox.wait(room_event(room))
    assert ev["added"] == [] and ev["removed"] == [a]

    assert stack.req("DELETE", "/rooms/%d" % room, sub=owner).status_code == 200
    ev = evt_inbox.wait(room_event(room))
    # a deletion names the room only, not its members (issue 10)
    assert ev["deleted"] is True and "added" not in ev and "removed" not in ev
    assert evt_inbox.collect(room_event(room)) == []
