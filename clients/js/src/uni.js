/**
 * sockgate-client for uni-app: `connect()` opens the link with
 * `uni.connectSocket` (a SocketTask; the transport always passes `complete`,
 * without which uni-app returns a Promise instead of the task).
 */

/* global uni */

import { SockgateClient } from "./client.js";
import { socketTaskTransport } from "./transports/socket-task.js";

export { SockgateClient, RESERVED_EVENTS, DEFAULTS } from "./client.js";
export { SockgateError, LocalCodes } from "./errors.js";
export { backoffDelay } from "./backoff.js";
export { socketTaskTransport } from "./transports/socket-task.js";
export { webSocketTransport } from "./transports/websocket.js";

/**
 * Connects to a sockgate raw endpoint with `uni.connectSocket`.
 *
 * @param {string} url e.g. `wss://rt.example.com/ws`
 * @param {import("../types/index.js").ClientOptions & {socketOptions?: object}} [options]
 * @returns {SockgateClient}
 */
export function connect(url, options = {}) {
  const transport = options.transport || socketTaskTransport((o) => uni.connectSocket(o), options.socketOptions);
  return new SockgateClient(url, Object.assign({}, options, { transport }));
}

export default connect;
