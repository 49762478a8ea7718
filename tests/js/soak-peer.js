#!/usr/bin/env node
// soak-peer.js — the socket.io side of `sockgate-bench soak`: runs many official
// socket.io clients at once (v4 over websocket, v4 over polling, v2 (EIO3) over
// websocket), each joined to its rooms, dropping its transport at random and
// coming back on a random node with sockgate's resume (v4: the handshake
// `auth.resume`; v2: the `resume` event), and records every `tick` event's
// per-room sequence number in the shape crates/bench/src/soak/tally.rs judges.
//
// stdout, one JSON object per line: {"type":"ready"} once every client joined,
// {"type":"settled",...} after the "settle" command, {"type":"report",...} after
// "report" (then it exits). stdin, one JSON object per line: {"cmd":"settle"}
// (stop dropping, make sure every client is connected and resumed),
// {"cmd":"report"}. Diagnostics go to stderr. Every wait is bounded.
"use strict";

const readline = require("node:readline");
const { parseArgs } = require("node:util");
const { loadClient, baseOptions } = require("./common.js");

const { values } = parseArgs({
  options: {
    urls: { type: "string" }, // comma-separated http://127.0.0.1:PORT
    rooms: { type: "string" }, // comma-separated room names
    "rooms-per-client": { type: "string", default: "3" },
    "v4-websocket": { type: "string", default: "0" },
    "v4-polling": { type: "string", default: "0" },
    v2: { type: "string", default: "0" },
    "drop-every-ms": { type: "string", default: "0" }, // 0: never drop by itself
    "first-index": { type: "string", default: "0" },
    path: { type: "string", default: "/socket.io/" },
  },
  strict: true,
});
if (!values.urls || !values.rooms) {
  console.error("usage: node soak-peer.js --urls URL,URL --rooms r1,r2 [--v4-websocket N] [--v4-polling N] [--v2 N] [--rooms-per-client K] [--drop-every-ms MS]");
  process.exit(2);
}
const urls = values.urls.split(",");
const allRooms = values.rooms.split(",");
const perClient = Number(values["rooms-per-client"]);
const dropEveryMs = Number(values["drop-every-ms"]);
const firstIndex = Number(values["first-index"]);
const MAX_ATTEMPTS = 100000; // per client, over the whole soak
const SETTLE_MS = 90000;
// A connection not joined or resumed by then is dropped and counted.
const READY_TIMEOUT_MS = 30000;

const send = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const latencies = {}; // bucket -> count, as Latencies in tally.rs
const recordLatency = (us) => {
  const bucket = Math.floor(Math.log2(Math.max(us, 1)) * 32);
  latencies[bucket] = (latencies[bucket] || 0) + 1;
};
let settling = false;

// ---------------------------------------------------------------- one client

function newRoomLog() {
  return { runs: [], dups: 0, gaps: [], seen: new Set() };
}

function receive(log, conn, seq) {
  if (log.seen.has(seq)) {
    log.dups += 1;
    return;
  }
  log.seen.add(seq);
  const run = log.runs[log.runs.length - 1];
  if (run && run[0] === conn && run[2] + 1 === seq) run[2] = seq;
  else log.runs.push([conn, seq, seq]);
}

function startClient(index, kind) {
  const rooms = [];
  for (let j = 0; j < perClient && j < allRooms.length; j++) {
    rooms.push(allRooms[(index * 7 + j * 5) % allRooms.length]);
  }
  const c = {
    kind,
    rooms: [...new Set(rooms)],
    log: { kind, reconnects: 0, sessions_found: 0, conn: 0, received: 0, rooms: {}, opened_ms: [], opened_on: [], resume_timeouts: 0 },
    token: null,
    nextToken: null,
    positions: {},
    joined: false,
    opened: false,
    ready: false,
    socket: null,
    attempts: 0,
    dropTimer: null,
  };
  for (const room of c.rooms) c.log.rooms[room] = newRoomLog();
  connect(c, urls[index % urls.length]);
  return c;
}

function onTick(c, data, position, live) {
  if (!data || typeof data.s !== "number") return;
  const room = position && position.room;
  if (!room || !c.log.rooms[room]) return;
  c.log.received += 1;
  c.positions[room] = { epoch: position.epoch, offset: position.offset };
  receive(c.log.rooms[room], c.log.conn, data.s);
  if (live && typeof data.t === "number") recordLatency(nowUs() - data.t);
}

function joinAll(c, socket, rooms, done) {
  let i = 0;
  const next = () => {
    if (socket !== c.socket) return;
    if (i >= rooms.length) return done();
    const room = rooms[i++];
    socket.emit("join", room, (reply) => {
      if (reply && reply.ok === true) next();
      else {
        console.error(`soak-peer: join ${room} refused: ${JSON.stringify(reply)}`);
        socket.io.engine.close();
      }
    });
  };
  next();
}

