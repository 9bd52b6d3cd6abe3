// The admin console: live figures from the tiers' Prometheus expositions
// (GET /metrics for the REST tier, /metrics/ws/1..N for the daemons, the
// names docs/metrics.md lists, as docs/web.md says), drawn as
// sparklines that update every POLL_MS; and the administration of SPEC.md
// section 5 (disconnect, ban, unban) with a service_role token.
import { api, CLOSE_CODES, Session, $, el, say, setupSignIn, shortUser } from "../common/api.js";

const session = new Session("swappart.admin.token");
const POLL_MS = 2000;
const POINTS = 60;	// two minutes of history per chart
const MAX_DAEMONS = 64;	// /metrics/ws/N is probed up to its first 404

const ui = {
	error: $("error"), signin: $("signin"), app: $("app"), who: $("who"),
	signOut: $("sign-out"), sources: $("sources"), metricsError: $("metrics-error"),
	figures: $("figures"), closes: $("closes"), actUser: $("act-user"),
	actReason: $("act-reason"), log: $("log"),
};

// ---- the exposition ----

// Prometheus text format 0.0.4: one sample per line, "# " lines skipped.
export function parseExposition(text) {
	const out = [];
	const line = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
	const label = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;
	for (const raw of text.split("\n")) {
		const s = raw.trim();
		if (!s || s.startsWith("#"))
			continue;
		const m = line.exec(s);
		if (!m)
			continue;
		const labels = {};
		if (m[2]) {
			label.lastIndex = 0;
			let l;
			while ((l = label.exec(m[2])) !== null)
				labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
		}
		const v = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
		out.push({ name: m[1], labels, value: v });
	}
	return out;
}

// The sum of a metric's samples (all label sets), or null when absent.
function total(samples, name, pred) {
	let sum = null;
	for (const s of samples) {
		if (s.name === name && (!pred || pred(s.labels)))
			sum = (sum || 0) + s.value;
	}
	return sum;
}

// ---- figures ----

// What each card shows: kind "gauge" is the value itself; "rate" is the
// counter's increase per second between two polls; "mean" is the
// increase of a histogram's _sum over that of its _count (a mean over
// the interval), times scale.
export const FIGURES = [
	{ id: "connections", title: "Open websocket connections", unit: "", kind: "gauge",
		tier: "ws", metric: "chat_ws_connections" },
	{ id: "messages", title: "Messages stored", unit: "/s", kind: "rate",
		tier: "ws", metric: "chat_ws_messages_stored_total" },
	{ id: "store", title: "Store latency (mean per batch)", unit: "ms", kind: "mean",
		tier: "ws", metric: "chat_ws_store_seconds", scale: 1000 },
	{ id: "delivered", title: "Messages delivered", unit: "/s", kind: "rate",
		tier: "ws", metric: "chat_ws_messages_delivered_total" },
	{ id: "rest", title: "REST requests", unit: "/s", kind: "rate",
		tier: "rest", metric: "chat_rest_requests_total" },
	{ id: "rest-latency", title: "REST latency (mean)", unit: "ms", kind: "mean",
		tier: "rest", metric: "chat_rest_request_seconds", scale: 1000 },
];

const SVG = "http://www.w3.org/2000/svg";
const series = new Map();	// figure id -> [value or null]
let prev = null;		// {t, raw} of the previous poll

function buildFigures() {
	const cards = FIGURES.map((f) => {
		const card = el("div", "card figure");
		card.id = "fig-" + f.id;
		card.dataset.metric = f.metric;
		card.append(el("h3", "", f.title));
		const v = el("p", "value", "–");
		v.dataset.role = "value";
		card.append(v);
		const svg = document.createElementNS(SVG, "svg");
		svg.setAttribute("viewBox", "0 0 120 40");
		svg.setAttribute("preserveAspectRatio", "none");
		svg.setAttribute("role", "img");
		svg.setAttribute("aria-label", `${f.title}, last two minutes`);
		card.append(svg);
		series.set(f.id, []);
		return card;
	});
	ui.figures.replaceChildren(...cards);
}

