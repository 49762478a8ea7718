/**
 * The sockgate raw protocol v1 client: one logical connection that survives
 * link losses (reconnecting with backoff, re-joining rooms — or resuming
 * them with the events missed meanwhile when the gateway keeps a history —
 * and flushing what was queued meanwhile), with promise-based acks matched
 * by numeric ids.
 *
 * This module keeps the connection's life cycle and wires the parts
 * together: `requests.js` (acks and the send queue), `recovery.js`
 * (resuming), `heartbeat.js` (dead links) and `link.js` (one link).
 *
 * The wire format is docs/protocol.md in the sockgate repository.
 */

import { backoffDelay } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { LocalCodes, SockgateError } from "./errors.js";
import { Heartbeat } from "./heartbeat.js";
import { CLOSE_ABNORMAL, CLOSE_KICKED, closeError, closeQuietly, resolveToken, toList } from "./link.js";
import { DEFAULTS } from "./options.js";
import { eventPosition, readResumeReport, Recovery } from "./recovery.js";
import { isLinkFailure, Requests } from "./requests.js";
import { withQueryParam } from "./url.js";

export { DEFAULTS };

/**
 * Event names the client emits itself. An application event with one of these
 * names is delivered to `onAny` listeners only. (`connect`, `connect_error`
 * and `disconnect` are reserved by the gateway too, so no event can use them.)
 */
export const RESERVED_EVENTS = Object.freeze([
  "connect",
  "connect_error",
  "disconnect",
  "reconnecting",
  "reconnect",
  "reconnect_failed",
  "error",
  "state",
  "resumed",
  "gap",
]);

/**
 * A connection to a sockgate gateway's raw WebSocket endpoint. Create it
 * with `connect()` from the package entry for your platform.
 */
export class SockgateClient extends Emitter {
  /**
   * @param {string} url `ws://` or `wss://` URL of a `raw.paths` endpoint, e.g. `wss://host/ws`
   * @param {object} options see `ClientOptions`; `transport` is required here
   */
  constructor(url, options) {
    super();
    /** The URL given, without the token. */
    this.url = url;
    /** The options in effect. */
    this.options = Object.assign({}, DEFAULTS, options);
    if (typeof this.options.transport !== "function") {
      throw new TypeError("sockgate-client: options.transport is required");
    }
    /** @type {"connecting" | "open" | "reconnecting" | "closed"} */
    this.state = "closed";
    /** The session id of the current (or last) session. */
    this.sid = null;
    /** The authenticated user id, or null for an anonymous connection. */
    this.user = null;
    /** The subprotocol the gateway selected, or "". */
    this.protocol = "";
    /** The heartbeat period the gateway announced, in ms. */
    this.pingInterval = null;

    const send = (text) => this._sendRaw(text);
    this._requests = new Requests(this.options, send);
    this._recovery = new Recovery((level, message, detail) => this._log(level, message, detail));
    this._heartbeat = new Heartbeat(this.options, send, () => this._abandon(CLOSE_ABNORMAL, "ping timeout"));
    /** Rooms whose join was acked (and not left since): re-joined after a reconnect. */
    this._rooms = new Set();
    this._roomOps = new Map();
    this._roomSeq = 0;
    this._anyListeners = [];
    this._link = null;
    this._generation = 0;
    this._ready = false;
    this._closed = false;
    this._attempt = 0;
    this._hadSession = false;
    this._timers = { connect: null, retry: null };

    if (this.options.autoConnect) this.connect();
  }

  /** True while a session is open and every joined room is joined again. */
  get connected() {
    return this.state === "open";
  }

  /** The rooms this client joined (acked, not left), re-joined after each reconnect. */
  get rooms() {
    return Array.from(this._rooms);
  }

  /**
   * Starts connecting: after `autoConnect: false`, after `close()`, after the
   * gateway refused to be retried (4000/4001), or — while waiting to
   * reconnect — right now instead of after the backoff delay (call it from a
   * mini-program's `onShow`). Does nothing while connected or connecting.
   * @returns {this}
   */
  connect() {
    if (this._link || this.state === "open") return this;
    if (this.state === "closed") {
      this._closed = false;
      this._attempt = 0;
      this._setState("connecting");
    }
    this._clearTimer("retry");
    this._openLink();
    return this;
  }

