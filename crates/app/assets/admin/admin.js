// The /admin dashboard: live counts, a traffic chart, rooms and the newest
// connections, all read from the gateway's HTTP API with one of its
// `api.keys`. The page itself is public; without a key it shows nothing.
//
// Room names, user ids and peers come from clients: they are only ever
// written with textContent, never parsed as HTML.

const REFRESH_MS = 2000;
const KEY_STORAGE = "sockgate.admin.key";
const MAX_ROOMS = 50;
const CONNECTIONS_LIMIT = 20;

const SERIES = [
  { key: "messages_in", label: "messages in/s", color: "#2f6fde" },
  { key: "publishes", label: "publishes/s", color: "#8e44ad" },
  { key: "deliveries", label: "deliveries/s", color: "#0f9d58" },
];

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";

const API_OFF = "The HTTP API is off: set api.keys in the config.";

const state = {
  apiBase: "/api",
  apiEnabled: true,
  key: null,
  /** Bumped on sign-in and sign-out: a refresh of an older session is dropped. */
  generation: 0,
  timer: null,
};

class ApiError extends Error {
  constructor(status, body, path) {
    const error = body && body.error ? body.error : {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    /** The API's error code; null when the answer was not the API's JSON. */
    this.code = error.code || null;
    this.path = path;
  }
}

/** `<prefix><path>` without a doubled slash. */
function joinPath(prefix, path) {
  return (prefix || "").replace(/\/+$/, "") + path;
}

async function api(key, method, path, body) {
  const headers = { Authorization: `Bearer ${key}` };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(state.apiBase + path, init);
  let json = null;
  try {
    json = await response.json();
  } catch (_) {
    // not JSON (e.g. a proxy's error page)
  }
  if (!response.ok) throw new ApiError(response.status, json, path);
  return json && typeof json === "object" && "result" in json ? json.result : json;
}

// ---- messages -----------------------------------------------------------

function showError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = false;
}

function clearError() {
  const el = $("error");
  el.textContent = "";
  el.hidden = true;
}

/** What to tell the user about a failed call; null when not an API failure. */
function describeFailure(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return { signOut: true, text: "Wrong key: the gateway answered 401 Unauthorized." };
    // With the API off, its path is not routed at all: a plain 404, not
    // the API's JSON error.
    if (error.status === 404 && error.code === null) {
      return { signOut: true, text: API_OFF };
    }
    if (error.status === 404) {
      return { signOut: true, text: `This gateway has no ${state.apiBase}${error.path.split("?")[0]} (an older version?)` };
    }
    return { signOut: false, text: `The gateway answered ${error.status}: ${error.message}` };
  }
  return { signOut: false, text: `The gateway did not answer: ${error.message}` };
}

// ---- views --------------------------------------------------------------

function showSignIn() {
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in-view").hidden = false;
  $("updated").textContent = "";
  $("key-input").focus();
}

function showDashboard() {
  $("sign-in-view").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
}

function signOut(message) {
  state.generation++;
  state.key = null;
  clearTimeout(state.timer);
  state.timer = null;
  sessionStorage.removeItem(KEY_STORAGE);
  clearDashboard();
  showSignIn();
  if (message) showError(message);
  else clearError();
}

/** Tries `key`; on success keeps it and starts refreshing. */
async function signIn(key) {
  const generation = ++state.generation;
  clearTimeout(state.timer);
  const button = $("sign-in");
  button.disabled = true;
  try {
    const data = await load(key);
    if (generation !== state.generation) return;
    state.key = key;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-input").value = "";
    clearError();
    showDashboard();
    render(data);
    schedule(generation);
  } catch (error) {
    if (generation !== state.generation) return;
    const failure = describeFailure(error);
    signOut(failure.text);
  } finally {
    button.disabled = false;
  }
}

function schedule(generation) {
  state.timer = setTimeout(() => refresh(generation), REFRESH_MS);
}

