#!/usr/bin/env node
// sio-peer.js — a long-lived socket.io client (v4 or v2) that sockgate's Rust tests
// drive over stdin/stdout, one JSON object per line each way. It reports every
// connection event and incoming event on stdout, and executes commands read from
// stdin (emit with/without ack, disconnect, transport, exit). See README.md.
"use strict";

const readline = require("node:readline");
const { parseArgs } = require("node:util");
const {
  loadClient,
  checkClient,
  parseTransports,
  namespaceUrl,
  baseOptions,
  encodeBytes,
  decodeBytes,
  parseJsonFlag,
} = require("./common.js");

const USAGE =
  "usage: node sio-peer.js --url http://127.0.0.1:PORT [--client v4|v2] " +
  "[--transports websocket|polling|polling,websocket] [--path /socket.io/] [--ns /] " +
  "[--auth JSON] [--query JSON] [--headers JSON] [--protocols p1,p2] " +
  "[--no-reconnect | --reconnect] [--emit-on-start JSON]";

const EXIT_GRACE_MS = 100;

// ---------------------------------------------------------------- output

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function sendError(message) {
  send({ type: "error", message: String(message) });
}

// ---------------------------------------------------------------- CLI

function readCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string" },
      client: { type: "string", default: "v4" },
      transports: { type: "string", default: "websocket" },
      path: { type: "string", default: "/socket.io/" },
      ns: { type: "string", default: "/" },
      auth: { type: "string" },
      query: { type: "string" },
      headers: { type: "string" },
      protocols: { type: "string" },
      reconnect: { type: "boolean", default: false },
      "no-reconnect": { type: "boolean", default: false },
      "emit-on-start": { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help || !values.url) throw new Error(USAGE);
  checkClient(values.client);
  return {
    url: values.url,
    client: values.client,
    transports: parseTransports(values.transports),
    path: values.path,
    ns: values.ns,
    auth: parseJsonFlag("auth", values.auth),
    query: parseJsonFlag("query", values.query),
    headers: parseJsonFlag("headers", values.headers),
    protocols: values.protocols
      ? values.protocols.split(",").map((p) => p.trim()).filter(Boolean)
      : undefined,
    reconnect: values.reconnect && !values["no-reconnect"],
    emitOnStart: parseJsonFlag("emit-on-start", values["emit-on-start"]),
  };
}

// Builds the io() options for the chosen client generation.
function clientOptions(cli) {
  const opts = baseOptions(cli);
  if (cli.query) opts.query = cli.query;
  if (cli.headers) opts.extraHeaders = cli.headers;
  if (cli.client === "v4") {
    if (cli.auth) opts.auth = cli.auth;
    if (cli.protocols) opts.protocols = cli.protocols;
  } else {
    // EIO3 / socket.io protocol v4 (used by the v2 client) has no CONNECT payload.
    if (cli.auth) sendError("--auth is not supported by the v2 client; ignored");
    // engine.io-client 3.x reads websocket subprotocols from transportOptions only.
    if (cli.protocols) opts.transportOptions = { websocket: { protocols: cli.protocols } };
  }
  return opts;
}

// ---------------------------------------------------------------- socket events

function currentTransport(socket) {
  const engine = socket.io && socket.io.engine;
  return engine && engine.transport ? engine.transport.name : null;
}

// Prints one incoming event. `serverAck` is true when the server asked for an ack
// (the peer does not answer it; the callback is dropped from args).
function reportEvent(event, args, serverAck) {
  const line = { type: "event", event, args: encodeBytes(args) };
  if (serverAck) line.server_ack = true;
  send(line);
}

function captureEventsV4(socket) {
  socket.onAny((event, ...args) => {
    const serverAck = args.length > 0 && typeof args[args.length - 1] === "function";
    reportEvent(event, args, serverAck);
  });
}

// socket.io-client 2.x has no onAny: wrap the instance's onevent(packet), which is
// called for every EVENT / BINARY_EVENT packet before listeners are dispatched.
function captureEventsV2(socket) {
  const original = socket.onevent;
  socket.onevent = function (packet) {
    const data = (packet.data || []).slice();
    reportEvent(data[0], data.slice(1), packet.id != null);
    return original.call(this, packet);
  };
}

// Reports engine upgrades; attached on every manager "open" so a reconnect's new
// engine is covered too.
function watchUpgrades(socket) {
  const seen = new WeakSet();
  const attach = () => {
    const engine = socket.io.engine;
    if (!engine || seen.has(engine)) return;
    seen.add(engine);
    engine.on("upgrade", (transport) => {
      const name = transport && transport.name ? transport.name : currentTransport(socket);
      send({ type: "upgrade", transport: name });
    });
  };
  attach();
  socket.io.on("open", attach);
}

