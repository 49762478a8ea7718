/**
 * sockgate-client for WeChat mini-programs: `connect()` opens the link with
 * `wx.connectSocket` (a SocketTask). Everything else is the main entry's.
 */

/* global wx */

import { SockgateClient } from "./client.js";
import { socketTaskTransport } from "./transports/socket-task.js";

export { SockgateClient, RESERVED_EVENTS, DEFAULTS } from "./client.js";
export { SockgateError, LocalCodes } from "./errors.js";
export { backoffDelay } from "./backoff.js";
export { socketTaskTransport } from "./transports/socket-task.js";
export { webSocketTransport } from "./transports/websocket.js";

/**
 * Connects to a sockgate raw endpoint with `wx.connectSocket`.
 * The domain must be on the mini-program's socket domain list (wss:// only in production).
 *
 * @param {string} url e.g. `wss://rt.example.com/ws`
 * @param {import("../types/index.js").ClientOptions & {socketOptions?: object}} [options]
 *   `socketOptions`: more `wx.connectSocket` options (`tcpNoDelay`, `perMessageDeflate`, `timeout`, …)
 * @returns {SockgateClient}
 */
export function connect(url, options = {}) {
  // `wx` is looked up when connecting, not when this module loads.
  const transport = options.transport || socketTaskTransport((o) => wx.connectSocket(o), options.socketOptions);
  return new SockgateClient(url, Object.assign({}, options, { transport }));
}

export default connect;
