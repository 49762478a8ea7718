// The other mini-program frameworks' connectSocket flavours, each on the wx
// shim (a real `ws` WebSocket underneath) against the real gateway:
// uni-app returns a Promise instead of the SocketTask unless a callback is
// given; Taro always returns a Promise of the SocketTask.

import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { connect, socketTaskTransport } from "../../../clients/js/src/index.js";
import * as uniEntry from "../../../clients/js/src/uni.js";
import { gateway, next, room } from "./harness.mjs";
import { createWx } from "./wx-shim.mjs";

const opened = [];
afterEach(() => opened.splice(0).forEach((client) => client.close()));

async function roundTrip(makeClient) {
  const alice = makeClient();
  const bob = makeClient();
  opened.push(alice, bob);
  await Promise.all([next(alice, "connect"), next(bob, "connect")]);
  const r = room("platform");
  await bob.join(r);
  const arrived = next(bob, "chat");
  await alice.publish(r, "chat", { from: "alice" });
  assert.deepEqual(await arrived, [{ from: "alice" }, { room: r, event: "chat" }]);
}

test("uni-app: uni.connectSocket gets a callback, so it returns the SocketTask", async () => {
  const shim = createWx();
  let promised = 0;
  globalThis.uni = {
    connectSocket(options) {
      if (!options.success && !options.fail && !options.complete) {
        promised += 1;
        return Promise.resolve({ errMsg: "connectSocket:ok" }); // no task in sight
      }
      return shim.connectSocket(options);
    },
  };
  await roundTrip(() => uniEntry.connect(gateway.ws, { protocols: ["json"] }));
  assert.equal(promised, 0);
  assert.deepEqual(shim.tasks[0].options.protocols, ["json"]);
});

test("Taro: a connectSocket returning a Promise of the SocketTask", async () => {
  const shim = createWx();
  const Taro = {
    connectSocket: (options) =>
      new Promise((resolve) => setTimeout(() => resolve(shim.connectSocket(options)), 20)),
  };
  await roundTrip(() => connect(gateway.ws, { transport: socketTaskTransport(Taro.connectSocket) }));
});

test("Taro: closing before the Promise settles closes the task once it exists", async () => {
  const shim = createWx();
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  let asked;
  const called = new Promise((resolve) => (asked = resolve));
  const Taro = {
    connectSocket: (options) => {
      asked();
      return gate.then(() => shim.connectSocket(options));
    },
  };
  const client = connect(gateway.ws, { transport: socketTaskTransport(Taro.connectSocket) });
  await called;
  client.close();
  release();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(client.state, "closed");
  assert.equal(shim.tasks.length, 1);
  assert.equal(shim.tasks[0].testState(), "closed", "the task was left open");
});
