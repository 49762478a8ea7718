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

use std::convert::Infallible;
use std::io::Write as _;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::ConnectHandler as _;
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

/// The peer's command line, the same for every peer (see ../README.md).
#[derive(clap::Parser)]
struct Args {
    /// Port to listen on, on 127.0.0.1 (0: any free port).
    #[arg(long, env = "PORT", default_value_t = 0)]
    port: u16,
    /// Runtime worker threads (default: one per core it may run on).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    let args = <Args as clap::Parser>::parse();
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

/// Registers the event handlers, as a connect middleware on purpose:
/// socketioxide sends the CONNECT answer before it runs the connect handler
/// (in a task of its own), so handlers registered there could miss a
/// client's first event, and one handshake in thousands stalled the idle
/// benchmark until its timeout. Middlewares run before the answer.
async fn register_handlers(socket: SocketRef) -> Result<(), Infallible> {
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
    Ok(())
}

async fn serve(port: u16) -> std::io::Result<()> {
    let (svc, io) = SocketIo::new_svc();
    io.ns("/", (async || {}).with(register_handlers));

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
