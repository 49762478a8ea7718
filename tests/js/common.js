// Shared helpers for the sockgate Node.js test peers (sio-peer.js, connect-storm.js):
// loading the v4 / v2 socket.io client, building its options, and the
// {"$bytes":"<base64>"} encoding used for binary data in the JSON line protocol.
"use strict";

function checkClient(version) {
  if (version !== "v4" && version !== "v2") {
    throw new Error(`unknown --client ${version} (expected v4 or v2)`);
  }
}

// Returns the `io` function of the requested client generation.
// v4 = socket.io-client 4.8 (EIO4), v2 = socket.io-client 2.5 (EIO3).
function loadClient(version) {
  checkClient(version);
  return version === "v4" ? require("socket.io-client") : require("socket.io-client-v2");
}

// "polling,websocket" -> ["polling", "websocket"]
function parseTransports(text) {
  const list = String(text)
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of list) {
    if (t !== "websocket" && t !== "polling") {
      throw new Error(`unknown transport ${t} (expected websocket and/or polling)`);
    }
  }
  if (list.length === 0) throw new Error("--transports is empty");
  return list;
}

// Joins the server URL and a namespace: ("http://h:1/", "/chat") -> "http://h:1/chat".
function namespaceUrl(url, ns) {
  const base = String(url).replace(/\/+$/, "");
  if (!ns || ns === "/") return base;
  return base + (ns.startsWith("/") ? ns : "/" + ns);
}

// Options common to both client generations. `forceNew` keeps every io() call on its
// own engine connection (no manager cache); `forceNode` makes the v2 client use the
// `ws` package even on Node versions that have a global WebSocket (which would drop
// extraHeaders). v4 ignores `forceNode`.
function baseOptions({ path, transports, reconnect }) {
  return {
    path,
    transports,
    reconnection: !!reconnect,
    // Tests drop transports on purpose: come back quickly.
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    forceNew: true,
    forceNode: true,
    timeout: 10000,
    // Tests of the gateway's own TLS use a self-signed certificate; the
    // client's default (verify) would refuse it. Only when asked.
    rejectUnauthorized: process.env.NODE_TLS_REJECT_UNAUTHORIZED !== "0",
  };
}

function isBinary(value) {
  return (
    Buffer.isBuffer(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value)
  );
}

function binaryToBase64(value) {
  if (Buffer.isBuffer(value)) return value.toString("base64");
  if (value instanceof ArrayBuffer) return Buffer.from(value).toString("base64");
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
}

// Replaces every Buffer / ArrayBuffer / typed array (recursively) with {"$bytes": base64}.
// Functions (e.g. an ack callback) are dropped, so the result is plain JSON.
function encodeBytes(value) {
  if (isBinary(value)) return { $bytes: binaryToBase64(value) };
  if (Array.isArray(value)) return value.filter((v) => typeof v !== "function").map(encodeBytes);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== "function") out[k] = encodeBytes(v);
    }
    return out;
  }
  return value;
}

function isBytesMarker(value) {
  return (
    value &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof value.$bytes === "string"
  );
}

// Inverse of encodeBytes: every {"$bytes": base64} object (recursively) becomes a Buffer.
function decodeBytes(value) {
  if (isBytesMarker(value)) return Buffer.from(value.$bytes, "base64");
  if (Array.isArray(value)) return value.map(decodeBytes);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = decodeBytes(v);
    return out;
  }
  return value;
}

// Parses a JSON CLI argument, naming the flag in the error.
function parseJsonFlag(name, text) {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`--${name} is not valid JSON: ${e.message}`);
  }
}

module.exports = {
  loadClient,
  checkClient,
  parseTransports,
  namespaceUrl,
  baseOptions,
  encodeBytes,
  decodeBytes,
  parseJsonFlag,
};
