/**
 * A minimal event emitter: `on`, `once`, `off`, and a protected `_fire`.
 * Listener errors are caught and handed to `onListenerError`, so one broken
 * handler cannot stop the client's own bookkeeping.
 */
export class Emitter {
  constructor() {
    /** @type {Map<string, Function[]>} */
    this._listeners = new Map();
  }

  /**
   * Adds a listener.
   * @param {string} name
   * @param {Function} fn
   * @returns {this}
   */
  on(name, fn) {
    const list = this._listeners.get(name);
    if (list) list.push(fn);
    else this._listeners.set(name, [fn]);
    return this;
  }

  /**
   * Adds a listener that is removed after its first call.
   * @param {string} name
   * @param {Function} fn
   * @returns {this}
   */
  once(name, fn) {
    const wrapper = (...args) => {
      this.off(name, wrapper);
      fn.apply(this, args);
    };
    wrapper.listener = fn;
    return this.on(name, wrapper);
  }

  /**
   * Removes one listener (`fn`), or every listener of `name` when `fn` is
   * omitted, or every listener of every event when both are omitted.
   * @param {string} [name]
   * @param {Function} [fn]
   * @returns {this}
   */
  off(name, fn) {
    if (name === undefined) {
      this._listeners.clear();
      return this;
    }
    const list = this._listeners.get(name);
    if (!list) return this;
    if (fn === undefined) {
      this._listeners.delete(name);
      return this;
    }
    const kept = list.filter((l) => l !== fn && /** @type {any} */ (l).listener !== fn);
    if (kept.length) this._listeners.set(name, kept);
    else this._listeners.delete(name);
    return this;
  }

  /**
   * How many listeners `name` has.
   * @param {string} name
   * @returns {number}
   */
  listenerCount(name) {
    const list = this._listeners.get(name);
    return list ? list.length : 0;
  }

  /**
   * Calls every listener of `name` with `args`.
   * @protected
   * @param {string} name
   * @param {unknown[]} args
   */
  _fire(name, args) {
    const list = this._listeners.get(name);
    if (!list) return;
    for (const fn of list.slice()) {
      try {
        fn.apply(this, args);
      } catch (error) {
        this.onListenerError(error, name);
      }
    }
  }

  /**
   * Called when a listener throws; rethrows asynchronously by default so the
   * error still reaches the platform's error reporting.
   * @protected
   * @param {unknown} error
   * @param {string} name
   */
  onListenerError(error, name) {
    setTimeout(() => {
      throw error;
    }, 0);
  }
}
