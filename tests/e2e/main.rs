//! End-to-end tests: the real `sockgate` binary on a free port, driven by
//! real peers — the official socket.io-client (v4 and v2, run by Node from
//! `tests/js`) and a raw RFC 6455 client (tokio-tungstenite).
//!
//! Each file is one area, each test one scenario a user would recognise.

#![allow(missing_docs, unreachable_pub, clippy::print_stdout)]

mod util;

mod webhooks;

mod abuse;
mod api;
mod arguments;
mod auth;
mod client_sdk;
mod cluster;
mod cluster_recovery;
mod emitter;
mod engine;

mod config;
mod conformance;
mod cross_protocol;
mod http;
mod limits;
mod load;
mod migration;
mod nginx;
mod operations;
mod pages;
mod proxies;
mod raw_protocol;
mod recovery;
mod redis_cluster;
mod rolling_restart;
mod room_policy;
mod sio_engine;
mod sio_protocol;
mod sio_recovery;
mod soak;
mod socketio;
mod socketio_errors;
mod subprotocol;
mod tls;