  /**
   * Closes the connection for good: no reconnect, pending and queued requests
   * reject with `disconnected`, and the joined rooms are forgotten.
   * `connect()` starts over.
   * @param {number} [code] close code, 1000 or 3000-4999
   * @param {string} [reason]
   * @returns {this}
   */
  close(code = 1000, reason = "client close") {
    const wasOpen = this.state === "open";
    this._closed = true;
    this._dropLink(code, reason);
    this._clearTimer("retry");
    this._rooms.clear();
    this._roomOps.clear();
    this._recovery.reset();
    this._requests.rejectAll("the client was closed");
    this._setState("closed");
    if (wasOpen) this._fire("disconnect", [{ code, reason, willReconnect: false }]);
    return this;
  }

  /**
   * Joins `room`. The room is re-joined automatically after every reconnect
   * until `leave(room)` or `close()`.
   * @param {string} room
   * @returns {Promise<object>} the ack frame
   */
  join(room) {
    const seq = this._markRoom(room);
    return this.request({ op: "join", room }).then((ack) => {
      if (this._roomOps.get(room) === seq) this._rooms.add(room);
      return ack;
    });
  }

  /**
   * Leaves `room` (a no-op for the gateway if not a member).
   * @param {string} room
   * @returns {Promise<object>} the ack frame
   */
  leave(room) {
    this._markRoom(room);
    this._rooms.delete(room);
    this._recovery.forget(room);
    return this.request({ op: "leave", room });
  }

  /**
   * Sends `event` with `data` to every other member of `room`, whichever
   * protocol they use. The publisher need not be a member.
   * @param {string} room
   * @param {string} event
   * @param {unknown} [data] any JSON value (`undefined` is sent as `null`)
   * @returns {Promise<object>} the ack frame
   */
  publish(room, event, data) {
    return this.request({ op: "publish", room, event, data });
  }

  /**
   * Sends an application event to your backend (sockgate's event webhooks).
   * @param {string} event
   * @param {unknown} [data] any JSON value
   * @returns {Promise<unknown>} the backend's ack value (`ack.data`)
   */
  emit(event, data) {
    return this.request({ op: "emit", event, data }).then((ack) => ack.data);
  }

  /**
   * Sends any frame with a fresh numeric `id` and resolves with its ack frame
   * (`{op:"ack", id, ok:true, …}`); rejects with a `SockgateError` whose
   * `code` is the gateway's error code, or `timeout` (no ack within
   * `ackTimeout`, counted from this call), `disconnected` (the link was lost
   * after sending, or the client was closed) or `queue_full`.
   *
   * While not connected the frame waits in a queue of `queueSize` and is sent
   * once a session is open again.
   * @param {object} frame e.g. `{op: "join", room: "lobby"}`
   * @returns {Promise<object>}
   */
  request(frame) {
    if (this._closed) {
      return Promise.reject(new SockgateError(LocalCodes.DISCONNECTED, "the client is closed; call connect() first"));
    }
    return this._requests.add(frame, this._ready);
  }

  /**
   * Listens to every application event, reserved names included.
   * @param {(event: string, data: unknown, meta: {room?: string, event: string, epoch?: string, offset?: number}) => void} fn
   * @returns {this}
   */
  onAny(fn) {
    this._anyListeners.push(fn);
    return this;
  }

  /**
   * Removes an `onAny` listener (every one when `fn` is omitted).
   * @param {Function} [fn]
   * @returns {this}
   */
  offAny(fn) {
    this._anyListeners = fn ? this._anyListeners.filter((l) => l !== fn) : [];
    return this;
  }

  // ---- connecting ----------------------------------------------------------

  _openLink() {
    const generation = ++this._generation;
    this._link = { pending: true };
    this._startTimer("connect", this.options.timeout, () => {
      this._abandon(CLOSE_ABNORMAL, "connect timeout", new SockgateError(LocalCodes.TIMEOUT, "no open frame within timeout"));
    });
    resolveToken(this.options.token).then(
      (token) => {
        if (generation === this._generation) this._startTransport(generation, token);
      },
      (error) => {
        if (generation !== this._generation) return;
        this._abandon(CLOSE_ABNORMAL, "token", new SockgateError(LocalCodes.UNAUTHORIZED, `token(): ${error && error.message}`));
      },
    );
  }

