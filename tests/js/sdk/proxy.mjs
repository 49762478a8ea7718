// A TCP proxy in front of the gateway, to break links the way mobile
// networks do: `freeze()` silently stops forwarding on the links open now
// (a dead link: no close, no data), `blackhole()` does too and keeps their
// gateway side open even after the client gives up on them (the gateway
// hears nothing until its own heartbeat notices), `cut()` drops them,
// `down()` drops them and refuses new ones until `up()`.

import net from "node:net";

/**
 * @param {string} target `ws://127.0.0.1:PORT/...` or `http://…` of the gateway
 * @returns {Promise<{url: (path: string) => string, freeze(): void, blackhole(): void, cut(): void, down(): void, up(): void, close(): Promise<void>, connections: number}>}
 */
export async function startProxy(target) {
  const { hostname, port } = new URL(target);
  const links = new Set();
  let refusing = false;

  const server = net.createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = net.connect(Number(port), hostname);
    const link = { client, upstream, frozen: false, held: false };
    links.add(link);
    pipe(client, upstream, link);
    pipe(upstream, client, link);
    const drop = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", () => {
      if (!link.held) drop();
    });
    upstream.on("close", drop);
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();

  const dropAll = () => {
    for (const link of links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    links.clear();
  };
  return {
    url: (path) => `ws://127.0.0.1:${address.port}${path}`,
    get connections() {
      return links.size;
    },
    freeze() {
      for (const link of links) link.frozen = true;
    },
    blackhole() {
      for (const link of links) {
        link.frozen = true;
        link.held = true;
      }
    },
    cut: dropAll,
    down() {
      refusing = true;
      dropAll();
    },
    up() {
      refusing = false;
    },
    close() {
      dropAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function pipe(from, to, link) {
  from.on("data", (chunk) => {
    if (!link.frozen) to.write(chunk);
  });
}
