/**
 * Codes the SDK itself uses; every other `code` comes from the gateway
 * (`forbidden`, `bad_request`, `no_handler`, … — see docs/protocol.md).
 */
export const LocalCodes = Object.freeze({
  /** No ack within `ackTimeout` (the gateway also uses `timeout` for a slow webhook backend). */
  TIMEOUT: "timeout",
  /** The link was lost (or the client closed) before the ack came. */
  DISCONNECTED: "disconnected",
  /** The send queue was full while the client was not connected. */
  QUEUE_FULL: "queue_full",
  /** The data could not be encoded as JSON. */
  BAD_REQUEST: "bad_request",
  /** The gateway refused the credentials (close code 4001). */
  UNAUTHORIZED: "unauthorized",
  /** A connection attempt failed at the transport level. */
  TRANSPORT: "transport",
});

/**
 * An error with a machine-readable `code`. Match on `code`; `message` is for humans.
 */
export class SockgateError extends Error {
  /**
   * @param {string} code the gateway's error code, or one of {@link LocalCodes}
   * @param {string} message
   * @param {{closeCode?: number, reason?: string, room?: string}} [details]
   */
  constructor(code, message, details) {
    super(message);
    this.name = "SockgateError";
    /** @type {string} */
    this.code = code;
    if (details) Object.assign(this, details);
  }
}
