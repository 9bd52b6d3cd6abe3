"""The chat page and the admin console (web/, docs/web.md) in headless
Chromium, driven by selenium through nginx, as users and an administrator
would use them: two browser users sign in with dev tokens (POST
/dev/token), one creates a room with the other on the page, both open it
and see each other's messages live, each own message going pending ->
confirmed; a message to a room the user was removed from shows as failed
with the server's reason; the administrator's console disconnects, bans
and unbans that user, whose page says so in words and does not loop
reconnecting; the console's figures (GET /metrics, /metrics/ws/N) update.

Screenshots of both pages go to $CHAT_ARTIFACTS (default
build/artifacts/web/; the path is printed). With CHAT_DOC_IMAGES=1 the
final ones are also copied to docs/img/ for the README.
"""
import os
import shutil
import threading
import time

import pytest

from conftest import ROOT, create_room, unix_established

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

_missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
try:
    import selenium  # noqa: F401
except ImportError:
    _missing.append("python3-selenium")
if _missing and os.geteuid() != 0:
    # As root, `make test` installs them (tools/deps.sh test): missing then is a failure.
    pytest.skip("headless Chromium test: %s not installed and not root to install it "
                "(apt-get install chromium chromium-driver python3-selenium)" % ", ".join(_missing),
                allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ARTIFACTS = os.environ.get("CHAT_ARTIFACTS") or os.path.join(ROOT, "build", "artifacts", "web")
WAIT = 10  # seconds for anything the page shows after a server round trip

# Metric names (docs/metrics.md) the console's figures read.
FIGURES = ("chat_ws_connections", "chat_ws_messages_stored_total",
                    "chat_ws_store_seconds")


def new_browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1200,900", "--lang=en-US", "--no-first-run",
              "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


class Page:
    """One browser tab on one of the pages."""

    def __init__(self, driver, name):
        self.d = driver
        self.name = name

    def wait(self, cond, what, timeout=WAIT):
        try:
            # the page re-renders its lists (the room list every 15 s): an
            # element found a moment ago may be gone; look again
            return WebDriverWait(self.d, timeout, poll_frequency=0.1,
                                 ignored_exceptions=[StaleElementReferenceException]
                                 ).until(lambda d: cond())
        except Exception:
            raise AssertionError("%s: %s (page says: %r; console: %r)" % (
                self.name, what, self.text("error") if self.present("error") else "",
                self.console()))

    def present(self, id_):
        return bool(self.d.find_elements(By.ID, id_))

    def el(self, id_):
        return self.d.find_element(By.ID, id_)

    def text(self, id_):
        return self.el(id_).text

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def console(self):
        try:
            return [e["message"] for e in self.d.get_log("browser")][-10:]
        except Exception:
            return []

    def sign_in_dev(self, url, user_id):
        """Open url, mint a dev token for user_id on the page, sign in."""
        self.d.get(url)
        # the button shows only once the page found POST /dev/token (a dev stack)
        self.wait(lambda: self.el("dev-form").is_displayed(), "no dev sign-in form")
        self.el("dev-user").clear()
        self.el("dev-user").send_keys(user_id)
        self.el("dev-mint").click()
        self.wait(lambda: self.el("app").is_displayed(), "not signed in")
        assert user_id in self.text("who")

    def shot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, name)
        self.d.save_screenshot(path)
        print("screenshot:", path)
        return path