function errorMessage(err) {
  if (err == null) return "unknown error";
  if (typeof err === "string") return err;
  if (err.message) return String(err.message);
  return JSON.stringify(encodeBytes(err));
}

function connectErrorLine(err) {
  const line = { type: "connect_error", message: errorMessage(err) };
  if (err && typeof err === "object" && err.data !== undefined) {
    line.data = encodeBytes(err.data);
  }
  return line;
}

function watchLifecycle(socket, client) {
  socket.on("connect", () => {
    // `recovered` is socket.io's connection state recovery (v4.6+ only).
    send({
      type: "connect",
      id: socket.id,
      transport: currentTransport(socket),
      recovered: socket.recovered,
    });
  });
  socket.on("disconnect", (reason) => {
    send({ type: "disconnect", reason: String(reason) });
  });
  socket.on("connect_error", (err) => send(connectErrorLine(err)));
  if (client === "v2") {
    // v2 reports a middleware rejection (ERROR packet) as "error" with the payload,
    // e.g. "unauthorized" or {message, data}.
    socket.on("error", (payload) => {
      const line = connectErrorLine(payload);
      if (payload && typeof payload === "object" && payload.data === undefined) {
        line.data = encodeBytes(payload);
      }
      send(line);
    });
    socket.on("connect_timeout", () => send({ type: "connect_error", message: "timeout" }));
  }
}

// ---------------------------------------------------------------- commands

function cmdEmit(socket, cmd) {
  if (typeof cmd.event !== "string") throw new Error("emit needs a string \"event\"");
  const args = Array.isArray(cmd.args) ? decodeBytes(cmd.args) : [];
  if (cmd.ack === undefined || cmd.ack === null) {
    socket.emit(cmd.event, ...args);
    return;
  }
  const id = cmd.ack;
  socket.emit(cmd.event, ...args, (...reply) => {
    send({ type: "ack", id, args: encodeBytes(reply) });
  });
}

let shuttingDown = false;

// Disconnects, then exits after a short grace so the DISCONNECT packet is flushed.
function shutdown(socket) {
  if (shuttingDown) return;
  shuttingDown = true;
  try {
    if (socket) socket.disconnect();
  } catch (e) {
    sendError(`disconnect failed: ${e.message}`);
  }
  setTimeout(() => process.exit(0), EXIT_GRACE_MS);
}

function runCommand(socket, cmd) {
  if (!cmd || typeof cmd !== "object" || Array.isArray(cmd)) {
    throw new Error("command must be a JSON object");
  }
  switch (cmd.cmd) {
    case "emit":
      return cmdEmit(socket, cmd);
    case "disconnect":
      return socket.disconnect();
    case "connect":
      return socket.connect();
    case "transport":
      return send({ type: "transport", name: currentTransport(socket) });
    case "exit":
      return shutdown(socket);
    default:
      throw new Error(`unknown cmd ${JSON.stringify(cmd.cmd)}`);
  }
}

function runCommandSafely(socket, cmd) {
  try {
    runCommand(socket, cmd);
  } catch (e) {
    sendError(e.message);
  }
}

function handleLine(socket, text) {
  const trimmed = text.trim();
  if (!trimmed) return;
  let cmd;
  try {
    cmd = JSON.parse(trimmed);
  } catch (e) {
    sendError(`bad JSON on stdin: ${e.message}`);
    return;
  }
  runCommandSafely(socket, cmd);
}

function readStdin(socket) {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on("line", (text) => handleLine(socket, text));
  rl.on("close", () => shutdown(socket));
}

// ---------------------------------------------------------------- main

function main() {
  let cli;
  try {
    cli = readCli(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(e.message + "\n");
    process.exit(2);
  }
  process.on("uncaughtException", (e) => sendError(`uncaught: ${e && e.stack ? e.stack : e}`));

  const io = loadClient(cli.client);
  const socket = io(namespaceUrl(cli.url, cli.ns), clientOptions(cli));
  if (cli.client === "v4") captureEventsV4(socket);
  else captureEventsV2(socket);
  watchLifecycle(socket, cli.client);
  watchUpgrades(socket);

  // Sent before CONNECT: the client buffers them and flushes right after connecting.
  if (cli.emitOnStart !== undefined) {
    const cmds = Array.isArray(cli.emitOnStart) ? cli.emitOnStart : [cli.emitOnStart];
    for (const cmd of cmds) runCommandSafely(socket, cmd);
  }

  readStdin(socket);
  send({ type: "ready" });
}

main();
