// pages/act/act.js — the seed-chat flow in a WeChat mini-program.
//
// For reading: this runs inside WeChat, not in Node or a browser. A
// mini-program has no socket.io (wx.connectSocket speaks plain WebSocket),
// so it talks to sockgate in raw protocol v1 (docs/protocol.md): one JSON
// object per text frame. It emits the same events as public/index.html,
// reaches the same backend webhooks, and shares the same rooms.
//
//   socket.io page                               mini-program (raw v1)
//   io(url, {auth: {user}})                      wx.connectSocket({url: ".../ws?user=…"})
//   socket.emit("joinAct", "act42", ack)         {"op":"emit","event":"joinAct","data":"act42","id":1}
//   ack({ok: true})                              {"op":"ack","id":1,"ok":true,"data":{"ok":true}}
//   socket.on("msg", fn)                         {"op":"event","room":"act42","event":"msg","data":{…}}
//
// Mini-programs need wss:// on a domain whitelisted in the WeChat console:
// put sockgate behind your TLS proxy.

const GATEWAY = "wss://rt.example.com/ws";

Page({
  data: { me: "", status: "online", lines: [], text: "" },

  onLoad({ user = "mini", act = "act42" }) {
    this.actId = act;
    this.nextId = 0;
    this.pending = new Map(); // frame id -> ack callback, like socket.io's ack functions
    this.task = wx.connectSocket({
      url: `${GATEWAY}?user=${encodeURIComponent(user)}`, // the connect webhook reads ?user=
      protocols: ["json"], // optional; sockgate echoes it back (mini-program clients want one)
    });
    this.task.onMessage(({ data }) => this.onFrame(JSON.parse(data)));
    this.task.onClose(({ code, reason }) => this.log(`closed: ${code} ${reason}`)); // 4001 = denied
  },

  onUnload() {
    this.task.close({});
  },

  // socket.emit(event, data, ack), raw protocol v1 style.
  emit(event, data, ack) {
    const id = ++this.nextId;
    if (ack) this.pending.set(id, ack);
    this.task.send({ data: JSON.stringify({ op: "emit", event, data, id }) });
  },

  onFrame(frame) {
    switch (frame.op) {
      case "open": // the first frame: the connect webhook let us in
        this.emit("joinAct", this.actId, (ack) => this.log(ack.ok ? `joined ${this.actId}` : ack.error.message));
        break;
      case "ack": {
        // exactly one per id: the backend's ack in `data`, or ok:false with an error
        const done = this.pending.get(frame.id);
        this.pending.delete(frame.id);
        if (done) done(frame.ok ? frame.data : { ok: false, error: frame.error });
        break;
      }
      case "event":
        this.onEvent(frame.event, frame.data);
        break;
      case "error":
        this.log(frame.error.message);
        break;
    }
  },

  onEvent(event, data) {
    if (event === "welcome") this.setData({ me: data.user, status: data.status });
    else if (event === "msg") this.log(`${data.from}: ${data.text}`);
    else if (event === "userStatus") this.log(`${data.user} is ${data.status}`);
    else if (event === "announce") this.log(`📢 ${data.text}`);
  },

  // bound in act.wxml: <input bindinput="onInput"/> <button bindtap="onSend"/> <picker bindchange="onStatus"/>
  onInput(e) {
    this.setData({ text: e.detail.value });
  },

  onSend() {
    this.emit("sendMsg", { actId: this.actId, text: this.data.text }, (ack) => {
      if (!ack.ok) this.log(ack.error.message);
    });
    this.setData({ text: "" });
  },

  onStatus(e) {
    const status = ["online", "away", "busy"][e.detail.value];
    this.emit("changeUserStatus", { status }, (ack) => {
      if (ack.ok) this.setData({ status: ack.status });
    });
  },

  log(line) {
    this.setData({ lines: this.data.lines.concat(line) });
  },
});
