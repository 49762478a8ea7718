// seed-chat, before sockgate: one Node process serves the page, holds every
// socket (socket.io 4) and runs the chat logic.
"use strict";

const http = require("node:http");
const path = require("node:path");
const Koa = require("koa");
const Router = require("@koa/router");
const bodyParser = require("koa-bodyparser");
const serve = require("koa-static");
const { Server } = require("socket.io");

const PORT = Number(process.env.PORT || 8080);

const statuses = new Map(); // user -> last status, kept in memory like seed apps do

const app = new Koa();
const router = new Router();

// Admin: tell every connected client (no auth here; put it behind yours).
router.post("/admin/announce", (ctx) => {
  io.emit("announce", { text: String(ctx.request.body.text ?? "") });
  ctx.body = { ok: true };
});

app.use(bodyParser());
app.use(router.routes());
app.use(serve(path.join(__dirname, "public")));

const server = http.createServer(app.callback());
const io = new Server(server);

// "Login": the handshake names the user, io(url, {auth: {user: "alice"}}).
io.use((socket, next) => {
  const user = socket.handshake.auth.user;
  if (!user) return next(new Error("login first: send auth.user"));
  socket.data.user = String(user);
  next();
});

io.on("connection", (socket) => {
  const user = socket.data.user;
  socket.emit("welcome", { user, status: statuses.get(user) || "online" });

  socket.on("joinAct", (actId, ack) => {
    if (typeof actId !== "string" || actId === "") {
      return ack?.({ ok: false, error: { code: "bad_request", message: "actId must be an act name" } });
    }
    socket.join(actId);
    ack?.({ ok: true });
  });

  socket.on("sendMsg", (msg, ack) => {
    const { actId, text } = msg ?? {};
    if (!socket.rooms.has(actId)) {
      return ack?.({ ok: false, error: { code: "forbidden", message: "join the act first" } });
    }
    io.to(actId).emit("msg", { from: user, text, at: Date.now() }); // the sender gets it too
    ack?.({ ok: true });
  });

  socket.on("changeUserStatus", (change, ack) => {
    const { status } = change ?? {};
    statuses.set(user, status);
    const acts = [...socket.rooms].filter((room) => room !== socket.id);
    if (acts.length > 0) socket.to(acts).emit("userStatus", { user, status }); // everyone but me
    ack?.({ ok: true, status });
  });
});

server.listen(PORT, () => console.log(`seed-chat (before) listening on http://127.0.0.1:${PORT}`));
