/**
 * Resume bookkeeping for gateways that keep a room history (recovery on):
 * the session's `resume` token, the position (`epoch`, `offset`) of the
 * last event received in each joined room, dropping an event delivered
 * twice, the `resume` frame a new session sends, and reading the gateway's
 * report on it.
 */

import { SockgateError } from "./errors.js";

/**
 * Links lost in a row while a `resume` asking for a replay was unanswered,
 * after which the next one asks for none (the replay itself may be what
 * brings the link down, e.g. more events than the gateway's outbound queue).
 */
export const MAX_RESUME_LOSSES = 2;

/**
 * What one client remembers between sessions to resume them.
 */
export class Recovery {
  /**
   * @param {(level: string, message: string, detail?: unknown) => void} log
   */
  constructor(log) {
    this._log = log;
    /**
     * Room → `{epoch, offset}` of the last event received there with a
     * position (rooms with recovery): sent in `resume`, and used to drop
     * an event delivered twice.
     * @type {Map<string, {epoch: string, offset: number}>}
     */
    this._positions = new Map();
    /** The `resume` token of the last session's `open` frame (recovery on), or null. */
    this._token = null;
    /** A `resume` with positions was sent on the current link and not answered yet. */
    this._inFlight = false;
    /** Links lost in a row with a `resume` in flight (see MAX_RESUME_LOSSES). */
    this._losses = 0;
  }

  /** Forgets everything (the client was closed). */
  reset() {
    this._positions.clear();
    this._token = null;
    this._inFlight = false;
    this._losses = 0;
  }

  /**
   * Forgets the position in `room` (left, or refused on re-join).
   * @param {string} room
   */
  forget(room) {
    this._positions.delete(room);
  }

  /**
   * Keeps a new session's `resume` token (none when recovery is off).
   * @param {{resume?: unknown}} frame the `open` frame
   * @returns {string | null} the previous session's token
   */
  sessionOpened(frame) {
    const previous = this._token;
    this._token = typeof frame.resume === "string" && frame.resume ? frame.resume : null;
    return previous;
  }

  /** The backend ended the session on purpose: the next one does not resume it. */
  forgetSession() {
    this._token = null;
  }

  /** The link was lost; counts it when a replay was asked for and not answered. */
  linkLost() {
    if (!this._inFlight) return;
    this._inFlight = false;
    this._losses += 1;
  }

  /** The gateway answered the `resume` (with a report or a refusal). */
  answered() {
    this._inFlight = false;
    this._losses = 0;
  }

  /**
   * Whether an event at `position` in `room` was delivered already (same
   * epoch, offset not past the last one).
   * @param {string} room
   * @param {{epoch: string, offset: number}} position
   * @returns {boolean}
   */
  isDelivered(room, position) {
    const last = this._positions.get(room);
    return Boolean(last && last.epoch === position.epoch && position.offset <= last.offset);
  }

  /**
   * Remembers `position` as the last one received in `room`.
   * @param {string} room
   * @param {{epoch: string, offset: number}} position
   */
  record(room, position) {
    this._positions.set(room, { epoch: position.epoch, offset: position.offset });
  }

  /**
   * Plans how a new session is put back where the last one was, before
   * the queue is flushed. When the gateway keeps a history (its `open`
   * frame has a `resume` token) and there is something to resume, one
   * `resume` frame carries the previous session's token (its rooms come
   * back, the ones the backend added included) and the position of every
   * joined room that has one (its missed events are replayed before the
   * ack). Joined rooms without a position are to be joined again with
   * plain `join` frames, since a `resume` lists rooms with a position only
   * and the previous session may not be known to the gateway (yet).
   * Without a token (recovery off) every joined room is joined again.
   *
   * After MAX_RESUME_LOSSES links lost in a row with a replay unanswered,
   * the positions are given up: those rooms are joined again and should
   * get a `gap` (`replay_failed`) once joined.
   *
   * Call `answered()` when the `resume` is answered.
   * @param {string[]} rooms the joined rooms
   * @param {string | null} previousToken from `sessionOpened()`
   * @returns {{frame: object | null, positions: Record<string, {epoch: string, offset: number}>, givenUp: string[]}}
   *   `frame`: the `resume` frame to send, or null to join every room again;
   *   `positions`: the rooms it resumes (the others are joined again);
   *   `givenUp`: the rooms whose positions were given up
   */
  plan(rooms, previousToken) {
    // Positions are kept for the joined rooms only (the others came from
    // the backend, and come back with the session or not at all).
    const joined = new Set(rooms);
    for (const room of Array.from(this._positions.keys())) {
      if (!joined.has(room)) this._positions.delete(room);
    }
    let givenUp = [];
    if (this._losses >= MAX_RESUME_LOSSES) {
      givenUp = rooms.filter((room) => this._positions.has(room));
      this._log("warn", `resuming failed ${this._losses} times; joining again without replay`, givenUp);
      for (const room of givenUp) this._positions.delete(room);
      this._losses = 0;
    }
    const positions = Object.create(null);
    let positioned = 0;
    for (const room of rooms) {
      const position = this._positions.get(room);
      if (!position) continue;
      positions[room] = { epoch: position.epoch, offset: position.offset };
      positioned += 1;
    }
    if (!this._token || (!previousToken && !positioned)) {
      return { frame: null, positions, givenUp };
    }
    const frame = previousToken ? { op: "resume", token: previousToken, rooms: positions } : { op: "resume", rooms: positions };
    this._inFlight = positioned > 0;
    return { frame, positions, givenUp };
  }
}

/**
 * The position of an event frame: `{epoch, offset}` when it has one (its
 * room keeps a history), else null.
 * @param {{room?: unknown, epoch?: unknown, offset?: unknown}} frame
 * @returns {{epoch: string, offset: number} | null}
 */
export function eventPosition(frame) {
  if (typeof frame.room === "string" && typeof frame.epoch === "string" && typeof frame.offset === "number") {
    return { epoch: frame.epoch, offset: frame.offset };
  }
  return null;
}

/**
 * Reads the gateway's resume report, `{session, rooms: {room: {replayed} |
 * {gap} | {error}}}`, into what the client does with it: the rooms it could
 * not put the client back in (to drop, with an `error` event each, as a
 * refused re-join is), the `resumed` event's report, then a `gap` per room
 * whose missed events could not be replayed.
 * @param {unknown} data the `resume` ack's `data`
 * @returns {{report: {session: boolean, rooms: Record<string, object>}, failed: {room: string, error: SockgateError}[], gaps: {room: string, reason: string}[]}}
 */
export function readResumeReport(data) {
  const report = {
    session: Boolean(data && data.session),
    rooms: data && data.rooms && typeof data.rooms === "object" ? data.rooms : {},
  };
  const failed = [];
  const gaps = [];
  for (const room of Object.keys(report.rooms)) {
    const outcome = report.rooms[room] || {};
    if (outcome.error) {
      const error = new SockgateError(outcome.error.code || "unknown", outcome.error.message || "resume failed", { room });
      failed.push({ room, error });
    } else if (outcome.gap) {
      gaps.push({ room, reason: outcome.gap });
    }
  }
  return { report, failed, gaps };
}
