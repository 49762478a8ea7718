// Browser check of the /admin dashboard in headless Chromium: a wrong key is
// refused, the right one shows live counts that follow real clients
// (socket.io over websocket, socket.io over polling, raw WebSocket), rooms
// with their members, and a Disconnect button that closes a raw client with
// 4000. With --off-url, also checks a gateway without api.keys says so.
//
//   node pages/admin.mjs --url http://127.0.0.1:3000 --key <api key>
//     [--prefix /rt] [--off-url http://127.0.0.1:3001]
//
// (or SOCKGATE_URL, SOCKGATE_API_KEY, SOCKGATE_PREFIX, SOCKGATE_OFF_URL).
// Prints one JSON line; exit 0 when every check passed. Screenshots:
// target/test-artifacts/admin*.png.

import { io } from "socket.io-client";
import WebSocket from "ws";

import { eventually, main, options, within, WAIT_MS } from "./harness.mjs";

const opts = options({
  url: { env: "SOCKGATE_URL" },
  key: { env: "SOCKGATE_API_KEY" },
  prefix: { env: "SOCKGATE_PREFIX", default: "" },
  "off-url": { env: "SOCKGATE_OFF_URL" },
});
if (!opts.url || !opts.key) {
  console.error("usage: node pages/admin.mjs --url http://127.0.0.1:PORT --key KEY [--prefix /rt] [--off-url URL]");
  process.exit(2);
}
const prefix = opts.prefix.replace(/\/+$/, "");
const origin = opts.url.replace(/\/+$/, "");
const base = origin + prefix;
const COUNT_IDS = {
  total: "#count-total",
  raw: "#count-raw",
  socketio_websocket: "#count-socketio-websocket",
  socketio_polling: "#count-socketio-polling",
};

/** The four counts as numbers (NaN while not shown). */
async function readCounts(page) {
  const counts = {};
  for (const [name, selector] of Object.entries(COUNT_IDS)) {
    counts[name] = Number.parseInt(await page.locator(selector).textContent(), 10);
  }
  return counts;
}

/** A socket.io client (the official one), connected. */
async function socketIo(transport) {
  const socket = io(origin, {
    path: `${prefix}/socket.io/`,
    transports: [transport],
    upgrade: false,
    forceNew: true,
    reconnection: false,
  });
  await within(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    WAIT_MS,
    `socket.io ${transport} connect`,
  );
  if (socket.io.engine.transport.name !== transport) {
    throw new Error(`socket.io client on ${socket.io.engine.transport.name}, not ${transport}`);
  }
  return socket;
}

/** A raw WebSocket client (`ws`) that joined `room`; resolves with its sid and close promise. */
async function rawClient(room) {
  const url = `${origin.replace(/^http/, "ws")}${prefix}/ws`;
  const ws = new WebSocket(url);
  const frames = [];
  const waiters = [];
  ws.on("message", (data) => {
    const frame = JSON.parse(String(data));
    frames.push(frame);
    for (const w of waiters.slice()) {
      if (w.match(frame)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  });
  const closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })));
  const next = (match, what) => {
    const seen = frames.find(match);
    if (seen) return Promise.resolve(seen);
    return within(new Promise((resolve) => waiters.push({ match, resolve })), WAIT_MS, what);
  };
  await within(
    new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    }),
    WAIT_MS,
    `raw connect to ${url}`,
  );
  const open = await next((f) => f.op === "open", "the raw open frame");
  ws.send(JSON.stringify({ op: "join", room, id: 1 }));
  const ack = await next((f) => f.op === "ack" && f.id === 1, "the raw join ack");
  if (!ack.ok) throw new Error(`raw join refused: ${JSON.stringify(ack)}`);
  let nextId = 2;
  /** Sends a frame with a fresh id; resolves with its ack. */
  const request = async (frame) => {
    const id = nextId++;
    ws.send(JSON.stringify({ ...frame, id }));
    const reply = await next((f) => f.op === "ack" && f.id === id, `the ack of ${JSON.stringify(frame)}`);
    if (!reply.ok) throw new Error(`refused: ${JSON.stringify(reply)}`);
    return reply;
  };
  return { ws, sid: open.sid, closed, request };
}