class ChatPage(Page):
    def conn_state(self):
        return self.el("conn").get_attribute("data-state")

    def wait_connected(self):
        self.wait(lambda: self.conn_state() == "open", "websocket not connected")

    def open_room(self, room):
        sel = '#rooms button[data-room="%d"]' % room

        def listed():
            if self.d.find_elements(By.CSS_SELECTOR, sel):
                return True
            self.el("rooms-refresh").click()  # a room someone else made
            return False
        self.wait(listed, "room %d not in the list" % room)

        def clicked():
            self.d.find_element(By.CSS_SELECTOR, sel).click()  # stale: retried
            return True
        self.wait(clicked, "room %d cannot be opened" % room)
        self.wait(lambda: self.text("room-h") == "Room #%d" % room
                  and self.text("room-people") != "loading…", "room %d not open" % room)
        self.wait(lambda: self.el("send-text").is_enabled(), "cannot type in room %d" % room)

    def watch_statuses(self):
        """Record every data-status an own message of #messages takes."""
        self.js("""
            window.__seen = {};
            const note = (li) => {
                const id = li.dataset.tempId, s = li.dataset.status;
                if (!id || !s) return;
                const l = (window.__seen[id] = window.__seen[id] || []);
                if (l[l.length - 1] !== s) l.push(s);
            };
            new MutationObserver((muts) => {
                for (const m of muts) {
                    if (m.type === 'attributes') note(m.target);
                    for (const n of m.addedNodes || []) if (n.dataset) note(n);
                }
            }).observe(document.getElementById('messages'),
                       {subtree: true, childList: true, attributes: true,
                        attributeFilter: ['data-status']});
        """)

    def send(self, text):
        """Type and send text; returns its message_temp_id."""
        before = set(self.temp_ids())
        self.el("send-text").send_keys(text)
        self.el("send-button").click()
        self.wait(lambda: set(self.temp_ids()) - before, "the sent message does not show")
        (temp,) = set(self.temp_ids()) - before
        return temp

    def temp_ids(self):
        return self.js("return [...document.querySelectorAll('#messages li[data-temp-id]')]"
                       ".map(li => li.dataset.tempId)")

    def own(self, temp):
        return self.d.find_element(By.CSS_SELECTOR, '#messages li[data-temp-id="%s"]' % temp)

    def wait_status(self, temp, status):
        self.wait(lambda: self.own(temp).get_attribute("data-status") == status,
                  "message %s never %s (is %s: %r)" % (
                      temp, status, self.own(temp).get_attribute("data-status"),
                      self.own(temp).text))
        return self.own(temp)

    def received(self):
        """(sender, text, id) of the messages shown that others sent."""
        return self.js("return [...document.querySelectorAll('#messages li.msg:not(.mine)')]"
                       ".map(li => [li.dataset.sender, li.querySelector('.text').textContent,"
                       " li.dataset.id, li.querySelector('.text').children.length])")


@pytest.fixture(scope="module")
def browsers():
    made = []

    def make(cls, name):
        p = cls(new_browser(), name)
        made.append(p)
        return p
    try:
        yield make
    finally:
        def quit(p):
            try:
                p.d.quit()
            except Exception:
                pass
        threads = [threading.Thread(target=quit, args=(p,)) for p in made]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


@pytest.fixture(scope="module")
def web(stack, browsers):
    """A and B signed in on the chat page, connected."""
    a, b = stack.new_user(), stack.new_user()
    pa, pb = browsers(ChatPage, "user A"), browsers(ChatPage, "user B")
    for page, user in ((pa, a), (pb, b)):
        page.sign_in_dev(stack.http + "/web/chat/", user)
        page.wait_connected()
    return {"a": a, "b": b, "pa": pa, "pb": pb, "browsers": browsers}