async function refresh(generation) {
  if (generation !== state.generation || !state.key) return;
  try {
    const data = await load(state.key);
    if (generation !== state.generation) return;
    clearError();
    render(data);
  } catch (error) {
    if (generation !== state.generation) return;
    const failure = describeFailure(error);
    if (failure.signOut) {
      signOut(failure.text);
      return;
    }
    showError(failure.text);
  }
  schedule(generation);
}

/** Refreshes now (after an action) without waiting for the next tick. */
function refreshNow() {
  clearTimeout(state.timer);
  refresh(state.generation);
}

async function load(key) {
  const [stats, rooms, connections] = await Promise.all([
    api(key, "GET", "/stats"),
    api(key, "GET", "/rooms"),
    api(key, "GET", `/connections?limit=${CONNECTIONS_LIMIT}`),
  ]);
  return { stats, rooms, connections };
}

// ---- rendering ------------------------------------------------------------

function render({ stats, rooms, connections }) {
  renderCounts(stats || {});
  renderChart((stats && stats.history) || {});
  renderRooms((rooms && rooms.rooms) || []);
  renderConnections((connections && connections.connections) || []);
  $("updated").textContent = `updated ${formatClock(Date.now())}`;
}

function clearDashboard() {
  for (const id of ["count-total", "count-raw", "count-socketio-websocket", "count-socketio-polling", "count-rooms"]) {
    $(id).textContent = "–";
  }
  $("rooms-table").tBodies[0].replaceChildren();
  $("connections-table").tBodies[0].replaceChildren();
  $("rate-chart").replaceChildren();
  $("chart-legend").replaceChildren();
  for (const id of ["rooms-caption", "connections-caption", "chart-caption"]) $(id).textContent = "";
}

