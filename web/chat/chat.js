// The chat page: sign in, the caller's rooms (GET /rooms), a new room
// (POST /rooms), a room's history (GET /rooms/:id), and the websocket
// (SPEC.md section 3): messages live in and out, each sent message shown
// pending until its MessageSentConfirmation says confirmed or failed
// (with the server's reason), every close in words, and a reconnect with
// backoff after the codes that call for one.
import {
	api, ApiError, RECONNECT_CODES, closeInWords, Session, $, el, shortUser, when, say,
	setupSignIn, uuid4,
} from "../common/api.js";

const session = new Session("swappart.chat.token");
const ROOM_POLL_MS = 15000;	// rooms others add us to show up without a reload
const BACKOFF_MAX_MS = 30000;
const STABLE_MS = 10000;	// a connection this old resets the backoff

const ui = {
	error: $("error"), signin: $("signin"), app: $("app"), who: $("who"),
	signOut: $("sign-out"), conn: $("conn"), connText: $("conn-text"),
	reconnect: $("reconnect"), rooms: $("rooms"), roomsEmpty: $("rooms-empty"),
	roomsRefresh: $("rooms-refresh"), createForm: $("create-form"),
	createUsers: $("create-users"), createApartment: $("create-apartment"),
	roomH: $("room-h"), roomPeople: $("room-people"), messages: $("messages"),
	sendForm: $("send-form"), sendText: $("send-text"), sendButton: $("send-button"),
};

const st = {
	token: null, me: null,
	rooms: new Map(),	// room_id -> GET /rooms entry
	unread: new Map(),	// room_id -> messages received while closed
	open: null,		// the open room's id
	ws: null, gen: 0,	// the socket, and which one is current
	disconnection: null,	// the last Disconnection frame of the current socket
	attempt: 0, openedAt: 0, retryTimer: 0, pollTimer: 0,
	final: false,		// closed with a code after which we do not reconnect
	pending: new Map(),	// message_temp_id -> {data, li, sent}
};

function showError(e) {
	say(ui.error, e instanceof Error ? e.message : String(e));
}

// ---- session ----

function start(token) {
	const c = session.claims;
	if (!c || !c.sub) {
		signOut();
		return;
	}
	st.token = token;
	st.me = c && c.sub ? c.sub.toLowerCase() : null;
	say(ui.error, "");
	ui.signin.hidden = true;
	ui.app.hidden = false;
	ui.signOut.hidden = false;
	ui.who.textContent = `signed in as ${st.me}` + (c.role === "service_role" ? " (service_role)" : "");
	ui.who.title = st.me;
	st.final = false;
	st.attempt = 0;
	connect();
	loadRooms();
	clearInterval(st.pollTimer);
	st.pollTimer = setInterval(loadRooms, ROOM_POLL_MS);
}

function signOut() {
	st.gen++;	// the closing socket is no longer ours: no reconnect
	clearTimeout(st.retryTimer);
	clearInterval(st.pollTimer);
	if (st.ws)
		st.ws.close(1000, "signed out");
	st.ws = null;
	session.token = null;
	st.token = st.me = st.open = null;
	st.rooms.clear();
	st.unread.clear();
	st.pending.clear();
	ui.app.hidden = true;
	ui.signOut.hidden = true;
	ui.signin.hidden = false;
	ui.who.textContent = "";
	ui.rooms.replaceChildren();
	showRoomHead(null);
}

// A REST call as the signed-in user. A refused token (401) ends the
// session: the sign-in form comes back with the service's words.
async function call(method, path, body) {
	try {
		return await api(method, path, { token: st.token, body });
	} catch (e) {
		if (e instanceof ApiError && e.status === 401) {
			signOut();
			showError(`signed out: ${e.message}`);
		}
		throw e;
	}
}

// ---- the websocket ----

function setConn(state, text) {
	ui.conn.dataset.state = state;
	ui.connText.textContent = text;
	ui.reconnect.hidden = state !== "closed";
	const can = state !== "closed" && st.open !== null;
	ui.sendText.disabled = !can;
	ui.sendButton.disabled = !can;
}

function connect() {
	clearTimeout(st.retryTimer);
	const gen = ++st.gen;
	const scheme = location.protocol === "https:" ? "wss:" : "ws:";
	// SPEC.md: ?token= on any path nginx gives the daemons; a JWT needs no encoding.
	const ws = new WebSocket(`${scheme}//${location.host}/?token=${st.token}`);
	st.ws = ws;
	st.disconnection = null;
	setConn("connecting", st.attempt ? `reconnecting (attempt ${st.attempt + 1})…` : "connecting…");
	ws.addEventListener("open", () => {
		if (gen !== st.gen)
			return;
		st.openedAt = Date.now();
		st.final = false;
		setConn("open", "connected");
		// Unconfirmed messages go again under the same temp id: the server
		// stores each once and confirms the retry with the original id.
		for (const p of st.pending.values())
			transmit(p);
	});
	ws.addEventListener("message", (ev) => {
		if (gen !== st.gen)
			return;
		let f;
		try {
			f = JSON.parse(ev.data);
		} catch (e) {
			return;
		}
		onFrame(f);
	});
	ws.addEventListener("close", (ev) => {
		if (gen === st.gen)
			onClose(ev);
	});
}

