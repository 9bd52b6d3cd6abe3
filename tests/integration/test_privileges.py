"""Least privilege on the local stack (issue: everything ran as root, the
FastCGI socket was 0666, Postgres trusted every local user, and the data
directory was a predictable path under /var/tmp).

Run as root (as CI does), tools/stack.sh runs the tiers as an
unprivileged system user, nginx's workers as www-data, and gives each
file only the access its reader needs. The checks act as another local
user would: `nobody`, through runuser."""
import os
import pwd
import re
import stat
import subprocess

import psycopg
import pytest

from conftest import Stack

TIER_USER = "swappart-chat"

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="privilege separation needs root")


def pids(stack, name):
    with open(os.path.join(stack.run_dir, name + ".pid")) as f:
        return [int(p) for p in f.read().split()]


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1))


def as_nobody(code):
    """Run python code as user nobody; returns (exit code, output)."""
    r = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", code],
                       capture_output=True, text=True, timeout=30, cwd="/")
    return r.returncode, r.stdout + r.stderr


def test_postgres_wants_a_password(stack):
    port = stack.env["CHAT_PG_PORT"]
    for user in ("chat", "postgres"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect("postgresql://%s@127.0.0.1:%s/postgres?passfile=/dev/null"
                            % (user, port), connect_timeout=5)
    # the stack's own password file works, and holds the chat role only
    assert stack.sql("SELECT current_user") == [("chat",)]
    with open(stack.passfile) as f:
        assert f.read().split(":")[3] == "chat"
    assert stat.S_IMODE(os.stat(stack.passfile).st_mode) == 0o600


@root_only
def test_tiers_run_unprivileged_and_nginx_workers_as_www_data(stack):
    tier = pwd.getpwnam(TIER_USER).pw_uid
    assert tier != 0
    for name in ("rest", "ws-0", "ws-1"):
        for pid in pids(stack, name):
            assert uid_of(pid) == tier, (name, pid)
    (master,) = pids(stack, "nginx")
    workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                             text=True).stdout.split()
    assert workers
    www = pwd.getpwnam("www-data").pw_uid
    assert all(uid_of(int(w)) == www for w in workers)


@root_only
def test_files_are_open_only_to_who_needs_them(stack):
    run = stack.run_dir
    mode = lambda p: stat.S_IMODE(os.lstat(os.path.join(run, p)).st_mode)
    assert mode(".") & 0o044 == 0, "the run directory is not readable by others"
    st = os.stat(os.path.join(run, "rest.sock"))
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == pwd.getpwnam("www-data").pw_gid
    assert mode("evt") == 0o700 and mode("pg-super.pgpass") == 0o600
    home = open(os.path.join(run, "pg-home")).read().strip()
    assert re.fullmatch(r"/var/tmp/swappart-chat-pg\.\w{10}", home), home
    st = os.lstat(home)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == pwd.getpwnam("postgres").pw_uid


@root_only
def test_another_local_user_reaches_neither_rest_tier_nor_event_bus(stack):
    sock = os.path.join(stack.run_dir, "rest.sock")
    inbox = os.path.join(stack.run_dir, "evt", "ws-0.sock")
    for path in (sock, inbox):
        rc, out = as_nobody("import socket; s = socket.socket(socket.AF_UNIX); "
                            "s.connect(%r)" % path)
        assert rc != 0 and "PermissionError" in out, (path, out)
    rc, out = as_nobody("open(%r).read()" % stack.passfile)
    assert rc != 0 and "PermissionError" in out


@root_only
def test_a_planted_pg_home_is_refused():
    """pg-home names the data directory; one that is a symlink (or not the
    postgres user's) is refused, and nothing is chowned through it."""
    s = Stack()
    target = os.path.join(s.run_dir, "victim")
    os.mkdir(target)
    link = "/var/tmp/swappart-chat-pg.planted%d" % os.getpid()
    os.symlink(target, link)
    try:
        with open(os.path.join(s.run_dir, "pg-home"), "w") as f:
            f.write(link + "\n")
        r = s.tool("start", check=False)
        assert r.returncode != 0
        assert "is not a directory of the postgres user" in r.stderr
        assert os.stat(target).st_uid == 0
    finally:
        s.stop()
        os.unlink(link)
        subprocess.run(["rm", "-rf", s.run_dir])