function number(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function renderCounts(stats) {
  const c = stats.connections || {};
  $("count-total").textContent = String(number(c.total));
  $("count-raw").textContent = String(number(c.raw));
  $("count-socketio-websocket").textContent = String(number(c.socketio_websocket));
  $("count-socketio-polling").textContent = String(number(c.socketio_polling));
  $("count-rooms").textContent = String(number(stats.rooms));
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderRooms(rooms) {
  const sorted = rooms
    .filter((r) => r && typeof r.room === "string")
    .sort((a, b) => number(b.members) - number(a.members) || (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
  const shown = sorted.slice(0, MAX_ROOMS);
  const rows = shown.map((r) => {
    const tr = document.createElement("tr");
    tr.setAttribute("data-room", r.room);
    tr.append(cell(r.room, "room"), cell(String(number(r.members)), "num members"));
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = cell("no rooms", "muted");
    td.colSpan = 2;
    tr.append(td);
    rows.push(tr);
  }
  $("rooms-table").tBodies[0].replaceChildren(...rows);
  const total = sorted.length;
  $("rooms-caption").textContent =
    total > MAX_ROOMS ? `${total} rooms, the ${MAX_ROOMS} biggest shown` : `${total} room${total === 1 ? "" : "s"}`;
}

function protocolText(c) {
  if (c.protocol === "raw") return "raw";
  let text = c.protocol || "?";
  if (c.namespace && c.namespace !== "/") text += ` ${c.namespace}`;
  if (c.transport) text += ` · ${c.transport}`;
  return text;
}

function sinceText(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return String(iso ?? "");
  const seconds = Math.max(0, Math.round((Date.now() - at.getTime()) / 1000));
  let age;
  if (seconds < 60) age = `${seconds} s`;
  else if (seconds < 3600) age = `${Math.floor(seconds / 60)} min`;
  else if (seconds < 86400) age = `${Math.floor(seconds / 3600)} h`;
  else age = `${Math.floor(seconds / 86400)} d`;
  return `${formatClock(at.getTime())} (${age} ago)`;
}

/**
 * Updates the connection rows in place, keyed by sid, so a row (and its
 * Disconnect button) is not replaced under the pointer at every refresh.
 */
function renderConnections(connections) {
  const body = $("connections-table").tBodies[0];
  const existing = new Map();
  for (const tr of body.querySelectorAll("tr[data-sid]")) existing.set(tr.getAttribute("data-sid"), tr);
  const rows = [];
  for (const c of connections) {
    if (!c || typeof c.sid !== "string") continue;
    let tr = existing.get(c.sid);
    if (!tr) tr = newConnectionRow(c.sid);
    const cells = tr.cells;
    cells[1].textContent = protocolText(c);
    cells[2].textContent = c.peer == null ? "" : String(c.peer);
    cells[3].textContent = c.user == null ? "–" : String(c.user);
    cells[4].textContent = Array.isArray(c.rooms) && c.rooms.length ? c.rooms.join(", ") : "–";
    cells[5].textContent = sinceText(c.connected_since);
    cells[5].title = c.connected_since == null ? "" : String(c.connected_since);
    rows.push(tr);
  }
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = cell("no connections", "muted");
    td.colSpan = 7;
    tr.append(td);
    rows.push(tr);
  }
  // Reinsert only when the set or order changed (a click in progress stays put).
  const current = Array.from(body.children);
  if (current.length !== rows.length || current.some((tr, i) => tr !== rows[i])) body.replaceChildren(...rows);
  $("connections-caption").textContent = `the ${CONNECTIONS_LIMIT} newest, newest first`;
}

function newConnectionRow(sid) {
  const tr = document.createElement("tr");
  tr.setAttribute("data-sid", sid);
  tr.append(cell(sid, "sid"), cell(""), cell("", "peer"), cell(""), cell("", "rooms"), cell("", "since"));
  const td = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "disconnect danger";
  button.textContent = "Disconnect";
  button.addEventListener("click", () => disconnect(sid, button));
  td.append(button);
  tr.append(td);
  return tr;
}

async function disconnect(sid, button) {
  if (!state.key) return;
  button.disabled = true;
  button.textContent = "Disconnecting…";
  try {
    await api(state.key, "POST", "/disconnect", { sid });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && error.code === "not_found") {
      // The connection was already gone.
    } else {
      const failure = describeFailure(error);
      if (failure.signOut) {
        signOut(failure.text);
        return;
      }
      showError(`Disconnect ${sid}: ${failure.text}`);
      button.disabled = false;
      button.textContent = "Disconnect";
      return;
    }
  }
  refreshNow();
}

// ---- chart ----------------------------------------------------------------

function svg(name, attributes, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attributes || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** The y axis: a 1, 2, 2.5 or 5 × 10^n step, about four of them up to `max`. */
function yAxis(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const rough = max / 4;
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough);
  return { top: step * Math.ceil(max / step - 1e-9), step };
}

function formatRate(value) {
  if (value >= 10000) return `${Math.round(value / 1000)}k`;
  if (value >= 1000) return `${(value / 1000).toFixed(2).replace(/\.?0+$/, "")}k`;
  if (value >= 100 || Number.isInteger(value)) return String(Math.round(value));
  return value.toFixed(value >= 10 ? 1 : 2).replace(/\.?0+$/, "");
}

function formatClock(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function renderChart(history) {
  const chart = $("rate-chart");
  const interval = number(history.interval_seconds) || 5;
  const samples = (Array.isArray(history.samples) ? history.samples : []).filter((s) => s && Number.isFinite(s.at));

  const width = Math.max(320, Math.round(chart.clientWidth || 800));
  const height = 260;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const m = { left: 56, right: 16, top: 14, bottom: 40 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const parts = [];

  const minutes = (samples.length * interval) / 60;
  $("chart-caption").textContent = samples.length
    ? `per second, over the last ${minutes >= 1 ? `${Math.round(minutes)} min` : `${Math.round(minutes * 60)} s`}, one sample every ${interval} s`
    : "";

  // Rates, per series.
  const rates = SERIES.map((s) => samples.map((sample) => number(sample[s.key]) / interval));
  const { top, step } = yAxis(Math.max(0, ...rates.flat()));
  const last = samples.length ? samples[samples.length - 1].at : Date.now();
  // At least a minute wide, so the first samples do not fill the whole width.
  const first = samples.length ? Math.min(samples[0].at, last - 12 * interval * 1000) : last - 12 * interval * 1000;
  const span = Math.max(1, last - first);
  const x = (at) => m.left + ((at - first) / span) * plotW;
  const y = (rate) => m.top + plotH - (rate / top) * plotH;

  // Horizontal grid lines and y labels.
  const steps = Math.round(top / step);
  for (let i = 0; i <= steps; i++) {
    const value = step * i;
    const yy = y(value);
    parts.push(svg("line", { x1: m.left, x2: m.left + plotW, y1: yy, y2: yy, class: i === 0 ? "axis" : "grid" }));
    parts.push(svg("text", { x: m.left - 6, y: yy + 4, "text-anchor": "end", class: "tick" }, formatRate(value)));
  }
  parts.push(svg("line", { x1: m.left, x2: m.left, y1: m.top, y2: m.top + plotH, class: "axis" }));
  // x labels: clock times.
  const xTicks = 5;
  for (let i = 0; i <= xTicks; i++) {
    const at = first + (span * i) / xTicks;
    const xx = x(at);
    parts.push(svg("line", { x1: xx, x2: xx, y1: m.top + plotH, y2: m.top + plotH + 4, class: "axis" }));
    const anchor = i === 0 ? "start" : i === xTicks ? "end" : "middle";
    parts.push(svg("text", { x: xx, y: m.top + plotH + 17, "text-anchor": anchor, class: "tick" }, formatClock(at)));
  }
  // Axis titles.
  parts.push(
    svg(
      "text",
      { x: 14, y: m.top + plotH / 2, "text-anchor": "middle", class: "axis-title", transform: `rotate(-90 14 ${m.top + plotH / 2})` },
      "per second",
    ),
  );
  parts.push(svg("text", { x: m.left + plotW / 2, y: height - 4, "text-anchor": "middle", class: "axis-title" }, "time"));

  if (samples.length) {
    SERIES.forEach((s, index) => {
      const points = samples.map((sample, i) => `${x(sample.at).toFixed(1)},${y(rates[index][i]).toFixed(1)}`);
      const peak = Math.max(...rates[index]);
      parts.push(
        svg("polyline", {
          points: points.join(" "),
          fill: "none",
          stroke: s.color,
          "stroke-width": 2,
          class: `series ${s.key}`,
          "data-peak": peak,
        }),
      );
      if (samples.length <= 3) {
        samples.forEach((sample, i) => {
          parts.push(svg("circle", { cx: x(sample.at), cy: y(rates[index][i]), r: 3, fill: s.color }));
        });
      }
    });
  } else {
    parts.push(
      svg(
        "text",
        { x: m.left + plotW / 2, y: m.top + plotH / 2, "text-anchor": "middle", class: "empty" },
        `no samples yet: the first one comes ${interval} s after the gateway starts`,
      ),
    );
  }
  chart.replaceChildren(...parts);
  chart.setAttribute("data-samples", String(samples.length));

  // Legend, with the latest rate of each series.
  const legend = SERIES.map((s, index) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = s.color;
    const label = document.createElement("span");
    label.textContent = s.label;
    const value = document.createElement("span");
    value.className = "latest";
    const series = rates[index];
    value.textContent = series.length ? formatRate(series[series.length - 1]) : "–";
    li.append(swatch, label, value);
    return li;
  });
  $("chart-legend").replaceChildren(...legend);
}

// ---- start ----------------------------------------------------------------

async function main() {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (key) signIn(key);
  });
  $("sign-out").addEventListener("click", () => signOut());

  try {
    const response = await fetch("./config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const config = await response.json();
    state.apiBase = joinPath(config.prefix, config.api_path || "/api");
    state.apiEnabled = config.api_enabled !== false;
  } catch (error) {
    showError(`Could not read config.json (${error.message}); trying the API at ${state.apiBase}.`);
  }
  if (!state.apiEnabled) {
    // Nothing to sign in to; the form stays, so the page still explains itself.
    sessionStorage.removeItem(KEY_STORAGE);
    showSignIn();
    showError(API_OFF);
    return;
  }

  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) signIn(saved);
  else showSignIn();
}

main();
