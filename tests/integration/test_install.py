"""`make install` lays out a deployment an operator can run (README.md,
"Operating a deployment"): programs, SQL and migration tool, systemd
units, env file, nginx site.

The install goes into a temporary DESTDIR with PREFIX=/usr, as a packager
would run it; nothing is installed on this machine, no unit is started and
the host's nginx is not touched.

How the units are checked: `systemd-analyze verify` loads a unit as
systemd would and checks that every command it starts is executable at its
absolute path. The installed units name /usr/lib/swappart-chat/..., which
exists only inside DESTDIR, so the check runs on copies whose paths of the
install are rewritten to point into DESTDIR (systemd 252's `--root=` would
instead look for systemd's own units, sysinit.target and so on, inside
DESTDIR and fail). systemd-analyze exits 0 on a misspelled key or a value
it cannot parse (it only warns, and ignores the line), so any line it
prints fails the test; a copy with a known mistake proves the check sees
it. The units' user, swappart-chat, need not exist on the build host:
systemd resolves User= only when it starts a unit, and 252 prints nothing
about it in verify (MISSING_USER tolerates such a line should another
version warn).
"""
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import uuid

import psycopg
import pytest

from conftest import ROOT

PREFIX = "/usr"
USER = "swappart-chat"
UNITS = ("chat-rest.socket", "chat-rest.service", "chat-ws@.socket", "chat-ws@.service",
         "chat-migrate.service")
SERVICES = ("chat-rest.service", "chat-ws@.service", "chat-migrate.service")
# The daemon's stop, after the grace period: the worker finishes what it
# holds (at most 30 s), then each close drains (at most 5 s)
# (docs/ws-daemon.md, "Shutdown").
WS_STOP_AFTER_GRACE_S = 30 + 5
# What a build host may say about the units' user and nothing else.
MISSING_USER = re.compile(r"\b(user|group)\b.*\b(%s|www-data)\b.*\b(not found|does not exist|unknown)"
                          % USER, re.I)


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)


class Install:
    def __init__(self, dest, output):
        self.dest = dest
        self.output = output

    def path(self, abspath):
        return os.path.join(self.dest, abspath.lstrip("/"))

    def read(self, abspath):
        with open(self.path(abspath)) as f:
            return f.read()

    def unit(self, name):
        return self.read("%s/lib/systemd/system/%s" % (PREFIX, name))

    def site(self):
        return self.read("/etc/nginx/sites-available/swappart-chat")

    def env(self):
        return self.read("/etc/swappart-chat/chat.env")


def values(text, key):
    """The values of key= in a unit or env file, comments left out."""
    return [m.group(1).strip() for m in re.finditer(r"^%s=(.*)$" % re.escape(key), text, re.M)]


def value(text, key):
    v = values(text, key)
    assert len(v) == 1, "%s: expected once, found %r" % (key, v)
    return v[0]


def seconds(v):
    m = re.fullmatch(r"(\d+)(s|min)?", v)
    assert m, v
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


