// The /demo page: one socket.io client and one raw WebSocket client
// (sockgate-client) in the same room, each with its messages and a log of
// what it sends and receives. No framework, no build step.
//
// Everything shown comes from the network (other people may be in the demo
// room too), so it is only ever written with textContent.

const MAX_MESSAGES = 200;
const MAX_FRAMES = 300;

const $ = (id) => document.getElementById(id);

/** `<base><path>` without doubled slashes; `path` starts with "/". */
function join(prefix, path) {
  return (prefix || "").replace(/\/+$/, "") + path;
}

function withTrailingSlash(path) {
  return path.endsWith("/") ? path : path + "/";
}

function clock() {
  const d = new Date();
  return d.toTimeString().slice(0, 8);
}

/** A short random name, so two tabs can tell each other apart. */
function nickname(kind) {
  return `${kind}-${Math.floor(1000 + Math.random() * 9000)}`;
}

/** The text of a chat payload, whatever another client sent. */
function chatText(data) {
  if (data && typeof data === "object" && typeof data.text === "string") return data.text;
  if (typeof data === "string") return data;
  try {
    return JSON.stringify(data);
  } catch (_) {
    return String(data);
  }
}

/** A connect failure, with the likeliest cause of a refusal from this very page. */
function connectErrorText(message) {
  return `connect error: ${message} (if server.allowed_origins is set, it must list ${location.origin})`;
}

function chatFrom(data) {
  return data && typeof data === "object" && typeof data.from === "string" ? data.from : "someone";
}

function appendCapped(list, item, max) {
  const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 30;
  list.append(item);
  while (list.children.length > max) list.firstElementChild.remove();
  if (stick) list.scrollTop = list.scrollHeight;
}

/** One pane's view: status line, message list, frame log, composer. */
class Pane {
  constructor(prefix) {
    this.status = $(`${prefix}-status`);
    this.messages = $(`${prefix}-messages`);
    this.frames = $(`${prefix}-frames`);
    this.form = $(`${prefix}-form`);
    this.input = $(`${prefix}-input`);
    this.button = $(`${prefix}-send`);
    this.onSend = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.input.value.trim();
      if (!text || !this.onSend) return;
      this.input.value = "";
      this.onSend(text);
    });
  }

  setStatus(state, text) {
    this.status.dataset.state = state;
    this.status.textContent = text;
  }

  message(kind, from, text, note) {
    const li = document.createElement("li");
    li.className = `msg ${kind}`;
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = kind === "mine" ? `${from} (you)` : from;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    const time = document.createElement("time");
    time.textContent = clock();
    li.append(who, body, time);
    if (note) {
      const small = document.createElement("span");
      small.className = "note";
      small.textContent = note;
      li.append(small);
    }
    appendCapped(this.messages, li, MAX_MESSAGES);
    return li;
  }

  /** `dir`: "out" (sent), "in" (received) or "info" (a local event). */
  frame(dir, text, note) {
    const li = document.createElement("li");
    li.className = `frame ${dir}`;
    li.dataset.dir = dir;
    const arrow = document.createElement("span");
    arrow.className = "dir";
    arrow.textContent = dir === "out" ? "→" : dir === "in" ? "←" : "•";
    const wire = document.createElement("code");
    wire.textContent = text;
    li.append(arrow, wire);
    if (note) {
      const small = document.createElement("span");
      small.className = "note";
      small.textContent = note;
      li.append(small);
    }
    appendCapped(this.frames, li, MAX_FRAMES);
  }

  disable(reason) {
    this.input.disabled = true;
    this.button.disabled = true;
    this.input.placeholder = reason;
  }
}

// ---- socket.io pane ---------------------------------------------------------

const EIO_TYPES = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];
const SIO_TYPES = ["CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"];

/** An engine.io packet as it is written on the wire (text), with a label. */
function describeEnginePacket(packet) {
  const code = EIO_TYPES.indexOf(packet.type);
  let data = "";
  if (typeof packet.data === "string") data = packet.data;
  else if (packet.data != null) data = `<${packet.data.byteLength ?? "?"} bytes>`;
  let note = `engine.io ${packet.type}`;
  if (packet.type === "message" && typeof packet.data === "string") {
    const sio = SIO_TYPES[Number(packet.data[0])];
    if (sio) note += ` · socket.io ${sio}`;
  }
  return { wire: `${code >= 0 ? code : "?"}${data}`, note };
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}

