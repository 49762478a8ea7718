// sockgate-client/uni: the same API, connecting with `uni.connectSocket`.
import type { ClientOptions, SockgateClient } from "./index.js";

export * from "./index.js";

/** Connects with `uni.connectSocket`; `socketOptions` are passed to it as well. */
export declare function connect(url: string, options?: ClientOptions & { socketOptions?: Record<string, unknown> }): SockgateClient;
export default connect;
