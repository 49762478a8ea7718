// Shared helpers for the SDK tests: which gateway (from the environment the
// Rust e2e test sets), which transport (SOCKGATE_ADAPTER: "ws" = the SDK's
// WebSocket transport on the `ws` package, "wx" = its SocketTask transport on
// a wx.connectSocket shim), and waiting for what a user of the SDK sees.

import crypto from "node:crypto";
import WebSocket from "ws";

import * as main from "../../../clients/js/src/index.js";
import * as wxEntry from "../../../clients/js/src/wx.js";
import { createWx } from "./wx-shim.mjs";

/** How long any expectation may take. */
export const WAIT = 5000;

/** The gateway under test. */
export const gateway = {
  /** ws://127.0.0.1:PORT/ws */
  ws: required("SOCKGATE_WS_URL"),
  /** http://127.0.0.1:PORT */
  http: required("SOCKGATE_HTTP"),
  apiKey: process.env.SOCKGATE_API_KEY || "",
  adapter: process.env.SOCKGATE_ADAPTER || "ws",
};

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: these tests run from tests/e2e/client_sdk.rs`);
  return value;
}

/** Every client made by `open`, closed by `closeAll`. */
const clients = new Set();
let clientCount = 0;

/**
 * Connects a client through the adapter under test. The returned client has
 * `sent`: every text frame its transport sent, and `seen`: every lifecycle
 * event as `[name, ...args]`, in order.
 * @param {object} [options] SDK options
 * @param {string} [url]
 */
export function open(options = {}, url = gateway.ws) {
  const sent = [];
  let client;
  if (gateway.adapter === "wx") {
    // One global `wx`, as in a mini-program; `socketOptions` reach
    // connectSocket, so a tag tells which client opened which task.
    globalThis.wx = globalThis.wx || createWx();
    const tag = ++clientCount;
    client = wxEntry.connect(url, Object.assign({ socketOptions: { testClient: tag } }, options));
    const mine = () => globalThis.wx.tasks.filter((task) => task.options.testClient === tag);
    Object.defineProperty(client, "sent", { get: () => mine().flatMap((task) => task.sent) });
    Object.defineProperty(client, "connectCalls", { get: () => mine().map((task) => task.options) });
  } else {
    class RecordingWebSocket extends WebSocket {
      send(data, ...rest) {
        sent.push(data);
        return super.send(data, ...rest);
      }
    }
    client = main.connect(url, Object.assign({ WebSocket: RecordingWebSocket }, options));
    client.sent = sent;
  }
  client.seen = [];
  for (const name of main.RESERVED_EVENTS) {
    client.on(name, (...args) => client.seen.push([name, ...args]));
  }
  clients.add(client);
  return client;
}

/** Closes every client `open` made. */
export function closeAll() {
  for (const client of clients) client.close();
  clients.clear();
}

/**
 * The arguments of the next `name` event (lifecycle or application).
 * @returns {Promise<any[]>}
 */
export function next(client, name, ms = WAIT) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(name, listener);
      reject(new Error(`no "${name}" within ${ms} ms (state ${client.state}; saw ${names(client)})`));
    }, ms);
    const listener = (...args) => {
      clearTimeout(timer);
      client.off(name, listener);
      resolve(args);
    };
    client.on(name, listener);
  });
}

/** Connects and waits for `connect`; returns the client. */
export async function connected(options, url) {
  const client = open(options, url);
  await next(client, "connect");
  return client;
}

/** Waits `ms` and returns the lifecycle event names seen meanwhile. */
export async function quietly(client, ms = 400) {
  const from = client.seen.length;
  await sleep(ms);
  return client.seen.slice(from).map(([name]) => name);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The lifecycle event names a client saw, for messages. */
export function names(client) {
  return client.seen.map(([name]) => name).join(",") || "nothing";
}

/** Resolves with the error a promise rejects with; fails if it resolves. */
export async function rejection(promise) {
  try {
    const value = await promise;
    throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
  } catch (error) {
    if (error && error.message && error.message.startsWith("expected a rejection")) throw error;
    return error;
  }
}

/** A unique room name for one test. */
let roomCount = 0;
export function room(name) {
  roomCount += 1;
  return `room-${name}-${process.pid}-${roomCount}`;
}

/** `POST /api/<path>` with the test key; the parsed answer. */
export async function api(path, body) {
  const response = await fetch(`${gateway.http}/api/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${gateway.apiKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** An HS256 JWT signed with `secret`. */
export function jwt(claims, secret) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}`;
  const signature = crypto.createHmac("sha256", secret).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}
