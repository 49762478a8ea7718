// Hand-written types for sockgate-client (raw protocol v1).

/** Callbacks a transport reports to; the client ignores anything after `close`. */
export interface TransportHandlers {
  /** The WebSocket handshake succeeded; `protocol` is the subprotocol the gateway chose ("" for none). */
  open(info: { protocol: string }): void;
  /** One text frame. */
  message(text: string): void;
  /** Something went wrong; a `close` follows (transports must guarantee it). */
  error(error: unknown): void;
  /** The link is gone. */
  close(event: { code: number; reason: string }): void;
}

/** One open link, as returned by a transport. */
export interface Link {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

/** Opens one link. Adapters for `WebSocket` and mini-program SocketTasks are included. */
export type Transport = (
  url: string,
  init: { protocols: string[]; headers?: Record<string, string> },
  on: TransportHandlers,
) => Link;

export interface Logger {
  debug?(message: string, detail?: unknown): void;
  warn?(message: string, detail?: unknown): void;
  error?(message: string, detail?: unknown): void;
}

export interface ClientOptions {
  /** A JWT (or whatever `[auth]` expects): sent as `?token=`, or as a first `{"op":"auth"}` frame with `authFrame`. A function is called before every connection attempt (refresh expired tokens there). */
  token?: string | null | (() => string | null | undefined | Promise<string | null | undefined>);
  /** Send the token in a first `{"op":"auth","token"}` frame instead of the query. Only for gateways with `auth.required = true`. Default false. */
  authFrame?: boolean;
  /** `Sec-WebSocket-Protocol` offers; the gateway echoes one (`raw.subprotocols`). */
  protocols?: string | string[];
  /** Extra handshake headers: mini-programs (`header`) and Node's `ws`; browsers cannot send any. */
  headers?: Record<string, string>;
  /** Connect right away. Default true; with false, call `client.connect()`. */
  autoConnect?: boolean;
  /** Time from starting an attempt to the gateway's `open` frame, in ms. Default 20000. */
  timeout?: number;
  /** Time a request waits for its ack, counted from the call (queued time included), in ms. Default 10000. */
  ackTimeout?: number;
  /** Reconnect after losing the link. Default true. */
  reconnection?: boolean;
  /** Retries in a row before giving up (`reconnect_failed`). Default Infinity. */
  reconnectionAttempts?: number;
  /** First retry delay, in ms. Default 1000. */
  reconnectionDelay?: number;
  /** Longest retry delay, in ms. Default 30000. */
  reconnectionDelayMax?: number;
  /** Growth of the delay per attempt. Default 2. */
  reconnectionFactor?: number;
  /** Jitter: each delay is reduced by a random share of up to this (0..1). Default 0.5. */
  randomizationFactor?: number;
  /** Close codes after which the client does not reconnect. Default [4000, 4001] (kicked by the backend; authentication failed). */
  noReconnectCodes?: number[];
  /** Send `{"op":"ping"}` this often, in ms. Default: the gateway's `pingInterval` from its `open` frame; 0 turns the heartbeat off. */
  pingInterval?: number;
  /** After a ping, the link is taken as dead (and reconnected) when no frame at all arrives within this, in ms; 0 never. Default 10000. */
  pongTimeout?: number;
  /** Requests that may wait for a link while not connected; beyond it they reject with `queue_full`. Default 100. */
  queueSize?: number;
  /** Where the client reports what it does; nothing is logged without one. */
  logger?: Logger;
  /** The `WebSocket` constructor to use (main entry), e.g. `ws`'s default export on Node 20. */
  WebSocket?: unknown;
  /** Any other transport. */
  transport?: Transport;
}

/** Error codes the gateway sends (docs/protocol.md), and the SDK's own. */
export type ErrorCode =
  | "bad_request"
  | "forbidden"
  | "not_found"
  | "unsupported"
  | "rate_limited"
  | "limit_exceeded"
  | "no_handler"
  | "backend_unavailable"
  | "timeout"
  | "disconnected"
  | "queue_full"
  | "unauthorized"
  | "transport"
  | (string & {});

export declare class SockgateError extends Error {
  /** The gateway's error code, or the SDK's (`timeout`, `disconnected`, `queue_full`, `unauthorized`, `transport`, `bad_request`). */
  code: ErrorCode;
  /** For `connect_error`: the WebSocket close code. */
  closeCode?: number;
  /** For `connect_error`: the close reason. */
  reason?: string;
  /** For a failed re-join after a reconnect: the room. */
  room?: string;
  constructor(code: string, message: string, details?: { closeCode?: number; reason?: string; room?: string });
}

export declare const LocalCodes: Readonly<{
  TIMEOUT: "timeout";
  DISCONNECTED: "disconnected";
  QUEUE_FULL: "queue_full";
  BAD_REQUEST: "bad_request";
  UNAUTHORIZED: "unauthorized";
  TRANSPORT: "transport";
}>;

export type ClientState = "connecting" | "open" | "reconnecting" | "closed";

export interface ConnectInfo {
  sid: string;
  user: string | null;
  pingInterval: number;
  protocol: string;
}

export interface DisconnectInfo {
  code: number;
  reason: string;
  willReconnect: boolean;
}

export interface EventMeta {
  /** The room the event was published to; absent for events sent to one connection or to everyone. */
  room?: string;
  event: string;
  /** For rooms that keep a history (`rooms.recover`): one life of the room's stream. */
  epoch?: string;
  /** For rooms that keep a history: the event's number in the room's stream (grows by 1 per event). */
  offset?: number;
  /** Every argument, for events with several or none (socket.io's `emit(event, a, b)`); `data` is the first. */
  args?: any[];
}

/**
 * Why a room's missed events could not be replayed after a reconnect. From
 * the gateway: `too_old` (they left its history: `rooms.history_size` /
 * `rooms.history_ttl`), `epoch_changed` (the history was lost, e.g. by a
 * gateway restart), `not_recoverable` (the room keeps no history). From the
 * SDK: `replay_failed` (the link was lost twice in a row before the gateway
 * answered a resume, so the client joined again without asking for a replay).
 */
export type GapReason = "too_old" | "epoch_changed" | "not_recoverable" | "replay_failed" | (string & {});

/** A room whose missed events are lost: reload its state from your backend. */
export interface GapInfo {
  room: string;
  reason: GapReason;
}

/** What became of one room on a resume. */
export type RoomResumeOutcome =
  | { replayed: number }
  | { gap: GapReason }
  | { error: { code: ErrorCode; message: string } };

/** The gateway's answer to the SDK's `resume` after a reconnect. */
export interface ResumeReport {
  /** The previous connection was known: every room it was in is back, including rooms the backend added. */
  session: boolean;
  /** Each room put back, with how many missed events were replayed (before this report), or why not. */
  rooms: Record<string, RoomResumeOutcome>;
}

/** A successful ack frame. */
export interface Ack {
  op: "ack";
  id: number;
  ok: true;
  data?: unknown;
  args?: unknown[];
}

export interface LifecycleEvents {
  connect: (info: ConnectInfo) => void;
  connect_error: (error: SockgateError) => void;
  disconnect: (info: DisconnectInfo) => void;
  reconnecting: (info: { attempt: number; delay: number }) => void;
  reconnect: (info: { attempt: number }) => void;
  reconnect_failed: (info: { attempts: number }) => void;
  error: (error: SockgateError) => void;
  state: (state: ClientState, previous: ClientState) => void;
  /** After a reconnect to a gateway with recovery on: what the resume came to (before `connect`). */
  resumed: (report: ResumeReport) => void;
  /** A room's missed events could not be replayed: reload its state. */
  gap: (info: GapInfo) => void;
}

export type ReservedEvent = keyof LifecycleEvents;

export declare const RESERVED_EVENTS: readonly ReservedEvent[];
export declare const DEFAULTS: Readonly<Required<Omit<ClientOptions, "token" | "protocols" | "headers" | "logger" | "WebSocket" | "transport" | "pingInterval">>>;

export declare class SockgateClient {
  constructor(url: string, options: ClientOptions & { transport: Transport });
  readonly url: string;
  readonly options: Readonly<ClientOptions>;
  readonly state: ClientState;
  readonly connected: boolean;
  readonly sid: string | null;
  readonly user: string | null;
  readonly protocol: string;
  readonly pingInterval: number | null;
  /** Rooms joined (acked, not left): re-joined (or resumed) after every reconnect. */
  readonly rooms: string[];

