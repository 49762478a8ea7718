//! `peer-socketioxide`: plain socketioxide (socket.io v4/v5 protocol) served
//! by hyper 1, implementing sockgate's socket.io contract (see
//! `bench/peers/README.md`), as a baseline for the benchmark.
//!
//! ```text
//! peer-socketioxide [--port P] [--threads N]
//! ```
//!
//! Binds 127.0.0.1:P (P from `--port`, else `PORT`, else 0), prints
//! `listening <port>` once and serves until SIGTERM / SIGINT. socketioxide
//! runs with its defaults (path `/socket.io/`, polling and websocket).
//!
//! Namespace `/` handles three events:
//! - `join` (room string, ack) -> joins, acks `{ok:true}`;
//! - `leave` (room string, ack) -> leaves, acks `{ok:true}`;
//! - `publish` ({room, event, data}, ack?) -> `socket.to(room).emit(event, data)`
//!   (everyone in the room but the sender), acks `{ok:true}`.

use std::io::Write as _;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;
use tokio::net::TcpListener;

#[derive(Deserialize)]
struct Publish {
    room: String,
    event: String,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Serialize)]
struct AckOk {
    ok: bool,
}

const OK: AckOk = AckOk { ok: true };

struct Args {
    port: u16,
    threads: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut port = match std::env::var("PORT") {
        Ok(p) if !p.is_empty() => p.parse().map_err(|_| format!("bad PORT {p:?}"))?,
        _ => 0,
    };
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{key} needs a value"))
        };
        match key.as_str() {
            "--port" => {
                let v = value()?;
                port = v.parse().map_err(|_| format!("bad --port {v:?}"))?;
            }
            "--threads" => {
                let v = value()?;
                let n: usize = v.parse().map_err(|_| format!("bad --threads {v:?}"))?;
                if n == 0 {
                    return Err("--threads must be at least 1".into());
                }
                threads = Some(n);
            }
            "-h" | "--help" => {
                return Err("usage: peer-socketioxide [--port P] [--threads N]".into());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args { port, threads })
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n);
    }
    let runtime = builder.enable_all().build().expect("tokio runtime");
    if let Err(error) = runtime.block_on(serve(args.port)) {
        eprintln!("peer-socketioxide: {error}");
        std::process::exit(1);
    }
}

async fn on_connect(socket: SocketRef) {
    socket.on(
        "join",
        async |socket: SocketRef, Data::<String>(room), ack: AckSender| {
            socket.join(room);
            ack.send(&OK).ok();
        },
    );
    socket.on(
        "leave",
        async |socket: SocketRef, Data::<String>(room), ack: AckSender| {
            socket.leave(room);
            ack.send(&OK).ok();
        },
    );
    socket.on(
        "publish",
        async |socket: SocketRef, Data::<Publish>(msg), ack: AckSender| {
            // `to()` sets the broadcast flag, which leaves the sender out.
            socket.to(msg.room).emit(&msg.event, &msg.data).await.ok();
            ack.send(&OK).ok();
        },
    );
}

async fn serve(port: u16) -> std::io::Result<()> {
    let (svc, io) = SocketIo::new_svc();
    io.ns("/", on_connect);

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {}", listener.local_addr()?.port())?;
        out.flush()?;
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let svc = svc.clone();
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
            _ = sigterm.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