@pytest.fixture
def scratch():
    """A temporary directory, removed afterwards."""
    d = tempfile.mkdtemp(prefix="chat-install-check-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def inst():
    dest = tempfile.mkdtemp(prefix="chat-install-")
    env = dict(os.environ)
    env.pop("MAKEFLAGS", None)  # a make of its own, not a job of `make test`
    env.pop("MAKELEVEL", None)
    try:
        r = run(["make", "-s", "install", "DESTDIR=" + dest, "PREFIX=" + PREFIX],
                cwd=ROOT, env=env, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        yield Install(dest, r.stdout + r.stderr)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_install_lays_out_every_file_with_its_mode(inst):
    sql = sorted(f for f in os.listdir(os.path.join(ROOT, "sql")) if re.match(r"\d+.*\.sql$", f))
    docs = ["README.md"] + sorted(f for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))
    want = {
        "/usr/bin/chat-token": 0o755,
        "/usr/bin/chat-keygen": 0o755,
        "/usr/lib/swappart-chat/rest-fcgi": 0o755,
        "/usr/lib/swappart-chat/ws-daemon": 0o755,
        "/usr/lib/swappart-chat/migrate.sh": 0o755,
        "/etc/swappart-chat/chat.env": 0o640,
        "/etc/nginx/sites-available/swappart-chat": 0o644,
    }
    want.update({"/usr/share/swappart-chat/sql/" + f: 0o644 for f in sql})
    want.update({"/usr/share/doc/swappart-chat/" + f: 0o644 for f in docs})
    want.update({"/usr/lib/systemd/system/" + u: 0o644 for u in UNITS})
    web = os.path.join(ROOT, "web")
    want.update({"/usr/share/swappart-chat/web/" + os.path.relpath(os.path.join(d, f), web): 0o644
                 for d, _, files in os.walk(web) for f in files})
    got = {}
    for d, _, files in os.walk(inst.dest):
        for f in files:
            p = os.path.join(d, f)
            got["/" + os.path.relpath(p, inst.dest)] = stat.S_IMODE(os.lstat(p).st_mode)
    assert got == want
    # the pages' folders are open to nginx's workers, as the site serves them from there
    for d, _, _ in os.walk(inst.path("/usr/share/swappart-chat/web")):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o755, d
    assert re.search(r"^\s*alias /usr/share/swappart-chat/web/;$", inst.site(), re.M)
    # the configuration directory is closed to others (the env file holds secrets)
    assert stat.S_IMODE(os.stat(inst.path("/etc/swappart-chat")).st_mode) == 0o750
    # the programs are the ones just built
    for prog, built in (("/usr/bin/chat-token", "chat-token"),
                        ("/usr/bin/chat-keygen", "chat-keygen"),
                        ("/usr/lib/swappart-chat/ws-daemon", "ws-daemon"),
                        ("/usr/lib/swappart-chat/rest-fcgi", "rest-fcgi")):
        with open(inst.path(prog), "rb") as a, open(os.path.join(ROOT, "build", built), "rb") as b:
            assert a.read() == b.read(), prog
    # with a DESTDIR the host gets no user; the packager is told what to do
    assert "not creating the system user %s" % USER in inst.output
    assert "useradd --system" in inst.output


def test_env_file_names_every_setting_and_holds_no_secret(inst):
    env = inst.env()
    r = run([inst.path("/usr/lib/swappart-chat/ws-daemon"), "--help"])
    names = re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s", r.stderr, re.M)
    assert len(names) > 20, r.stderr
    missing = [n for n in names if not re.search(r"\b%s\b" % n, env)]
    assert not missing, "settings the env file does not mention: %s" % missing
    # the secrets are left for the operator: commented out, or a placeholder
    assert values(env, "SUPABASE_JWT_SECRET") == []
    assert "REPLACE-WITH" in value(env, "DATABASE_URL")
    assert values(env, "CHAT_DEV") == []
    # the instance sets CHAT_WS_ID; the file must not (it would override it)
    assert values(env, "CHAT_WS_ID") == []


def unit_copies(inst, into):
    """The installed units, with the paths of the install pointing into
    DESTDIR, written to the directory into."""
    for name in UNITS:
        text = inst.unit(name)
        for p in ("/usr/lib/swappart-chat/", "/usr/share/swappart-chat/", "/etc/swappart-chat/"):
            text = text.replace(p, inst.path(p))
        with open(os.path.join(into, name), "w") as f:
            f.write(text)


def verify(units_dir, *names):
    """systemd-analyze verify; returns (exit code, the lines it printed
    that are not about the host's missing user)."""
    r = run(["systemd-analyze", "verify", *names], cwd=units_dir)
    said = [l for l in (r.stdout + r.stderr).splitlines() if l.strip() and not MISSING_USER.search(l)]
    return r.returncode, said


def test_systemd_units_verify(inst, scratch):
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing (tools/deps.sh test)"
    d = scratch
    unit_copies(inst, d)
    # the template as the instances an operator starts
    names = ["chat-rest.socket", "chat-rest.service", "chat-ws@0.socket", "chat-ws@0.service",
             "chat-ws@2.socket", "chat-ws@2.service", "chat-migrate.service"]
    rc, said = verify(d, *names)
    assert rc == 0 and said == [], "\n".join(said)

    # the check sees a unit mistake (systemd-analyze itself exits 0 on it)
    broken = os.path.join(d, "broken")
    os.mkdir(broken)
    with open(os.path.join(broken, "chat-ws@.service"), "w") as f:
        f.write(open(os.path.join(d, "chat-ws@.service")).read()
                .replace("ProtectSystem=strict", "ProtectSytem=strict"))
    rc, said = verify(broken, "chat-ws@1.service")
    assert any("ProtectSytem" in l for l in said), said


def test_units_run_unprivileged_hardened_and_stop_gracefully(inst):
    for name in SERVICES:
        u = inst.unit(name)
        assert value(u, "User") == USER, name
        assert value(u, "Group") == USER, name
        for key, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                          ("PrivateTmp", "yes"), ("ProtectHome", "yes"),
                          ("CapabilityBoundingSet", ""), ("UMask", "0077")):
            assert value(u, key) == want, (name, key)
        assert value(u, "EnvironmentFile") == "/etc/swappart-chat/chat.env", name
        # every program of the install a unit runs is there, executable
        for line in values(u, "ExecStart"):
            for prog in re.findall(r"(/usr/lib/swappart-chat/[\w.-]+)", line):
                assert os.access(inst.path(prog), os.X_OK), (name, prog)

    # The daemon: SIGTERM, and systemd waits longer than the longest
    # shutdown any accepted CHAT_SHUTDOWN_GRACE_MS allows before SIGKILL.
    ws = inst.unit("chat-ws@.service")
    r = run([inst.path("/usr/lib/swappart-chat/ws-daemon")],
            env=dict(os.environ, CHAT_SHUTDOWN_GRACE_MS="999999999"))
    m = re.search(r"CHAT_SHUTDOWN_GRACE_MS: .* from 0 to (\d+)", r.stderr)
    assert r.returncode != 0 and m, r.stderr
    assert value(ws, "KillSignal") == "SIGTERM"
    assert seconds(value(ws, "TimeoutStopSec")) > int(m.group(1)) / 1000 + WS_STOP_AFTER_GRACE_S
    assert value(ws, "RuntimeDirectoryMode") == "0700"

    # The REST tier: SIGTERM; a worker finishes its request first, which
    # nginx abandons after fastcgi_read_timeout anyway.
    rest = inst.unit("chat-rest.service")
    read_timeout = set(re.findall(r"^\s*fastcgi_read_timeout (\d+)s;", inst.site(), re.M))
    assert len(read_timeout) == 1, read_timeout
    assert value(rest, "KillSignal") == "SIGTERM"
    assert seconds(value(rest, "TimeoutStopSec")) > int(read_timeout.pop())
    assert value(rest, "StandardInput") == "socket"
    assert "chat-rest.socket" in value(rest, "Requires")


