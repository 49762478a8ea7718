/**
 * Helpers around one transport link: the close codes the client acts on,
 * resolving the token before connecting, and turning a failed connection
 * attempt into an error.
 */

import { LocalCodes, SockgateError } from "./errors.js";

/** The link was lost without a close frame (or the client gave up on it). */
export const CLOSE_ABNORMAL = 1006;
/** The gateway refused the credentials. */
export const CLOSE_UNAUTHORIZED = 4001;
/** `POST /api/disconnect`: the backend ended the session on purpose. */
export const CLOSE_KICKED = 4000;

/**
 * Closes a link, ignoring a missing link or one that is already closed.
 * @param {{close?: (code: number, reason: string) => void} | null} link
 * @param {number} code
 * @param {string} reason
 */
export function closeQuietly(link, code, reason) {
  if (!link || typeof link.close !== "function") return;
  try {
    link.close(code, reason);
  } catch (_) {
    // already closed
  }
}

/**
 * The `token` option's value: the string itself, or what the function
 * returns (or resolves with). A function that throws gives a rejection.
 * @param {string | (() => string | Promise<string>) | undefined} token
 * @returns {Promise<string | undefined>}
 */
export function resolveToken(token) {
  try {
    return Promise.resolve(typeof token === "function" ? token() : token);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * The `protocols` option as a fresh array.
 * @param {string | string[] | undefined} protocols
 * @returns {string[]}
 */
export function toList(protocols) {
  if (!protocols) return [];
  return Array.isArray(protocols) ? protocols.slice() : [protocols];
}

/**
 * The `connect_error` for a link that closed before a session opened.
 * @param {number} code the close code
 * @param {string} reason the close reason
 * @returns {SockgateError} `unauthorized` for 4001, `transport` otherwise
 */
export function closeError(code, reason) {
  if (code === CLOSE_UNAUTHORIZED) {
    return new SockgateError(LocalCodes.UNAUTHORIZED, reason || "authentication failed", { closeCode: code, reason });
  }
  return new SockgateError(LocalCodes.TRANSPORT, `connection failed (${code}${reason ? " " + reason : ""})`, {
    closeCode: code,
    reason,
  });
}
