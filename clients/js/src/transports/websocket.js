/**
 * Transport over a WHATWG `WebSocket`: browsers, Node 22+'s global one, or
 * any constructor with the same shape (the `ws` package on Node 20).
 */

/**
 * @param {any} [WebSocketImpl] the constructor; defaults to the global `WebSocket`
 * @returns {import("../../types/index.js").Transport}
 */
export function webSocketTransport(WebSocketImpl) {
  return function openWebSocket(url, init, on) {
    const Impl = WebSocketImpl || (typeof WebSocket === "undefined" ? undefined : WebSocket);
    if (typeof Impl !== "function") {
      throw new Error("no WebSocket here: pass one as the `WebSocket` option (e.g. the `ws` package)");
    }
    // Only non-browser implementations (ws) take a third argument.
    const ws = init.headers ? new Impl(url, init.protocols, { headers: init.headers }) : new Impl(url, init.protocols);
    ws.onopen = () => on.open({ protocol: ws.protocol || "" });
    ws.onmessage = (event) => {
      // Raw protocol v1 is JSON text only: the gateway sends no binary frames.
      if (typeof event.data === "string") on.message(event.data);
    };
    ws.onerror = (event) => on.error(event && event.error ? event.error : new Error("websocket error"));
    ws.onclose = (event) => on.close({ code: event.code, reason: event.reason || "" });
    return {
      send: (text) => ws.send(text),
      close: (code, reason) => {
        try {
          ws.close(code, reason);
        } catch (_) {
          ws.close();
        }
      },
    };
  };
}
