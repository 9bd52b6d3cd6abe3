"""REST error statuses (SPEC.md section 2): 400 naming the field, the 401
matrix over HTTP with WWW-Authenticate, 404, 405 with Allow, 413 from
nginx and from rest-fcgi itself (spoken to over its FastCGI socket, since
nginx's limit equals CHAT_MAX_BODY)."""
import json
import os
import socket
import struct
import uuid
from urllib.parse import urlparse

import pytest

from conftest import make_token


def envelope_error(r, status):
    """The error envelope in the dialect the shipped nginx config gives the
    request's path: the app's ("message" too) under /chat/, else the
    documented one."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    env = r.json()
    if urlparse(r.url).path.startswith("/chat/"):
        assert set(env) == {"error_message", "data", "message"}
        assert env["message"] == env["error_message"]
    else:
        assert set(env) == {"error_message", "data"}
    assert env["data"] is None
    assert isinstance(env["error_message"], str) and env["error_message"]
    return env["error_message"]


# ---- 401 ----

def check_401(r):
    msg = envelope_error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    return msg


@pytest.mark.parametrize("method,path", [("GET", "/rooms"), ("POST", "/rooms"),
                                         ("PUT", "/chat/rooms"), ("GET", "/rooms/1"),
                                         ("DELETE", "/rooms/1"),
                                         ("PUT", "/admin/bans/%s" % uuid.uuid4())])
def test_missing_token_is_401(stack, method, path):
    msg = check_401(stack.req(method, path, json={}))
    assert "missing authorization" in msg


def test_auth_matrix(stack):
    user = stack.new_user()
    cases = {
        "malformed header": {"headers": {"Authorization": "Basic dXNlcjpwdw=="}},
        "empty bearer": {"headers": {"Authorization": "Bearer "}},
        "garbage token": {"token": "not.a.jwt"},
        "two parts": {"token": "abc.def"},
        "wrong signature": {"token": make_token(user, secret="x" * 40)},
        "alg none": {"token": make_token(user, alg="none")},
        "wrong aud": {"token": make_token(user, aud="anon")},
        "sub not a uuid": {"token": make_token("alice")},
        "no exp": {"token": make_token(user, exp_in=None)},
        "future nbf": {"token": make_token(user, nbf=int(__import__("time").time()) + 600)},
    }
    for name, kw in cases.items():
        r = stack.req("GET", "/rooms", **kw)
        msg = check_401(r)
        assert "token is expired" not in msg, name
        if "token" in kw:
            assert kw["token"] not in msg, name
    # the same user with a good token gets through
    assert stack.req("GET", "/rooms", sub=user).status_code == 200


def test_expired_token_says_token_is_expired(stack):
    r = stack.req("GET", "/rooms", token=make_token(stack.new_user(), exp_in=-120))
    assert "token is expired" in check_401(r)
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_bearer_scheme_is_case_insensitive(stack):
    tok = make_token(stack.new_user())
    r = stack.req("GET", "/rooms", headers={"Authorization": "bearer " + tok})
    assert r.status_code == 200


# ---- 400 ----

@pytest.mark.parametrize("body,expect", [
    ("", "body is empty"),
    ("{", "not valid JSON"),
    ("[]", "must be a JSON object"),
    ('"users"', "must be a JSON object"),
    ('{"users": []} x', "not valid JSON"),
    ('{"users": "a"}', "'users'"),
    ('{"users": [1]}', "'users'[0]"),
    ('{"users": ["%s", "nope"]}' % uuid.uuid4(), "'users'[1] is not a valid UUID"),
    ('{"apartment_id": "12"}', "'apartment_id' must be an integer"),
    ('{"apartment_id": 1.5}', "'apartment_id' must be an integer"),
    ('{"apartment_id": true}', "'apartment_id' must be an integer"),
    # out of the 64-bit range: refused, never clamped to INT64_MAX
    ('{"apartment_id": 9223372036854775808}', "integer outside the 64-bit range"),
    ('{"apartment_id": -9223372036854775809}', "integer outside the 64-bit range"),
])
def test_post_bad_body_is_400(stack, body, expect):
    owner = stack.new_user()
    r = stack.req("POST", "/rooms", sub=owner, data=body,
                  headers={"Content-Type": "application/json"})
    assert expect in envelope_error(r, 400)
    assert stack.sql("SELECT count(*) FROM chat_rooms WHERE owner_id = %s", (owner,)) == [(0,)]


def test_put_room_id_out_of_range_is_400(stack):
    owner = stack.new_user()
    r = stack.req("PUT", "/rooms", sub=owner, data='{"room_id": 18446744073709551616}',
                  headers={"Content-Type": "application/json"})
    assert "integer outside the 64-bit range" in envelope_error(r, 400)


def test_admin_bad_uuid_is_400(stack):
    r = stack.req("PUT", "/admin/bans/not-a-uuid", token=stack.admin_token())
    assert "not a valid UUID" in envelope_error(r, 400)


# ---- 404 / 405 ----

@pytest.mark.parametrize("path", ["/rooms/1/messages", "/admin/users/x", "/admin/bans",
                                  "/chat/rooms/1/x"])
def test_unknown_path_is_404(stack, path):
    r = stack.req("GET", path, sub=stack.new_user())
    assert "no such endpoint" in envelope_error(r, 404)


@pytest.mark.parametrize("pad", range(3))
def test_404_quoting_a_long_path_cuts_on_a_character(stack, pad):
    """The path is quoted up to 200 bytes; 3-byte characters are shifted
    across the cut: the body stays valid UTF-8 JSON."""
    path = "/rooms/1/" + "x" * pad + "%E2%9C%93" * 80
    r = stack.req("GET", path, sub=stack.new_user())
    assert r.status_code == 404
    body = json.loads(r.content.decode("utf-8"))  # strict
    assert body["error_message"].startswith("no such endpoint: /rooms/1/")


@pytest.mark.parametrize("method,path,allow", [
    ("PATCH", "/rooms", "GET, POST, PUT"),
    ("DELETE", "/rooms", "GET, POST, PUT"),
    ("POST", "/rooms/12", "GET, DELETE"),
    ("PUT", "/chat/rooms/12", "GET, DELETE"),
    ("GET", "/admin/bans/%s" % uuid.uuid4(), "PUT, DELETE"),
    ("GET", "/admin/users/%s/disconnect" % uuid.uuid4(), "POST"),
    ("POST", "/health", "GET"),
])
def test_wrong_method_is_405_with_allow(stack, method, path, allow):
    r = stack.req(method, path, sub=stack.new_user())
    assert "not allowed" in envelope_error(r, 405)
    assert r.headers["Allow"] == allow


# ---- 413 ----

def test_body_over_nginx_limit_is_413(stack):
    r = stack.req("PUT", "/rooms", sub=stack.new_user(), data="x" * (70 * 1024))
    assert envelope_error(r, 413) == "request body too large"


def fcgi_request(sock_path, params, body=b"", send_body=True):
    """One FastCGI responder request on a unix socket; returns (status,
    headers, body) of the CGI response."""
    def record(rtype, content):
        pad = (8 - len(content) % 8) % 8
        return struct.pack(">BBHHBB", 1, rtype, 1, len(content), pad, 0) + content + b"\0" * pad

    def nv(k, v):
        k, v = k.encode(), v.encode()
        enc = lambda n: bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
        return enc(len(k)) + enc(len(v)) + k + v

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    out = record(1, struct.pack(">HB5x", 1, 0))
    out += record(4, b"".join(nv(k, v) for k, v in params.items())) + record(4, b"")
    if send_body:
        for i in range(0, len(body), 32768):
            out += record(5, body[i:i + 32768])
    out += record(5, b"")
    try:
        s.sendall(out)
    except (BrokenPipeError, ConnectionResetError):
        pass    # the server may answer and close before reading it all
    data = b""
    stdout = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    while len(data) >= 8:
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
        if rtype == 6:
            stdout += data[8:8 + clen]
        data = data[8 + clen + plen:]
    head, _, resp_body = stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(headers["Status"].split()[0]), headers, resp_body


def test_body_over_max_body_is_413_from_rest_fcgi(stack):
    sock = os.path.join(stack.run_dir, "rest.sock")
    tok = make_token(stack.new_user())
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": "/rooms", "QUERY_STRING": "",
            "HTTP_AUTHORIZATION": "Bearer " + tok}
    # CONTENT_LENGTH over CHAT_MAX_BODY (65536): refused before reading
    status, headers, body = fcgi_request(sock, dict(base, CONTENT_LENGTH="70000"),
                                         b"x" * 70000, send_body=False)
    assert status == 413
    assert b"request body is larger than 65536 bytes" in body
    assert headers["Content-Type"] == "application/json"
    # a body bigger than the limit sent without CONTENT_LENGTH: same answer
    status, _, body = fcgi_request(sock, base, b" " * 65537)
    assert status == 413
    # exactly at the limit is read and parsed (white space is not an object)
    status, _, body = fcgi_request(sock, dict(base, CONTENT_LENGTH="65536"), b" " * 65536)
    assert status == 400
    assert b"body is not valid JSON" in body


def test_trailing_slash_and_health_without_token(stack):
    assert stack.req("GET", "/rooms/", sub=stack.new_user()).status_code == 200
    r = stack.req("GET", "/health")
    assert r.status_code == 200
    assert r.json() == {"error_message": None, "data": {"database": "up"}}
