// Browser check of the /demo page in headless Chromium: both panes connect,
// a message typed on either side shows up on the other, and both frame logs
// show real traffic.
//
//   node pages/demo.mjs --url http://127.0.0.1:3000 [--prefix /rt]
//
// (or SOCKGATE_URL / SOCKGATE_PREFIX). Prints one JSON line; exit 0 when
// every check passed. Screenshots: target/test-artifacts/demo*.png.

import { main, options } from "./harness.mjs";

const opts = options({
  url: { env: "SOCKGATE_URL" },
  prefix: { env: "SOCKGATE_PREFIX", default: "" },
});
if (!opts.url) {
  console.error("usage: node pages/demo.mjs --url http://127.0.0.1:PORT [--prefix /rt]");
  process.exit(2);
}
const base = opts.url.replace(/\/+$/, "") + opts.prefix.replace(/\/+$/, "");
const shot = opts.prefix ? "demo-prefix" : "demo";

await main(shot, async (run) => {
  const page = await run.page("wide");

  await run.check("GET /demo redirects to /demo/ and loads", async () => {
    const response = await page.goto(`${base}/demo`);
    if (!response || !response.ok()) throw new Error(`GET /demo: ${response && response.status()}`);
    const url = new URL(page.url());
    if (url.pathname !== `${opts.prefix}/demo/`) throw new Error(`landed on ${url.pathname}`);
    return { url: page.url(), title: await page.title() };
  });

  await run.check("both panes connect and join the room", async () => {
    await page.locator('#sio-status[data-state="connected"]').waitFor();
    await page.locator('#raw-status[data-state="connected"]').waitFor();
    const sio = await page.locator("#sio-status").textContent();
    const raw = await page.locator("#raw-status").textContent();
    for (const [side, text] of [["socket.io", sio], ["raw", raw]]) {
      if (!/sid \S+/.test(text)) throw new Error(`${side} status shows no sid: ${text}`);
    }
    return { sio, raw };
  });

  const stamp = Date.now().toString(36);
  const fromSio = `hello from socket.io ${stamp}`;
  const fromRaw = `hi from the mini-program ${stamp}`;

  await run.check("socket.io → raw: typed + Enter, shown in the raw pane", async () => {
    await page.locator("#sio-input").fill(fromSio);
    await page.locator("#sio-input").press("Enter");
    await page.locator("#raw-messages li", { hasText: fromSio }).waitFor();
    await page.locator("#sio-messages li.mine", { hasText: fromSio }).waitFor();
    if ((await page.locator("#sio-input").inputValue()) !== "") throw new Error("the input was not cleared");
  });

  await run.check("raw → socket.io: typed + Send button, shown in the socket.io pane", async () => {
    await page.locator("#raw-input").fill(fromRaw);
    await page.locator("#raw-send").click();
    await page.locator("#sio-messages li", { hasText: fromRaw }).waitFor();
    await page.locator("#raw-messages li.mine", { hasText: fromRaw }).waitFor();
  });

  await run.check("a publisher does not receive its own message", async () => {
    const echoedSio = await page.locator("#sio-messages li.theirs", { hasText: fromSio }).count();
    const echoedRaw = await page.locator("#raw-messages li.theirs", { hasText: fromRaw }).count();
    if (echoedSio || echoedRaw) throw new Error(`echoed back: sio=${echoedSio} raw=${echoedRaw}`);
  });

  await run.check("the frame logs show both directions of real traffic", async () => {
    // socket.io: the engine.io handshake and the publish EVENT out, the chat EVENT in.
    await page.locator("#sio-frames li.in", { hasText: '"sid"' }).first().waitFor();
    await page.locator("#sio-frames li.out", { hasText: /^→\s*42\d*\["publish"/ }).filter({ hasText: fromSio }).waitFor();
    await page.locator("#sio-frames li.in", { hasText: /^←\s*42\["chat"/ }).filter({ hasText: fromRaw }).waitFor();
    // raw: the open frame, the publish out, the event in.
    await page.locator("#raw-frames li.in", { hasText: '"op":"open"' }).waitFor();
    await page.locator("#raw-frames li.out", { hasText: '"op":"publish"' }).filter({ hasText: fromRaw }).waitFor();
    await page.locator("#raw-frames li.in", { hasText: '"op":"event"' }).filter({ hasText: fromSio }).waitFor();
    return {
      sio_frames: await page.locator("#sio-frames li").count(),
      raw_frames: await page.locator("#raw-frames li").count(),
    };
  });

  await run.check("screenshot, wide", async () => run.screenshot(page, `${shot}.png`));

  const narrow = await run.page("narrow", { width: 390, height: 844 });
  await run.check("narrow screen: the panes stack and still connect", async () => {
    await narrow.goto(`${base}/demo/`);
    await narrow.locator('#sio-status[data-state="connected"]').waitFor();
    await narrow.locator('#raw-status[data-state="connected"]').waitFor();
    const sio = await narrow.locator("#sio-pane").boundingBox();
    const raw = await narrow.locator("#raw-pane").boundingBox();
    if (!(raw.y >= sio.y + sio.height - 1)) throw new Error(`not stacked: sio ${JSON.stringify(sio)} raw ${JSON.stringify(raw)}`);
    const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`the page is ${overflow}px wider than the screen`);
    return run.screenshot(narrow, `${shot}-narrow.png`);
  });

  await run.check("two tabs: the wide tab hears the narrow tab", async () => {
    const text = `from the second tab ${stamp}`;
    await narrow.locator("#raw-input").fill(text);
    await narrow.locator("#raw-input").press("Enter");
    // The wide tab's panes are both members of the room.
    await page.locator("#sio-messages li.theirs", { hasText: text }).waitFor();
    await page.locator("#raw-messages li.theirs", { hasText: text }).waitFor();
    // The narrow tab's own socket.io pane too.
    await narrow.locator("#sio-messages li.theirs", { hasText: text }).waitFor();
  });
});
