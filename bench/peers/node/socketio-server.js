#!/usr/bin/env node
// Node socket.io peer of sockgate's socket.io contract (see README.md):
// namespace "/" handles `join`, `leave` and `publish` with acks {ok:true};
// `publish` is `socket.to(room).emit(event, data)` (the sender is left out).
//
//   node socketio-server.js [--port P]     (or PORT=P; 0 picks a free port)
//
// Prints `listening <port>` once, serves until SIGTERM / SIGINT.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { readPort, exitOnSignals } = require("./args.js");

const port = readPort();
const OK = { ok: true };

const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false, perMessageDeflate: false });

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    if (typeof room !== "string") return;
    socket.join(room);
    if (typeof ack === "function") ack(OK);
  });
  socket.on("leave", (room, ack) => {
    if (typeof room !== "string") return;
    socket.leave(room);
    if (typeof ack === "function") ack(OK);
  });
  socket.on("publish", (msg, ack) => {
    if (msg === null || typeof msg !== "object") return;
    const { room, event, data } = msg;
    if (typeof room !== "string" || typeof event !== "string") return;
    try {
      socket.to(room).emit(event, data);
    } catch {
      return; // reserved event name ("connect", "disconnect", ...)
    }
    if (typeof ack === "function") ack(OK);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
});
exitOnSignals((done) => io.close(done));
