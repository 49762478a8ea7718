// sockgate-client's token handling against a gateway with auth.required =
// true, auth.timeout = 1s and an HS256 secret (SOCKGATE_JWT_SECRET).

import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { closeAll, gateway, jwt, next, open, quietly } from "./harness.mjs";

afterEach(closeAll);

const secret = process.env.SOCKGATE_JWT_SECRET;
const inAMinute = () => Math.floor(Date.now() / 1000) + 60;
const token = (sub, exp = inAMinute()) => jwt({ sub, exp }, secret);

describe(`tokens over the ${gateway.adapter} transport`, () => {
  test("a valid token in the query makes an authenticated session", async () => {
    const client = open({ token: token("alice") });
    const [info] = await next(client, "connect");
    assert.equal(info.user, "alice");
    assert.equal(client.user, "alice");
    assert.ok(!client.sent.some((text) => text.includes('"auth"')), "no auth frame with a query token");
  });

  test("authFrame sends the token as the first frame instead", async () => {
    const client = open({ token: token("bob"), authFrame: true });
    const [info] = await next(client, "connect");
    assert.equal(info.user, "bob");
    assert.equal(JSON.parse(client.sent[0]).op, "auth");
  });

  test("a token function is asked again before every attempt", async () => {
    let calls = 0;
    const client = open({
      token: async () => {
        calls += 1;
        return token(`carol${calls}`);
      },
      noReconnectCodes: [4001],
      reconnectionDelay: 50,
    });
    await next(client, "connect");
    assert.equal(client.user, "carol1");
    // The gateway restarts the link (a server-side kick, retried by config).
    const back = next(client, "reconnect");
    const response = await fetch(`${gateway.http}/api/disconnect`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.apiKey}` },
      body: JSON.stringify({ sid: client.sid }),
    });
    assert.equal(response.status, 200);
    await back;
    assert.equal(client.user, "carol2");
  });

  test("an invalid token is refused with 4001 and not retried", async () => {
    const client = open({ token: token("mallory").slice(0, -3) + "AAA", reconnectionDelay: 50 });
    const [error] = await next(client, "connect_error");
    assert.equal(error.code, "unauthorized");
    assert.equal(error.closeCode, 4001);
    assert.match(error.reason, /invalid token/);
    assert.equal(client.state, "closed");
    assert.deepEqual(await quietly(client, 500), [], "it tried again");
    assert.equal((await client.join("lobby").catch((e) => e)).code, "disconnected");
  });

  test("an expired token is refused with 4001 and the reason", async () => {
    const client = open({ token: token("dave", inAMinute() - 3600) });
    const [error] = await next(client, "connect_error");
    assert.equal(error.closeCode, 4001);
    assert.match(error.reason, /expired/);
  });

  test("no token at all is refused after auth.timeout", async () => {
    const client = open();
    const [error] = await next(client, "connect_error", 4000);
    assert.equal(error.code, "unauthorized");
    assert.equal(error.closeCode, 4001);
    assert.equal(client.state, "closed");
  });
});