def test_pages_are_static_files_with_a_strict_policy(stack):
    for path, marker in (("/web/chat/", "chat.js"), ("/web/admin/", "admin.js"),
                         ("/web/common/api.js", "CLOSE_CODES")):
        r = stack.req("GET", path)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        assert marker in r.text
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert stack.req("GET", "/web/chat/").headers["Content-Type"].startswith("text/html")
    assert stack.req("GET", "/web/common/api.js").headers["Content-Type"].startswith(
        "application/javascript")
    r = stack.req("GET", "/web/", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/web/chat/")
    r = stack.req("GET", "/web/nope.html")
    assert r.status_code == 404 and r.json() == {"error_message": "not found", "data": None}
    # the dev token route answers through nginx: the probe's 405, a 400, a token
    r = stack.req("GET", "/dev/token")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = stack.req("POST", "/dev/token", json={"user_id": "nope"})
    assert r.status_code == 400 and "UUID" in r.json()["error_message"]
    user = stack.new_user()
    r = stack.req("POST", "/dev/token", json={"user_id": user, "role": "service_role"})
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["user_id"] == user and d["role"] == "service_role"
    assert stack.req("POST", "/admin/users/%s/disconnect" % user, token=d["token"]).status_code == 200


def test_two_users_chat_live(stack, web):
    a, b, pa, pb = web["a"], web["b"], web["pa"], web["pb"]
    # A makes the room on the page, with B
    pa.el("create-users").send_keys(b)
    pa.el("create-form").find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    pa.wait(lambda: pa.text("room-h").startswith("Room #"), "the new room did not open")
    room = int(pa.text("room-h")[len("Room #"):])
    assert stack.sql("SELECT participant_id::text FROM chat_rooms_participants "
                     "WHERE room_id = %s ORDER BY 1", (room,)) == sorted([(a,), (b,)])
    pa.open_room(room)
    pb.open_room(room)
    pa.watch_statuses()
    pb.watch_statuses()

    hello = "hello B, <b>not bold</b> & fine"
    t1 = pa.send(hello)
    mine = pa.wait_status(t1, "confirmed")
    mid = int(mine.get_attribute("data-id"))
    assert pa.js("return window.__seen[arguments[0]]", t1) == ["pending", "confirmed"]
    # B sees it live, as text (never markup), from A, with the stored id
    pb.wait(lambda: [m for m in pb.received() if m[2] == str(mid)], "B did not receive A's message")
    (got,) = [m for m in pb.received() if m[2] == str(mid)]
    assert got == [a, hello, str(mid), 0]

    t2 = pb.send("hi A, got it")
    pb.wait_status(t2, "confirmed")
    assert pb.js("return window.__seen[arguments[0]]", t2) == ["pending", "confirmed"]
    pa.wait(lambda: any(m[1] == "hi A, got it" for m in pa.received()),
            "A did not receive B's reply")
    assert stack.sql("SELECT sender_id::text, message FROM chat_room_messages WHERE room_id = %s "
                     "ORDER BY id", (room,)) == [(a, hello), (b, "hi A, got it")]

    # the history (GET /rooms/:id) shows both after a reload, in order
    pb.d.refresh()
    pb.wait_connected()
    pb.open_room(room)
    texts = pb.js("return [...document.querySelectorAll('#messages li.msg .text')]"
                  ".map(e => e.textContent)")
    assert texts == [hello, "hi A, got it"]
    web["room"] = room


def test_message_to_a_room_the_user_left_fails(stack, web):
    a, b, pa, pb = web["a"], web["b"], web["pa"], web["pb"]
    room = create_room(stack, a, [b])
    pb.open_room(room)
    pa.open_room(room)
    t_a = pa.send("B, I am taking you off this room")
    pa.wait_status(t_a, "confirmed")
    pb.wait(lambda: any(m[1] == "B, I am taking you off this room" for m in pb.received()),
            "B did not receive A's message")
    t_ok = pb.send("ok, bye")
    pb.wait_status(t_ok, "confirmed")
    # the owner removes B (REST, as the app would)
    r = stack.req("PUT", "/rooms", sub=a, json={"room_id": room, "users_to_remove": [b]})
    assert r.status_code == 200, r.text
    t = pb.send("am I still here?")
    li = pb.wait_status(t, "failed")
    assert "not a participant of this room" in li.find_element(By.CSS_SELECTOR, ".state").text
    # the connection stays (SPEC: one such send is no 4012), and A got nothing
    time.sleep(0.5)
    assert pb.conn_state() == "open"
    assert not any(m[1] == "am I still here?" for m in pa.received())
    assert stack.sql("SELECT count(*) FROM chat_room_messages WHERE room_id = %s AND message = %s",
                     (room, "am I still here?")) == [(0,)]
    pb.shot("chat-page.png")
    pa.shot("chat-page-owner.png")


def test_every_close_code_has_words_and_only_four_reconnect(web):
    got = web["pa"].d.execute_async_script("""
        const done = arguments[0];
        import('/web/common/api.js').then((m) => done({
            codes: Object.keys(m.CLOSE_CODES).map(Number),
            again: [...m.RECONNECT_CODES].sort(),
            words: m.closeInWords(4012, ''),
            unknown: m.closeInWords(4999, 'x'),
        }), (e) => done({error: String(e)}));
    """)
    assert "error" not in got, got
    assert {1000, 1001, 1006, *range(4001, 4013)} <= set(got["codes"])
    assert got["again"] == [1006, 4006, 4007, 4009]  # SPEC.md: 4006, 4007, 4009; and a lost network
    assert got["words"] == "4012 UnAuthorizedAction: too many actions you are not allowed to do"
    assert got["unknown"] == "4999: unknown close code (x)"


def test_page_reconnects_by_itself_after_a_daemon_restart(stack, web):
    """4007 (ServerShutdown) is one of the codes the page reconnects after:
    it says so in words, waits its backoff and is back, able to send."""
    pages = (web["pa"], web["pb"])
    watch = """
        window.__conn = [];
        const t = document.getElementById('conn-text');
        new MutationObserver(() => window.__conn.push(t.textContent))
            .observe(t, {childList: true, characterData: true, subtree: true});
    """
    for p in pages:
        p.wait_connected()
        p.js(watch)
    # The daemon that holds a page's socket (nginx picked it): the only
    # websockets of this test are the two pages'.
    held = [i for i in range(stack.ws_count)
            if unix_established(os.path.join(stack.run_dir, "ws", "%d.sock" % i))]
    assert held, "no daemon holds the pages' websockets"
    stack.tool("restart-ws", str(held[0]))
    hit = [p for p in pages if any("4007" in t for t in p.js("return window.__conn"))]
    assert hit, "no page shows 4007: %r" % [p.js("return window.__conn") for p in pages]
    for p in hit:
        p.wait_connected()
        for shown in (t for t in p.js("return window.__conn") if "4007" in t):
            assert shown.startswith("disconnected: 4007 ServerShutdown: the server is restarting")
            assert "Reconnecting in" in shown, shown
        p.open_room(web["room"])
        p.wait_status(p.send("still here after the restart"), "confirmed")


def admin_console(stack, web):
    if "admin" not in web:
        page = web["browsers"](Page, "admin")
        page.sign_in_dev(stack.http + "/web/admin/", stack.new_user())
        web["admin"] = page
    return web["admin"]


def admin_act(page, user, action, reason=""):
    page.el("act-user").clear()
    page.el("act-user").send_keys(user)
    page.el("act-reason").clear()
    if reason:
        page.el("act-reason").send_keys(reason)
    n = len(page.d.find_elements(By.CSS_SELECTOR, "#log li"))
    page.el("act-" + action).click()
    page.wait(lambda: len(page.d.find_elements(By.CSS_SELECTOR, "#log li")) > n,
              "no log line for " + action)
    li = page.d.find_element(By.CSS_SELECTOR, "#log li")
    assert li.get_attribute("data-ok") == "true", li.text
    return li.text


def test_admin_disconnects_bans_and_unbans(stack, web):
    b, pb = web["b"], web["pb"]
    admin = admin_console(stack, web)
    pb.wait_connected()

    # disconnect: 4004 in words, and no reconnect of its own
    assert "disconnected " + b in admin_act(admin, b, "disconnect")
    pb.wait(lambda: pb.conn_state() == "closed", "B's page does not show the disconnection")
    assert "4004 CloseAdminAction" in pb.text("conn-text")
    assert "administrator disconnected you" in pb.text("conn-text")
    pb.el("reconnect").click()
    pb.wait_connected()

    # ban: 4005 in words, and the page stays closed (no reconnect loop)
    assert "banned " + b in admin_act(admin, b, "ban", reason="spamming the room")
    pb.wait(lambda: pb.conn_state() == "closed", "B's page does not show the ban")
    text = pb.text("conn-text")
    assert "4005 CloseBanned" in text and "you are banned" in text, text
    pb.shot("chat-banned.png")
    time.sleep(1.5)  # a reconnect loop would be under way by now (first retry within 1 s)
    assert pb.conn_state() == "closed" and pb.text("conn-text") == text
    # asking again is refused again, and REST says why
    pb.el("reconnect").click()
    pb.wait(lambda: pb.conn_state() == "closed" and "4005" in pb.text("conn-text"),
            "a banned reconnect was not refused")
    pb.el("rooms-refresh").click()
    pb.wait(lambda: "user is banned" in pb.text("error"), "REST's 403 is not shown")
    assert "403" in pb.text("error")
    assert stack.sql("SELECT reason FROM chat_bans WHERE user_id = %s", (b,)) == \
        [("spamming the room",)]

    # unban: B can connect and send again
    assert "unbanned " + b in admin_act(admin, b, "unban")
    pb.el("reconnect").click()
    pb.wait_connected()
    pb.open_room(web["room"])
    pb.wait_status(pb.send("back again"), "confirmed")



# Two scrapes of a daemon and the REST tier 2 s apart, in the names and
# shapes of docs/metrics.md.
EXPO_WS_1 = """# HELP chat_ws_connections open, authenticated
# TYPE chat_ws_connections gauge
chat_ws_connections 3
chat_ws_messages_stored_total 100
chat_ws_messages_delivered_total 50
chat_ws_connections_closed_total{code="4005"} 1
chat_ws_connections_closed_total{code="other"} 2
chat_ws_store_seconds_bucket{le="0.001"} 4
chat_ws_store_seconds_bucket{le="+Inf"} 10
chat_ws_store_seconds_sum 0.02
chat_ws_store_seconds_count 10
chat_ws_messages_confirmed_total{result="false",reason="not a \\"member\\", really"} 7
"""
EXPO_WS_2 = EXPO_WS_1.replace("connections 3", "connections 5").replace(
    "stored_total 100", "stored_total 140").replace("_sum 0.02", "_sum 0.05").replace(
    "_count 10", "_count 20")
EXPO_REST = "chat_rest_requests_total{route=\"/rooms\",method=\"GET\",status=\"200\"} 9 1700000000000\n"


def test_admin_console_reads_the_metrics_figures(stack, web):
    """The console's parser and arithmetic on expositions in the metrics'
    names, so that they are right before any tier exports them."""
    page = admin_console(stack, web)
    got = page.d.execute_async_script("""
        const [w1, w2, rest, done] = arguments;
        import('/web/admin/admin.js').then((m) => {
            const p = m.parseExposition;
            const now = {ws: p(w2), rest: p(rest)}, before = {ws: p(w1), rest: p(rest)};
            const fig = (id) => m.FIGURES.find((f) => f.id === id);
            const v = (id, a, b) => m.figureValue(fig(id), a, b, 2);
            done({
                samples: p(w1).length,
                label: p(w1).find((s) => s.name === 'chat_ws_messages_confirmed_total').labels,
                inf: p(w1).find((s) => s.labels.le === '+Inf').value,
                pinf: p('g +Inf')[0].value === Infinity,
                conns: v('connections', now, before),
                rate: v('messages', now, before),
                first: v('messages', now, null),
                reset: v('messages', before, now),
                latency: v('store', now, before),
                rest: v('rest', now, before),
                none: v('connections', {ws: null, rest: null}, null),
            });
        }, (e) => done({error: String(e)}));
    """, EXPO_WS_1, EXPO_WS_2, EXPO_REST)
    assert "error" not in got, got
    assert got["samples"] == 10
    assert got["label"] == {"result": "false", "reason": 'not a "member", really'}
    assert got["inf"] == 10 and got["pinf"] is True
    assert got["conns"] == {"value": 5}
    assert got["rate"] == {"value": 20}          # (140 - 100) / 2 s
    assert got["first"] == {"value": None}       # no earlier poll: no rate yet
    assert got["reset"] == {"value": None}       # a counter that went back: a gap
    assert abs(got["latency"]["value"] - 3.0) < 1e-9  # (0.05 - 0.02) / (20 - 10) s in ms
    assert got["rest"] == {"value": 0}
    assert got["none"] == {"missing": True}


def polls(page):
    return int(page.el("figures").get_attribute("data-polls") or 0)


def test_admin_console_figures_update(stack, web):
    pa = web["pa"]
    admin = admin_console(stack, web)
    admin.d.set_window_size(1200, 1100)  # the whole console in the screenshot
    admin.wait(lambda: polls(admin) >= 1, "the console never polled the figures")
    pa.open_room(web["room"])
    for i in range(3):
        pa.wait_status(pa.send("figure %d" % i), "confirmed")
    n = polls(admin)
    admin.wait(lambda: polls(admin) >= n + 2, "the console stopped polling", timeout=8)
    admin.shot("admin-console.png")
    if os.environ.get("CHAT_DOC_IMAGES"):
        copy_doc_images()
    missing = admin.js("return [...document.querySelectorAll('.figure[data-missing=true]')]"
                       ".map(e => e.dataset.metric)")
    absent = sorted(set(FIGURES) & set(missing))
    assert not absent, "the console found no %s in /metrics: %r" % (
        ", ".join(absent), admin.text("metrics-error"))
    # read in one script: the cards are redrawn at every poll
    conns = float(admin.js("return document.querySelector("
                           "'#fig-connections [data-role=value]').dataset.value"))
    assert conns >= 2  # A and B at least
    # messages/s went above zero at some point of the chart while A sent
    pts = admin.js("return document.querySelector('#fig-messages polyline')"
                   " ?.getAttribute('points') || ''")
    ys = [float(p.split(",")[1]) for p in pts.split()]
    assert ys and min(ys) < 38, pts  # y 38 is the chart's zero line
    before = admin.js("return document.querySelector('#fig-connections polyline')"
                      ".getAttribute('points')")
    n = polls(admin)
    admin.wait(lambda: polls(admin) > n, "the console stopped polling", timeout=5)
    assert admin.js("return document.querySelector('#fig-connections polyline')"
                    ".getAttribute('points')") != before, "the chart does not move"


def copy_doc_images():
    os.makedirs(os.path.join(ROOT, "docs", "img"), exist_ok=True)
    for name in ("chat-page.png", "admin-console.png"):
        shutil.copy(os.path.join(ARTIFACTS, name), os.path.join(ROOT, "docs", "img", name))


def test_admin_console_refuses_a_user_token_in_words(stack, web):
    """A user token signs in, but the console warns, and each action shows
    the service's 403."""
    page = admin_console(stack, web)
    r = stack.req("POST", "/dev/token", json={"user_id": stack.new_user()})
    page.js("sessionStorage.setItem('swappart.admin.token', arguments[0])", r.json()["data"]["token"])
    page.d.refresh()
    page.wait(lambda: page.el("app").is_displayed(), "console not shown")
    assert "not service_role" in page.text("error")
    page.el("act-user").send_keys(web["b"])
    page.el("act-ban").click()
    page.wait(lambda: "403: this endpoint needs a service_role token" in page.text("error"),
              "the 403 is not shown")
    assert stack.sql("SELECT count(*) FROM chat_bans WHERE user_id = %s", (web["b"],)) == [(0,)]
