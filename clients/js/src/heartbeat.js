/**
 * Dead-link detection: a `ping` frame every ping interval, and the link is
 * declared dead when no frame at all arrives within `pongTimeout` of a ping.
 */

/** The frame sent on each beat. */
const PING = '{"op":"ping"}';

/**
 * The heartbeat of one client: started when a session opens, told about
 * every frame received, stopped when the link goes.
 */
export class Heartbeat {
  /**
   * @param {{pingInterval?: number | null, pongTimeout: number}} options read at each use:
   *   `pingInterval` overrides the gateway's period; `pongTimeout` of 0 or less never declares the link dead
   * @param {(text: string) => void} send sends a frame on the current link
   * @param {() => void} dead called when a ping went unanswered for `pongTimeout`
   */
  constructor(options, send, dead) {
    this._options = options;
    this._send = send;
    this._dead = dead;
    this._ping = null;
    this._pong = null;
  }

  /**
   * Starts beating, every `options.pingInterval` ms when set, else every
   * `announced` ms; does nothing when that is not a positive number.
   * @param {number | null | undefined} announced the period in the gateway's `open` frame
   */
  start(announced) {
    const own = this._options.pingInterval;
    const interval = own === undefined || own === null ? announced : own;
    if (!(interval > 0)) return;
    clearInterval(this._ping);
    this._ping = setInterval(() => this._beat(), interval);
  }

  /** Any frame from the gateway proves the link alive: the pong wait ends. */
  alive() {
    if (this._pong === null) return;
    clearTimeout(this._pong);
    this._pong = null;
  }

  /** Stops beating and waiting (the link is gone). */
  stop() {
    if (this._ping !== null) {
      clearInterval(this._ping);
      this._ping = null;
    }
    this.alive();
  }

  _beat() {
    this._send(PING);
    const timeout = this._options.pongTimeout;
    if (this._pong !== null || !(timeout > 0)) return;
    this._pong = setTimeout(() => {
      this._pong = null;
      this._dead();
    }, timeout);
  }
}