  _startTransport(generation, token) {
    const { authFrame, protocols, headers } = this.options;
    const url = token && !authFrame ? withQueryParam(this.url, "token", token) : this.url;
    const current = () => generation === this._generation;
    const handlers = {
      open: (info) => current() && this._onTransportOpen(info, token),
      message: (text) => current() && this._onText(text),
      error: (error) => current() && this._log("debug", "transport error", error),
      close: (event) => current() && this._linkDown(event.code, event.reason),
    };
    let link;
    try {
      link = this.options.transport(url, { protocols: toList(protocols), headers }, handlers);
    } catch (error) {
      if (current()) this._linkDown(CLOSE_ABNORMAL, String(error && error.message));
      return;
    }
    // A transport may already have failed while it was being created.
    if (current()) this._link = link;
    else closeQuietly(link, 1000, "");
  }

  _onTransportOpen(info, token) {
    this.protocol = (info && info.protocol) || "";
    if (token && this.options.authFrame) this._sendRaw(JSON.stringify({ op: "auth", token }));
  }

  // ---- frames from the gateway ---------------------------------------------

  _onText(text) {
    this._heartbeat.alive();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (_) {
      this._log("warn", "a frame that is not JSON", text);
      return;
    }
    if (!frame || typeof frame !== "object") return;
    switch (frame.op) {
      case "open":
        return this._onOpenFrame(frame);
      case "event":
        return this._onEvent(frame);
      case "ack":
        return this._requests.ack(frame);
      case "error":
        return this._onErrorFrame(frame);
      default:
        return undefined; // pong, and ops a later gateway may add
    }
  }

  _onOpenFrame(frame) {
    const generation = this._generation;
    this._clearTimer("connect");
    this._ready = true;
    this.sid = frame.sid;
    this.user = frame.user === undefined ? null : frame.user;
    this.pingInterval = frame.pingInterval;
    const previousToken = this._recovery.sessionOpened(frame);
    this._heartbeat.start(this.pingInterval);
    const restored = this._restoreRooms(previousToken);
    this._requests.flush();
    Promise.all(restored).then(() => {
      if (generation === this._generation) this._sessionReady();
    });
  }

  /**
   * Puts a new session back where the last one was, before the queue is
   * flushed: one `resume` frame and/or a `join` per room, as
   * `Recovery.plan()` says (see there).
   * @param {string | null} previousToken
   * @returns {Promise<unknown>[]}
   */
  _restoreRooms(previousToken) {
    const rooms = this.rooms;
    const { frame, positions, givenUp } = this._recovery.plan(rooms, previousToken);
    const rejoin = (room) =>
      givenUp.indexOf(room) === -1
        ? this._rejoin(room)
        : this._rejoin(room).then((joined) => {
            if (joined) this._fire("gap", [{ room, reason: "replay_failed" }]);
          });
    if (!frame) return rooms.map(rejoin);
    const resume = this.request(frame).then(
      (ack) => {
        this._recovery.answered();
        this._onResumed(ack.data);
      },
      (error) => {
        if (isLinkFailure(error)) return undefined;
        this._recovery.answered();
        // A gateway that refuses `resume`: join those rooms the plain way.
        this._log("warn", "resume refused; joining again instead", error);
        return Promise.all(Object.keys(positions).map((room) => this._rejoin(room)));
      },
    );
    const rejoins = rooms.filter((room) => !positions[room]).map(rejoin);
    return [resume].concat(rejoins);
  }

  /**
   * The gateway's resume report: rooms it could not put the client back in
   * are dropped with an `error` event, as a refused re-join is; then
   * `resumed`, then a `gap` per room whose missed events could not be
   * replayed.
   */
  _onResumed(data) {
    const { report, failed, gaps } = readResumeReport(data);
    for (const { room, error } of failed) {
      this._rooms.delete(room);
      this._recovery.forget(room);
      this._fire("error", [error]);
    }
    this._fire("resumed", [report]);
    for (const gap of gaps) this._fire("gap", [gap]);
  }

  /** Joins a remembered room again; resolves with whether it is joined. */
  _rejoin(room) {
    return this.request({ op: "join", room }).then(
      () => true,
      (error) => {
        if (isLinkFailure(error)) return false;
        this._rooms.delete(room);
        this._recovery.forget(room);
        error.room = room;
        this._fire("error", [error]);
        return false;
      },
    );
  }

  _sessionReady() {
    const reconnected = this._hadSession;
    const attempt = this._attempt;
    this._hadSession = true;
    this._attempt = 0;
    this._setState("open");
    this._fire("connect", [{ sid: this.sid, user: this.user, pingInterval: this.pingInterval, protocol: this.protocol }]);
    if (reconnected && this.state === "open") this._fire("reconnect", [{ attempt }]);
  }