// What a resume answered: gaps per room, rooms to join again.
function onResumed(c, socket, report, markLive) {
  if (socket !== c.socket) return;
  report = report || {};
  if (report.session) c.log.sessions_found += 1;
  const answers = report.rooms || {};
  const rejoin = [];
  for (const room of c.rooms) {
    const answer = answers[room];
    if (answer && (answer.gap || answer.error)) c.log.rooms[room].gaps.push(c.log.conn);
    if ((answer && answer.error) || (!answer && !report.session)) rejoin.push(room);
  }
  markLive();
  joinAll(c, socket, rejoin, () => becomeReady(c, socket));
}

function becomeReady(c, socket) {
  if (socket !== c.socket) return;
  c.joined = true;
  c.ready = true;
  if (dropEveryMs > 0 && !settling) {
    c.dropTimer = setTimeout(() => {
      if (settling || socket !== c.socket) return;
      // Drop the transport without a socket.io goodbye.
      socket.io.engine.close();
    }, dropEveryMs * (0.5 + Math.random()));
  }
  checkReady();
}

function connect(c, url) {
  c.attempts += 1;
  if (c.attempts > MAX_ATTEMPTS) return;
  const io = loadClient(c.kind === "v2" ? "v2" : "v4");
  const transports = c.kind === "v4-polling" ? ["polling"] : ["websocket"];
  const options = baseOptions({ path: values.path, transports, reconnect: false });
  const resuming = c.joined;
  const resume = { rooms: { ...c.positions } };
  if (c.token) resume.token = c.token;
  if (resuming && c.kind !== "v2") options.auth = { resume };
  const socket = io(url, options);
  c.socket = socket;
  c.ready = false;
  c.nextToken = null;
  let live = !resuming;
  let over = false;
  const retry = (connected) => {
    if (over) return;
    over = true;
    clearTimeout(c.dropTimer);
    clearTimeout(readyTimer);
    socket.removeAllListeners();
    try {
      socket.close();
    } catch (_) {
      // already closed
    }
    if (connected) {
      // The next resume presents this connection's token (the old one is spent).
      c.token = c.nextToken;
      c.log.conn += 1;
      c.log.reconnects += 1;
    }
    const delay = 100 + Math.random() * 500;
    setTimeout(() => connect(c, urls[Math.floor(Math.random() * urls.length)]), delay);
  };
  let connected = false;
  socket.on("sockgate:session", (session) => {
    if (session && session.resume) c.nextToken = session.resume;
  });
  socket.on("tick", (data, position) => onTick(c, data, position, live));
  socket.on("sockgate:resumed", (report) => onResumed(c, socket, report, () => (live = true)));
  const readyTimer = setTimeout(() => {
    if (over || socket !== c.socket || c.ready) return;
    if (connected) {
      c.log.resume_timeouts += 1;
      console.error(`soak-peer: ${c.kind} client got no answer to its ${resuming ? "resume" : "joins"} in ${READY_TIMEOUT_MS} ms`);
    }
    retry(connected);
  }, READY_TIMEOUT_MS);
  socket.on("connect", () => {
    connected = true;
    c.log.opened_ms.push(Math.round(nowUs() / 1000));
    c.log.opened_on.push(url);
    if (!resuming) {
      joinAll(c, socket, c.rooms, () => becomeReady(c, socket));
    } else if (c.kind === "v2") {
      socket.emit("resume", resume, (ack) => onResumed(c, socket, ack, () => (live = true)));
    }
  });
  socket.on("connect_error", () => retry(connected));
  socket.on("error", () => retry(connected));
  socket.on("disconnect", () => retry(connected));
}

// ---------------------------------------------------------------- the fleet

const clients = [];
let index = firstIndex;
for (const [kind, n] of [
  ["v4-websocket", Number(values["v4-websocket"])],
  ["v4-polling", Number(values["v4-polling"])],
  ["v2", Number(values.v2)],
]) {
  for (let i = 0; i < n; i++) clients.push(startClient(index++, kind));
}

let saidReady = false;
function checkReady() {
  if (!saidReady && clients.every((c) => c.joined)) {
    saidReady = true;
    send({ type: "ready", clients: clients.length });
  }
}
if (clients.length === 0) checkReady();

function settle() {
  settling = true;
  for (const c of clients) clearTimeout(c.dropTimer);
  const started = Date.now();
  const poll = () => {
    const ready = clients.filter((c) => c.ready && c.socket && c.socket.connected).length;
    if (ready === clients.length || Date.now() - started > SETTLE_MS) {
      send({ type: "settled", ready, clients: clients.length });
    } else setTimeout(poll, 100);
  };
  poll();
}

function report() {
  const logs = clients.map((c) => {
    const rooms = {};
    for (const [room, log] of Object.entries(c.log.rooms)) {
      rooms[room] = { runs: log.runs, dups: log.dups, gaps: log.gaps };
    }
    return { ...c.log, rooms };
  });
  for (const c of clients) {
    clearTimeout(c.dropTimer);
    if (c.socket) {
      c.socket.removeAllListeners();
      c.socket.close();
    }
  }
  process.stdout.write(JSON.stringify({ type: "report", clients: logs, latencies }) + "\n", () =>
    process.exit(0),
  );
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let message;
  try {
    message = JSON.parse(line);
  } catch (_) {
    return;
  }
  if (message.cmd === "settle") settle();
  else if (message.cmd === "report") report();
});
process.stdin.on("end", () => process.exit(0));
