// What the chat page and the admin console share: the signed-in session
// (a token in this tab's sessionStorage), REST calls that turn every
// error into its message, the websocket close codes in words, and the
// sign-in panel (a pasted token, or a dev token minted by POST /dev/token
// where the stack offers it). Plain ES module, no dependencies.

// SPEC.md section 3, and the standard codes a browser may report.
export const CLOSE_CODES = {
	1000: ["Normal closure", "the connection was closed normally"],
	1001: ["Going away", "the server or this page went away"],
	1005: ["No status", "the server closed without giving a code"],
	1006: ["Connection lost", "the connection dropped without a close (network or server down)"],
	4001: ["CloseNoAuthToken", "no token was sent"],
	4002: ["CloseInvalidToken", "the token was refused (invalid or expired): sign in again"],
	4003: ["CloseAFK", "closed after too long without activity"],
	4004: ["CloseAdminAction", "an administrator disconnected you"],
	4005: ["CloseBanned", "you are banned from the chat"],
	4006: ["ServerError", "the server had an error on this connection"],
	4007: ["ServerShutdown", "the server is restarting"],
	4008: ["CloseNewDevice", "you connected from another tab or device"],
	4009: ["ConnectionClosed", "the server ended the session (token expired, or the connection was too slow)"],
	4010: ["BadMessageStructure", "the server could not read what this page sent"],
	4011: ["HatefullSpeach", "a message matched the moderation list"],
	4012: ["UnAuthorizedAction", "too many actions you are not allowed to do"],
};

// The codes after which a client reconnects by itself (SPEC.md: the app's
// rule is 4006, 4007, 4009; 1006 is a dropped network). Any other code is
// final until the user asks: reconnecting after a ban or a new device
// would only loop.
export const RECONNECT_CODES = new Set([1006, 4006, 4007, 4009]);

// "4005 CloseBanned: you are banned from the chat (reason)".
export function closeInWords(code, reason) {
	const known = CLOSE_CODES[code];
	let s = known ? `${code} ${known[0]}: ${known[1]}` : `${code}: unknown close code`;
	if (reason && (!known || reason !== known[0]))
		s += ` (${reason})`;
	return s;
}

// An error of a REST call: status 0 when the request never got an answer.
export class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

// A REST call. Resolves to the parsed JSON body of a 2xx answer; rejects
// with an ApiError carrying the service's own error_message (every error
// of the service, nginx's included, has one).
export async function api(method, path, { token, body } = {}) {
	const headers = {};
	if (token)
		headers.Authorization = "Bearer " + token;
	if (body !== undefined)
		headers["Content-Type"] = "application/json";
	let res;
	try {
		res = await fetch(path, {
			method, headers, cache: "no-store",
			body: body === undefined ? undefined : JSON.stringify(body),
		});
	} catch (e) {
		throw new ApiError(0, `${method} ${path}: no answer (${e.message})`);
	}
	const text = await res.text();
	let json = null;
	try {
		json = text ? JSON.parse(text) : null;
	} catch (e) {
		json = null;
	}
	if (!res.ok) {
		const msg = json && (json.error_message || json.message);
		throw new ApiError(res.status, `${res.status}: ${msg || res.statusText || "request failed"}`);
	}
	return json;
}

// The claims of a token, unverified (for showing who is signed in; the
// service verifies). null when it is not a JWT.
export function tokenClaims(token) {
	try {
		const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
		return JSON.parse(atob(part + "=".repeat((4 - part.length % 4) % 4)));
	} catch (e) {
		return null;
	}
}

// A random UUID (v4). crypto.randomUUID exists only on secure pages.
export function uuid4() {
	if (crypto.randomUUID)
		return crypto.randomUUID();
	const b = crypto.getRandomValues(new Uint8Array(16));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// The session of this tab, one per page kind (key), so a tab can hold a
// user's chat and another the admin console.
export class Session {
	constructor(key) {
		this.key = key;
	}
	get token() {
		return sessionStorage.getItem(this.key);
	}
	set token(t) {
		if (t)
			sessionStorage.setItem(this.key, t);
		else
			sessionStorage.removeItem(this.key);
	}
	get claims() {
		return this.token ? tokenClaims(this.token) : null;
	}
}

// An element by id; a missing one is a bug of the page.
export function $(id) {
	const el = document.getElementById(id);
	if (!el)
		throw new Error(`no element #${id}`);
	return el;
}

// A new element with a class and text (text, never HTML: nothing a user
// or the server sends is ever parsed as markup).
export function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls)
		e.className = cls;
	if (text !== undefined && text !== null)
		e.textContent = text;
	return e;
}

// A user id as people read it: its first block, "you" for oneself.
export function shortUser(id, me) {
	if (id && me && id === me)
		return "you";
	return id ? id.slice(0, 8) : "?";
}

// A timestamp of the API as a local time of day (date too when not today).
export function when(iso) {
	const d = new Date(iso);
	if (isNaN(d))
		return "";
	const today = new Date().toDateString() === d.toDateString();
	return today ? d.toLocaleTimeString() : d.toLocaleString();
}

// Show a message in a status element: kind "error" or "info"; "" clears.
export function say(target, text, kind = "error") {
	target.textContent = text || "";
	target.dataset.kind = text ? kind : "";
	target.hidden = !text;
}

// The sign-in panel of a page. ids: the form with a token field, and the
// dev form with a user id field, which shows only when POST /dev/token
// exists (CHAT_DEV=1: the stack answers 405 to this GET; a deployment
// answers 404 and the form stays hidden). onToken(token) runs after a
// sign-in.
export function setupSignIn({ session, role, onToken, errorBox }) {
	const form = $("token-form"), field = $("token-field");
	const devForm = $("dev-form"), devUser = $("dev-user");

	form.addEventListener("submit", (ev) => {
		ev.preventDefault();
		const t = field.value.trim();
		const c = tokenClaims(t);
		if (!c || !c.sub) {
			say(errorBox, "that is not an access token (a JWT with a user id)");
			return;
		}
		field.value = "";
		session.token = t;
		onToken(t);
	});
	devUser.value = uuid4();
	devForm.addEventListener("submit", async (ev) => {
		ev.preventDefault();
		try {
			const r = await api("POST", "/dev/token",
				{ body: { user_id: devUser.value.trim(), role } });
			session.token = r.data.token;
			onToken(r.data.token);
		} catch (e) {
			say(errorBox, "dev token: " + e.message);
		}
	});
	fetch("/dev/token", { method: "GET", cache: "no-store" }).then((res) => {
		devForm.hidden = res.status === 404;
		devForm.dataset.probed = "1";
	}, () => {
		devForm.dataset.probed = "1";
	});
}
