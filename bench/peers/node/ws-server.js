#!/usr/bin/env node
// Node `ws` peer of sockgate's raw WebSocket contract (see README.md): JSON
// text frames on /ws with ops open / join / leave / publish / ack / event.
//
//   node ws-server.js [--port P]     (or PORT=P; 0 picks a free port)
//
// Prints `listening <port>` once, serves until SIGTERM / SIGINT.
"use strict";

const { WebSocketServer } = require("ws");
const { readPort, exitOnSignals } = require("./args.js");

const port = readPort();

/** @type {Map<string, Set<import("ws").WebSocket>>} */
const rooms = new Map();
let nextId = 0;

function join(ws, room) {
  let members = rooms.get(room);
  if (members === undefined) {
    members = new Set();
    rooms.set(room, members);
  }
  members.add(ws);
  ws.rooms.add(room);
}

function leave(ws, room) {
  const members = rooms.get(room);
  if (members !== undefined) {
    members.delete(ws);
    if (members.size === 0) rooms.delete(room);
  }
  ws.rooms.delete(room);
}

function ack(ws, id) {
  if (id !== undefined) ws.send(JSON.stringify({ op: "ack", id, ok: true }));
}

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port,
  path: "/ws",
  perMessageDeflate: false,
  clientTracking: false,
});

wss.on("connection", (ws) => {
  ws.rooms = new Set();
  ws.send(JSON.stringify({ op: "open", sid: (++nextId).toString(16) }));

  ws.on("message", (raw, isBinary) => {
    if (isBinary) return;
    let msg;
    try {
      msg = JSON.parse(raw.toString());
    } catch {
      return;
    }
    if (msg === null || typeof msg !== "object" || typeof msg.room !== "string") return;
    const room = msg.room;
    switch (msg.op) {
      case "join":
        join(ws, room);
        break;
      case "leave":
        leave(ws, room);
        break;
      case "publish": {
        if (typeof msg.event !== "string") return;
        const members = rooms.get(room);
        if (members !== undefined && (members.size > 1 || !members.has(ws))) {
          // Serialised once, the same string goes to every receiver.
          const frame = JSON.stringify({ op: "event", room, event: msg.event, data: msg.data ?? null });
          for (const peer of members) {
            if (peer !== ws && peer.readyState === 1) peer.send(frame);
          }
        }
        break;
      }
      default:
        return;
    }
    ack(ws, msg.id);
  });

  ws.on("close", () => {
    for (const room of ws.rooms) leave(ws, room);
  });
  ws.on("error", () => {});
});

wss.on("listening", () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});
exitOnSignals((done) => wss.close(done));