await main("admin", async (run) => {
  const page = await run.page("admin");

  await run.check("GET /admin redirects to /admin/ and shows the sign-in form", async () => {
    const response = await page.goto(`${base}/admin`);
    if (!response || !response.ok()) throw new Error(`GET /admin: ${response && response.status()}`);
    if (new URL(page.url()).pathname !== `${prefix}/admin/`) throw new Error(`landed on ${page.url()}`);
    await page.locator("#key-input").waitFor();
    if (await page.locator("#count-total").isVisible()) throw new Error("counts shown before signing in");
  });

  await run.check("a wrong key is refused", async () => {
    await page.locator("#key-input").fill("not-the-right-key-0000");
    await page.locator("#sign-in").click();
    await page.locator("#error", { hasText: /wrong key/i }).waitFor();
    await page.locator("#key-input").waitFor();
    if (await page.locator("#count-total").isVisible()) throw new Error("counts shown after a wrong key");
    const stored = await page.evaluate(() => Object.keys(sessionStorage).length);
    if (stored) throw new Error("a wrong key was kept in sessionStorage");
    return await page.locator("#error").textContent();
  });

  let before;
  await run.check("the right key shows the counts", async () => {
    await page.locator("#key-input").fill(opts.key);
    await page.locator("#key-input").press("Enter");
    await page.locator("#count-total").waitFor();
    before = await eventually(async () => {
      const counts = await readCounts(page);
      return Object.values(counts).every(Number.isInteger) ? counts : null;
    }, "the counts never showed numbers");
    if (await page.locator("#error").isVisible()) {
      throw new Error(`an error is still shown: ${await page.locator("#error").textContent()}`);
    }
    await page.locator("#sign-out").waitFor();
    await page.locator("#rate-chart").waitFor();
    return before;
  });

  await run.check("the key survives a reload (sessionStorage)", async () => {
    await page.reload();
    await page.locator("#count-total", { hasText: /^\d+$/ }).waitFor();
    if (await page.locator("#key-input").isVisible()) throw new Error("asked for the key again");
  });

  // Real clients of every kind.
  const websocket = await socketIo("websocket");
  run.cleanup(() => websocket.disconnect());
  const polling = await socketIo("polling");
  run.cleanup(() => polling.disconnect());
  const raw = await rawClient("lobby");
  run.cleanup(() => raw.ws.terminate());

  await run.check("the counts follow the clients", async () => {
    const want = {
      total: before.total + 3,
      raw: before.raw + 1,
      socketio_websocket: before.socketio_websocket + 1,
      socketio_polling: before.socketio_polling + 1,
    };
    let seen;
    await eventually(
      async () => {
        seen = await readCounts(page);
        return Object.keys(want).every((k) => seen[k] === want[k]);
      },
      () => `counts ${JSON.stringify(seen)}, wanted ${JSON.stringify(want)}`,
    );
    return seen;
  });

  await run.check("room lobby shows 1 member", async () => {
    const members = page.locator('#rooms-table tr[data-room="lobby"] td.members');
    await eventually(
      async () => (await members.count()) === 1 && (await members.textContent()).trim() === "1",
      async () => `lobby row: ${await page.locator("#rooms-table").textContent()}`,
    );
  });

  await run.check("newest connections list each client with its protocol and transport", async () => {
    const rows = {
      [raw.sid]: /^raw/,
      [websocket.id]: /socket\.io.*websocket/,
      [polling.id]: /socket\.io.*polling/,
    };
    for (const [sid, protocol] of Object.entries(rows)) {
      const row = page.locator(`#connections-table tr[data-sid="${sid}"]`);
      await row.waitFor();
      const text = await row.locator("td").nth(1).textContent();
      if (!protocol.test(text)) throw new Error(`${sid}: protocol cell "${text}"`);
    }
    const rawRooms = await page.locator(`#connections-table tr[data-sid="${raw.sid}"]`).textContent();
    if (!rawRooms.includes("lobby")) throw new Error(`the raw row does not show its room: ${rawRooms}`);
    // Newest first: the raw client connected last.
    const first = await page.locator("#connections-table tbody tr").first().getAttribute("data-sid");
    if (first !== raw.sid) throw new Error(`first row is ${first}, not the newest (${raw.sid})`);
  });

  await run.check("traffic: the clients publish to lobby", async () => {
    // The socket.io client's publishes reach the raw member; the raw
    // client's own publishes reach nobody (it is the only member).
    for (let i = 0; i < 5; i++) {
      await raw.request({ op: "publish", room: "lobby", event: "chat", data: { i } });
      const ack = await within(
        new Promise((resolve) => websocket.emit("publish", { room: "lobby", event: "chat", data: { i } }, resolve)),
        WAIT_MS,
        "socket.io publish ack",
      );
      if (!ack || !ack.ok) throw new Error(`socket.io publish refused: ${JSON.stringify(ack)}`);
    }
  });

  await run.check("the traffic chart draws the samples, with axes and a legend", async () => {
    const chart = page.locator("#rate-chart");
    const legend = await page.locator("#chart-legend").textContent();
    for (const label of ["messages in/s", "publishes/s", "deliveries/s"]) {
      if (!legend.includes(label)) throw new Error(`legend lacks ${label}: ${legend}`);
    }
    for (const title of ["per second", "time"]) {
      if ((await chart.locator("text", { hasText: title }).count()) === 0) throw new Error(`no axis title "${title}"`);
    }
    // Samples are taken every interval_seconds (5 s): wait for the one
    // holding the publishes above.
    const peaks = async () =>
      chart.evaluate((svg) =>
        Object.fromEntries([...svg.querySelectorAll("polyline.series")].map((p) => [p.classList[1], Number(p.dataset.peak)])),
      );
    let seen;
    await eventually(
      async () => {
        seen = await peaks();
        return seen.messages_in > 0 && seen.publishes > 0 && seen.deliveries > 0;
      },
      () => `the chart shows no traffic: peaks ${JSON.stringify(seen)}`,
      WAIT_MS,
    );
    return { samples: Number(await chart.getAttribute("data-samples")), peaks: seen };
  });

  await run.check("screenshot", async () => run.screenshot(page, "admin.png"));

  await run.check("Disconnect closes the raw client with 4000 and drops its row", async () => {
    await page.locator(`#connections-table tr[data-sid="${raw.sid}"] button.disconnect`).click();
    const closed = await within(raw.closed, WAIT_MS, "the raw client's close");
    if (closed.code !== 4000) throw new Error(`closed with ${closed.code} ${closed.reason}`);
    await page.locator(`#connections-table tr[data-sid="${raw.sid}"]`).waitFor({ state: "detached" });
    await page.locator(`#rooms-table tr[data-room="lobby"]`).waitFor({ state: "detached" });
    await eventually(
      async () => (await readCounts(page)).raw === before.raw,
      "the raw count did not go back down",
    );
    return closed;
  });

  await run.check("sign out forgets the key", async () => {
    await page.locator("#sign-out").click();
    await page.locator("#key-input").waitFor();
    if (await page.locator("#count-total").isVisible()) throw new Error("counts still shown");
    const stored = await page.evaluate(() => Object.keys(sessionStorage).length);
    if (stored) throw new Error("the key is still in sessionStorage");
    await page.reload();
    await page.locator("#key-input").waitFor();
  });

  if (opts["off-url"]) {
    const off = await run.page("api-off");
    await run.check("a gateway without api.keys says the API is off", async () => {
      await off.goto(`${opts["off-url"].replace(/\/+$/, "")}${prefix}/admin/`);
      await off.locator("#error", { hasText: "The HTTP API is off: set api.keys in the config" }).waitFor();
      await off.locator("#key-input").fill(opts.key);
      await off.locator("#sign-in").click();
      await off.locator("#error", { hasText: "The HTTP API is off" }).waitFor();
      if (await off.locator("#count-total").isVisible()) throw new Error("counts shown with the API off");
      return run.screenshot(off, "admin-api-off.png");
    });
  }
});