function fmt(v) {
	if (v === null || v === undefined || !isFinite(v))
		return "–";
	if (Math.abs(v) >= 100)
		return String(Math.round(v));
	if (Math.abs(v) >= 10)
		return v.toFixed(1);
	return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

// A sparkline of pts (nulls are gaps, dropped) over the last POINTS polls.
function draw(svg, pts) {
	const vals = pts.filter((v) => v !== null && isFinite(v));
	const max = Math.max(1e-9, ...vals);
	const x = (i) => (120 * (i + POINTS - pts.length)) / (POINTS - 1);
	const y = (v) => 38 - (36 * v) / max;
	const coords = [];
	pts.forEach((v, i) => {
		if (v !== null && isFinite(v))
			coords.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
	});
	const base = document.createElementNS(SVG, "line");
	base.setAttribute("class", "base");
	base.setAttribute("x1", "0");
	base.setAttribute("x2", "120");
	base.setAttribute("y1", "38");
	base.setAttribute("y2", "38");
	const kids = [base];
	if (coords.length) {
		const first = coords[0].split(",")[0], last = coords[coords.length - 1].split(",")[0];
		const area = document.createElementNS(SVG, "polygon");
		area.setAttribute("class", "area");
		area.setAttribute("points", `${first},38 ${coords.join(" ")} ${last},38`);
		const line = document.createElementNS(SVG, "polyline");
		line.setAttribute("points", coords.join(" "));
		kids.push(area, line);
	}
	svg.replaceChildren(...kids);
}

export function figureValue(f, now, before, dt) {
	const cur = now[f.tier];
	if (!cur)
		return { missing: true };
	if (f.kind === "gauge") {
		const v = total(cur, f.metric);
		return v === null ? { missing: true } : { value: v };
	}
	const old = before && before[f.tier];
	if (f.kind === "rate") {
		const a = total(cur, f.metric);
		if (a === null)
			return { missing: true };
		const b = old ? total(old, f.metric) : null;
		// no earlier poll, or a counter that went back (a tier restarted)
		return { value: b === null || a < b || !dt ? null : (a - b) / dt };
	}
	const sum = total(cur, f.metric + "_sum"), cnt = total(cur, f.metric + "_count");
	if (sum === null || cnt === null)
		return { missing: true };
	const s0 = old ? total(old, f.metric + "_sum") : null;
	const c0 = old ? total(old, f.metric + "_count") : null;
	if (s0 === null || c0 === null || cnt <= c0)
		return { value: null };	// nothing measured in this interval
	return { value: ((sum - s0) / (cnt - c0)) * (f.scale || 1) };
}

function render(now, before, dt) {
	for (const f of FIGURES) {
		const card = $("fig-" + f.id);
		const r = figureValue(f, now, before, dt);
		const pts = series.get(f.id);
		pts.push(r.missing ? null : r.value);
		if (pts.length > POINTS)
			pts.shift();
		card.dataset.missing = r.missing ? "true" : "false";
		const v = card.querySelector("[data-role=value]");
		v.replaceChildren(document.createTextNode(r.missing ? "not exported" : fmt(r.value)));
		if (!r.missing && f.unit)
			v.append(el("span", "unit", f.unit));
		v.dataset.value = r.missing || r.value === null ? "" : String(r.value);
		draw(card.querySelector("svg"), pts);
	}
	// closes by code, summed over the daemons
	const byCode = new Map();
	for (const s of now.ws || []) {
		if (s.name === "chat_ws_connections_closed_total")
			byCode.set(s.labels.code, (byCode.get(s.labels.code) || 0) + s.value);
	}
	const rows = [...byCode.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])))
		.map(([code, n]) => {
			const tr = el("tr");
			const known = CLOSE_CODES[code];
			tr.append(el("td", "", code), el("td", "", known ? `${known[0]}: ${known[1]}` : "other"),
				el("td", "num", fmt(n)));
			return tr;
		});
	if (!rows.length) {
		const tr = el("tr");
		const td = el("td", "", "none yet");
		td.colSpan = 3;
		tr.append(td);
		rows.push(tr);
	}
	ui.closes.replaceChildren(...rows);
}

