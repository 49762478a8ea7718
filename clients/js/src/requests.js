/**
 * Requests awaiting their ack: numeric ids, the ack timeout of each, the
 * bounded queue of those waiting for a link, and rejecting them when the
 * link is lost or the client is closed.
 */

import { LocalCodes, SockgateError } from "./errors.js";

/**
 * Every request not yet settled, by id, and the ones not sent yet, in call
 * order.
 */
export class Requests {
  /**
   * @param {{ackTimeout: number, queueSize: number}} options read at each request
   * @param {(text: string) => void} send sends an encoded frame on the current link
   */
  constructor(options, send) {
    this._options = options;
    this._send = send;
    this._nextId = 1;
    /** @type {Map<number, PendingRequest>} every request not yet settled */
    this._pending = new Map();
    /** @type {PendingRequest[]} requests waiting for a link, in call order */
    this._queue = [];
  }

  /**
   * Gives `frame` a fresh numeric `id`, then sends it now when `ready`, or
   * queues it (rejecting with `queue_full` when `queueSize` are waiting).
   * Rejects with `bad_request` when the frame cannot be encoded, and with
   * `timeout` when no ack comes within `ackTimeout`, counted from this call.
   * @param {object} frame
   * @param {boolean} ready whether a session is open to send it on
   * @returns {Promise<object>} the ack frame
   */
  add(frame, ready) {
    return new Promise((resolve, reject) => {
      const options = this._options;
      if (!ready && this._queue.length >= options.queueSize) {
        reject(new SockgateError(LocalCodes.QUEUE_FULL, `the send queue is full (${options.queueSize})`));
        return;
      }
      const id = this._nextId++;
      let text;
      try {
        text = JSON.stringify(Object.assign({}, frame, { id }));
      } catch (error) {
        reject(new SockgateError(LocalCodes.BAD_REQUEST, `the frame is not valid JSON: ${error.message}`));
        return;
      }
      const entry = { id, text, resolve, reject, sent: false, timer: null };
      entry.timer = setTimeout(() => {
        this._settle(id, new SockgateError(LocalCodes.TIMEOUT, `no ack within ${options.ackTimeout} ms`));
      }, options.ackTimeout);
      this._pending.set(id, entry);
      if (ready) this._transmit(entry);
      else this._queue.push(entry);
    });
  }

  /** Sends every queued request, in call order (a session just opened). */
  flush() {
    const queued = this._queue;
    this._queue = [];
    for (const entry of queued) this._transmit(entry);
  }

  /**
   * Settles the request an `ack` frame answers: resolves with the frame
   * when `ok`, else rejects with the gateway's error code. A late ack (the
   * request timed out) is ignored.
   * @param {{id: number, ok: boolean, error?: {code?: string, message?: string}}} frame
   */
  ack(frame) {
    if (frame.ok) return this._settle(frame.id, null, frame);
    const error = frame.error || {};
    this._settle(frame.id, new SockgateError(error.code || "unknown", error.message || "request failed"));
  }

  /**
   * Rejects, with `disconnected`, the requests sent on a link that was
   * lost; the queued ones stay for the next link.
   * @param {string} message
   */
  rejectSent(message) {
    for (const entry of Array.from(this._pending.values())) {
      if (entry.sent) this._settle(entry.id, new SockgateError(LocalCodes.DISCONNECTED, message));
    }
  }

  /**
   * Rejects every request, sent or queued, with `disconnected`.
   * @param {string} message
   */
  rejectAll(message) {
    for (const id of Array.from(this._pending.keys())) {
      this._settle(id, new SockgateError(LocalCodes.DISCONNECTED, message));
    }
  }

  _transmit(entry) {
    entry.sent = true;
    this._send(entry.text);
  }

  _settle(id, error, ack) {
    const entry = this._pending.get(id);
    if (!entry) return; // a late ack for a request that timed out
    this._pending.delete(id);
    clearTimeout(entry.timer);
    if (!entry.sent) this._queue.splice(this._queue.indexOf(entry), 1);
    if (error) entry.reject(error);
    else entry.resolve(ack);
  }
}

/**
 * Whether a request failed because the link went (or no ack came in time)
 * rather than because the gateway refused it.
 * @param {{code?: string}} error
 * @returns {boolean}
 */
export function isLinkFailure(error) {
  return error.code === LocalCodes.DISCONNECTED || error.code === LocalCodes.TIMEOUT;
}

/**
 * @typedef {object} PendingRequest
 * @property {number} id
 * @property {string} text the encoded frame
 * @property {(ack: object) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {boolean} sent
 * @property {any} timer
 */
