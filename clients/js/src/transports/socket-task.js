/**
 * Transport over a mini-program `SocketTask`: WeChat `wx.connectSocket`,
 * uni-app `uni.connectSocket`, Taro `Taro.connectSocket` (which returns a
 * Promise of the task), Alipay/ByteDance/QQ's look-alikes.
 */

import { headerValue } from "../url.js";

/**
 * @param {(options: object) => any} connectSocket e.g. `(o) => wx.connectSocket(o)`
 * @param {object} [extra] more `connectSocket` options (`tcpNoDelay`, `perMessageDeflate`, `timeout`, …)
 * @returns {import("../../types/index.js").Transport}
 */
export function socketTaskTransport(connectSocket, extra) {
  return function openSocketTask(url, init, on) {
    let task = null;
    let ended = false;
    let closeRequest = null;

    // A SocketTask may report an error without a close (or both, or close
    // twice): the first of them ends the link, the rest are ignored.
    const end = (code, reason) => {
      if (ended) return;
      ended = true;
      on.close({ code, reason });
    };
    const fail = (res) => {
      const message = (res && res.errMsg) || "connectSocket failed";
      on.error(new Error(message));
      end(1006, message);
    };

    const options = Object.assign({}, extra, {
      url,
      // uni-app returns a SocketTask only when a callback is given.
      complete: () => {},
      fail,
    });
    if (init.protocols.length) options.protocols = init.protocols;
    if (init.headers) options.header = init.headers;

    const attach = (socketTask) => {
      task = socketTask;
      if (!task) return fail({ errMsg: "connectSocket returned no SocketTask" });
      task.onOpen((res) => {
        const protocol = headerValue(res && res.header, "sec-websocket-protocol") || "";
        on.open({ protocol });
      });
      task.onMessage((res) => {
        // Raw protocol v1 is JSON text only: the gateway sends no binary frames.
        if (res && typeof res.data === "string") on.message(res.data);
      });
      task.onError((res) => {
        fail(res);
        closeTask(1000, "");
      });
      task.onClose((res) => end(res && res.code ? res.code : 1006, (res && res.reason) || ""));
      if (closeRequest) closeTask(closeRequest.code, closeRequest.reason);
    };
    const closeTask = (code, reason) => {
      try {
        task.close({ code, reason, fail: () => {} });
      } catch (_) {
        // already closed
      }
    };

    const result = connectSocket(options);
    if (result && typeof result.then === "function") result.then(attach, fail);
    else attach(result);

    return {
      send: (text) => {
        if (!task) throw new Error("the SocketTask is not ready");
        task.send({ data: text, fail: (res) => fail(res) });
      },
      close: (code, reason) => {
        if (task) closeTask(code, reason);
        else closeRequest = { code, reason };
      },
    };
  };
}
