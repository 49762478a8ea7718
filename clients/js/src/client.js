/**
 * The sockgate raw protocol v1 client: one logical connection that survives
 * link losses (reconnecting with backoff, re-joining rooms — or resuming
 * them with the events missed meanwhile when the gateway keeps a history —
 * and flushing what was queued meanwhile), with promise-based acks matched
 * by numeric ids.
 *
 * The wire format is docs/protocol.md in the sockgate repository.
 */

import { backoffDelay } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { LocalCodes, SockgateError } from "./errors.js";
import { withQueryParam } from "./url.js";

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

const CLOSE_ABNORMAL = 1006;
const CLOSE_UNAUTHORIZED = 4001;
/** `POST /api/disconnect`: the backend ended the session on purpose. */
const CLOSE_KICKED = 4000;
/**
 * Links lost in a row while a `resume` asking for a replay was unanswered,
 * after which the next one asks for none (the replay itself may be what
 * brings the link down, e.g. more events than the gateway's outbound queue).
 */
const MAX_RESUME_LOSSES = 2;

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

    this._nextId = 1;
    /** @type {Map<number, PendingRequest>} every request not yet settled */
    this._pending = new Map();
    /** @type {PendingRequest[]} requests waiting for a link, in call order */
    this._queue = [];
    /** Rooms whose join was acked (and not left since): re-joined after a reconnect. */
    this._rooms = new Set();
    this._roomOps = new Map();
    this._roomSeq = 0;
    /**
     * Room → `{epoch, offset}` of the last event received there with a
     * position (rooms with recovery): sent in `resume`, and used to drop
     * an event delivered twice.
     * @type {Map<string, {epoch: string, offset: number}>}
     */
    this._positions = new Map();
    /** The `resume` token of the last session's `open` frame (recovery on), or null. */
    this._resumeToken = null;
    /** A `resume` with positions was sent on the current link and not answered yet. */
    this._resumeInFlight = false;
    /** Links lost in a row with a `resume` in flight (see MAX_RESUME_LOSSES). */
    this._resumeLosses = 0;
    this._anyListeners = [];
    this._link = null;
    this._generation = 0;
    this._ready = false;
    this._closed = false;
    this._attempt = 0;
    this._hadSession = false;
    this._timers = { connect: null, retry: null, ping: null, pong: null };

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
    this._positions.clear();
    this._resumeToken = null;
    this._resumeInFlight = false;
    this._resumeLosses = 0;
    this._rejectAll("the client was closed");
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
    this._positions.delete(room);
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
    return new Promise((resolve, reject) => {
      if (this._closed) {
        reject(new SockgateError(LocalCodes.DISCONNECTED, "the client is closed; call connect() first"));
        return;
      }
      if (!this._ready && this._queue.length >= this.options.queueSize) {
        reject(new SockgateError(LocalCodes.QUEUE_FULL, `the send queue is full (${this.options.queueSize})`));
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
        this._settle(id, new SockgateError(LocalCodes.TIMEOUT, `no ack within ${this.options.ackTimeout} ms`));
      }, this.options.ackTimeout);
      this._pending.set(id, entry);
      if (this._ready) this._transmit(entry);
      else this._queue.push(entry);
    });
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
    this._clearTimer("pong");
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
        return this._onAck(frame);
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
    const previousToken = this._resumeToken;
    this._resumeToken = typeof frame.resume === "string" && frame.resume ? frame.resume : null;
    this._startHeartbeat();
    const restored = this._restoreRooms(previousToken);
    this._flushQueue();
    Promise.all(restored).then(() => {
      if (generation === this._generation) this._sessionReady();
    });
  }

  /**
   * Puts a new session back where the last one was, before the queue is
   * flushed. When the gateway keeps a history (its `open` frame has a
   * `resume` token) and there is something to resume, one `resume` frame
   * carries the previous session's token (its rooms come back, the ones
   * the backend added included) and the position of every joined room
   * that has one (its missed events are replayed before the ack). Joined
   * rooms without a position are joined again with plain `join` frames,
   * since a `resume` lists rooms with a position only and the previous
   * session may not be known to the gateway (yet). Without a token
   * (recovery off) every joined room is joined again.
   *
   * After MAX_RESUME_LOSSES links lost in a row with a replay unanswered,
   * the positions are given up: those rooms are joined again and get a
   * `gap` (`replay_failed`) once joined.
   * @param {string | null} previousToken
   * @returns {Promise<unknown>[]}
   */
  _restoreRooms(previousToken) {
    const rooms = this.rooms;
    // Positions are kept for the joined rooms only (the others came from
    // the backend, and come back with the session or not at all).
    for (const room of Array.from(this._positions.keys())) {
      if (!this._rooms.has(room)) this._positions.delete(room);
    }
    let givenUp = [];
    if (this._resumeLosses >= MAX_RESUME_LOSSES) {
      givenUp = rooms.filter((room) => this._positions.has(room));
      this._log("warn", `resuming failed ${this._resumeLosses} times; joining again without replay`, givenUp);
      for (const room of givenUp) this._positions.delete(room);
      this._resumeLosses = 0;
    }
    const rejoin = (room) =>
      givenUp.indexOf(room) === -1
        ? this._rejoin(room)
        : this._rejoin(room).then((joined) => {
            if (joined) this._fire("gap", [{ room, reason: "replay_failed" }]);
          });
    const positions = Object.create(null);
    let positioned = 0;
    for (const room of rooms) {
      const position = this._positions.get(room);
      if (!position) continue;
      positions[room] = { epoch: position.epoch, offset: position.offset };
      positioned += 1;
    }
    if (!this._resumeToken || (!previousToken && !positioned)) {
      return rooms.map(rejoin);
    }
    const frame = previousToken ? { op: "resume", token: previousToken, rooms: positions } : { op: "resume", rooms: positions };
    this._resumeInFlight = positioned > 0;
    const answered = () => {
      this._resumeInFlight = false;
      this._resumeLosses = 0;
    };
    const resume = this.request(frame).then(
      (ack) => {
        answered();
        this._onResumed(ack.data);
      },
      (error) => {
        if (error.code === LocalCodes.DISCONNECTED || error.code === LocalCodes.TIMEOUT) return undefined;
        answered();
        // A gateway that refuses `resume`: join those rooms the plain way.
        this._log("warn", "resume refused; joining again instead", error);
        return Promise.all(Object.keys(positions).map((room) => this._rejoin(room)));
      },
    );
    const rejoins = rooms.filter((room) => !positions[room]).map(rejoin);
    return [resume].concat(rejoins);
  }

  /**
   * The gateway's resume report: `{session, rooms: {room: {replayed} | {gap} | {error}}}`.
   * Rooms it could not put the client back in are dropped with an `error`
   * event, as a refused re-join is; then `resumed`, then a `gap` per room
   * whose missed events could not be replayed.
   */
  _onResumed(data) {
    const report = {
      session: Boolean(data && data.session),
      rooms: data && data.rooms && typeof data.rooms === "object" ? data.rooms : {},
    };
    const gaps = [];
    for (const room of Object.keys(report.rooms)) {
      const outcome = report.rooms[room] || {};
      if (outcome.error) {
        this._rooms.delete(room);
        this._positions.delete(room);
        const error = new SockgateError(outcome.error.code || "unknown", outcome.error.message || "resume failed", { room });
        this._fire("error", [error]);
      } else if (outcome.gap) {
        gaps.push({ room, reason: outcome.gap });
      }
    }
    this._fire("resumed", [report]);
    for (const gap of gaps) this._fire("gap", [gap]);
  }

  /** Joins a remembered room again; resolves with whether it is joined. */
  _rejoin(room) {
    return this.request({ op: "join", room }).then(
      () => true,
      (error) => {
        if (error.code === LocalCodes.DISCONNECTED || error.code === LocalCodes.TIMEOUT) return false;
        this._rooms.delete(room);
        this._positions.delete(room);
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
    if (typeof frame.room === "string" && typeof frame.epoch === "string" && typeof frame.offset === "number") {
      const last = this._positions.get(frame.room);
      if (last && last.epoch === frame.epoch && frame.offset <= last.offset) {
        this._log("debug", `dropped an event already delivered (${frame.room} ${frame.epoch}:${frame.offset})`);
        return;
      }
      this._positions.set(frame.room, { epoch: frame.epoch, offset: frame.offset });
      meta.epoch = frame.epoch;
      meta.offset = frame.offset;
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

  _onAck(frame) {
    if (frame.ok) return this._settle(frame.id, null, frame);
    const error = frame.error || {};
    this._settle(frame.id, new SockgateError(error.code || "unknown", error.message || "request failed"));
  }

  _onErrorFrame(frame) {
    const error = frame.error || {};
    if (!this.listenerCount("error")) this._log("warn", "gateway error frame", error);
    this._fire("error", [new SockgateError(error.code || "unknown", error.message || "gateway error")]);
  }

  // ---- requests ------------------------------------------------------------

  _transmit(entry) {
    entry.sent = true;
    this._sendRaw(entry.text);
  }

  _sendRaw(text) {
    try {
      this._link.send(text);
    } catch (error) {
      // The link is going down; its close will follow.
      this._log("debug", "send failed", error);
    }
  }

  _flushQueue() {
    const queued = this._queue;
    this._queue = [];
    for (const entry of queued) this._transmit(entry);
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

  _rejectSent(message) {
    for (const entry of Array.from(this._pending.values())) {
      if (entry.sent) this._settle(entry.id, new SockgateError(LocalCodes.DISCONNECTED, message));
    }
  }

  _rejectAll(message) {
    for (const id of Array.from(this._pending.keys())) {
      this._settle(id, new SockgateError(LocalCodes.DISCONNECTED, message));
    }
  }

  _markRoom(room) {
    const seq = ++this._roomSeq;
    this._roomOps.set(room, seq);
    return seq;
  }

  // ---- heartbeat -----------------------------------------------------------

  _startHeartbeat() {
    const own = this.options.pingInterval;
    const interval = own === undefined || own === null ? this.pingInterval : own;
    if (!(interval > 0)) return;
    this._clearTimer("ping");
    this._timers.ping = setInterval(() => this._heartbeat(), interval);
  }

  _heartbeat() {
    this._sendRaw('{"op":"ping"}');
    if (this._timers.pong || !(this.options.pongTimeout > 0)) return;
    this._startTimer("pong", this.options.pongTimeout, () => this._abandon(CLOSE_ABNORMAL, "ping timeout"));
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
    this._clearTimer("ping");
    this._clearTimer("pong");
    closeQuietly(link, code, reason);
  }

  _linkDown(code, reason, error, dropped) {
    if (!dropped) this._dropLink(1000, "");
    const wasOpen = this.state === "open";
    if (this._resumeInFlight) {
      this._resumeInFlight = false;
      this._resumeLosses += 1;
    }
    this._rejectSent(`the link was lost (${code} ${reason})`.trim());
    const o = this.options;
    // The backend ended that session on purpose (perhaps to change its
    // rooms): the next one does not take the old one's rooms back.
    if (code === CLOSE_KICKED) this._resumeToken = null;
    const retryable = Boolean(o.reconnection) && o.noReconnectCodes.indexOf(code) === -1;
    const retry = retryable && this._attempt < o.reconnectionAttempts;
    if (wasOpen) {
      this._fire("disconnect", [{ code, reason, willReconnect: retry }]);
    } else {
      this._fire("connect_error", [error || closeError(code, reason)]);
    }
    if (retry) return this._scheduleRetry();
    this._closed = true;
    this._rejectAll(`the link was lost (${code} ${reason}) and will not be retried`);
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
    clearInterval(timer);
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

/**
 * @typedef {object} PendingRequest
 * @property {number} id
 * @property {string} text the encoded frame
 * @property {(ack: object) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {boolean} sent
 * @property {any} timer
 */

function closeQuietly(link, code, reason) {
  if (!link || typeof link.close !== "function") return;
  try {
    link.close(code, reason);
  } catch (_) {
    // already closed
  }
}

function resolveToken(token) {
  try {
    return Promise.resolve(typeof token === "function" ? token() : token);
  } catch (error) {
    return Promise.reject(error);
  }
}

function toList(protocols) {
  if (!protocols) return [];
  return Array.isArray(protocols) ? protocols.slice() : [protocols];
}

function closeError(code, reason) {
  if (code === CLOSE_UNAUTHORIZED) {
    return new SockgateError(LocalCodes.UNAUTHORIZED, reason || "authentication failed", { closeCode: code, reason });
  }
  return new SockgateError(LocalCodes.TRANSPORT, `connection failed (${code}${reason ? " " + reason : ""})`, {
    closeCode: code,
    reason,
  });
}