def test_units_site_and_env_file_agree(inst):
    site, env = inst.site(), inst.env()
    # nginx reaches the REST tier: the socket it passes to, 0660, group www-data
    sock = inst.unit("chat-rest.socket")
    path = value(sock, "ListenStream")
    assert path.startswith("/run/swappart-chat/")
    assert set(re.findall(r"fastcgi_pass unix:(\S+);", site)) == {path}
    assert (value(sock, "SocketUser"), value(sock, "SocketGroup"), value(sock, "SocketMode")) == \
        (USER, "www-data", "0660")

    # daemon i: inbox i of CHAT_EVT_ENDPOINTS in its runtime directory,
    # upstream server i of the site on the socket of chat-ws@i.socket (0660,
    # group www-data; the service requires it), its metrics on
    # CHAT_WS_PORT + i
    ws = inst.unit("chat-ws@.service")
    ws_sock = inst.unit("chat-ws@.socket")
    rundir = "/run/" + value(ws, "RuntimeDirectory")
    endpoints = value(env, "CHAT_EVT_ENDPOINTS").split(",")
    assert len(endpoints) >= 2, "a deployment runs several daemons: %s" % endpoints
    base = int(re.search(r"^#?CHAT_WS_PORT=(\d+)$", env, re.M).group(1))
    upstream = re.search(r"upstream chat_ws \{(.*?)\}", site, re.S).group(1)
    assert re.findall(r"server (\S+);", upstream) == \
        ["unix:" + value(ws_sock, "ListenStream").replace("%i", str(i))
         for i in range(len(endpoints))]
    assert (value(ws_sock, "SocketUser"), value(ws_sock, "SocketGroup"),
            value(ws_sock, "SocketMode")) == (USER, "www-data", "0660")
    assert value(ws_sock, "Service") == "chat-ws@%i.service"
    assert "chat-ws@%i.socket" in value(ws, "Requires")
    metrics_map = re.search(r"map \$uri \$chat_ws_metrics \{(.*?)\}", site, re.S).group(1)
    assert re.findall(r"/metrics/ws/(\d+)\s+([\d.:]+);", metrics_map) == \
        [(str(i + 1), "127.0.0.1:%d" % (base + i)) for i in range(len(endpoints))]
    for i, ep in enumerate(endpoints):
        assert ep == "ipc://%s/evt.sock" % rundir.replace("%i", str(i)), ep

    # The instance's command line, as systemd hands it to /bin/sh: daemon i
    # gets CHAT_WS_ID=i and CHAT_WS_PORT = base + i, whatever the env file
    # says of CHAT_WS_ID.
    argv = shlex.split(value(ws, "ExecStart").replace("$$", "$").replace("%i", "2"))
    assert argv[:2] == ["/bin/sh", "-c"]
    script = argv[2].replace("/usr/lib/swappart-chat/ws-daemon", "env")
    for port_env, want_port in ((None, base + 2), ("4000", 4002)):
        e = dict(os.environ, CHAT_WS_ID="7")
        e.pop("CHAT_WS_PORT", None)
        if port_env:
            e["CHAT_WS_PORT"] = port_env
        out = run(["/bin/sh", "-c", script], env=e).stdout
        assert "CHAT_WS_ID=2\n" in out and "CHAT_WS_PORT=%d\n" % want_port in out, out


