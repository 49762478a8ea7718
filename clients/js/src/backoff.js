/**
 * Reconnection delays: exponential growth from `reconnectionDelay` by
 * `reconnectionFactor` per attempt, capped at `reconnectionDelayMax`, then
 * reduced by a random share of up to `randomizationFactor` (jitter), so that
 * thousands of clients cut off at once do not come back in lockstep.
 *
 * @param {number} attempt 1 for the first retry
 * @param {{reconnectionDelay: number, reconnectionDelayMax: number, reconnectionFactor: number, randomizationFactor: number}} options
 * @param {() => number} [random] a source in [0, 1), for tests
 * @returns {number} milliseconds to wait
 */
export function backoffDelay(attempt, options, random = Math.random) {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(
    options.reconnectionDelayMax,
    options.reconnectionDelay * Math.pow(options.reconnectionFactor, exponent),
  );
  const jitter = Math.min(1, Math.max(0, options.randomizationFactor));
  return Math.round(base * (1 - jitter * random()));
}