  _onEvent(frame) {
    const meta = { room: frame.room, event: frame.event };
    // Events with several arguments (or none) carry them all; data is the first.
    if (Array.isArray(frame.args)) meta.args = frame.args;
    const position = eventPosition(frame);
    if (position) {
      if (this._recovery.isDelivered(frame.room, position)) {
        this._log("debug", `dropped an event already delivered (${frame.room} ${frame.epoch}:${frame.offset})`);
        return;
      }
      this._recovery.record(frame.room, position);
      meta.epoch = position.epoch;
      meta.offset = position.offset;
    }
    for (const fn of this._anyListeners.slice()) {
      try {
        fn(frame.event, frame.data, meta);
      } catch (error) {
        this.onListenerError(error, "*");
      }
    }
    if (RESERVED_EVENTS.indexOf(frame.event) === -1) this._fire(frame.event, [frame.data, meta]);
  }

  _onErrorFrame(frame) {
    const error = frame.error || {};
    if (!this.listenerCount("error")) this._log("warn", "gateway error frame", error);
    this._fire("error", [new SockgateError(error.code || "unknown", error.message || "gateway error")]);
  }

  // ---- sending -------------------------------------------------------------

  _sendRaw(text) {
    try {
      this._link.send(text);
    } catch (error) {
      // The link is going down; its close will follow.
      this._log("debug", "send failed", error);
    }
  }

  _markRoom(room) {
    const seq = ++this._roomSeq;
    this._roomOps.set(room, seq);
    return seq;
  }

  // ---- losing the link -----------------------------------------------------

  /** Gives up on the current link (dead or too slow) and handles the loss. */
  _abandon(code, reason, error) {
    this._dropLink(1000, reason);
    this._linkDown(code, reason, error, true);
  }

  /** Closes the current link, if any, and ignores anything it still reports. */
  _dropLink(code, reason) {
    const link = this._link;
    this._generation++;
    this._link = null;
    this._ready = false;
    this._clearTimer("connect");
    this._heartbeat.stop();
    closeQuietly(link, code, reason);
  }

  _linkDown(code, reason, error, dropped) {
    if (!dropped) this._dropLink(1000, "");
    const wasOpen = this.state === "open";
    this._recovery.linkLost();
    this._requests.rejectSent(`the link was lost (${code} ${reason})`.trim());
    const o = this.options;
    // The backend ended that session on purpose (perhaps to change its
    // rooms): the next one does not take the old one's rooms back.
    if (code === CLOSE_KICKED) this._recovery.forgetSession();
    const retryable = Boolean(o.reconnection) && o.noReconnectCodes.indexOf(code) === -1;
    const retry = retryable && this._attempt < o.reconnectionAttempts;
    if (wasOpen) {
      this._fire("disconnect", [{ code, reason, willReconnect: retry }]);
    } else {
      this._fire("connect_error", [error || closeError(code, reason)]);
    }
    if (retry) return this._scheduleRetry();
    this._closed = true;
    this._requests.rejectAll(`the link was lost (${code} ${reason}) and will not be retried`);
    this._setState("closed");
    if (retryable) this._fire("reconnect_failed", [{ attempts: this._attempt }]);
    return undefined;
  }

  _scheduleRetry() {
    this._attempt++;
    const delay = backoffDelay(this._attempt, this.options);
    this._setState("reconnecting");
    this._fire("reconnecting", [{ attempt: this._attempt, delay }]);
    this._startTimer("retry", delay, () => this._openLink());
  }

  // ---- small helpers -------------------------------------------------------

  _setState(state) {
    const previous = this.state;
    if (state === previous) return;
    this.state = state;
    this._fire("state", [state, previous]);
  }

  _startTimer(name, ms, fn) {
    this._clearTimer(name);
    this._timers[name] = setTimeout(() => {
      this._timers[name] = null;
      fn();
    }, ms);
  }

  _clearTimer(name) {
    const timer = this._timers[name];
    if (timer === null) return;
    clearTimeout(timer);
    this._timers[name] = null;
  }

  _log(level, message, detail) {
    const logger = this.options.logger;
    if (logger && typeof logger[level] === "function") logger[level](`[sockgate] ${message}`, detail);
  }

  /** A throwing listener is reported through `logger.error` when there is one. */
  onListenerError(error, name) {
    const logger = this.options.logger;
    if (logger && typeof logger.error === "function") logger.error(`[sockgate] a "${name}" listener threw`, error);
    else super.onListenerError(error, name);
  }
}
