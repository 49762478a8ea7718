#!/usr/bin/env node
// Checks that a running peer server keeps the benchmark contract (README.md).
//
//   node check-peer.js --contract raw --port P    # raw JSON WebSocket on /ws
//   node check-peer.js --contract sio --port P    # socket.io on /socket.io/
//
// Exits 0 when every check passed; otherwise prints the first failure on
// stderr and exits 1. Uses `ws` from bench/peers/node and socket.io-client
// from tests/js (install them with `npm ci` in those folders).
"use strict";

const path = require("node:path");
const assert = require("node:assert/strict");
const { parseArgs } = require("node:util");

const STEP_MS = 5000; // longest wait for an expected frame
const QUIET_MS = 200; // how long "nothing arrives" is watched for

const { values } = parseArgs({
  options: {
    contract: { type: "string" },
    port: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
  },
});
if (!["raw", "sio"].includes(values.contract) || !/^\d+$/.test(values.port ?? "")) {
  process.stderr.write("usage: node check-peer.js --contract raw|sio --port P\n");
  process.exit(2);
}
const base = `${values.host}:${values.port}`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A FIFO of received items with an awaitable `next()`.
class Inbox {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = [];
  }
  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }
  next(what, ms = STEP_MS) {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(done), 1);
        reject(new Error(`${this.name}: timed out waiting for ${what}`));
      }, ms);
      const done = (item) => {
        clearTimeout(timer);
        resolve(item);
      };
      this.waiters.push(done);
    });
  }
  async expectNothing(what) {
    await sleep(QUIET_MS);
    if (this.items.length > 0) {
      throw new Error(`${this.name}: got ${JSON.stringify(this.items[0])} but expected nothing (${what})`);
    }
  }
}

// Sample payload: nested, unicode, escapes; sent compactly so a peer that
// passes `data` through verbatim yields the same text as one that re-serialises.
const DATA = { n: 42, f: 1.5, s: "h\u00e9llo \"w\u00f6rld\" \u2603", arr: [1, "two", null, true], nested: { x: null, y: [] } };

// ------------------------------------------------------------------ raw

async function checkRaw() {
  const WebSocket = require(path.join(__dirname, "node", "node_modules", "ws"));
  const url = `ws://${base}/ws`;

  async function connect(name) {
    const inbox = new Inbox(name);
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on("message", (data, isBinary) => inbox.push(isBinary ? { binary: data } : data.toString()));
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const open = JSON.parse(await inbox.next("the open frame"));
    assert.deepEqual(Object.keys(open), ["op", "sid"], `${name}: open frame keys`);
    assert.equal(open.op, "open", `${name}: first frame is not op=open`);
    assert.equal(typeof open.sid, "string", `${name}: sid is not a string`);
    assert.ok(open.sid.length > 0, `${name}: empty sid`);
    return { name, ws, inbox, sid: open.sid, send: (obj) => ws.send(JSON.stringify(obj)) };
  }

  async function expectAck(client, id) {
    const text = await client.inbox.next(`ack ${JSON.stringify(id)}`);
    assert.equal(text, JSON.stringify({ op: "ack", id, ok: true }), `${client.name}: ack frame`);
  }

  const a = await connect("A");
  const b = await connect("B");
  const c = await connect("C");
  assert.equal(new Set([a.sid, b.sid, c.sid]).size, 3, "sids are not unique");

  const room = "room-\u00e9/1";
  a.send({ op: "join", room, id: 1 });
  await expectAck(a, 1);
  b.send({ op: "join", room, id: "b-join" }); // string id, echoed as given
  await expectAck(b, "b-join");
  c.send({ op: "join", room: "elsewhere", id: 3 });
  await expectAck(c, 3);

  // publish with an ack: B gets the event, A only the ack, C nothing.
  const expected = JSON.stringify({ op: "event", room, event: "greet", data: DATA });
  a.send({ op: "publish", room, event: "greet", data: DATA, id: 7 });
  await expectAck(a, 7);
  assert.equal(await b.inbox.next("the event"), expected, "B: event frame");
  await a.inbox.expectNothing("the publisher must not get its own event");
  await c.inbox.expectNothing("C is in another room");

  // publish without an id: no ack, B still gets it.
  a.send({ op: "publish", room, event: "e2", data: [1, 2, 3] });
  assert.equal(
    await b.inbox.next("the second event"),
    JSON.stringify({ op: "event", room, event: "e2", data: [1, 2, 3] }),
    "B: second event frame",
  );
  await a.inbox.expectNothing("publish without id is not acked");

  // B publishes back (string data); A gets it.
  b.send({ op: "publish", room, event: "back", data: "hi", id: 8 });
  await expectAck(b, 8);
  assert.equal(await a.inbox.next("B's event"), JSON.stringify({ op: "event", room, event: "back", data: "hi" }));

  // invalid frames are ignored, the connection keeps working.
  a.ws.send("not json");
  a.ws.send(JSON.stringify({ op: "nope", id: 99 }));
  a.send({ op: "join", room: "r2", id: 9 });
  await expectAck(a, 9);

  // leave: acked, then B gets nothing from the room.
  b.send({ op: "leave", room, id: 10 });
  await expectAck(b, 10);
  a.send({ op: "publish", room, event: "after-leave", data: 1, id: 11 });
  await expectAck(a, 11);
  await b.inbox.expectNothing("B left the room");

  // disconnect: C joins the room then goes away; publishing still works.
  c.send({ op: "join", room, id: 12 });
  await expectAck(c, 12);
  c.ws.close();
  await new Promise((resolve) => c.ws.once("close", resolve));
  await sleep(50);
  a.send({ op: "publish", room, event: "after-close", data: null, id: 13 });
  await expectAck(a, 13);

  for (const client of [a, b]) client.ws.close();
}

