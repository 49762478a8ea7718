// sockgate-client's missed-message recovery: after a reconnect the SDK sends
// one `resume` frame (the previous connection's token and the position of
// the last event it got in each joined room), the gateway replays what was
// missed, and the app hears `resumed`, and `gap` for rooms it must reload.
//
// The gateway (tests/e2e/client_sdk.rs, recovery_config): rooms.recover =
// ["room-*"], rooms.history_size = 5, limits.outbound_queue = 16 (so that a
// big replay overflows it), the HTTP API on with SOCKGATE_API_KEY.
//
// The last section drives the client over a fake transport instead, for what
// a real gateway never does (duplicates, refusals) and for the exact frames.

import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { SockgateClient } from "../../../clients/js/src/index.js";
import { api, closeAll, connected, gateway, next, room, sleep } from "./harness.mjs";
import { startProxy } from "./proxy.mjs";

afterEach(closeAll);

/** Every client `fake` made, closed after each test. */
const fakes = new Set();
afterEach(() => {
  for (const client of fakes) client.close();
  fakes.clear();
});

/** Fast reconnects for the tests; the defaults are for real networks. */
const QUICK = { reconnectionDelay: 50, reconnectionDelayMax: 200 };

describe(`resuming over the ${gateway.adapter} transport`, () => {
  test("missed events are replayed in order before `connect`, then live ones, none twice", async (t) => {
    const proxy = await startProxy(gateway.ws);
    t.after(() => proxy.close());
    const publisher = await connected();
    const client = await connected(QUICK, proxy.url("/ws"));
    const r = room("replay");
    await client.join(r);
    const log = record(client, "tick");

    await publish(publisher, r, [1, 2]);
    await until(() => log.data().length === 2);
    const oldSid = client.sid;
    await away(proxy, oldSid);
    await publish(publisher, r, [3, 4, 5]);

    const sentBefore = client.sent.length;
    const resumed = next(client, "resumed");
    const back = next(client, "reconnect");
    proxy.up();
    const [report] = await resumed;
    await back;
    assert.deepEqual(report, { session: true, rooms: { [r]: { replayed: 3 } } });
    assert.notEqual(client.sid, oldSid);
    assert.deepEqual(log.data(), [1, 2, 3, 4, 5], "the missed events, in order, once");
    assert.deepEqual(log.order().slice(-4), ["tick", "resumed", "connect", "reconnect"], "replay, report, then connect");

    // Positions reach the listeners; the stream numbers the room's events.
    const metas = log.metas();
    assert.deepEqual(metas.map((m) => m.offset), [1, 2, 3, 4, 5]);
    assert.match(metas[0].epoch, /^[A-Za-z0-9]{8}$/);
    assert.ok(metas.every((m) => m.epoch === metas[0].epoch && m.room === r && m.event === "tick"));

    // One resume frame with the old token and the room's position; no join.
    const sent = client.sent.slice(sentBefore).map((text) => JSON.parse(text)).filter((f) => f.op !== "ping");
    assert.equal(sent[0].op, "resume", JSON.stringify(sent));
    assert.match(sent[0].token, /^[A-Za-z0-9]{22}$/);
    assert.deepEqual(sent[0].rooms, { [r]: { epoch: metas[0].epoch, offset: 2 } });
    assert.ok(!sent.some((f) => f.op === "join"), "a room with a position was joined again too");

    await publish(publisher, r, [6, 7]);
    await until(() => log.data().length === 7);
    await sleep(100);
    assert.deepEqual(log.data(), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(gaps(client), []);
    assert.deepEqual(await memberOf(client.sid), [r]);
  });

  test("more missed events than the history keeps: a `gap` (too_old), then live events", async (t) => {
    const proxy = await startProxy(gateway.ws);
    t.after(() => proxy.close());
    const publisher = await connected();
    const client = await connected(QUICK, proxy.url("/ws"));
    const kept = room("kept");
    const lossy = room("lossy");
    await client.join(kept);
    await client.join(lossy);
    const log = record(client, "tick");
    await publish(publisher, lossy, ["l1"]);
    await publish(publisher, kept, ["k1"]);
    await until(() => log.data().length === 2);

    await away(proxy, client.sid);
    await publish(publisher, lossy, ["l2", "l3", "l4", "l5", "l6", "l7", "l8"]); // history_size = 5
    await publish(publisher, kept, ["k2"]);
    const gap = next(client, "gap");
    const resumed = next(client, "resumed");
    const back = next(client, "connect");
    proxy.up();
    const [report] = await resumed;
    assert.deepEqual(report, { session: true, rooms: { [kept]: { replayed: 1 }, [lossy]: { gap: "too_old" } } });
    assert.deepEqual(await gap, [{ room: lossy, reason: "too_old" }]);
    await back;
    assert.deepEqual(gaps(client), [{ room: lossy, reason: "too_old" }]);
    assert.deepEqual(log.data(), ["l1", "k1", "k2"], "nothing of the lost stretch is delivered");

    // Still a member; live events flow (offset 9 is past the last one seen).
    await publish(publisher, lossy, ["l9"]);
    await until(() => log.data().length === 4);
    assert.equal(log.metas().at(-1).offset, 9);
    assert.deepEqual((await memberOf(client.sid)).sort(), [kept, lossy].sort());
  });

  test("a room the backend added comes back with the session", async (t) => {
    const proxy = await startProxy(gateway.ws);
    t.after(() => proxy.close());
    const publisher = await connected();
    const client = await connected(QUICK, proxy.url("/ws"));
    const own = room("own");
    const added = room("added");
    await client.join(own);
    const joined = await api("join", { sid: client.sid, rooms: [added] });
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    assert.deepEqual(client.rooms, [own], "the SDK only remembers rooms the app joined");

    await away(proxy, client.sid);
    const resumed = next(client, "resumed");
    const back = next(client, "connect");
    proxy.up();
    const [report] = await resumed;
    await back;
    assert.equal(report.session, true);
    assert.deepEqual(report.rooms, { [added]: { replayed: 0 }, [own]: { replayed: 0 } });
    assert.deepEqual((await memberOf(client.sid)).sort(), [added, own].sort());
    const arrived = next(client, "tick");
    await publisher.publish(added, "tick", "for the added room");
    assert.equal((await arrived)[0], "for the added room");
  });

  test("back before the gateway noticed the dead link: the new connection takes the old one's place", async (t) => {
    const proxy = await startProxy(gateway.ws);
    t.after(() => proxy.close());
    const publisher = await connected();
    // The gateway pings every 25 s; the client, with its own quick
    // heartbeat, resumes long before the gateway would notice.
    const client = await connected(Object.assign({ pingInterval: 200, pongTimeout: 300 }, QUICK), proxy.url("/ws"));
    const r = room("frozen");
    await client.join(r);
    const log = record(client, "tick");
    await publish(publisher, r, [1]);
    await until(() => log.data().length === 1);
    const oldSid = client.sid;

    const down = next(client, "disconnect");
    proxy.blackhole(); // nothing more either way; the gateway keeps its side open
    await publish(publisher, r, [2, 3]);
    const resumed = next(client, "resumed");
    const back = next(client, "connect");
    await down;
    assert.equal((await api(`connections/${oldSid}`)).status, 200, "the gateway saw the old link end");
    const [report] = await resumed;
    await back;
    assert.deepEqual(report, { session: true, rooms: { [r]: { replayed: 2 } } });
    assert.deepEqual(log.data(), [1, 2, 3]);
    await until(async () => (await api(`connections/${oldSid}`)).status === 404);
    await publish(publisher, r, [4]);
    await until(() => log.data().length === 4);
    assert.deepEqual(log.data(), [1, 2, 3, 4]);
    assert.deepEqual(await memberOf(client.sid), [r]);
  });

  test("a replay bigger than the gateway's outbound queue does not keep the client out", async (t) => {
    // 8 rooms × 5 missed events > limits.outbound_queue = 16. Whatever the
    // gateway does about it, every room ends with its missed events in order
    // or a `gap`, and the client gets back in.
    const proxy = await startProxy(gateway.ws);
    t.after(() => proxy.close());
    const publisher = await connected();
    const client = await connected(QUICK, proxy.url("/ws"));
    const rooms = Array.from({ length: 8 }, (_, i) => room(`big${i}`));
    for (const r of rooms) await client.join(r);
    const log = record(client, "tick");
    for (const r of rooms) await publish(publisher, r, [0]);
    await until(() => log.data().length === rooms.length);

    await away(proxy, client.sid);
    for (const r of rooms) await publish(publisher, r, [1, 2, 3, 4, 5]);
    const back = next(client, "connect", 15000);
    proxy.up();
    await back;
    await sleep(200);
    const gapped = new Set(gaps(client).map((g) => g.room));
    const failures = client.seen.filter(([name]) => name === "connect_error").map(([, e]) => e.closeCode);
    t.diagnostic(`gaps: ${JSON.stringify(gaps(client).map((g) => g.reason))}; failed attempts: ${failures}`);
    for (const r of rooms) {
      const got = log.all().filter(([, meta]) => meta.room === r).map(([data]) => data);
      if (gapped.has(r)) {
        assert.ok(got.every((n, i) => i === 0 || n > got[i - 1]), `${r}: out of order or twice: ${got}`);
      } else {
        assert.deepEqual(got, [0, 1, 2, 3, 4, 5], `${r}: neither replayed nor reported as a gap`);
      }
    }
    assert.deepEqual((await memberOf(client.sid)).sort(), rooms.slice().sort());
    assert.deepEqual(client.rooms.sort(), rooms.slice().sort());
    const arrived = next(client, "tick");
    await publisher.publish(rooms[3], "tick", "live");
    assert.equal((await arrived)[0], "live");
  });
});

// ---- the frames, over a fake transport --------------------------------------

const fakeOnly = gateway.adapter === "ws" ? describe : describe.skip;

fakeOnly("resuming, frame by frame (fake transport)", () => {
  test("the resume frame: previous token, positions of joined rooms; other rooms joined plainly", async () => {
    const { client, links } = fake();
    const first = await links.opened(1, "T1");
    const joins = [client.join("a"), client.join("b")];
    first.ackAll();
    await Promise.all(joins);
    const got = record(client, "tick");
    first.event("a", 1, "E1", 3);
    first.event("backend-room", 2, "E9", 7); // a room the app did not join
    first.drop(1006);

    const second = await links.opened(2, "T2");
    const [resume, join] = second.frames();
    assert.deepEqual(resume, { op: "resume", rooms: { a: { epoch: "E1", offset: 3 } }, token: "T1", id: resume.id });
    assert.deepEqual(join, { op: "join", room: "b", id: join.id });
    assert.equal(second.frames().length, 2);
    assert.equal(client.state, "reconnecting", "connect before the acks");
    second.ack(join.id);
    second.ack(resume.id, { session: true, rooms: { a: { replayed: 0 }, b: { replayed: 0 }, "backend-room": { replayed: 0 } } });
    await until(() => client.state === "open");
    const names = client.seen.map(([name]) => name);
    assert.ok(names.indexOf("resumed") < names.lastIndexOf("connect"));
    assert.deepEqual(got.data(), [1, 2]);
  });

  test("events at or before the last position of their room are dropped", async () => {
    const { client, links } = fake();
    const link = await links.opened(1, "T1");
    const got = record(client, "tick");
    link.event("a", "first", "E1", 3);
    link.event("a", "again", "E1", 3);
    link.event("a", "older", "E1", 2);
    link.event("b", "other room", "E1", 1);
    link.event("a", "next", "E1", 4);
    link.event("a", "new life", "E2", 1);
    link.event("a", "no position");
    assert.deepEqual(got.data(), ["first", "other room", "next", "new life", "no position"]);
    assert.deepEqual(got.metas()[0], { room: "a", event: "tick", epoch: "E1", offset: 3 });
    assert.deepEqual(got.metas()[4], { room: "a", event: "tick" });
  });

  test("the report: `gap` per room to reload, and a room refused is dropped with `error`", async () => {
    const { client, links } = fake();
    const first = await links.opened(1, "T1");
    const joins = ["a", "b", "c"].map((r) => client.join(r));
    first.ackAll();
    await Promise.all(joins);
    for (const r of ["a", "b", "c"]) first.event(r, 0, "E", 1);
    first.drop(1006);
    const second = await links.opened(2, "T2");
    const [resume] = second.frames();
    const error = { code: "forbidden", message: "no" };
    second.ack(resume.id, { session: false, rooms: { a: { replayed: 0 }, b: { gap: "epoch_changed" }, c: { error } } });
    await until(() => client.state === "open");
    assert.deepEqual(gaps(client), [{ room: "b", reason: "epoch_changed" }]);
    const refused = client.seen.find(([name]) => name === "error")[1];
    assert.equal(refused.code, "forbidden");
    assert.equal(refused.room, "c");
    assert.deepEqual(client.rooms, ["a", "b"]);
    const names = client.seen.map(([name]) => name);
    assert.deepEqual(names.slice(names.indexOf("resumed")), ["resumed", "gap", "state", "connect", "reconnect"]);
  });

  test("no resume token (recovery off): every room is joined again", async () => {
    const { client, links } = fake();
    const first = await links.opened(1, null);
    const join = client.join("a");
    first.ackAll();
    await join;
    first.event("a", 1, "E", 1); // even with a position
    first.drop(1006);
    const second = await links.opened(2, null);
    assert.deepEqual(second.frames().map((f) => [f.op, f.room]), [["join", "a"]]);
    second.ackAll();
    await until(() => client.state === "open");
    assert.ok(!client.seen.some(([name]) => name === "resumed"));
  });

  test("after the backend's kick (4000) the old session is not taken back", async () => {
    const { client, links } = fake();
    const first = await links.opened(1, "T1");
    const join = client.join("a");
    first.ackAll();
    await join;
    first.event("a", 1, "E", 5);
    first.drop(4000, "disconnected by the server");
    assert.equal(client.state, "closed");
    client.connect();
    const second = await links.opened(2, "T2");
    const [resume] = second.frames();
    assert.deepEqual(resume, { op: "resume", rooms: { a: { epoch: "E", offset: 5 } }, id: resume.id }, "no token");
  });

  test("a gateway that refuses `resume` gets plain joins", async () => {
    const { client, links } = fake();
    const first = await links.opened(1, "T1");
    const join = client.join("a");
    first.ackAll();
    await join;
    first.event("a", 1, "E", 1);
    first.drop(1006);
    const second = await links.opened(2, "T2");
    const [resume] = second.frames();
    second.refuse(resume.id, "bad_request");
    await until(() => second.frames().length === 2);
    assert.deepEqual(second.frames()[1], { op: "join", room: "a", id: second.frames()[1].id });
    second.ackAll();
    await until(() => client.state === "open");
    assert.deepEqual(client.rooms, ["a"]);
  });

  test("links lost twice while a replay is unanswered: joined again without one, and a `gap`", async () => {
    const { client, links } = fake();
    const first = await links.opened(1, "T1");
    const join = client.join("a");
    first.ackAll();
    await join;
    first.event("a", 1, "E", 1);
    first.drop(1006);
    for (const n of [2, 3]) {
      const link = await links.opened(n, `T${n}`);
      assert.equal(link.frames()[0].op, "resume");
      assert.ok(link.frames()[0].rooms.a, "asked for a replay");
      link.drop(1008, "slow consumer");
    }
    const fourth = await links.opened(4, "T4");
    const [resume, rejoin] = fourth.frames();
    assert.deepEqual(resume, { op: "resume", rooms: {}, token: "T3", id: resume.id });
    assert.deepEqual([rejoin.op, rejoin.room], ["join", "a"]);
    fourth.ack(resume.id, { session: true, rooms: { a: { replayed: 0 } } });
    fourth.ack(rejoin.id);
    await until(() => client.state === "open");
    assert.deepEqual(gaps(client), [{ room: "a", reason: "replay_failed" }]);
  });

  test("close() forgets the token and the positions", async () => {
    const { client, links } = fake();
    const first = await links.opened(1, "T1");
    const join = client.join("a");
    first.ackAll();
    await join;
    first.event("a", 1, "E", 1);
    client.close();
    client.connect();
    const second = await links.opened(2, "T2");
    assert.deepEqual(second.frames(), []);
    const got = record(client, "tick");
    second.event("a", "seen again", "E", 1);
    assert.deepEqual(got.data(), ["seen again"]);
  });
});

// ---- helpers ----------------------------------------------------------------

/** Publishes `values` one after the other, each acked before the next. */
async function publish(publisher, r, values) {
  for (const value of values) await publisher.publish(r, "tick", value);
}

/**
 * Takes the link down and refuses new ones, then waits until the gateway
 * has ended `sid` (so that its rooms are kept under its resume token).
 */
async function away(proxy, sid) {
  proxy.down();
  await until(async () => (await api(`connections/${sid}`)).status === 404);
}

/** The rooms a connection is in, from the HTTP API. */
async function memberOf(sid) {
  const answer = await api(`connections/${sid}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.result.rooms;
}

/**
 * Records `event` as the app sees it, and the lifecycle events around it
 * (for their order).
 */
function record(client, event) {
  const events = [];
  const order = [];
  client.on(event, (data, meta) => {
    events.push([data, meta]);
    order.push(event);
  });
  for (const name of ["resumed", "gap", "connect", "reconnect"]) client.on(name, () => order.push(name));
  return {
    all: () => events.slice(),
    data: () => events.map(([data]) => data),
    metas: () => events.map(([, meta]) => meta),
    order: () => order.slice(),
  };
}

/** The `gap` events a client fired. */
function gaps(client) {
  return client.seen.filter(([name]) => name === "gap").map(([, info]) => info);
}

async function until(check, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(20);
  }
}

/**
 * A client over a fake transport. `links.opened(n, token)` waits for the
 * client's n-th link and plays the gateway's `open` frame on it (with
 * `resume: token` unless null).
 */
function fake(options) {
  const all = [];
  const transport = (url, init, on) => {
    const sent = [];
    const link = {
      send: (text) => sent.push(JSON.parse(text)),
      close: () => {},
      frames: () => sent.filter((f) => f.op !== "ping"),
      message: (frame) => on.message(JSON.stringify(frame)),
      event: (r, data, epoch, offset) => {
        const frame = { op: "event", room: r, event: "tick", data };
        if (epoch !== undefined) Object.assign(frame, { epoch, offset });
        link.message(frame);
      },
      ack: (id, data) => link.message(data === undefined ? { op: "ack", id, ok: true } : { op: "ack", id, ok: true, data }),
      ackAll: () => sent.filter((f) => f.id !== undefined).forEach((f) => link.ack(f.id)),
      refuse: (id, code) => link.message({ op: "ack", id, ok: false, error: { code, message: code } }),
      drop: (code, reason = "") => on.close({ code, reason }),
      on,
    };
    all.push(link);
    return link;
  };
  const client = new SockgateClient(
    "ws://fake/ws",
    Object.assign({ transport, reconnectionDelay: 1, reconnectionDelayMax: 1, randomizationFactor: 0, pingInterval: 0 }, options),
  );
  client.seen = [];
  for (const name of ["connect", "disconnect", "reconnect", "error", "state", "resumed", "gap"]) {
    client.on(name, (...args) => client.seen.push([name, ...args]));
  }
  fakes.add(client);
  const links = {
    async opened(n, token) {
      await until(() => all.length >= n);
      const link = all[n - 1];
      link.on.open({ protocol: "" });
      const open = { op: "open", sid: `sid${n}`, pingInterval: 0 };
      if (token) open.resume = token;
      link.message(open);
      return link;
    },
  };
  return { client, links };
}