// One exposition: samples, or null with the reason in errs.
async function scrape(path, errs) {
	let res;
	try {
		res = await fetch(path, { cache: "no-store" });
	} catch (e) {
		errs.push(`${path}: no answer`);
		return { samples: null, status: 0 };
	}
	const text = await res.text();
	const type = res.headers.get("Content-Type") || "";
	if (!res.ok || !type.startsWith("text/plain")) {
		let msg = res.statusText;
		try {
			msg = JSON.parse(text).error_message || msg;
		} catch (e) {
			/* not JSON: the status text */
		}
		if (res.ok)
			msg = `not an exposition (${type || "no type"})`;
		errs.push(`${path}: ${res.status} ${msg}`);
		return { samples: null, status: res.status };
	}
	return { samples: parseExposition(text), status: res.status };
}

let polling = false;
async function poll() {
	if (polling || !session.token)
		return;
	polling = true;
	try {
		const errs = [];
		const t = performance.now() / 1000;
		const rest = await scrape("/metrics", errs);
		const ws = [];
		let daemons = 0;
		for (let n = 1; n <= MAX_DAEMONS; n++) {
			const e2 = [];
			const r = await scrape(`/metrics/ws/${n}`, e2);
			if (r.status === 404 && n > 1)
				break;	// past the last daemon
			if (!r.samples) {
				errs.push(...e2);
				break;
			}
			daemons++;
			ws.push(...r.samples);
		}
		const now = { rest: rest.samples, ws: daemons ? ws : null };
		const dt = prev ? t - prev.t : 0;
		render(now, prev && prev.raw, dt);
		prev = { t, raw: now };
		ui.figures.dataset.polls = String(Number(ui.figures.dataset.polls || 0) + 1);
		ui.sources.textContent = `REST tier: ${rest.samples ? "figures" : "no figures"} · ` +
			`websocket daemons with figures: ${daemons} · every ${POLL_MS / 1000} s`;
		say(ui.metricsError, errs.length ? `figures unavailable: ${errs.join("; ")}` : "", "info");
	} finally {
		polling = false;
	}
}

// ---- administration ----

function logLine(text, ok) {
	const li = el("li", "", `${new Date().toLocaleTimeString()} ${text}`);
	li.dataset.ok = ok ? "true" : "false";
	ui.log.prepend(li);
}

async function act(what) {
	const user = ui.actUser.value.trim();
	if (!user) {
		say(ui.error, "enter a user id first");
		return;
	}
	const reason = ui.actReason.value.trim();
	const path = what === "disconnect" ? `/admin/users/${encodeURIComponent(user)}/disconnect`
		: `/admin/bans/${encodeURIComponent(user)}`;
	const method = what === "disconnect" ? "POST" : what === "ban" ? "PUT" : "DELETE";
	const body = what === "ban" && reason ? { reason } : undefined;
	try {
		await api(method, path, { token: session.token, body });
		say(ui.error, "");
		const done = { disconnect: "disconnected", ban: "banned", unban: "unbanned" }[what];
		logLine(`${done} ${user}${body ? ` (${reason})` : ""}`, true);
	} catch (e) {
		say(ui.error, `${what} ${shortUser(user)}: ${e.message}`);
		logLine(`${what} ${user} failed: ${e.message}`, false);
	}
}

// ---- session ----

let timer = 0;
function start() {
	const c = session.claims;
	if (!c || !c.sub) {
		signOut();
		return;
	}
	ui.signin.hidden = true;
	ui.app.hidden = false;
	ui.signOut.hidden = false;
	ui.who.textContent = `signed in as ${c.sub} (${c.role || "no role"})`;
	if (c.role !== "service_role")
		say(ui.error, "this token's role is not service_role: the service will refuse every action (403)");
	else
		say(ui.error, "");
	buildFigures();
	prev = null;
	poll();
	clearInterval(timer);
	timer = setInterval(poll, POLL_MS);
}

function signOut() {
	clearInterval(timer);
	session.token = null;
	ui.app.hidden = true;
	ui.signOut.hidden = true;
	ui.signin.hidden = false;
	ui.who.textContent = "";
}

ui.signOut.addEventListener("click", signOut);
$("act-form").addEventListener("submit", (ev) => ev.preventDefault());
$("act-disconnect").addEventListener("click", () => act("disconnect"));
$("act-ban").addEventListener("click", () => act("ban"));
$("act-unban").addEventListener("click", () => act("unban"));
setupSignIn({ session, role: "service_role", onToken: start, errorBox: ui.error });
if (session.token)
	start();
