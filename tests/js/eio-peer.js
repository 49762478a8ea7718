#!/usr/bin/env node
// eio-peer.js — the official engine.io-client (v6, Engine.IO protocol 4) as a
// long-lived peer for sockgate's Rust tests of the engine alone
// (`diagnostics.engineio_echo_path`). One JSON object per line each way:
// it reports open / upgrade / message / close on stdout and runs commands read
// from stdin: {"send": "text"}, {"sendBinary": [1, 2, 3]}, {"close": true}.
"use strict";

const readline = require("node:readline");
const { parseArgs } = require("node:util");
const { Socket } = require("engine.io-client");

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    path: { type: "string", default: "/engine.io/" },
    transports: { type: "string", default: "polling,websocket" },
  },
});
if (!values.url) {
  process.stderr.write("usage: node eio-peer.js --url http://127.0.0.1:PORT [--path /engine.io/] [--transports polling,websocket]\n");
  process.exit(2);
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const transports = values.transports.split(",");
const socket = new Socket(values.url, {
  path: values.path,
  transports,
  upgrade: transports.length > 1,
});

socket.on("open", () => out({ type: "open", transport: socket.transport.name, id: socket.id }));
socket.on("upgrade", (transport) => out({ type: "upgrade", transport: transport.name }));
socket.on("message", (data) => {
  if (typeof data === "string") {
    out({ type: "message", text: data });
  } else {
    out({ type: "message", binary: Array.from(new Uint8Array(data)) });
  }
});
socket.on("close", (reason) => {
  out({ type: "close", reason });
  setTimeout(() => process.exit(0), 50);
});
socket.on("error", (error) => out({ type: "error", message: String(error) }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.send !== undefined) socket.send(command.send);
  if (command.sendBinary !== undefined) socket.send(Buffer.from(command.sendBinary));
  if (command.close) socket.close();
});
