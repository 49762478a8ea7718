/**
 * The client's option defaults, one place for `SockgateClient` and the
 * package entries to share.
 */

/** Option defaults; see `ClientOptions` in types/index.d.ts for each one. */
export const DEFAULTS = Object.freeze({
  token: undefined,
  authFrame: false,
  protocols: undefined,
  headers: undefined,
  autoConnect: true,
  timeout: 20000,
  ackTimeout: 10000,
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 30000,
  reconnectionFactor: 2,
  randomizationFactor: 0.5,
  noReconnectCodes: [4000, 4001],
  pingInterval: undefined,
  pongTimeout: 10000,
  queueSize: 100,
  logger: undefined,
});