  on<E extends ReservedEvent>(event: E, listener: LifecycleEvents[E]): this;
  on(event: string, listener: (data: any, meta: EventMeta) => void): this;
  once<E extends ReservedEvent>(event: E, listener: LifecycleEvents[E]): this;
  once(event: string, listener: (data: any, meta: EventMeta) => void): this;
  off(event?: string, listener?: (...args: any[]) => void): this;
  listenerCount(event: string): number;
  onAny(listener: (event: string, data: any, meta: EventMeta) => void): this;
  offAny(listener?: (event: string, data: any, meta: EventMeta) => void): this;

  connect(): this;
  close(code?: number, reason?: string): this;
  join(room: string): Promise<Ack>;
  leave(room: string): Promise<Ack>;
  publish(room: string, event: string, data?: unknown): Promise<Ack>;
  /** Resolves with the backend's ack value (`ack.data`). */
  emit<T = unknown>(event: string, data?: unknown): Promise<T>;
  request(frame: { op: string; [field: string]: unknown }): Promise<Ack>;
}

/** Connects with the global `WebSocket`, or `options.WebSocket`, or `options.transport`. */
export declare function connect(url: string, options?: ClientOptions): SockgateClient;
export default connect;

/** A transport over a WHATWG `WebSocket` constructor (the global one by default). */
export declare function webSocketTransport(WebSocketImpl?: unknown): Transport;

/** A transport over a mini-program `connectSocket` (returning a SocketTask, or a Promise of one as in Taro). */
export declare function socketTaskTransport(connectSocket: (options: any) => any, extra?: Record<string, unknown>): Transport;

/** The reconnect delay for `attempt` (1-based), in ms. */
export declare function backoffDelay(
  attempt: number,
  options: { reconnectionDelay: number; reconnectionDelayMax: number; reconnectionFactor: number; randomizationFactor: number },
  random?: () => number,
): number;