def test_nginx_accepts_the_installed_site(inst, scratch):
    """nginx -t on the site inside a minimal main config in a temporary
    prefix. nginx -t opens the log files a config names, so the copy's
    /var/log/nginx is pointed into the temporary directory."""
    assert shutil.which("nginx"), "nginx is not installed (tools/deps.sh run)"
    d = scratch
    os.mkdir(os.path.join(d, "logs"))
    os.mkdir(os.path.join(d, "tmp"))
    site = inst.site()
    assert "/var/log/nginx/swappart-chat-" in site
    assert not re.findall(r"@[A-Z_]+@", "\n".join(l for l in site.splitlines()
                                                  if not l.lstrip().startswith("#")))
    with open(os.path.join(d, "swappart-chat"), "w") as f:
        f.write(site.replace("/var/log/nginx/", d + "/logs/"))
    # The site includes fastcgi_params relative to the main config's folder,
    # as Debian's /etc/nginx/nginx.conf has it.
    shutil.copy("/etc/nginx/fastcgi_params", d)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write("""pid {d}/nginx.pid;
error_log {d}/logs/error.log;
events {{}}
http {{
	client_body_temp_path {d}/tmp/body;
	proxy_temp_path {d}/tmp/proxy;
	fastcgi_temp_path {d}/tmp/fastcgi;
	uwsgi_temp_path {d}/tmp/uwsgi;
	scgi_temp_path {d}/tmp/scgi;
	include {d}/swappart-chat;
}}
""".format(d=d))
    r = run(["nginx", "-t", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e",
             os.path.join(d, "logs", "error.log")])
    assert r.returncode == 0, r.stderr


def test_installed_migration_tool_finds_the_installed_sql(inst, stack):
    """The installed migrate.sh, run as chat-migrate.service runs it
    (DATABASE_URL from the env, no argument), applies the installed SQL:
    it finds it beside itself, and through CHAT_SQL_DIR as the unit sets it."""
    name = "inst_" + uuid.uuid4().hex[:8]
    admin = stack.db_dsn("postgres", superuser=True)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute("CREATE DATABASE %s OWNER chat" % name)
    dsn = stack.db_dsn(name)
    tool = inst.path("/usr/lib/swappart-chat/migrate.sh")
    sqldir = inst.path("/usr/share/swappart-chat/sql")
    versions = sorted(f[:-4] for f in os.listdir(sqldir))
    try:
        env = dict(os.environ, DATABASE_URL=dsn)
        env.pop("CHAT_SQL_DIR", None)
        r = run([tool], env=env, cwd="/")
        assert r.returncode == 0, r.stderr
        assert "applied %s" % versions[-1] in r.stdout
        with psycopg.connect(dsn, autocommit=True) as c:
            rows = c.execute("SELECT version FROM chat_schema_migrations ORDER BY version").fetchall()
        assert [v for (v,) in rows] == versions
        r = run([tool], env=dict(env, CHAT_SQL_DIR=sqldir), cwd="/")
        assert r.returncode == 0 and "up to date" in r.stdout, r.stdout + r.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute("DROP DATABASE %s WITH (FORCE)" % name)