// ------------------------------------------------------------------ socket.io

async function checkSio() {
  const { io } = require(path.join(__dirname, "..", "..", "tests", "js", "node_modules", "socket.io-client"));
  const url = `http://${base}`;
  const sockets = [];

  async function connect(name, transports) {
    const inbox = new Inbox(name);
    const socket = io(url, { transports, reconnection: false, forceNew: true, timeout: STEP_MS });
    sockets.push(socket);
    socket.onAny((event, ...args) => inbox.push({ event, args }));
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    return { name, socket, inbox };
  }

  async function call(client, event, arg) {
    const reply = await client.socket.timeout(STEP_MS).emitWithAck(event, arg);
    assert.deepEqual(reply, { ok: true }, `${client.name}: ack of ${event}`);
  }

  const a = await connect("A", ["websocket"]);
  const b = await connect("B", ["websocket"]);
  const c = await connect("C", ["polling", "websocket"]); // default transports
  const d = await connect("D", ["websocket"]);

  const room = "room-\u00e9/1";
  await call(a, "join", room);
  await call(b, "join", room);
  await call(c, "join", room);
  await call(d, "join", "elsewhere");

  // publish with an ack: B and C get `greet` with exactly [DATA].
  await call(a, "publish", { room, event: "greet", data: DATA });
  for (const client of [b, c]) {
    assert.deepEqual(await client.inbox.next("greet"), { event: "greet", args: [DATA] }, `${client.name}: greet`);
  }
  await a.inbox.expectNothing("the publisher must not get its own event");
  await d.inbox.expectNothing("D is in another room");

  // array data stays one argument.
  await call(a, "publish", { room, event: "list", data: [1, 2, 3] });
  assert.deepEqual(await b.inbox.next("list"), { event: "list", args: [[1, 2, 3]] }, "B: array data");
  assert.deepEqual(await c.inbox.next("list"), { event: "list", args: [[1, 2, 3]] }, "C: array data");

  // publish without an ack callback.
  b.socket.emit("publish", { room, event: "back", data: "hi" });
  assert.deepEqual(await a.inbox.next("back"), { event: "back", args: ["hi"] }, "A: event from B");
  assert.deepEqual(await c.inbox.next("back"), { event: "back", args: ["hi"] }, "C: event from B");
  await b.inbox.expectNothing("the publisher must not get its own event");

  // leave: acked, then nothing arrives from the room.
  await call(b, "leave", room);
  await call(a, "publish", { room, event: "after-leave", data: 1 });
  assert.deepEqual(await c.inbox.next("after-leave"), { event: "after-leave", args: [1] }, "C: after-leave");
  await b.inbox.expectNothing("B left the room");

  // disconnect: C goes away; publishing still works.
  c.socket.disconnect();
  await sleep(50);
  await call(a, "publish", { room, event: "after-close", data: null });

  for (const socket of sockets) socket.disconnect();
}

(values.contract === "raw" ? checkRaw() : checkSio()).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`check-peer (${values.contract}): ${error && error.message ? error.message : error}\n`);
    process.exit(1);
  },
);
