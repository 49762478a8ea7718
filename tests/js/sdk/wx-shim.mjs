// A stand-in for WeChat's `wx.connectSocket`, built on a real `ws` WebSocket,
// so the SDK's SocketTask transport runs against the real gateway in Node.
// It follows the documented SocketTask contract: connectSocket({url, header,
// protocols, success, fail, complete}) returns a task with onOpen({header}),
// onMessage({data}), onClose({code, reason}), onError({errMsg}),
// send({data, success, fail}) and close({code, reason, success, fail}).

import WebSocket from "ws";

/**
 * @returns {{connectSocket: Function, tasks: object[]}} a `wx` object; `tasks`
 *   holds every task, each with `options` (what connectSocket got) and `sent`
 *   (the texts it sent)
 */
export function createWx() {
  const wx = { tasks: [] };
  wx.connectSocket = (options) => {
    const task = socketTask(options);
    wx.tasks.push(task);
    // Like WeChat: the API call itself succeeds asynchronously; the
    // connection's fate is reported through the task.
    setTimeout(() => {
      if (options.success) options.success({ errMsg: "connectSocket:ok" });
      if (options.complete) options.complete({ errMsg: "connectSocket:ok" });
    }, 0);
    return task;
  };
  return wx;
}

function socketTask(options) {
  const ws = new WebSocket(options.url, options.protocols || [], { headers: options.header });
  let responseHeaders = {};
  ws.on("upgrade", (response) => {
    responseHeaders = response.headers;
  });
  const call = (fn, arg) => fn && fn(arg);
  return {
    // Not part of the SocketTask API: what the shim records for tests.
    options,
    sent: [],
    testState: () => ["connecting", "open", "closing", "closed"][ws.readyState],
    onOpen(callback) {
      ws.on("open", () => callback({ header: responseHeaders, profile: {} }));
    },
    onMessage(callback) {
      ws.on("message", (data, isBinary) => {
        callback({ data: isBinary ? new Uint8Array(data).buffer : data.toString("utf8") });
      });
    },
    onClose(callback) {
      ws.on("close", (code, reason) => callback({ code, reason: reason.toString("utf8") }));
    },
    onError(callback) {
      ws.on("error", (error) => callback({ errMsg: error.message }));
    },
    send({ data, success, fail }) {
      if (ws.readyState !== WebSocket.OPEN) {
        call(fail, { errMsg: "sendSocketMessage:fail WebSocket is not connected" });
        return;
      }
      this.sent.push(data);
      ws.send(data, (error) => (error ? call(fail, { errMsg: error.message }) : call(success, {})));
    },
    close({ code = 1000, reason = "", success } = {}) {
      ws.close(code, reason);
      call(success, {});
    },
  };
}