function onClose(ev) {
	st.ws = null;
	// The Disconnection frame names the code even when the close frame
	// itself got lost on the way (1006).
	const d = st.disconnection;
	const code = d && (ev.code === 1005 || ev.code === 1006) ? d.code : ev.code;
	const words = closeInWords(code, (d && d.reason) || ev.reason);
	if (st.openedAt && Date.now() - st.openedAt > STABLE_MS)
		st.attempt = 0;
	st.openedAt = 0;
	ui.conn.dataset.code = String(code);
	if (RECONNECT_CODES.has(code)) {
		const ms = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** st.attempt) * (0.75 + Math.random() / 4);
		st.attempt++;
		setConn("waiting", `disconnected: ${words}. Reconnecting in ${Math.ceil(ms / 1000)} s…`);
		st.retryTimer = setTimeout(connect, ms);
		return;
	}
	st.final = true;
	setConn("closed", `disconnected: ${words}`);
	for (const [temp, p] of st.pending) {
		markFailed(p.li, `not sent: disconnected (${code})`);
		st.pending.delete(temp);
	}
}

function onFrame(f) {
	const d = f && f.data;
	if (!d)
		return;
	switch (f.type) {
	case "MessageReceived":
		onMessage(d);
		break;
	case "MessageSentConfirmation":
		onConfirmation(d);
		break;
	case "Disconnection":
		st.disconnection = d;
		break;
	}
}

function onMessage(m) {
	const room = st.rooms.get(m.room_id);
	if (!room) {
		loadRooms();	// a room we were just added to
	} else {
		room.last_message = m;
	}
	if (m.room_id === st.open) {
		addMessage(m);
	} else {
		st.unread.set(m.room_id, (st.unread.get(m.room_id) || 0) + 1);
	}
	renderRooms();
}

function onConfirmation(c) {
	const p = st.pending.get(c.message_id);
	if (!p)
		return;
	st.pending.delete(c.message_id);
	if (c.confirmed) {
		p.li.dataset.status = "confirmed";
		p.li.dataset.id = String(c.id);
		p.li.querySelector("time").textContent = when(c.created_at);
		p.li.querySelector(".state").textContent = "✓ sent";
		const room = st.rooms.get(p.data.room_id);
		if (room) {
			room.last_message = { id: c.id, room_id: p.data.room_id, message: p.data.message,
				sender_id: st.me, created_at: c.created_at };
			renderRooms();
		}
	} else {
		markFailed(p.li, `not sent: ${c.reason || "refused"}`);
		// Our screen was stale (removed from the room, or it was deleted):
		// the list catches up, the open room says so.
		if (/not a participant/.test(c.reason || "")) {
			if (p.data.room_id === st.open)
				ui.roomPeople.textContent = "you are no longer a participant of this room";
			loadRooms();
		}
	}
}

function markFailed(li, why) {
	li.dataset.status = "failed";
	li.querySelector(".state").textContent = why;
}

function transmit(p) {
	if (st.ws && st.ws.readyState === WebSocket.OPEN) {
		st.ws.send(JSON.stringify({ type: "SendMessage", data: p.data }));
		p.sent = true;
	}
}

function send(text) {
	const data = { room_id: st.open, message: text, message_temp_id: uuid4() };
	const li = messageItem({ sender_id: st.me, message: text, created_at: null });
	li.dataset.tempId = data.message_temp_id;
	li.dataset.status = "pending";
	li.querySelector(".state").textContent = "sending…";
	appendItem(li);
	const p = { data, li, sent: false };
	if (st.final) {
		markFailed(li, "not sent: not connected");
		return;
	}
	st.pending.set(data.message_temp_id, p);
	transmit(p);	// else it goes once the socket is back
}

// ---- rooms ----

async function loadRooms() {
	if (!st.token)
		return;
	let r;
	try {
		r = await call("GET", "/rooms");
	} catch (e) {
		showError(`rooms: ${e.message}`);
		return;
	}
	st.rooms = new Map(r.data.map((room) => [room.room_id, room]));
	renderRooms();
}

function others(ids) {
	return (ids || []).filter((u) => u !== st.me).map((u) => shortUser(u, st.me));
}

