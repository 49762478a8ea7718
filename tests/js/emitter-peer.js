#!/usr/bin/env node
// emitter-peer.js — a one-shot Node backend that publishes ONE operation through the
// official @socket.io/redis-emitter (5.1.0, on a node-redis 4.7.1 client), so sockgate's
// Rust tests check the gateway against the real emitter's wire format.
//
//   node emitter-peer.js --redis redis://127.0.0.1:PORT --op '<json>'
//     (or --redis redis-cluster://127.0.0.1:PORT?node=127.0.0.1:PORT for a Redis Cluster)
//     [--key socket.io]        channel prefix (Emitter option `key`), default socket.io
//     [--timeout-ms 5000]      the whole run (connect + publish + quit) is bounded by this
//
// --op is one of (every op also takes "nsp", default "/"):
//   {"op":"emit","event":"msg","args":[...],"rooms":["a"],"except":["c"],
//    "volatile":true,"compress":false}
//       rooms/except/volatile/compress are optional; any {"$bytes":"<base64>"} object
//       inside args (exactly one key, any depth) becomes a Buffer (msgpack bin), and
//       any {"$date":"<ISO-8601>"} object a Date (msgpack timestamp, ext -1).
//   {"op":"socketsJoin","rooms":["new"],"in":["a"],"except":["z"]}
//   {"op":"socketsLeave","rooms":["x"],"in":["a"],"except":["z"]}
//   {"op":"disconnectSockets","close":false,"in":["a"],"except":["z"]}
//   {"op":"serverSideEmit","event":"hello","args":[1]}
// Room names are strings or numbers (a number stays a msgpack/JSON number on the wire,
// as it does for a Node backend calling emitter.to(42)).
//
// The emitter fires PUBLISH without waiting; this peer hands it a client whose publish()
// is tracked and waits for every PUBLISH reply from Redis before quitting, so when it
// prints {"ok":true} the message has been delivered to all current subscribers.
// Output: exactly one JSON line on stdout, then exit:
//   {"ok":true}                       exit 0
//   {"ok":false,"error":"<message>"}  exit 1 (bad arguments, Redis error, timeout)
"use strict";

const { parseArgs } = require("node:util");
const { decodeBytes, parseJsonFlag } = require("./common.js");

const USAGE =
  "usage: node emitter-peer.js --redis redis://127.0.0.1:PORT --op JSON " +
  "[--key socket.io] [--timeout-ms 5000]";

const OPS = ["emit", "socketsJoin", "socketsLeave", "disconnectSockets", "serverSideEmit"];

// ---------------------------------------------------------------- output

let finished = false;

// Prints the single result line and exits once stdout has flushed. Only the first call
// counts (e.g. a timeout racing a late success).
function finish(ok, error) {
  if (finished) return;
  finished = true;
  const line = ok ? { ok: true } : { ok: false, error: String(error) };
  process.stdout.write(JSON.stringify(line) + "\n", () => process.exit(ok ? 0 : 1));
}

function errorMessage(err) {
  if (err == null) return "unknown error";
  if (typeof err === "string") return err;
  return err.message ? String(err.message) : String(err);
}

// ---------------------------------------------------------------- CLI

