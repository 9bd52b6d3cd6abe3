"""Faults: a Postgres outage gives quick 503 envelopes and the REST tier
recovers by itself when Postgres is back; restarting the REST tier leaves
websocket connections alone."""
import os
import time

import websocket

from conftest import wait_rest


def rest_pids(stack):
    with open(os.path.join(stack.run_dir, "rest.pid")) as f:
        return sorted(int(p) for p in f.read().split())


def test_postgres_outage_and_recovery(stack):
    user = stack.new_user()
    r = stack.req("POST", "/rooms", sub=user, json={})
    assert r.status_code == 201
    room = r.json()["data"]
    pids = rest_pids(stack)
    stack.tool("stop-pg")
    try:
        # every worker (several requests each) answers quickly with 503
        for method, path, body in [("GET", "/rooms", None), ("GET", "/rooms/%d" % room, None),
                                   ("POST", "/rooms", {}),
                                   ("PUT", "/rooms", {"room_id": room})] * 3:
            t0 = time.monotonic()
            r = stack.req(method, path, sub=user, json=body)
            assert time.monotonic() - t0 < 3
            assert r.status_code == 503, (method, path, r.text)
            assert r.json() == {"error_message": "database unavailable, try again shortly",
                                "data": None}
        r = stack.req("GET", "/health")
        assert r.status_code == 503
        assert r.json() == {"error_message": "database unavailable",
                            "data": {"database": "down"}}
        # token checks need no database: still 401, not 503
        assert stack.req("GET", "/rooms").status_code == 401
    finally:
        stack.tool("start-pg")
    r = wait_rest(stack, user)
    assert room in [x["room_id"] for x in r.json()["data"]]
    # every worker reconnected (no 503 left) without a restart
    for _ in range(12):
        assert stack.req("GET", "/rooms/%d" % room, sub=user).status_code == 200
    assert stack.req("GET", "/health").status_code == 200
    assert rest_pids(stack) == pids


def test_postgres_restart_costs_no_request(stack):
    """Workers idle while Postgres restarts: their old connections received
    the server's FATAL notice; the next request must reconnect first rather
    than fail on the dead connection."""
    user = stack.new_user()
    for _ in range(9):      # every worker has a live connection
        assert stack.req("GET", "/rooms", sub=user).status_code == 200
    stack.tool("stop-pg")
    stack.tool("start-pg")
    codes = [stack.req("GET", "/rooms", sub=user).status_code for _ in range(12)]
    assert codes == [200] * 12


def test_restart_rest_keeps_websockets(stack):
    user = stack.new_user()
    ws = stack.connect(sub=user)
    try:
        old = rest_pids(stack)
        stack.tool("restart-rest")
        assert set(rest_pids(stack)).isdisjoint(old)
        wait_rest(stack, user)
        assert stack.req("POST", "/rooms", sub=user, json={}).status_code == 201
        # the websocket is still open: a ping gets its pong, no close frame
        assert ws.connected
        ws.ping(b"still-there")
        ws.settimeout(5)
        while True:
            op, data = ws.recv_data(control_frame=True)
            assert op != websocket.ABNF.OPCODE_CLOSE, "websocket closed by the restart"
            if op == websocket.ABNF.OPCODE_PONG:
                assert data == b"still-there"
                break
    finally:
        ws.close()
