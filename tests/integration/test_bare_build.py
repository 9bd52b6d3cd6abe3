"""The README's first command on a bare Debian 12 machine (issue: the first
`make start` failed to link because the Makefile read pkg-config before
tools/deps.sh had installed the packages).

CI runs where the packages are installed already, so this test builds a
copy of the checkout on a simulated bare machine: until the fake apt-get
"installs" them, dpkg-query reports every package missing and pkg-config
finds no library. The build must still succeed on its first run."""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT

FAKES = {
    # Not installed until apt-get ran: then the real tools answer.
    "dpkg-query": '[ -e "$BARE_STAMP" ] && exec /usr/bin/dpkg-query "$@"; exit 1',
    "pkg-config": '[ -e "$BARE_STAMP" ] && exec /usr/bin/pkg-config "$@"; exit 1',
    "apt-get": 'echo "apt-get $*" >>"$BARE_LOG"\n'
               'case " $* " in *" install "*) touch "$BARE_STAMP";; esac',
    # deps.sh stops the packaged services after installing: not here.
    "systemctl": "exit 0",
    "service": "exit 0",
    "id": '[ "$1" = -u ] && { echo 0; exit 0; }; exec /usr/bin/id "$@"',
}


@pytest.fixture
def bare(tmp_path):
    src = tmp_path / "src"
    files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], check=True, capture_output=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if not os.path.isfile(os.path.join(ROOT, rel)):
            continue  # deleted in the work tree
        os.makedirs(os.path.dirname(src / rel), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), src / rel)
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, body in FAKES.items():
        (fake / name).write_text("#!/bin/sh\n" + body + "\n")
        (fake / name).chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (fake, os.environ["PATH"]),
               BARE_STAMP=str(tmp_path / "installed"), BARE_LOG=str(tmp_path / "apt.log"),
               CFLAGS="-O0")
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
    return src, env, tmp_path


def test_first_build_on_a_bare_machine_links(bare):
    src, env, tmp = bare
    # the simulation holds: nothing is found before the install
    assert subprocess.run(["pkg-config", "--libs", "libzmq"], env=env,
                          capture_output=True).returncode != 0
    # the build steps of `make start`, once, on the bare machine
    r = subprocess.run(["make", "-j2", "deps", "all"], cwd=src, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for prog in ("rest-fcgi", "ws-daemon", "chat-token"):
        assert os.access(src / "build" / prog, os.X_OK), prog
    log = (tmp / "apt.log").read_text()
    assert "install" in log and "libzmq3-dev" in log and "libpq-dev" in log
    # the built program runs (its libraries resolved)
    r = subprocess.run([str(src / "build" / "ws-daemon"), "--help"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0 and "CHAT_WS_PORT" in r.stderr


# What the tests run besides the project's own programs, and how each is
# found: an executable on PATH, or a Python module. `make test` installs
# tools/deps.sh's test group first; a tool that came from a package not
# in that list works on a machine that happens to have it (like CI's) and
# fails on a bare one.
TEST_TOOLS = {
    "exe": ("promtool", "chromium", "chromedriver", "nginx", "spawn-fcgi", "ip", "ss"),
    "py": ("selenium", "jsonschema", "yaml", "websocket", "websockets", "psycopg", "zmq",
           "requests", "pytest"),
}


def deps_group(name):
    """The packages tools/deps.sh installs for group name."""
    script = 'source <(sed -n "/^want=()/q;p" tools/deps.sh); printf "%%s\\n" "${%s[@]}"' % name
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                       check=True)
    return set(r.stdout.split())


def test_every_tool_the_tests_use_comes_from_a_package_deps_lists():
    listed = deps_group("test") | deps_group("run") | deps_group("build")
    assert {"prometheus", "chromium", "chromium-driver", "python3-selenium"} <= listed
    paths = [os.path.realpath(shutil.which(t) or t) for t in TEST_TOOLS["exe"]]
    for mod in TEST_TOOLS["py"]:
        r = subprocess.run(["/usr/bin/python3", "-c", "import %s; print(%s.__file__)" % (mod, mod)],
                           capture_output=True, text=True)
        assert r.returncode == 0, "python3 cannot import %s: %s" % (mod, r.stderr[-300:])
        paths.append(os.path.realpath(r.stdout.strip()))
    for path in paths:
        assert os.path.isabs(path), "%s is not installed" % path
        r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
        if r.returncode and path.startswith("/usr/"):
            # merged /usr: dpkg may know the file by its /bin or /sbin path
            r = subprocess.run(["dpkg-query", "-S", path[len("/usr"):]],
                               capture_output=True, text=True)
        assert r.returncode == 0, "%s belongs to no Debian package" % path
        owners = {p.strip() for p in r.stdout.split(":", 1)[0].split(",")}
        # nginx-light or another flavour: deps.sh accepts any nginx
        assert owners & listed or (owners & {"nginx", "nginx-core", "nginx-light", "nginx-full",
                                             "nginx-extras"}), \
            "%s comes from %s, which tools/deps.sh does not install" % (path, ", ".join(owners))
