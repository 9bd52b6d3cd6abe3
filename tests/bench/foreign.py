#!/usr/bin/python3
"""Foreign writer (issue 12): how long the next live message of a room waits
after something other than a daemon inserted a message into it, against the
same send -> receive without the foreign insert, in the same run.

usage: foreign.py DSN WS_PORT ROOM_ID USER_A USER_B [ROUNDS]

Connects A and B to the daemon's own port (tokens minted with
build/chat-token), then ROUNDS times: a plain send from A timed until B
reads it; an INSERT into chat_room_messages as a script would (no
client_temp_id), then a send from A timed the same way. Prints key value
lines: plain_p50_ms, plain_max_ms, foreign_p50_ms, foreign_max_ms."""
import json
import os
import subprocess
import sys
import time
import uuid

import psycopg
import websocket


def token(user):
    binary = os.path.join(os.environ.get("CHAT_BIN_DIR", "build"), "chat-token")
    return subprocess.run([binary, user], check=True, capture_output=True,
                          text=True).stdout.strip()


def next_of(ws, kind):
    while True:
        f = json.loads(ws.recv())
        if f["type"] == kind:
            return f["data"]


def timed_send(a, b, room):
    text = "foreign-bench " + uuid.uuid4().hex
    t0 = time.monotonic()
    a.send(json.dumps({"type": "SendMessage", "data": {
        "room_id": room, "message": text, "message_temp_id": uuid.uuid4().hex}}))
    while True:
        d = next_of(b, "MessageReceived")
        if d["message"] == text:
            break
    ms = (time.monotonic() - t0) * 1000
    if not next_of(a, "MessageSentConfirmation")["confirmed"]:
        sys.exit("foreign.py: a message was refused")
    return ms


def main():
    dsn, port, room, ua, ub = sys.argv[1:6]
    rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 20
    room = int(room)
    url = "ws://127.0.0.1:%s/?token=" % port
    a = websocket.create_connection(url + token(ua), timeout=10)
    b = websocket.create_connection(url + token(ub), timeout=10)
    plain, foreign = [], []
    with psycopg.connect(dsn, autocommit=True) as db:
        timed_send(a, b, room)	# warm-up: the room enters the daemon's cache
        for _ in range(rounds):
            plain.append(timed_send(a, b, room))
            db.execute("INSERT INTO chat_room_messages (room_id, message, sender_id)"
                       " VALUES (%s, 'inserted by a script', %s)", (room, ua))
            foreign.append(timed_send(a, b, room))
    for name, v in (("plain", plain), ("foreign", foreign)):
        v.sort()
        print("%s_p50_ms %.2f" % (name, v[(len(v) - 1) // 2]))
        print("%s_max_ms %.2f" % (name, v[-1]))


if __name__ == "__main__":
    main()
