/**
 * sockgate-client: the raw protocol v1 client for browsers, Node.js and any
 * runtime with a WHATWG `WebSocket`. Mini-programs: import
 * `sockgate-client/wx` or `sockgate-client/uni`, or pass
 * `transport: socketTaskTransport(Taro.connectSocket)`.
 */

import { SockgateClient } from "./client.js";
import { webSocketTransport } from "./transports/websocket.js";

export { SockgateClient, RESERVED_EVENTS, DEFAULTS } from "./client.js";
export { SockgateError, LocalCodes } from "./errors.js";
export { backoffDelay } from "./backoff.js";
export { webSocketTransport } from "./transports/websocket.js";
export { socketTaskTransport } from "./transports/socket-task.js";

/**
 * Connects to a sockgate raw endpoint (`raw.paths`, default `/ws`).
 *
 * @param {string} url e.g. `wss://rt.example.com/ws`
 * @param {import("../types/index.js").ClientOptions} [options]
 *   `WebSocket`: a constructor to use instead of the global one (e.g. `ws` on Node 20);
 *   `transport`: any other transport
 * @returns {SockgateClient}
 */
export function connect(url, options = {}) {
  const transport = options.transport || webSocketTransport(options.WebSocket);
  return new SockgateClient(url, Object.assign({}, options, { transport }));
}

export default connect;
