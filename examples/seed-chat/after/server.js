// seed-chat, after sockgate: a plain HTTP backend. sockgate holds the sockets
// (socket.io and raw WebSocket) and calls this backend over HTTP:
//   POST /sockgate/connect  connect webhook: who is this? (was io.use + "connection")
//   POST /sockgate/events   event webhook: joinAct, sendMsg, changeUserStatus (was socket.on)
// and the backend calls sockgate's HTTP API when it has something to say
// on its own (POST /admin/announce -> POST /api/emit). See
// docs/webhooks.md and docs/api.md.
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");
const Koa = require("koa");
const Router = require("@koa/router");
const bodyParser = require("koa-bodyparser");
const serve = require("koa-static");

const PORT = Number(process.env.PORT || 8080);
const HOST = process.env.HOST || "127.0.0.1"; // only the gateway needs to reach the webhooks
const SOCKGATE_URL = process.env.SOCKGATE_URL || "http://127.0.0.1:3000";
const SOCKGATE_API_KEY = process.env.SOCKGATE_API_KEY || "";
const WEBHOOK_SECRET = process.env.SOCKGATE_WEBHOOK_SECRET || ""; // = webhooks.secret in gateway.toml

const statuses = new Map(); // user -> last status

const fail = (code, message) => ({ error: { code, message } });

// The event webhook's handlers: (first argument the client emitted, the
// whole call {event, args, sid, user, rooms, ...}) -> the answer.
const events = {
  joinAct(actId) {
    if (typeof actId !== "string" || actId === "" || actId.startsWith("user:")) {
      return fail("bad_request", "actId must be an act name");
    }
    return { join: [actId], ack: [{ ok: true }] };
  },

  sendMsg(msg, call) {
    const { actId, text } = msg ?? {};
    if (!call.rooms.includes(actId)) return fail("forbidden", "join the act first");
    return {
      emit: [{ room: actId, event: "msg", data: { from: call.user, text, at: Date.now() } }], // the sender gets it too
      ack: [{ ok: true }],
    };
  },

  changeUserStatus(change, call) {
    const { status } = change ?? {};
    statuses.set(call.user, status);
    const acts = call.rooms.filter((room) => !room.startsWith("user:"));
    const emit = [];
    if (acts.length > 0) {
      emit.push({ rooms: acts, event: "userStatus", data: { user: call.user, status }, except: [call.sid] }); // everyone but me
    }
    return { emit, ack: [{ ok: true, status }] };
  },
};

// Webhooks come from the gateway only: it sends "Authorization: Bearer <webhooks.secret>".
function fromGateway(ctx, next) {
  const got = Buffer.from(ctx.get("authorization"));
  const want = Buffer.from(`Bearer ${WEBHOOK_SECRET}`);
  if (WEBHOOK_SECRET && !(got.length === want.length && crypto.timingSafeEqual(got, want))) {
    ctx.throw(401, "webhooks are for the gateway");
  }
  return next();
}

// One call of sockgate's HTTP API.
async function sockgate(endpoint, body) {
  const res = await fetch(`${SOCKGATE_URL}/api/${endpoint}`, {
    method: "POST",
    headers: { authorization: `Bearer ${SOCKGATE_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await res.json();
  if (!res.ok) throw new Error(`sockgate /api/${endpoint}: ${res.status} ${answer.error?.code}: ${answer.error?.message}`);
  return answer.result;
}

const router = new Router();

// "Login": socket.io clients name the user in the handshake auth
// (io(url, {auth: {user: "alice"}})), raw WebSocket clients in the URL
// (wss://host/ws?user=bob).
router.post("/sockgate/connect", fromGateway, (ctx) => {
  const { auth, query } = ctx.request.body;
  const user = auth?.user ?? new URLSearchParams(query ?? "").get("user");
  if (!user) {
    ctx.body = { allow: false, reason: "login first: send auth.user or ?user=" };
    return;
  }
  const welcome = { user: String(user), status: statuses.get(String(user)) || "online" };
  ctx.body = { allow: true, user: String(user), emit: [{ event: "welcome", data: welcome }] };
});

router.post("/sockgate/events", fromGateway, (ctx) => {
  const call = ctx.request.body;
  const handler = Object.hasOwn(events, call.event) ? events[call.event] : null;
  ctx.body = handler ? handler(call.args?.[0], call) : fail("unknown_event", `no handler for ${call.event}`);
});

// Admin: tell every connected client (no auth here; put it behind yours).
router.post("/admin/announce", async (ctx) => {
  try {
    await sockgate("emit", { all: true, event: "announce", data: { text: String(ctx.request.body.text ?? "") } });
    ctx.body = { ok: true };
  } catch (err) {
    ctx.status = 502;
    ctx.body = { ok: false, error: err.message };
  }
});

const app = new Koa();
app.use(bodyParser());
app.use(router.routes());
app.use(serve(path.join(__dirname, "public")));

app.listen(PORT, HOST, () => console.log(`seed-chat backend listening on http://${HOST}:${PORT}`));