async function startSocketIo(config, pane) {
  const path = withTrailingSlash(join(config.prefix, config.socketio_path));
  try {
    if (typeof window.io !== "function") await loadScript(`${path}socket.io.min.js`);
  } catch (error) {
    pane.setStatus("error", error.message);
    pane.disable("socket.io client unavailable");
    return;
  }
  const room = config.room;
  const me = nickname("web");
  const socket = window.io(location.origin, { path });
  const manager = socket.io;
  const hooked = new WeakSet();
  const hook = (engine) => {
    if (!engine || hooked.has(engine)) return;
    hooked.add(engine);
    engine.on("packetCreate", (packet) => {
      const { wire, note } = describeEnginePacket(packet);
      pane.frame("out", wire, note);
    });
    engine.on("packet", (packet) => {
      const { wire, note } = describeEnginePacket(packet);
      pane.frame("in", wire, note);
    });
    engine.on("upgrade", (transport) => {
      pane.frame("info", `upgraded to ${transport.name}`);
      showConnected();
    });
  };
  hook(manager.engine);
  manager.on("open", () => hook(manager.engine));
  manager.on("reconnect_attempt", (n) => pane.frame("info", `reconnecting (attempt ${n})`));

  let joined = false;
  const transportName = () => (manager.engine && manager.engine.transport ? manager.engine.transport.name : "?");
  const showConnected = () => {
    if (socket.connected && joined) {
      pane.setStatus("connected", `connected · sid ${socket.id} · ${transportName()} · in ${room}`);
    }
  };

  socket.on("connect", () => {
    joined = false;
    pane.setStatus("joining", `connected · sid ${socket.id} · joining ${room}…`);
    // socket.io rooms do not survive a reconnect: join on every connect.
    socket.emit("join", room, (ack) => {
      if (ack && ack.ok) {
        joined = true;
        showConnected();
      } else {
        pane.setStatus("error", `join refused: ${JSON.stringify(ack)}`);
      }
    });
  });
  socket.on("disconnect", (reason) => {
    joined = false;
    pane.setStatus("disconnected", `disconnected (${reason})`);
    pane.frame("info", `disconnect: ${reason}`);
  });
  socket.on("connect_error", (error) => {
    pane.setStatus("error", connectErrorText(error.message));
  });
  socket.on("chat", (data) => {
    pane.message("theirs", chatFrom(data), chatText(data));
  });

  pane.onSend = (text) => {
    const li = pane.message("mine", me, text, "sending…");
    const note = li.querySelector(".note");
    socket.emit("publish", { room, event: "chat", data: { from: me, text } }, (ack) => {
      if (ack && ack.ok) note.textContent = "✓";
      else {
        note.textContent = `refused: ${ack && ack.error ? ack.error.message : JSON.stringify(ack)}`;
        li.classList.add("failed");
      }
    });
  };
  window.sockgateDemo = Object.assign(window.sockgateDemo || {}, { socket });
}

// ---- raw WebSocket pane -----------------------------------------------------

function rawUrl(config) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${join(config.prefix, config.raw_path)}`;
}

async function startRaw(config, pane) {
  if (!config.raw_path) {
    pane.setStatus("error", "the raw WebSocket front is off (raw.paths is empty)");
    pane.disable("raw WebSocket is off");
    return;
  }
  let sdk;
  try {
    sdk = await import("./client/index.js");
  } catch (error) {
    pane.setStatus("error", `could not load sockgate-client: ${error.message}`);
    pane.disable("sockgate-client unavailable");
    return;
  }
  const room = config.room;
  const me = nickname("wx");
  const base = sdk.webSocketTransport();
  // The SDK's own WebSocket transport, with every frame copied to the log.
  const loggingTransport = (url, init, on) => {
    pane.frame("info", `open ${url}`);
    const link = base(url, init, {
      open: (info) => on.open(info),
      message: (text) => {
        pane.frame("in", text);
        on.message(text);
      },
      error: (error) => on.error(error),
      close: (event) => {
        pane.frame("info", `closed ${event.code}${event.reason ? " " + event.reason : ""}`);
        on.close(event);
      },
    });
    return {
      send: (text) => {
        pane.frame("out", text);
        link.send(text);
      },
      close: (code, reason) => link.close(code, reason),
    };
  };

  const client = sdk.connect(rawUrl(config), { transport: loggingTransport });
  let lastError = null;
  client.on("state", (state) => {
    if (state === "reconnecting") pane.setStatus("reconnecting", lastError ? `reconnecting… ${lastError}` : "reconnecting…");
    else if (state === "closed") pane.setStatus("disconnected", "disconnected");
    else if (state === "connecting") pane.setStatus("connecting", "connecting…");
  });
  client.on("connect", (info) => {
    lastError = null;
    // The SDK re-joins rooms itself after a reconnect; the first join is below.
    if (client.rooms.includes(room)) pane.setStatus("connected", `connected · sid ${info.sid} · in ${room}`);
    else pane.setStatus("joining", `connected · sid ${info.sid} · joining ${room}…`);
  });
  client.on("disconnect", (info) => {
    pane.setStatus("disconnected", `disconnected (${info.code}${info.reason ? " " + info.reason : ""})`);
  });
  client.on("connect_error", (error) => {
    lastError = connectErrorText(error.message);
    pane.setStatus("error", lastError);
  });
  client.on("error", (error) => pane.frame("info", `error: ${error.code} ${error.message}`));
  client.on("chat", (data) => {
    pane.message("theirs", chatFrom(data), chatText(data));
  });
  client.join(room).then(
    () => {
      if (client.connected) pane.setStatus("connected", `connected · sid ${client.sid} · in ${room}`);
    },
    (error) => pane.setStatus("error", `join refused: ${error.message}`),
  );

  pane.onSend = (text) => {
    const li = pane.message("mine", me, text, "sending…");
    const note = li.querySelector(".note");
    client.publish(room, "chat", { from: me, text }).then(
      () => {
        note.textContent = "✓";
      },
      (error) => {
        note.textContent = `refused: ${error.message}`;
        li.classList.add("failed");
      },
    );
  };
  window.sockgateDemo = Object.assign(window.sockgateDemo || {}, { client });
}

// ---- start --------------------------------------------------------------

async function main() {
  const sio = new Pane("sio");
  const raw = new Pane("raw");
  let config;
  try {
    const response = await fetch("./config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`GET config.json: HTTP ${response.status}`);
    config = await response.json();
  } catch (error) {
    const fatal = $("fatal");
    fatal.hidden = false;
    fatal.textContent = `The demo could not start: ${error.message}`;
    sio.setStatus("error", "no config");
    raw.setStatus("error", "no config");
    return;
  }
  config = Object.assign({ socketio_path: "/socket.io/", raw_path: "/ws", room: "demo", prefix: "" }, config);
  $("room-name").textContent = config.room;
  $("gateway-url").textContent = location.origin + (config.prefix || "");
  // Each side starts on its own: one failing leaves the other working.
  await Promise.all([startSocketIo(config, sio), startRaw(config, raw)]);
}

main();
