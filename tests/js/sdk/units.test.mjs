// sockgate-client's pure helpers, without a gateway.

import assert from "node:assert/strict";
import { test } from "node:test";

import { backoffDelay, DEFAULTS, RESERVED_EVENTS, SockgateError } from "../../../clients/js/src/index.js";
import { headerValue, withQueryParam } from "../../../clients/js/src/url.js";

test("backoff grows by the factor, stops at the maximum, and jitter only shortens", () => {
  const options = { reconnectionDelay: 100, reconnectionDelayMax: 1000, reconnectionFactor: 3, randomizationFactor: 0.5 };
  const none = () => 0;
  const most = () => 0.999999;
  assert.deepEqual([1, 2, 3, 4, 10].map((n) => backoffDelay(n, options, none)), [100, 300, 900, 1000, 1000]);
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelay(n, options, most)), [50, 150, 450, 500]);
  assert.equal(backoffDelay(1, { ...options, randomizationFactor: 0 }, most), 100);
  assert.equal(backoffDelay(1, { ...options, randomizationFactor: 7 }, most), 0, "jitter is clamped to 1");
});

test("the default backoff starts at 1 s and never exceeds 30 s", () => {
  for (let attempt = 1; attempt < 40; attempt++) {
    const delay = backoffDelay(attempt, DEFAULTS);
    assert.ok(delay >= 0 && delay <= 30000, `attempt ${attempt}: ${delay}`);
  }
  assert.equal(backoffDelay(1, DEFAULTS, () => 0), 1000);
});

test("the token goes into the query, before any fragment, encoded", () => {
  assert.equal(withQueryParam("wss://h/ws", "token", "a b"), "wss://h/ws?token=a%20b");
  assert.equal(withQueryParam("wss://h/ws?v=2", "token", "x&y"), "wss://h/ws?v=2&token=x%26y");
  assert.equal(withQueryParam("wss://h/ws#top", "token", "t"), "wss://h/ws?token=t#top");
});

test("headers are found whatever their case", () => {
  assert.equal(headerValue({ "Sec-WebSocket-Protocol": "json" }, "sec-websocket-protocol"), "json");
  assert.equal(headerValue(undefined, "x"), undefined);
});

test("errors carry a code; lifecycle names are reserved", () => {
  const error = new SockgateError("forbidden", "no", { room: "r" });
  assert.ok(error instanceof Error);
  assert.equal(error.code, "forbidden");
  assert.equal(error.room, "r");
  assert.ok(RESERVED_EVENTS.includes("connect") && RESERVED_EVENTS.includes("error"));
});
