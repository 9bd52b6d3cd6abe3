"""docs/openapi.yaml and docs/asyncapi.yaml against the code (issue 11).

First each document is checked on its own: valid YAML, its schemas valid
JSON Schema 2020-12 (Draft202012Validator.check_schema), every $ref
resolving, every route of rest-fcgi/routes.c, every error status of
nginx/chat.conf and every close code of ws-daemon/proto.h described, in
both dialects. Then a scripted session on a stack of its own (limits set
low so that 409, 413 and 429 are cheap to provoke) sends every endpoint of
both dialects its successes and its errors, and validates each live
status, Content-Type, required header and body against the OpenAPI
response of that path, method and status: a status the document does not
list for the operation fails. Live websocket frames and close codes are
validated against the AsyncAPI payloads and its x-close-codes table.

GET /metrics, /metrics/ws/N (docs/metrics.md) and POST /dev/token
(docs/web.md) are checked live like every other endpoint.
"""
import http.client
import json
import os
import re
import threading
import time
import urllib.parse
import uuid

import pytest
import requests
import websocket
import yaml
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

from conftest import ROOT, Stack, make_token, recv_close, recv_json, running

DOCS = os.path.join(ROOT, "docs")
PENDING = ("GET /metrics", "GET /metrics/ws/{n}", "POST /dev/token")


def load(name):
    with open(os.path.join(DOCS, name)) as f:
        return yaml.safe_load(f)


