// sockgate-client against the real gateway, through the transport named by
// SOCKGATE_ADAPTER ("ws" or "wx"). The gateway (tests/e2e/client_sdk.rs):
// rooms.allow_join/allow_publish = ["room-*"], raw.ping_interval = 500ms,
// the HTTP API on with SOCKGATE_API_KEY, and webhook routes for the events
// "echo" (acks {echoed: data}) and "slow" (acks after 2 s).

import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";

import { api, closeAll, connected, gateway, next, open, quietly, rejection, room, sleep } from "./harness.mjs";
import { startProxy } from "./proxy.mjs";

afterEach(closeAll);

/** Fast reconnects for the tests; the defaults are for real networks. */
const QUICK = { reconnectionDelay: 50, reconnectionDelayMax: 200 };

describe(`sockgate-client over the ${gateway.adapter} transport`, () => {
  test("connects and reports the session", async () => {
    const client = open();
    const [info] = await next(client, "connect");
    assert.match(info.sid, /^[A-Za-z0-9_-]{16}$/);
    assert.equal(info.user, null);
    assert.equal(info.pingInterval, 500);
    assert.equal(client.sid, info.sid);
    assert.equal(client.connected, true);
    assert.equal(client.state, "open");
    assert.deepEqual(
      client.seen.filter(([name]) => name === "state").map(([, state]) => state),
      ["open"],
      "state events after the constructor's `connecting`",
    );
  });

  test("join and publish reach the other client, not the publisher", async () => {
    const [alice, bob] = await Promise.all([connected(), connected()]);
    const chat = room("chat");
    const joined = await alice.join(chat);
    assert.equal(joined.ok, true);
    await bob.join(chat);
    assert.deepEqual(alice.rooms, [chat]);

    let echoed = false;
    alice.on("chat", () => (echoed = true));
    const arrived = next(bob, "chat");
    const ack = await alice.publish(chat, "chat", { text: "hi", n: 1 });
    assert.equal(ack.ok, true);
    const [data, meta] = await arrived;
    assert.deepEqual(data, { text: "hi", n: 1 });
    assert.deepEqual(meta, { room: chat, event: "chat" });

    // After leaving, bob hears nothing more.
    await bob.leave(chat);
    assert.deepEqual(bob.rooms, []);
    let late = false;
    bob.on("chat", () => (late = true));
    await alice.publish(chat, "chat", { text: "anyone?" });
    await sleep(200);
    assert.equal(late, false, "an event after leave");
    assert.equal(echoed, false, "the publisher got its own event");
  });

  test("a publish without data arrives as null, and on/off work", async () => {
    const [alice, bob] = await Promise.all([connected(), connected()]);
    const r = room("null");
    await bob.join(r);
    const seen = [];
    const handler = (data) => seen.push(data);
    bob.on("ping-me", handler);
    const arrived = next(bob, "ping-me");
    await alice.publish(r, "ping-me");
    assert.deepEqual(await arrived, [null, { room: r, event: "ping-me" }]);
    bob.off("ping-me", handler);
    const second = next(bob, "ping-me");
    await alice.publish(r, "ping-me", 2);
    await second;
    assert.deepEqual(seen, [null], "the handler removed with off() was called");
  });

  test("an event with several arguments hands every one in meta.args", async () => {
    const bob = await connected();
    const r = room("args");
    await bob.join(r);
    const arrived = next(bob, "move");
    const answer = await api("emit", { room: r, event: "move", args: [1, "2", { three: 3 }] });
    assert.equal(answer.status, 200);
    assert.deepEqual(await arrived, [1, { room: r, event: "move", args: [1, "2", { three: 3 }] }]);
  });

  test("refusals reject with the gateway's error code", async () => {
    const client = await connected();
    const forbiddenJoin = await rejection(client.join("secret"));
    assert.equal(forbiddenJoin.code, "forbidden");
    assert.match(forbiddenJoin.message, /secret/);
    assert.equal((await rejection(client.publish("secret", "chat", 1))).code, "forbidden");
    assert.equal((await rejection(client.join("user:42"))).code, "forbidden");
    assert.equal((await rejection(client.publish(room("x"), "", 1))).code, "bad_request");
    assert.equal((await rejection(client.publish(room("x"), "disconnect", 1))).code, "bad_request");
    assert.equal((await rejection(client.join("room-" + "x".repeat(200)))).code, "bad_request");
    assert.deepEqual(client.rooms, [], "refused joins are not remembered");
    // The connection is still fine.
    await client.join(room("after-errors"));
    assert.equal(client.state, "open");
  });

  test("with autoConnect: false, requests wait for connect() and go out in order", async () => {
    const watcher = await connected();
    const r = room("early");
    await watcher.join(r);
    const client = open({ autoConnect: false });
    assert.equal(client.state, "closed");
    const received = [];
    watcher.on("early", (data) => received.push(data));
    const acks = [client.join(r), client.publish(r, "early", 1), client.publish(r, "early", 2)];
    await sleep(100);
    assert.equal(client.sent.length, 0, "sent before connect()");
    client.connect();
    await Promise.all(acks);
    assert.deepEqual(client.rooms, [r]);
    await waitUntil(() => received.length === 2);
    assert.deepEqual(received, [1, 2]);
  });

  test("data that is not JSON rejects locally with bad_request", async () => {
    const client = await connected();
    const error = await rejection(client.publish(room("x"), "chat", { n: 1n }));
    assert.equal(error.code, "bad_request");
  });

  test("emit resolves with the backend's ack, or rejects with no_handler", async () => {
    const client = await connected();
    assert.deepEqual(await client.emit("echo", { a: [1, 2] }), { echoed: { a: [1, 2] } });
    const error = await rejection(client.emit("nobody-handles-this", 1));
    assert.equal(error.code, "no_handler");
  });

  test("no ack within ackTimeout rejects with timeout; a late ack is ignored", async () => {
    const client = await connected({ ackTimeout: 300 });
    const started = Date.now();
    const error = await rejection(client.emit("slow", 1));
    const waited = Date.now() - started;
    assert.equal(error.code, "timeout");
    assert.ok(waited >= 290 && waited < 1900, `rejected after ${waited} ms`);
    await sleep(2200); // the backend's ack arrives now, for nobody
    assert.equal(client.state, "open");
    assert.deepEqual(await client.emit("echo", "still here"), { echoed: "still here" });
  });

  test("the heartbeat pings at the announced interval, and can be turned off", async () => {
    const client = await connected();
    const quiet = await connected({ pingInterval: 0 });
    const before = pings(client);
    await sleep(1600);
    const sent = pings(client) - before;
    assert.ok(sent >= 2 && sent <= 4, `${sent} pings in 1.6 s at 500 ms`);
    assert.equal(pings(quiet), 0);
    assert.equal(client.state, "open");
  });

  test("offered subprotocols reach the gateway and its choice is reported", async () => {
    const client = open({ protocols: ["sockgate.v1", "json"] });
    const [info] = await next(client, "connect");
    assert.equal(info.protocol, "sockgate.v1");
    assert.equal(client.protocol, "sockgate.v1");
    if (gateway.adapter === "wx") {
      assert.deepEqual(client.connectCalls[0].protocols, ["sockgate.v1", "json"]);
      assert.equal(typeof client.connectCalls[0].complete, "function", "uni-app needs complete");
    }
    const plain = await connected();
    assert.equal(plain.protocol, "");
  });

  test("events without a room, and events with reserved names", async () => {
    const client = await connected();
    const notice = next(client, "notice");
    const sent = await api("emit", { sid: client.sid, event: "notice", data: { a: 1 } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.deepEqual(await notice, [{ a: 1 }, { room: undefined, event: "notice" }]);

    // An application event named like a lifecycle event reaches onAny only.
    const any = [];
    client.onAny((event, data, meta) => any.push([event, data, meta.room]));
    let lifecycleError = false;
    client.on("error", () => (lifecycleError = true));
    const done = next(client, "done");
    await api("emit", { sid: client.sid, event: "error", data: "app-level" });
    await api("emit", { sid: client.sid, event: "done", data: 1 });
    await done;
    assert.deepEqual(any, [
      ["error", "app-level", undefined],
      ["done", 1, undefined],
    ]);
    assert.equal(lifecycleError, false);
  });

  test("a gateway error frame surfaces as an `error` event", async () => {
    // authFrame on a gateway that does not require auth: the {"op":"auth"}
    // frame arrives after the session started and is refused without an id.
    const client = open({ token: "t", authFrame: true });
    const [error] = await next(client, "error");
    assert.equal(error.code, "bad_request");
    assert.equal(client.state, "open");
    assert.ok(!client.sent.some((text) => text.includes("token=")));
  });

  test("close() rejects what is pending, stops for good, and connect() starts over", async () => {
    const client = await connected();
    const r = room("closing");
    await client.join(r);
    const pending = client.emit("slow", 1);
    client.close();
    assert.equal((await rejection(pending)).code, "disconnected");
    assert.deepEqual(client.seen.at(-1), ["disconnect", { code: 1000, reason: "client close", willReconnect: false }]);
    assert.equal(client.state, "closed");
    assert.equal((await rejection(client.join(r))).code, "disconnected");
    assert.deepEqual(await quietly(client), [], "something happened after close()");

    client.connect();
    await next(client, "connect");
    assert.deepEqual(client.rooms, [], "close() forgets rooms");
  });

  test("after the backend kicks it (4000) the client stays down by default", async () => {
    const client = await connected();
    const r = room("kicked");
    await client.join(r);
    const down = next(client, "disconnect");
    const kicked = await api("disconnect", { sid: client.sid });
    assert.equal(kicked.status, 200, JSON.stringify(kicked.body));
    const [info] = await down;
    assert.deepEqual(info, { code: 4000, reason: "disconnected by the server", willReconnect: false });
    assert.equal(client.state, "closed");
    assert.deepEqual(await quietly(client), []);
    assert.equal((await rejection(client.publish(r, "chat", 1))).code, "disconnected");

    // The app decides to come back: the rooms are joined again.
    client.connect();
    await next(client, "connect");
    await assertMember(client.sid, r);
  });

  test("with 4000 allowed to retry, the client comes back with its rooms", async () => {
    const watcher = await connected();
    const client = await connected(Object.assign({ noReconnectCodes: [4001] }, QUICK));
    const r = room("kick-retry");
    await client.join(r);
    const oldSid = client.sid;
    const down = next(client, "disconnect");
    const back = next(client, "reconnect");
    await api("disconnect", { sid: client.sid });
    const [info] = await down;
    assert.deepEqual(info, { code: 4000, reason: "disconnected by the server", willReconnect: true });
    const [again] = await back;
    assert.equal(again.attempt, 1);
    assert.notEqual(client.sid, oldSid);
    await assertMember(client.sid, r);
    const arrived = next(client, "chat");
    await watcher.publish(r, "chat", "welcome back");
    assert.deepEqual((await arrived)[0], "welcome back");
  });

  test("a dead link is noticed by the heartbeat and replaced; rooms are re-joined", async (t) => {
    const proxy = await startProxy(gateway.ws);
    t.after(() => proxy.close());
    const watcher = await connected();
    const client = await connected(Object.assign({ pongTimeout: 400 }, QUICK), proxy.url("/ws"));
    const r = room("dead");
    await client.join(r);
    const oldSid = client.sid;

    const down = next(client, "disconnect");
    const back = next(client, "reconnect");
    proxy.freeze(); // no close, no data: only the heartbeat can tell
    const lost = Date.now();
    const [info] = await down;
    assert.deepEqual(info, { code: 1006, reason: "ping timeout", willReconnect: true });
    assert.ok(Date.now() - lost < 3000, `noticed after ${Date.now() - lost} ms`);

    await back;
    assert.notEqual(client.sid, oldSid);
    assert.deepEqual(client.rooms, [r]);
    const arrived = next(client, "chat");
    await watcher.publish(r, "chat", { after: "dead link" });
    assert.deepEqual((await arrived)[0], { after: "dead link" });
  });

  test("while the gateway is unreachable, requests queue (bounded) and go out after reconnecting", async (t) => {
    const proxy = await startProxy(gateway.ws);
    t.after(() => proxy.close());
    const watcher = await connected();
    const client = await connected(Object.assign({ queueSize: 3, ackTimeout: 8000 }, QUICK), proxy.url("/ws"));
    const r = room("queue");
    await watcher.join(r);

    // A request already sent when the link breaks rejects with `disconnected`.
    proxy.freeze();
    const unacked = client.publish(r, "chat", "lost");
    await sleep(50);
    const down = next(client, "disconnect");
    proxy.down();
    assert.equal((await rejection(unacked)).code, "disconnected");
    const [info] = await down;
    assert.equal(info.code, 1006);
    assert.equal(info.willReconnect, true);

    const received = [];
    watcher.on("chat", (data) => received.push(data));
    const queued = [1, 2, 3].map((n) => client.publish(r, "chat", n));
    assert.equal((await rejection(client.publish(r, "chat", 4))).code, "queue_full");
    await next(client, "reconnecting"); // still failing: the proxy refuses
    assert.equal(client.state, "reconnecting");

    proxy.up();
    await next(client, "reconnect");
    const acks = await Promise.all(queued);
    assert.ok(acks.every((ack) => ack.ok));
    await waitUntil(() => received.length === 3);
    assert.deepEqual(received, [1, 2, 3], "queued publishes in order, the lost one not resent");
  });

  test("reconnection delays grow with jitter and reconnectionAttempts gives up", async (t) => {
    const proxy = await startProxy(gateway.ws);
    t.after(() => proxy.close());
    proxy.down();
    const client = open({
      reconnectionDelay: 40,
      reconnectionDelayMax: 160,
      reconnectionFactor: 2,
      randomizationFactor: 0.5,
      reconnectionAttempts: 4,
    }, proxy.url("/ws"));
    const [failed] = await next(client, "reconnect_failed");
    assert.equal(failed.attempts, 4);
    const delays = client.seen.filter(([n]) => n === "reconnecting").map(([, info]) => info);
    assert.deepEqual(delays.map((d) => d.attempt), [1, 2, 3, 4]);
    const bases = [40, 80, 160, 160];
    delays.forEach((d, i) => assert.ok(d.delay >= bases[i] / 2 && d.delay <= bases[i], `delay ${i + 1}: ${d.delay}`));
    assert.equal(client.seen.filter(([n]) => n === "connect_error").length, 5, "the first try and 4 retries");
    assert.equal(client.seen.find(([n]) => n === "connect_error")[1].code, "transport");
    assert.equal(client.state, "closed");
  });
});

after(closeAll);

function pings(client) {
  return client.sent.filter((text) => text === '{"op":"ping"}').length;
}

async function assertMember(sid, r) {
  const answer = await api(`connections/${sid}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.result.rooms, [r]);
}

async function waitUntil(check, ms = 5000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(20);
  }
}
