// sockgate-client in headless Chromium, on the browser's own WebSocket.
//
//   SOCKGATE_WS_URL=ws://127.0.0.1:PORT/ws node sdk/browser.mjs
//     [CHROMIUM=/usr/bin/chromium] [SOCKGATE_ARTIFACTS=<dir for the screenshot>]
//
// Serves clients/js/src and a test page from 127.0.0.1, opens the page in
// Chromium (playwright-core), and the page connects two SDK clients to the
// gateway: both join a room, one publishes, the other must get the event;
// a forbidden join must reject with `forbidden`, an emit nobody handles with
// `no_handler`, and an offered subprotocol must be echoed. The gateway must
// allow joining `room-*` only. Prints one JSON line and exits 0 when every
// check passed, 1 otherwise; the page's screenshot goes to
// target/test-artifacts/sdk-browser.png.

import { mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const sdkDir = path.join(repo, "clients/js/src");
const artifacts = process.env.SOCKGATE_ARTIFACTS || path.join(repo, "target/test-artifacts");
const wsUrl = process.env.SOCKGATE_WS_URL;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

// The page's own test: runs in the browser, reports into window.__result.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>sockgate-client in a browser</title>
<style>body{font:14px system-ui;margin:2em} .ok{color:#070} .bad{color:#b00}</style>
<h1>sockgate-client</h1>
<p id="status">running…</p>
<ul id="checks"></ul>
<script type="module">
  import { connect } from "/sdk/index.js";

  const wsUrl = new URLSearchParams(location.search).get("ws");
  const checks = [];
  const check = (name, ok, detail) => {
    checks.push({ name, ok: Boolean(ok), detail });
    const li = document.createElement("li");
    li.className = ok ? "ok" : "bad";
    li.textContent = (ok ? "✔ " : "✘ ") + name + (detail === undefined ? "" : " — " + JSON.stringify(detail));
    document.getElementById("checks").append(li);
  };
  const within = (promise, ms, what) =>
    Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(what + ": no answer in " + ms + " ms")), ms))]);
  const nextEvent = (client, name) => new Promise((resolve) => client.once(name, (...args) => resolve(args)));

  async function run() {
    check("native WebSocket", typeof WebSocket === "function");
    const alice = connect(wsUrl, { protocols: ["sockgate.v1"] });
    const bob = connect(wsUrl);
    const [[aliceInfo], [bobInfo]] = await within(Promise.all([nextEvent(alice, "connect"), nextEvent(bob, "connect")]), 5000, "connect");
    check("both connected", aliceInfo.sid.length === 16 && bobInfo.sid.length === 16 && aliceInfo.sid !== bobInfo.sid, [aliceInfo.sid, bobInfo.sid]);
    check("subprotocol echoed", alice.protocol === "sockgate.v1", alice.protocol);

    const room = "room-browser";
    await within(Promise.all([alice.join(room), bob.join(room)]), 5000, "join");
    const arrived = nextEvent(bob, "chat");
    const ack = await within(alice.publish(room, "chat", { text: "hello from Chromium" }), 5000, "publish");
    check("publish acked", ack.ok === true);
    const [data, meta] = await within(arrived, 5000, "event");
    check("event arrived", data.text === "hello from Chromium" && meta.room === room, { data, meta });

    const forbidden = await alice.join("secret").then(() => null, (error) => error);
    check("forbidden join rejects", forbidden && forbidden.code === "forbidden", forbidden && forbidden.code);
    const unhandled = await alice.emit("nobody-handles-this", 1).then(() => null, (error) => error);
    check("unhandled emit rejects", unhandled && unhandled.code === "no_handler", unhandled && unhandled.code);

    const gone = nextEvent(alice, "disconnect");
    alice.close();
    const [info] = await within(gone, 2000, "disconnect");
    check("close() reports the disconnect", info.code === 1000 && info.willReconnect === false, info);
    bob.close();
  }

  run()
    .catch((error) => check("no exception", false, String(error && error.stack || error)))
    .finally(() => {
      const ok = checks.length > 0 && checks.every((c) => c.ok);
      document.getElementById("status").textContent = ok ? "all checks passed" : "FAILED";
      window.__result = { ok, userAgent: navigator.userAgent, checks };
    });
</script>
`;

function serve() {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, "http://127.0.0.1");
    if (url.pathname === "/") return send(response, 200, "text/html", PAGE);
    if (url.pathname.startsWith("/sdk/")) {
      const file = path.resolve(sdkDir, "." + url.pathname.slice("/sdk".length));
      if (file.startsWith(sdkDir + path.sep) && file.endsWith(".js")) {
        try {
          return send(response, 200, "text/javascript", readFileSync(file));
        } catch (_) {
          // fall through to 404
        }
      }
    }
    return send(response, 404, "text/plain", "not found");
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function send(response, status, type, body) {
  response.writeHead(status, { "content-type": `${type}; charset=utf-8`, "cache-control": "no-store" });
  response.end(body);
}

async function main() {
  if (!wsUrl) throw new Error("SOCKGATE_WS_URL is not set");
  const server = await serve();
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  const pageErrors = [];
  try {
    const page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    const pageUrl = `http://127.0.0.1:${server.address().port}/?ws=${encodeURIComponent(wsUrl)}`;
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 20000 });
    const result = await page.evaluate(() => window.__result);
    mkdirSync(artifacts, { recursive: true });
    const screenshot = path.join(artifacts, "sdk-browser.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    return Object.assign(result, { pageErrors, screenshot, ok: result.ok && pageErrors.length === 0 });
  } finally {
    await browser.close();
    server.close();
  }
}

main().then(
  (result) => {
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exitCode = result.ok ? 0 : 1;
  },
  (error) => {
    process.stdout.write(JSON.stringify({ ok: false, error: String(error && error.stack) }) + "\n");
    process.exitCode = 1;
  },
);