OPENAPI = load("openapi.yaml")
ASYNCAPI = load("asyncapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# ---- document helpers ----

def pointer(doc, ref):
    """The node a local $ref ("#/a/b") names; KeyError when it does not."""
    assert ref.startswith("#/"), "only local $refs are used: %r" % ref
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def deref(doc, node):
    """node with $ref objects followed (OpenAPI responses, parameters...)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and len(node) == 1:
        node = pointer(doc, node["$ref"])
        seen += 1
        assert seen < 20, "a $ref cycle"
    return node


def walk(node, path=()):
    """Every (path, dict) below node."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def validator(doc, schema):
    """A 2020-12 validator for schema whose local $refs resolve in doc.
    (python3-jsonschema 4.10 on Debian 12: RefResolver, not referencing.)"""
    resolver = RefResolver.from_schema(doc, id_of=lambda s: "")
    return Draft202012Validator(schema, resolver=resolver, format_checker=FormatChecker())


def schema_errors(doc, schema, value):
    return ["%s at %s" % (e.message, "/".join(map(str, e.absolute_path)))
            for e in validator(doc, schema).iter_errors(value)]


def template_regex(template):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


PATH_RES = [(t, template_regex(t)) for t in OPENAPI["paths"]]


def template_of(path):
    hits = [t for t, rx in PATH_RES if rx.match(path)]
    assert len(hits) == 1, "path %s matches %r documented paths" % (path, hits)
    return hits[0]


def code_routes():
    """(METHOD, documented path) of every row of rest-fcgi/routes.c."""
    with open(os.path.join(ROOT, "rest-fcgi", "routes.c")) as f:
        rows = re.findall(r'\{\s*REQ_(\w+),\s*"([^"]+)"', f.read())
    assert rows, "no routes found in routes.c"
    out = []
    for method, pattern in rows:
        param = "{user_id}" if "/admin/" in pattern else "{room_id}"
        out.append((method, pattern.replace(":id", param)))
    return out


def nginx_error_statuses():
    """The statuses nginx/chat.conf answers with its JSON error page, as the
    client sees them (494 -> 431, 502 -> 503)."""
    with open(os.path.join(ROOT, "nginx", "chat.conf")) as f:
        text = f.read()
    out = set()
    for line in re.findall(r"^\s*error_page\s+([^;]+)/\.chat-error;", text, re.M):
        parts = line.split()
        target = [p for p in parts if p.startswith("=")]
        codes = [int(p) for p in parts if p.isdigit()]
        out.update([int(target[0][1:])] if target else codes)
    assert out, "no error_page lines found in chat.conf"
    return out


def proto_close_codes():
    with open(os.path.join(ROOT, "ws-daemon", "proto.h")) as f:
        return {int(c) for c in re.findall(r"CLOSE_\w+\s*=\s*(\d+)", f.read())}


# ---- the documents themselves ----

def test_openapi_document_is_valid():
    d = OPENAPI
    assert str(d["openapi"]).startswith("3.1."), d["openapi"]
    assert d["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    assert d["info"]["title"] and d["info"]["version"]
    schemes = d["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer",
                                 "bearerFormat": "JWT"}
    # every $ref resolves
    for where, node in walk(d):
        if "$ref" in node:
            try:
                pointer(d, node["$ref"])
            except (KeyError, IndexError, ValueError):
                pytest.fail("unresolved $ref %s at %s" % (node["$ref"], "/".join(map(str, where))))
    # every schema is a valid 2020-12 schema
    schemas = list(d["components"]["schemas"].values())
    for where, node in walk(d["paths"]):
        if "schema" in node and isinstance(node["schema"], dict):
            schemas.append(node["schema"])
    for where, node in walk(d["components"]):
        if where[:1] != ("schemas",) and "schema" in node and isinstance(node["schema"], dict):
            schemas.append(node["schema"])
    for s in schemas:
        Draft202012Validator.check_schema(s)
        validator(d, s)  # refs resolve at construction time of a check below
    # operations: ids unique, statuses, descriptions, schemas, parameters
    ids = set()
    for path, item in d["paths"].items():
        params = [deref(d, p) for p in item.get("parameters", [])]
        for m in METHODS:
            if m not in item:
                continue
            op = item[m]
            assert op["operationId"] not in ids, op["operationId"]
            ids.add(op["operationId"])
            for req in op.get("security", d["security"]):
                for name in req:
                    assert name in schemes, name
            names = {p["name"] for p in params + [deref(d, p) for p in op.get("parameters", [])]
                     if p["in"] == "path"}
            assert names == set(re.findall(r"\{([^}]+)\}", path)), (path, m, names)
            assert op["responses"], (path, m)
            for status, resp in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", str(status)), (path, m, status)
                resp = deref(d, resp)
                assert resp["description"], (path, m, status)
                for media in resp.get("content", {}).values():
                    assert "schema" in media, (path, m, status)
                if int(status) >= 400:
                    assert "application/json" in resp["content"], \
                        "every error is JSON: %s %s %s" % (m, path, status)
            if "requestBody" in op:
                for media in op["requestBody"]["content"].values():
                    Draft202012Validator.check_schema(media["schema"])
                    if "example" in media:
                        assert not schema_errors(d, media["schema"], media["example"])


def test_openapi_covers_the_code_both_dialects_and_the_operator_endpoints():
    d, paths = OPENAPI, OPENAPI["paths"]
    # every route of the route table, in the documented dialect
    for method, path in code_routes():
        assert path in paths and method.lower() in paths[path], "%s %s undocumented" % (method, path)
        assert "x-method-not-allowed" in paths[path], path
    # /rooms... again under /chat in the app dialect, with the same methods
    for path in [p for p in paths if p.startswith("/rooms")]:
        app = "/chat" + path
        assert app in paths, app
        assert {m for m in paths[path] if m in METHODS} == {m for m in paths[app] if m in METHODS}
    app_err, doc_err = "#/components/schemas/AppError", "#/components/schemas/Error"
    for path, item in paths.items():
        dialect = "app" if path.startswith("/chat/") else "documented"
        assert path in d["x-dialects"][dialect]["paths"], path
        for m in METHODS:
            for status, resp in item.get(m, {}).get("responses", {}).items():
                if int(status) < 400:
                    continue
                refs = {n["$ref"] for _, n in walk(deref(d, resp)["content"]) if "$ref" in n}
                if dialect == "documented":
                    assert app_err not in refs, (path, m, status)
                elif status != "414":  # nginx cannot read the path of a 414
                    assert app_err in refs, (path, m, status)
                else:
                    assert refs == {doc_err}, (path, m, status)
    # GET /rooms: envelope in one dialect, bare array in the other
    def ok_schema(path):
        return paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok_schema("/rooms") == {"$ref": "#/components/schemas/RoomListEnvelope"}
    assert ok_schema("/chat/rooms") == {"$ref": "#/components/schemas/RoomList"}
    assert ok_schema("/rooms/{room_id}") == {"$ref": "#/components/schemas/Room"}
    # every error nginx answers with its JSON page (408: nginx closes
    # without an answer), and the service's own statuses, somewhere
    documented = {int(s) for p in paths.values() for m in METHODS if m in p
                  for s in p[m]["responses"]}
    missing = (nginx_error_statuses() - {408}) | {400, 401, 403, 404, 409, 413, 429, 503}
    assert missing <= documented | {405}, sorted(missing - documented)
    # 401 carries WWW-Authenticate, 429 Retry-After, 405 Allow
    for name, header in (("Unauthorized", "WWW-Authenticate"), ("TooManyRequests", "Retry-After"),
                         ("MethodNotAllowed", "Allow"), ("AppUnauthorized", "WWW-Authenticate"),
                         ("AppTooManyRequests", "Retry-After"), ("AppMethodNotAllowed", "Allow")):
        assert header in d["components"]["responses"][name]["headers"], name
    # the operators' and developers' endpoints (issue 11)
    m = paths["/metrics"]["get"]["responses"]
    assert "text/plain; version=0.0.4; charset=utf-8" in m["200"]["content"]
    assert "403" in m
    w = paths["/metrics/ws/{n}"]["get"]["responses"]
    assert "text/plain; version=0.0.4; charset=utf-8" in w["200"]["content"] and "404" in w
    t = paths["/dev/token"]["post"]
    assert t["security"] == []
    assert {"200", "400", "404"} <= set(t["responses"])
    body = {"error_message": None, "data": {"token": make_token(str(uuid.uuid4())),
                                           "user_id": str(uuid.uuid4()), "role": "authenticated",
                                           "expires_at": "2026-11-25T17:55:15.123456+00:00"}}
    assert not schema_errors(d, t["responses"]["200"]["content"]["application/json"]["schema"], body)
    assert "/chat/dev/token" not in paths


def test_asyncapi_document_is_valid_and_covers_the_daemon():
    a = ASYNCAPI
    assert a["asyncapi"] == "2.6.0"
    assert a["servers"]["local"]["protocol"] == "ws"
    for where, node in walk(a):
        if "$ref" in node:
            pointer(a, node["$ref"])
    ch = a["channels"]["/"]
    assert ch["bindings"]["ws"]["query"]["properties"]["token"]["type"] == "string"
    sent = [deref(a, ch["publish"]["message"])]
    got = [deref(a, m) for m in ch["subscribe"]["message"]["oneOf"]]
    assert [m["name"] for m in sent] == ["SendMessage"]
    assert {m["name"] for m in got} == {"MessageSentConfirmation", "MessageReceived", "Disconnection"}
    for msg in sent + got:
        payload = deref(a, msg["payload"])
        Draft202012Validator.check_schema(payload)
        assert payload["properties"]["type"] == {"const": msg["name"]}, msg["name"]
        assert msg["examples"], msg["name"]
        for ex in msg["examples"]:
            assert not schema_errors(a, msg["payload"], ex["payload"]), (msg["name"], ex)
    for s in a["components"]["schemas"].values():
        Draft202012Validator.check_schema(s)
    # close codes: every one the daemon has, plus the standard ones
    table = {c["code"]: c for c in a["x-close-codes"]}
    assert proto_close_codes() == set(range(4001, 4013))
    assert proto_close_codes() | {1000, 1001} <= set(table)
    for code, c in table.items():
        assert c["name"] and c["when"] and c["reconnect"] and "app" in c, code
        assert c["frame"] is (code >= 4000), code
    dis = a["components"]["schemas"]["Disconnection"]["properties"]["data"]["properties"]["code"]
    assert set(dis["enum"]) == proto_close_codes()
    # the app's rule (SPEC.md): it reconnects on 4006, 4007, 4009 only
    assert {c for c, v in table.items() if v["app"] == "reconnects"} == {4006, 4007, 4009}


# ---- live: a stack of its own ----

MAX_MEMBERS = 5
ROOMS_PER_MIN = 2
MAX_BODY = 2048
NGINX_BURST = 1500  # nginx's REST burst on the live stack (live())


@pytest.fixture(scope="module")
def live():
    # nginx's REST limit: a burst the whole session fits in (its few
    # hundred requests), and a rate slow enough that once test_live_outages
    # has used it up, the next requests are still refused
    s = Stack(ws_count=1, CHAT_ROOM_MAX_MEMBERS=MAX_MEMBERS, CHAT_ROOMS_PER_MIN=ROOMS_PER_MIN,
              CHAT_MAX_BODY=MAX_BODY, CHAT_JWT_LEEWAY=0, CHAT_REST_WORKERS=2,
              CHAT_NGINX_REST_RATE="2r/s", CHAT_NGINX_REST_BURST=NGINX_BURST,
              CHAT_NGINX_UNLIMITED=None)
    terms = os.path.join(s.run_dir, "moderation.txt")
    with open(terms, "w") as f:
        f.write("forbiddenterm\n")
    s.env["CHAT_MODERATION_FILE"] = terms
    with running(s):
        yield s


class Answer:
    """One HTTP answer, however it was obtained."""

    def __init__(self, method, path, status, headers, body):
        self.method, self.path, self.status = method, path, status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    @classmethod
    def of(cls, r):
        u = urllib.parse.urlsplit(r.request.url)
        return cls(r.request.method, u.path, r.status_code, dict(r.headers), r.content)


class OpenApiCheck:
    """Validates answers against OPENAPI; records what it saw."""

    def __init__(self):
        self.seen = set()  # (METHOD, template, status)

    def __call__(self, r, status=None, request_json=None):
        a = r if isinstance(r, Answer) else Answer.of(r)
        what = "%s %s -> %d %r" % (a.method, a.path, a.status, a.body[:300])
        if status is not None:
            assert a.status == status, what
        template = template_of(a.path)
        item = OPENAPI["paths"][template]
        op = item.get(a.method.lower())
        if op is None:
            assert a.status == 405 and "x-method-not-allowed" in item, "undocumented: " + what
            resp = deref(OPENAPI, item["x-method-not-allowed"])
            if "allow" in a.headers:
                allowed = {m.upper() for m in item if m in METHODS}
                assert set(a.headers["allow"].split(", ")) == allowed, what
        else:
            assert str(a.status) in op["responses"], "status not documented: " + what
            resp = deref(OPENAPI, op["responses"][str(a.status)])
            if request_json is not None and a.status < 300:
                media = op["requestBody"]["content"]["application/json"]
                errs = schema_errors(OPENAPI, media["schema"], request_json)
                assert not errs, "request body of %s: %s" % (what, errs)
        for name, h in resp.get("headers", {}).items():
            h = deref(OPENAPI, h)
            value = a.headers.get(name.lower())
            if value is None:
                assert not h.get("required"), "header %s missing: %s" % (name, what)
                continue
            if h["schema"].get("type") == "integer":
                assert re.fullmatch(r"\d+", value), (name, value)
                value = int(value)
            assert not schema_errors(OPENAPI, h["schema"], value), (name, value, what)
        body = None
        if "content" in resp:
            ctype = a.headers.get("content-type", "")
            media = self.media(resp["content"], ctype, what)
            if media.startswith("application/json"):
                body = json.loads(a.body)
            else:
                body = a.body.decode()
            errs = schema_errors(OPENAPI, resp["content"][media]["schema"], body)
            assert not errs, "%s: %s" % (what, errs)
            if isinstance(body, dict) and "message" in body:
                assert body["message"] == body["error_message"], what
        self.seen.add((a.method, template, a.status))
        return body

    @staticmethod
    def media(content, ctype, what):
        def parts(t):
            main, *params = [p.strip().lower() for p in t.split(";")]
            return main, set(p.replace(" ", "") for p in params if p)
        live_main, live_params = parts(ctype)
        for media in content:
            main, params = parts(media)
            if main == live_main and params <= live_params:
                return media
        pytest.fail("content type %r not documented (%s): %s" % (ctype, list(content), what))


@pytest.fixture(scope="module")
def check():
    return OpenApiCheck()


def raw(s, method, path, headers, body=b""):
    """A request requests would not send (duplicate Host, no Host)."""
    c = http.client.HTTPConnection("127.0.0.1", int(s.env["CHAT_HTTP_PORT"]), timeout=10)
    try:
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers:
            c.putheader(k, v)
        c.endheaders(body or None)
        r = c.getresponse()
        return Answer(method, path.split("?")[0], r.status, dict(r.getheaders()), r.read())
    finally:
        c.close()


DIALECTS = ("", "/chat")  # documented, app


def test_live_rest_session(live, check):
    s = live
    req = s.req
    for pre in DIALECTS:
        rooms = pre + "/rooms"
        # fresh users per dialect: CHAT_ROOMS_PER_MIN counts per user
        owner, member, other, outsider = (s.new_user() for _ in range(4))
        host = "127.0.0.1:" + s.env["CHAT_HTTP_PORT"]
        # ---- successes ----
        body = {"users": [member, member.upper()], "apartment_id": 7}
        r = req("POST", rooms, sub=owner, json=body)
        room = check(r, 201, request_json=body)["data"]
        s.sql("INSERT INTO chat_room_messages (room_id, message, sender_id)"
              " VALUES (%s, 'hi \"there\"', %s), (%s, 'second', %s)",
              (room, owner, room, member))
        empty = check(req("POST", rooms, sub=owner, json={}), 201, request_json={})["data"]
        listed = check(req("GET", rooms, sub=owner), 200)
        listed = listed if pre else listed["data"]
        assert {x["room_id"] for x in listed} >= {room, empty}
        assert any(x["last_message"] for x in listed) and any(not x["last_message"] for x in listed)
        got = check(req("GET", "%s/%d" % (rooms, room), sub=member), 200)
        assert len(got["messages"]) == 2
        got = check(req("GET", "%s/%d?limit=1&before=%d" % (rooms, room, got["messages"][1]["id"]),
                        sub=member), 200)
        assert len(got["messages"]) == 1
        body = {"room_id": room, "users_to_add": [other], "users_to_remove": []}
        check(req("PUT", rooms, sub=owner, json=body), 200, request_json=body)
        body = {"room_id": room, "users_to_remove": [other]}
        check(req("PUT", rooms, sub=other, json=body), 200, request_json=body)
        # ---- 400 ----
        check(req("POST", rooms, sub=owner, data="{not json"), 400)
        check(req("POST", rooms, sub=owner, json={"users": ["nope"]}), 400)
        check(req("POST", rooms, sub=owner, json={"apartment_id": 2 ** 64}), 400)
        check(req("PUT", rooms, sub=owner, json={"users_to_add": []}), 400)
        check(req("PUT", rooms, sub=owner, json=[1]), 400)
        check(req("GET", rooms + "/abc", sub=owner), 400)
        check(req("GET", "%s/%d?limit=0" % (rooms, room), sub=owner), 400)
        check(req("DELETE", rooms + "/-1", sub=owner), 400)
        check(raw(s, "GET", rooms, [("Host", host), ("Host", "x")]), 400)
        # ---- 401 ----
        check(req("GET", rooms), 401)
        r = req("GET", rooms, headers={"Authorization": "Basic Zm9vOmJhcg=="})
        check(r, 401)
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        r = req("GET", rooms, token=make_token(owner, exp_in=-60))
        assert "token is expired" in check(r, 401)["error_message"]
        check(req("DELETE", "%s/%d" % (rooms, room), token="a.b.c"), 401)
        check(req("PUT", rooms, json={"room_id": room}), 401)
        check(req("POST", rooms, json={}), 401)
        check(req("GET", "%s/%d" % (rooms, room)), 401)
        # ---- 403 / 404 ----
        check(req("PUT", rooms, sub=member, json={"room_id": room, "users_to_add": [other]}), 403)
        check(req("PUT", rooms, sub=owner, json={"room_id": room, "users_to_remove": [owner]}), 200)
        check(req("DELETE", "%s/%d" % (rooms, room), sub=member), 403)
        check(req("GET", "%s/%d" % (rooms, room), sub=outsider), 404)
        check(req("PUT", rooms, sub=outsider, json={"room_id": room, "users_to_remove": [outsider]}),
              404)
        check(req("DELETE", "%s/%d" % (rooms, room), sub=outsider), 404)
        check(req("GET", rooms + "/999999999", sub=owner), 404)
        # ---- 405 ----
        check(req("DELETE", rooms, sub=owner), 405)
        check(req("PATCH", rooms, sub=owner, json={}), 405)
        check(req("PUT", "%s/%d" % (rooms, room), sub=owner, json={}), 405)
        check(req("POST", "%s/%d" % (rooms, room), sub=owner, json={}), 405)
        check(raw(s, "TRACE", rooms, [("Host", host)]), 405)  # nginx's own: no Allow
        # ---- 409 ----
        crowd = [s.new_user() for _ in range(MAX_MEMBERS)]
        check(req("POST", rooms, sub=s.new_user(), json={"users": crowd}), 409)
        check(req("PUT", rooms, sub=owner, json={"room_id": room, "users_to_add": crowd}), 409)
        # ---- 413: the service's limit, then nginx's ----
        big = {"users": [], "pad": "x" * (MAX_BODY + 100)}
        r = req("POST", rooms, sub=owner, json=big)
        assert "larger than %d bytes" % MAX_BODY in check(r, 413)["error_message"]
        r = req("PUT", rooms, sub=owner, data="x" * (70 * 1024))
        assert check(r, 413)["error_message"] == "request body too large"
        # ---- 414, 431 (nginx) ----
        check(req("GET", rooms + "?q=" + "x" * 9000, sub=owner), 414)
        check(req("GET", rooms, sub=owner, headers={"X-Big": "y" * 9000}), 431)
        # ---- 429: the per-user room limit (Retry-After) ----
        busy = s.new_user()
        for _ in range(ROOMS_PER_MIN):
            check(req("POST", rooms, sub=busy, json={}), 201)
        r = req("POST", rooms, sub=busy, json={})
        check(r, 429)
        # ---- DELETE last ----
        check(req("DELETE", "%s/%d" % (rooms, room), sub=owner), 200)
        check(req("DELETE", "%s/%d" % (rooms, empty), sub=owner), 200)
        check(req("GET", "%s/%d" % (rooms, room), sub=owner), 404)

    # ---- health ----
    check(s.req("GET", "/health"), 200)
    check(s.req("POST", "/health"), 405)
    check(s.req("GET", "/health", headers={"X-Big": "y" * 9000}), 431)

    # ---- admin ----
    admin = s.admin_token()
    victim = s.new_user()
    check(s.req("POST", "/admin/users/%s/disconnect" % victim, token=admin), 200)
    check(s.req("POST", "/admin/users/%s/disconnect" % victim, sub=victim), 403)
    check(s.req("POST", "/admin/users/%s/disconnect" % victim), 401)
    check(s.req("POST", "/admin/users/not-a-uuid/disconnect", token=admin), 400)
    check(s.req("GET", "/admin/users/%s/disconnect" % victim, token=admin), 405)
    ban = {"reason": "spam"}
    got = check(s.req("PUT", "/admin/bans/%s" % victim, token=admin, json=ban), 200, request_json=ban)
    assert got["data"]["user_id"] == victim and got["data"]["reason"] == "spam"
    check(s.req("PUT", "/admin/bans/%s" % victim, token=admin), 200)  # no body: idempotent
    check(s.req("PUT", "/admin/bans/%s" % victim, token=admin, data="[1]"), 400)
    check(s.req("PUT", "/admin/bans/%s" % victim, token=admin, json={"reason": 5}), 400)
    check(s.req("PUT", "/admin/bans/%s" % victim, sub=owner), 403)
    check(s.req("GET", "/admin/bans/%s" % victim, token=admin), 405)
    # a banned user: 403 on every route, in both dialects
    for pre in DIALECTS:
        check(s.req("GET", pre + "/rooms", sub=victim), 403)
        check(s.req("POST", pre + "/rooms", sub=victim, json={}), 403)
        check(s.req("GET", pre + "/rooms/1", sub=victim), 403)
        check(s.req("PUT", pre + "/rooms", sub=victim, json={"room_id": 1}), 403)
        check(s.req("DELETE", pre + "/rooms/1", sub=victim), 403)
    check(s.req("DELETE", "/admin/bans/%s" % victim, token=admin), 200)
    check(s.req("DELETE", "/admin/bans/%s" % victim, token=admin), 200)
    check(s.req("DELETE", "/admin/bans/nope", token=admin), 400)
    check(s.req("DELETE", "/admin/bans/%s" % victim, sub=victim), 403)
    check(s.req("DELETE", "/admin/bans/%s" % victim), 401)

    # ---- the websocket entry without an upgrade ----
    check(s.req("GET", "/"), 404)
    check(s.req("GET", "/?token=x", headers={"Upgrade": "websocket", "Connection": "Upgrade"}), 400)


def pending(s, method, path, **kw):
    """The answer of an endpoint of issue 11 (metrics, the dev token): it
    must be served; a 404 from the websocket location means nginx has no
    location for it."""
    r = s.req(method, path, **kw)
    assert not (r.status_code == 404 and r.json().get("error_message") == "not found"), \
        "%s %s is not served" % (method, path)
    return r


def test_live_metrics(live, check):
    body = check(pending(live, "GET", "/metrics"), 200)
    assert "chat_rest_requests_total" in body
    body = check(pending(live, "GET", "/metrics/ws/1"), 200)
    assert "chat_ws_connections" in body
    check(live.req("GET", "/metrics/ws/%d" % (live.ws_count + 1)), 404)


def test_live_dev_token(live, check):
    user = live.new_user()
    body = {"user_id": user, "role": "authenticated"}
    got = check(pending(live, "POST", "/dev/token", json=body), 200, request_json=body)["data"]
    assert got["user_id"] == user and got["role"] == "authenticated"
    # the token works
    check(live.req("GET", "/rooms", token=got["token"]), 200)
    check(live.req("POST", "/dev/token", json={"user_id": "nope"}), 400)
    check(live.req("POST", "/dev/token", data="{"), 400)


# ---- live websocket ----

class AsyncApiCheck:
    def __init__(self):
        ch = ASYNCAPI["channels"]["/"]
        self.sent = deref(ASYNCAPI, ch["publish"]["message"])
        self.got = {m["name"]: m for m in (deref(ASYNCAPI, x)
                                           for x in ch["subscribe"]["message"]["oneOf"])}
        self.codes = {c["code"]: c for c in ASYNCAPI["x-close-codes"]}
        self.seen_frames, self.seen_codes = set(), set()

    def frame(self, f):
        """f, a server frame: exactly the message its type names matches it,
        no other message does."""
        assert f.get("type") in self.got, "undocumented frame %r" % f
        matching = [n for n, m in self.got.items()
                    if not schema_errors(ASYNCAPI, m["payload"], f)]
        assert matching == [f["type"]], (f, matching,
                                         schema_errors(ASYNCAPI, self.got[f["type"]]["payload"], f))
        self.seen_frames.add(f["type"] + ("" if "confirmed" not in f["data"]
                                          else ":%s" % f["data"]["confirmed"]))
        return f["data"]

    def send(self, ws, room, text, temp=None):
        f = {"type": "SendMessage", "data": {"room_id": room, "message": text,
                                             "message_temp_id": temp or uuid.uuid4().hex}}
        assert not schema_errors(ASYNCAPI, self.sent["payload"], f)
        ws.send(json.dumps(f))
        return f["data"]["message_temp_id"]

    def recv(self, ws, timeout=10):
        return self.frame(recv_json(ws, timeout))

    def closed(self, ws, code, timeout=10):
        """The server's close: Disconnection with code, then the close frame
        with it; both documented. Returns the frames before the close."""
        got, reason, frames = recv_close(ws, timeout)
        for f in frames:
            self.frame(f)
        assert got == code, (got, reason, frames)
        assert code in self.codes, "close code %d undocumented" % code
        if self.codes[code]["frame"]:
            assert frames and frames[-1] == {"type": "Disconnection",
                                             "data": {"code": code, "reason": reason}}, frames
        self.seen_codes.add(code)
        return frames


@pytest.fixture(scope="module")
def acheck():
    return AsyncApiCheck()


def test_live_websocket_frames(live, acheck):
    s = live
    a, b, c = s.new_user(), s.new_user(), s.new_user()
    r = s.req("POST", "/rooms", sub=a, json={"users": [b]})
    room = r.json()["data"]
    # 4009 later: a token that expires in 2 s (CHAT_JWT_LEEWAY=0)
    short = s.connect(token=make_token(c, exp_in=2))
    # 4001, 4002
    acheck.closed(s.connect(), 4001)
    acheck.closed(s.connect(token="not.a.token"), 4002)
    acheck.closed(s.connect(token=make_token(a, exp_in=-60)), 4002)
    wa, wb = s.connect(a), s.connect(b)
    time.sleep(0.3)  # both admitted (ban check) before the first send
    # confirmation true, delivery
    temp = acheck.send(wa, room, "hello \u00e9 \"quoted\"")
    ok = acheck.recv(wa)
    assert ok["confirmed"] and ok["message_id"] == temp
    got = acheck.recv(wb)
    assert got["id"] == ok["id"] and got["sender_id"] == a and got["room_id"] == room
    # a retry of the same temp id: confirmed again with the original id
    acheck.send(wa, room, "hello again", temp)
    assert acheck.recv(wa)["id"] == ok["id"]
    # confirmation false: blank, too long, not a participant
    acheck.send(wa, room, " \t ")
    assert acheck.recv(wa)["confirmed"] is False
    acheck.send(wa, room, "x" * 4001)
    assert acheck.recv(wa)["confirmed"] is False
    acheck.send(wa, 999999999, "nobody")
    assert acheck.recv(wa)["reason"] == "not a participant of this room"
    # the history REST shows is the one the websocket stored
    check = OpenApiCheck()
    hist = check(s.req("GET", "/rooms/%d" % room, sub=b), 200)
    assert [m["id"] for m in hist["messages"]] == [ok["id"]]
    assert hist["messages"][0]["created_at"] == ok["created_at"]
    # 4008: b again
    wb2 = s.connect(b)
    acheck.closed(wb, 4008)
    # 4010: not JSON; binary
    wb2.send("{nope")
    acheck.closed(wb2, 4010)
    wb3 = s.connect(b)
    wb3.send_binary(b"\x00\x01")
    acheck.closed(wb3, 4010)
    wb4 = s.connect(b)
    wb4.send(json.dumps({"type": "Hello", "data": {}}))
    acheck.closed(wb4, 4010)
    # 4011: the moderation list; confirmed false first
    wb5 = s.connect(b)
    acheck.send(wb5, room, "you forbiddenterm")
    frames = acheck.closed(wb5, 4011)
    assert frames[0]["type"] == "MessageSentConfirmation" and not frames[0]["data"]["confirmed"]
    # 4012: five sends to rooms the user is not in
    wb6 = s.connect(b)
    for i in range(5):
        acheck.send(wb6, 999999990 + i, "stale screen")
    frames = acheck.closed(wb6, 4012)
    assert [f["data"]["confirmed"] for f in frames[:-1]] == [False] * 5
    # 4004: an administrator disconnects a
    admin = s.admin_token()
    s.req("POST", "/admin/users/%s/disconnect" % a, token=admin)
    acheck.closed(wa, 4004)
    # 4005: banned while connected, then at connect
    wa2 = s.connect(a)
    time.sleep(0.3)
    s.req("PUT", "/admin/bans/%s" % a, token=admin)
    acheck.closed(wa2, 4005)
    acheck.closed(s.connect(a), 4005)
    s.req("DELETE", "/admin/bans/%s" % a, token=admin)
    # 4009: the short token expired meanwhile
    acheck.closed(short, 4009)
    # the client's own close: the server answers 1000
    wc = s.connect(s.new_user())
    wc.close(status=1000)
    assert {"MessageSentConfirmation:True", "MessageSentConfirmation:False", "MessageReceived",
            "Disconnection"} <= acheck.seen_frames


def test_live_outages(live, check, acheck):
    """Last (it stops parts of the stack): nginx's 429, a database that is
    down (503 from the service), no REST tier (503 from nginx), a stopping
    daemon (4007)."""
    s = live
    # nginx's per-address rate: a burst above CHAT_NGINX_REST_BURST
    sess = requests.Session()
    got = None
    for _ in range(NGINX_BURST + 200):
        r = sess.get(s.http + "/health", timeout=10)
        if r.status_code == 429:
            got = r
            break
    assert got is not None, "no 429 from nginx"
    check(got, 429)
    assert got.headers["Retry-After"] == "1"
    for pre in DIALECTS:
        check(s.req("GET", pre + "/rooms"), 429)
    time.sleep(8)  # the bucket drains enough for the dozen requests below (2 r/s)
    # the database down: the service's 503, /health's own 503
    user = s.new_user()
    wd = s.connect(user)
    s.tool("stop-pg")
    try:
        check(s.req("GET", "/health"), 503)
        assert s.req("GET", "/health").json()["data"] == {"database": "down"}
        for pre in DIALECTS:
            check(s.req("GET", pre + "/rooms", sub=user), 503)
            check(s.req("POST", pre + "/rooms", sub=user, json={}), 503)
        check(s.req("PUT", "/admin/bans/%s" % user, token=s.admin_token()), 503)
        # the websocket: a database failure is confirmed false
        acheck.send(wd, 1, "while the database is down")
        assert acheck.recv(wd, timeout=20)["confirmed"] is False
        # no REST tier: nginx's 503
        s.tool("stop-rest")
        check(s.req("GET", "/health"), 503)
        for pre in DIALECTS:
            check(s.req("GET", pre + "/rooms", sub=user), 503)
        # a stopping daemon: Disconnection 4007, then the close
        stopper = threading.Thread(target=lambda: s.tool("stop-ws", "0", check=False))
        stopper.start()
        acheck.closed(wd, 4007, timeout=20)
        stopper.join()
    finally:
        s.tool("start-pg", check=False)


def test_live_coverage(check, acheck):
    """The session above reached every operation of both dialects, with a
    success and an error each, and every error status it can provoke."""
    seen = check.seen
    if not seen:
        pytest.skip("the live session did not run")
    for path, item in OPENAPI["paths"].items():
        for m in METHODS:
            if m not in item or "%s %s" % (m.upper(), path) in PENDING or path == "/":
                continue
            statuses = {st for (mm, p, st) in seen if mm == m.upper() and p == path}
            assert any(st < 300 for st in statuses), "no success seen for %s %s" % (m, path)
            assert any(st >= 400 for st in statuses), "no error seen for %s %s" % (m, path)
    statuses = {st for (_, _, st) in seen}
    assert {400, 401, 403, 404, 405, 409, 413, 414, 429, 431, 503} <= statuses, sorted(statuses)
    assert {4001, 4002, 4004, 4005, 4007, 4008, 4009, 4010, 4011, 4012} <= acheck.seen_codes