function positiveInt(name, text) {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be an integer > 0`);
  return value;
}

function readCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      redis: { type: "string" },
      op: { type: "string" },
      key: { type: "string", default: "socket.io" },
      "timeout-ms": { type: "string", default: "5000" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help || !values.redis || values.op === undefined) throw new Error(USAGE);
  return {
    redis: values.redis,
    op: checkOp(parseJsonFlag("op", values.op)),
    key: values.key,
    timeoutMs: positiveInt("timeout-ms", values["timeout-ms"]),
  };
}

// ---------------------------------------------------------------- op validation

function isRoom(value) {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

// A room list field: absent -> [], a single room -> [room], an array of rooms as is.
function roomList(op, field) {
  const value = op[field];
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const room of list) {
    if (!isRoom(room)) throw new Error(`"${field}" must hold strings or numbers`);
  }
  return list;
}

function optionalBool(op, field) {
  const value = op[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw new Error(`"${field}" must be a boolean`);
  return value;
}

function eventName(op) {
  if (typeof op.event !== "string" || op.event === "") {
    throw new Error(`${op.op} needs a non-empty string "event"`);
  }
  return op.event;
}

function isDateMarker(value) {
  return (
    value &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof value.$date === "string"
  );
}

// Every {"$date": ISO string} object (recursively) becomes a Date; Buffers stay.
function decodeDates(value) {
  if (isDateMarker(value)) {
    const date = new Date(value.$date);
    if (Number.isNaN(date.getTime())) throw new Error(`bad $date ${JSON.stringify(value.$date)}`);
    return date;
  }
  if (Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(decodeDates);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = decodeDates(v);
    return out;
  }
  return value;
}

function argList(op) {
  if (op.args === undefined || op.args === null) return [];
  if (!Array.isArray(op.args)) throw new Error('"args" must be an array');
  return decodeDates(decodeBytes(op.args));
}

// Checks the --op object and normalises it to the fields the emitter calls need.
function checkOp(op) {
  if (!op || typeof op !== "object" || Array.isArray(op)) throw new Error("--op must be a JSON object");
  if (!OPS.includes(op.op)) throw new Error(`unknown op ${JSON.stringify(op.op)} (expected ${OPS.join(", ")})`);
  if (op.nsp !== undefined && (typeof op.nsp !== "string" || op.nsp === "")) {
    throw new Error('"nsp" must be a non-empty string');
  }
  const out = { op: op.op, nsp: op.nsp || "/" };
  switch (op.op) {
    case "emit":
      out.event = eventName(op);
      out.args = argList(op);
      out.rooms = roomList(op, "rooms");
      out.except = roomList(op, "except");
      out.volatile = optionalBool(op, "volatile");
      out.compress = optionalBool(op, "compress");
      break;
    case "socketsJoin":
    case "socketsLeave":
      out.rooms = roomList(op, "rooms");
      if (out.rooms.length === 0) throw new Error(`${op.op} needs "rooms"`);
      out.in = roomList(op, "in");
      out.except = roomList(op, "except");
      break;
    case "disconnectSockets":
      out.close = optionalBool(op, "close") || false;
      out.in = roomList(op, "in");
      out.except = roomList(op, "except");
      break;
    case "serverSideEmit":
      out.event = eventName(op);
      out.args = argList(op);
      break;
  }
  return out;
}

// ---------------------------------------------------------------- redis

// Connects a node-redis v4 client that fails fast instead of retrying forever. A
// redis-cluster://host:port?node=host:port URL (sockgate's form) connects a cluster client
// (createCluster), as a Node backend on a Redis Cluster would.
async function connectRedis(url, timeoutMs) {
  const { createClient, createCluster } = require("redis");
  if (url.startsWith("redis-cluster://")) {
    const parsed = new URL(url.replace(/^redis-cluster:/, "http:"));
    const seeds = [parsed.host, ...parsed.searchParams.getAll("node")];
    const cluster = createCluster({
      rootNodes: seeds.map((host) => ({ url: `redis://${host}` })),
      defaults: { socket: { reconnectStrategy: false, connectTimeout: timeoutMs } },
    });
    cluster.on("error", () => {});
    await cluster.connect();
    return cluster;
  }
  const client = createClient({
    url,
    socket: { reconnectStrategy: false, connectTimeout: timeoutMs },
  });
  // Without a listener node-redis would throw "error" events as uncaught exceptions.
  client.on("error", () => {});
  await client.connect();
  return client;
}

// The object handed to the Emitter: the real client, except that each publish() promise
// is collected in `pending` so the peer can wait for Redis to have handled every PUBLISH.
function trackingClient(client, pending) {
  return new Proxy(client, {
    get(target, prop) {
      if (prop === "publish") {
        return (channel, message) => {
          const promise = target.publish(channel, message);
          pending.push(promise);
          return promise;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

// ---------------------------------------------------------------- the operation

// Applies "in"/"rooms" targeting and "except" to an Emitter / BroadcastOperator.
function target(emitter, rooms, except) {
  let operator = emitter;
  if (rooms.length > 0) operator = operator.to(rooms);
  if (except.length > 0) operator = operator.except(except);
  return operator;
}

// Performs the op through the emitter (synchronous: the emitter only queues PUBLISH).
function perform(emitter, op) {
  const nsEmitter = op.nsp === "/" ? emitter : emitter.of(op.nsp);
  switch (op.op) {
    case "emit": {
      let operator = target(nsEmitter, op.rooms, op.except);
      if (op.volatile) operator = operator.volatile;
      if (op.compress !== undefined) operator = operator.compress(op.compress);
      operator.emit(op.event, ...op.args);
      break;
    }
    case "socketsJoin":
      target(nsEmitter, op.in, op.except).socketsJoin(op.rooms);
      break;
    case "socketsLeave":
      target(nsEmitter, op.in, op.except).socketsLeave(op.rooms);
      break;
    case "disconnectSockets":
      target(nsEmitter, op.in, op.except).disconnectSockets(op.close);
      break;
    case "serverSideEmit":
      nsEmitter.serverSideEmit(op.event, ...op.args);
      break;
  }
}

async function run(cli) {
  const { Emitter } = require("@socket.io/redis-emitter");
  const client = await connectRedis(cli.redis, cli.timeoutMs);
  try {
    const pending = [];
    const emitter = new Emitter(trackingClient(client, pending), { key: cli.key });
    perform(emitter, cli.op);
    if (pending.length === 0) throw new Error("the emitter published nothing");
    await Promise.all(pending);
  } finally {
    await client.quit().catch(() => client.disconnect());
  }
}

// ---------------------------------------------------------------- main

function main() {
  let cli;
  try {
    cli = readCli(process.argv.slice(2));
  } catch (e) {
    finish(false, errorMessage(e));
    return;
  }
  process.on("uncaughtException", (e) => finish(false, `uncaught: ${errorMessage(e)}`));
  process.on("unhandledRejection", (e) => finish(false, `unhandled: ${errorMessage(e)}`));
  setTimeout(() => finish(false, `timeout after ${cli.timeoutMs} ms`), cli.timeoutMs);
  run(cli).then(
    () => finish(true),
    (e) => finish(false, errorMessage(e)),
  );
}

main();