function renderRooms() {
	const items = [];
	const list = [...st.rooms.values()];
	for (const room of list) {
		const b = el("button");
		b.type = "button";
		b.dataset.room = String(room.room_id);
		b.setAttribute("aria-current", room.room_id === st.open ? "true" : "false");
		const with_ = others(room.participants_id);
		b.append(el("span", "title", `Room #${room.room_id}`));
		b.append(document.createTextNode(with_.length ? ` with ${with_.join(", ")}` : " (only you)"));
		const n = st.unread.get(room.room_id);
		if (n)
			b.append(el("span", "badge", String(n)));
		const last = room.last_message;
		b.append(el("span", "last", last
			? `${shortUser(last.sender_id, st.me)}: ${last.message}` : "no messages yet"));
		b.addEventListener("click", () => openRoom(room.room_id));
		const li = el("li");
		li.append(b);
		items.push(li);
	}
	ui.rooms.replaceChildren(...items);
	ui.roomsEmpty.hidden = list.length > 0;
}

function showRoomHead(detail) {
	if (!detail) {
		ui.roomH.textContent = "No room open";
		ui.roomPeople.textContent = "";
		ui.messages.replaceChildren(el("li", "empty", "Open a room on the left."));
		return;
	}
	ui.roomH.textContent = `Room #${detail.room_id}`;
	const with_ = others(detail.participants_id);
	let people = with_.length ? `with ${with_.join(", ")}` : "only you";
	people += detail.owner_id === st.me ? " · you own it" : ` · owner ${shortUser(detail.owner_id, st.me)}`;
	if (detail.apartment_id !== null && detail.apartment_id !== undefined)
		people += ` · apartment ${detail.apartment_id}`;
	ui.roomPeople.textContent = people;
}

async function openRoom(id) {
	st.open = id;
	st.unread.delete(id);
	renderRooms();
	ui.roomH.textContent = `Room #${id}`;
	ui.roomPeople.textContent = "loading…";
	ui.messages.replaceChildren();
	setConn(ui.conn.dataset.state, ui.connText.textContent);	// enables sending
	let detail;
	try {
		detail = await call("GET", `/rooms/${id}`);	// not wrapped in the envelope
	} catch (e) {
		ui.roomPeople.textContent = "";
		showError(`room #${id}: ${e.message}`);
		return;
	}
	if (st.open !== id)
		return;	// another room was opened meanwhile
	say(ui.error, "");
	showRoomHead(detail);
	const items = detail.messages.map((m) => {
		const li = messageItem(m);
		li.dataset.id = String(m.id);
		return li;
	});
	if (!items.length)
		items.push(el("li", "empty", "No messages yet. Say hello."));
	ui.messages.replaceChildren(...items);
	ui.messages.scrollTop = ui.messages.scrollHeight;
	ui.sendText.focus();
}

function messageItem(m) {
	const li = el("li", "msg");
	if (m.sender_id === st.me)
		li.classList.add("mine");
	li.dataset.sender = m.sender_id;
	const meta = el("div", "meta");
	meta.append(el("span", "who", shortUser(m.sender_id, st.me)));
	meta.append(el("time", "", m.created_at ? when(m.created_at) : ""));
	li.append(meta, el("p", "text", m.message), el("div", "state"));
	return li;
}

function appendItem(li) {
	const empty = ui.messages.querySelector(".empty");
	if (empty)
		empty.remove();
	ui.messages.append(li);
	ui.messages.scrollTop = ui.messages.scrollHeight;
}

function addMessage(m) {
	if (ui.messages.querySelector(`li[data-id="${Number(m.id)}"]`))
		return;	// already in the history just loaded
	const li = messageItem(m);
	li.dataset.id = String(m.id);
	appendItem(li);
}

async function createRoom() {
	const users = ui.createUsers.value.split(/[\s,]+/).filter(Boolean);
	const apt = ui.createApartment.value.trim();
	const body = { users, apartment_id: apt === "" ? null : Number(apt) };
	if (apt !== "" && !Number.isInteger(body.apartment_id)) {
		showError("the apartment id must be a whole number");
		return;
	}
	let r;
	try {
		r = await call("POST", "/rooms", body);
	} catch (e) {
		showError(`new room: ${e.message}`);
		return;
	}
	say(ui.error, "");
	ui.createUsers.value = "";
	ui.createApartment.value = "";
	await loadRooms();
	openRoom(r.data);
}

// ---- wiring ----

ui.signOut.addEventListener("click", signOut);
ui.reconnect.addEventListener("click", () => {
	st.attempt = 0;
	connect();
});
ui.roomsRefresh.addEventListener("click", loadRooms);
ui.createForm.addEventListener("submit", (ev) => {
	ev.preventDefault();
	createRoom();
});
ui.sendForm.addEventListener("submit", (ev) => {
	ev.preventDefault();
	const text = ui.sendText.value;
	if (!text.trim() || st.open === null)
		return;
	ui.sendText.value = "";
	send(text);
});
setupSignIn({ session, role: "authenticated", onToken: start, errorBox: ui.error });
if (session.token)
	start(session.token);
