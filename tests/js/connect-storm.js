#!/usr/bin/env node
// connect-storm.js — load check for sockgate. Opens --n socket.io clients (at most
// --concurrency in flight); each emits "join"(room, ack) immediately after io(),
// before CONNECT, waits for the ack, records whether it was {ok:true}, then
// disconnects. Prints exactly one JSON line on stdout and exits 0:
//   {"n":500,"acked":N,"failed":M,"errors":{"<message>":count}}
// acked + failed == n always: clients still in flight at --timeout-ms count as
// "timeout", clients never started count as "not started". Diagnostics go to stderr.
"use strict";

const { parseArgs } = require("node:util");
const { loadClient, checkClient, parseTransports, baseOptions } = require("./common.js");

const USAGE =
  "usage: node connect-storm.js --url URL [--n 500] [--client v4|v2] " +
  "[--transports websocket] [--concurrency 100] [--room storm] [--timeout-ms 20000] " +
  "[--path /socket.io/] [--client-timeout-ms 10000]";

function positiveInt(name, text) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be an integer >= 0`);
  return value;
}

function readCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string" },
      n: { type: "string", default: "500" },
      client: { type: "string", default: "v4" },
      transports: { type: "string", default: "websocket" },
      concurrency: { type: "string", default: "100" },
      room: { type: "string", default: "storm" },
      "timeout-ms": { type: "string", default: "20000" },
      "client-timeout-ms": { type: "string", default: "10000" },
      path: { type: "string", default: "/socket.io/" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help || !values.url) throw new Error(USAGE);
  checkClient(values.client);
  return {
    url: values.url.replace(/\/+$/, ""),
    n: positiveInt("n", values.n),
    client: values.client,
    transports: parseTransports(values.transports),
    concurrency: Math.max(1, positiveInt("concurrency", values.concurrency)),
    room: values.room,
    timeoutMs: positiveInt("timeout-ms", values["timeout-ms"]),
    clientTimeoutMs: positiveInt("client-timeout-ms", values["client-timeout-ms"]),
    path: values.path,
  };
}

// ---------------------------------------------------------------- tally

function newTally(n) {
  return { n, acked: 0, failed: 0, errors: {}, started: 0, inFlight: new Set() };
}

function recordFailure(tally, message) {
  tally.failed += 1;
  tally.errors[message] = (tally.errors[message] || 0) + 1;
}

function report(tally) {
  return { n: tally.n, acked: tally.acked, failed: tally.failed, errors: tally.errors };
}

function errorText(err) {
  if (err == null) return "unknown error";
  if (typeof err === "string") return err;
  if (err.message) return String(err.message);
  return JSON.stringify(err);
}

// ---------------------------------------------------------------- one client

// Runs one client to completion; calls done(outcome) exactly once, where outcome is
// null for a good ack or an error message. Returns a function that aborts it.
function runClient(io, cli, done) {
  const socket = io(cli.url, baseOptions({ ...cli, reconnect: false }));
  let settled = false;

  const finish = (failure) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    try {
      socket.disconnect();
    } catch (_) {
      // already closed
    }
    done(failure);
  };

  const timer = setTimeout(() => finish("client timeout"), cli.clientTimeoutMs);

  // Emitted before CONNECT on purpose: the client buffers it and sends it the
  // instant the namespace connects; the server must not lose it.
  socket.emit("join", cli.room, (reply) => {
    if (reply && reply.ok === true) finish(null);
    else finish(`bad ack: ${JSON.stringify(reply)}`);
  });

  socket.on("connect_error", (err) => finish(`connect_error: ${errorText(err)}`));
  socket.on("error", (err) => finish(`error: ${errorText(err)}`)); // v2 middleware rejection
  socket.on("disconnect", (reason) => finish(`disconnect: ${reason}`));

  return () => finish("timeout");
}

// ---------------------------------------------------------------- pool

function runStorm(cli, onFinished) {
  const io = loadClient(cli.client);
  const tally = newTally(cli.n);
  let finished = false;

  const finishRun = () => {
    if (finished) return;
    finished = true;
    clearTimeout(deadline);
    for (const abort of [...tally.inFlight]) abort();
    const notStarted = cli.n - tally.started;
    for (let i = 0; i < notStarted; i++) recordFailure(tally, "not started");
    onFinished(report(tally));
  };

  const launchMore = () => {
    while (!finished && tally.started < cli.n && tally.inFlight.size < cli.concurrency) {
      launchOne();
    }
    if (!finished && tally.started === cli.n && tally.inFlight.size === 0) finishRun();
  };

  const launchOne = () => {
    tally.started += 1;
    let abort = null;
    let completed = false;
    const onDone = (failure) => {
      completed = true;
      if (abort) tally.inFlight.delete(abort);
      if (failure === null) tally.acked += 1;
      else recordFailure(tally, failure);
      // Start the next client on a fresh tick, not inside this client's callbacks.
      if (!finished) setImmediate(launchMore);
    };
    abort = runClient(io, cli, onDone);
    if (!completed) tally.inFlight.add(abort);
  };

  const deadline = setTimeout(finishRun, cli.timeoutMs);
  launchMore();
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
  process.on("uncaughtException", (e) => process.stderr.write(`uncaught: ${e && e.stack}\n`));
  runStorm(cli, (result) => {
    process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
  });
}

main();
