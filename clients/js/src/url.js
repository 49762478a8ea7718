/**
 * Adds `?name=value` (or `&name=value`) to a URL, before any `#fragment`.
 * Works without the `URL` class, which some mini-program runtimes lack.
 *
 * @param {string} url
 * @param {string} name
 * @param {string} value
 * @returns {string}
 */
export function withQueryParam(url, name, value) {
  const hash = url.indexOf("#");
  const base = hash === -1 ? url : url.slice(0, hash);
  const fragment = hash === -1 ? "" : url.slice(hash);
  const separator = base.indexOf("?") === -1 ? "?" : "&";
  return base + separator + encodeURIComponent(name) + "=" + encodeURIComponent(value) + fragment;
}

/**
 * Looks a header up case-insensitively in a plain object of headers.
 *
 * @param {Record<string, unknown> | undefined | null} headers
 * @param {string} name
 * @returns {string | undefined}
 */
export function headerValue(headers, name) {
  if (!headers || typeof headers !== "object") return undefined;
  const wanted = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === wanted) return String(headers[key]);
  }
  return undefined;
}
