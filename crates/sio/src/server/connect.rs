//! CONNECT: a client asks to join a namespace. The namespace must be
//! served, the client authenticated (`auth.token`, `?token=` for
//! socket.io-client 2.x, the connect webhook) and within the connection
//! limits; then its socket goes on the bus, in the rooms it starts in,
//! and the CONNECT is answered once those rooms are heard from every
//! node, so that nothing published after the answer can miss it.
//!
//! The answer is `{"sid"}` (socket.io v5), `{"sid","pid"}` where the
//! namespace has socket.io's connection state recovery on, and a bare
//! CONNECT for socket.io-client 2.x. A refusal is a CONNECT_ERROR with
//! `{"message"}` (v5) or the message as a string (2.x).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use socketioxide_core::packet::Packet;
use socketioxide_core::parser::Parse;
use socketioxide_parser_common::CommonParser;
use sockgate_core::{
    new_resume_token, query_param, ConnMeta, ConnectRequest, Heard, Identity, Protocol, Sid,
};
use sockgate_engine::{CloseReason, Frame, ProtocolVersion, Session};
use tracing::info;

use super::conn::Conn;
use super::dispatch::Dispatch;
use super::encode;
use super::namespace::Namespace;
use super::recover;
use super::resume;
use super::socket::{Leaving, Socket};

/// Closes a session that connects no namespace within `timeout`
/// (`socketio.connect_timeout`).
pub(crate) fn arm_timeout(timeout: Duration, session: &Arc<Session<Conn>>) {
    let waiting = session.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        if !waiting.data().has_namespaces() {
            waiting.close(CloseReason::ServerClose);
        }
    });
    session.data().set_connect_timer(timer.abort_handle());
}

/// Starts answering a CONNECT to namespace `name` with the client's
/// `auth` payload (v5) or namespace `query` (2.x).
pub(crate) fn start(
    server: &Arc<Dispatch>,
    session: &Arc<Session<Conn>>,
    name: &str,
    auth: Option<serde_json::Value>,
    query: Option<String>,
) {
    let Some(ns) = server.namespaces.get(name).cloned() else {
        refuse(session, name, "Invalid namespace");
        return;
    };
    // A second CONNECT to the same namespace is ignored, as Node does.
    if session.data().start_connect(ns.index).is_err() {
        return;
    }
    let (server, session) = (server.clone(), session.clone());
    tokio::spawn(async move {
        let socket = match admit(&server, &session, &ns, auth, query).await {
            Ok(socket) => Some(socket),
            Err(message) => {
                refuse(&session, &ns.name, &message);
                None
            }
        };
        if let Err(socket) = session.data().finish_connect(ns.index, socket) {
            // The session ended while the CONNECT was answered.
            socket.depart("transport close");
        }
    });
}

/// Sends a CONNECT_ERROR for namespace `name`.
fn refuse(session: &Session<Conn>, name: &str, message: &str) {
    let frames = match session.protocol() {
        ProtocolVersion::V4 => encode::packet_frames(Packet::connect_error(name.to_owned(), message)),
        // socket.io 2.x: an ERROR packet whose data is the message.
        ProtocolVersion::V3 => {
            let prefix = match name {
                "/" => String::new(),
                name => format!("{name},"),
            };
            let text = format!("4{prefix}{}", serde_json::Value::from(message));
            Arc::from([Frame::text(&text)])
        }
    };
    let _ = session.send_all(&frames);
}

/// Authenticates, admits and registers the client; resolves with its
/// socket once the CONNECT is answered, or with the refusal's message.
async fn admit(
    server: &Arc<Dispatch>,
    session: &Arc<Session<Conn>>,
    ns: &Arc<Namespace>,
    auth: Option<serde_json::Value>,
    ns_query: Option<String>,
) -> Result<Arc<Socket>, String> {
    let Some(link) = server.link.get() else {
        return Err("the server is starting".into());
    };
    let handshake = session.handshake();
    let query = ns_query.or_else(|| handshake.uri.query().map(str::to_owned));
    let identity = authenticate(server, session, ns, auth.clone(), query).await?;
    let peer = handshake.peer;
    let permit = link.limiter.admit(peer.ip()).map_err(|error| {
        server
            .counters
            .refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        error.to_string()
    })?;

    let recovery = link.bus.recovery();
    // socket.io's recovery takes the departed session back before the new
    // socket exists, so that the socket keeps the client's pid.
    let restore = match (ns.recovery, recovery) {
        (true, Some(recovery)) => recover::take(recovery, auth.as_ref(), identity.user.as_deref()).await,
        _ => None,
    };
    let mut leaving = Leaving {
        permit,
        peer: peer.to_string(),
    };
    let mut recovered = false;
    let (socket, heard, pid) = match (restore, recovery) {
        (Some(restore), Some(recovery)) => {
            let (socket, heard) = register(
                server,
                session,
                ns,
                &identity,
                leaving,
                Some(restore.pid.clone()),
                true,
            );
            // Missed events and live ones wait until the replay is whole.
            recovered = recover::replay(recovery, socket.id(), &restore).await;
            socket.release(recovered);
            match recovered {
                true => (socket, heard, Some(restore.pid)),
                // A gap: a normal connect instead, never a silent loss.
                false => {
                    leaving = socket.abandon().ok_or("the connection closed")?;
                    let pid = new_resume_token();
                    let (socket, heard) =
                        register(server, session, ns, &identity, leaving, Some(pid.clone()), false);
                    (socket, heard, Some(pid))
                }
            }
        }
        _ => {
            let pid = recovery.is_some().then(new_resume_token);
            let (socket, heard) = register(server, session, ns, &identity, leaving, pid.clone(), false);
            (socket, heard, pid)
        }
    };
    heard.await;
    answer(session, &socket, pid.as_deref());
    log_open(&socket, &identity, peer, recovered);
    for welcome in &identity.welcome {
        socket.emit(&welcome.event, &crate::json::EventArgs::new(&welcome.args, None));
    }
    resume::after_connect(&socket, link.bus.clone(), auth.as_ref());
    Ok(socket)
}

/// Puts a new socket on the bus under resume `token`, in the rooms it
/// starts in. A `restoring` socket holds its deliveries until its replay
/// is decided.
fn register(
    server: &Arc<Dispatch>,
    session: &Arc<Session<Conn>>,
    ns: &Arc<Namespace>,
    identity: &Identity,
    leaving: Leaving,
    token: Option<Arc<str>>,
    restoring: bool,
) -> (Arc<Socket>, Heard) {
    let sid = Sid::random();
    let meta = ConnMeta {
        namespace: Some(ns.name.to_string()),
        user: identity.user.clone(),
        metadata: identity.metadata.clone().map(Arc::new),
        resume_token: token,
        ..ConnMeta::new(Protocol::SocketIo, Some(session.handshake().peer))
    };
    let socket = Arc::new(Socket::new(
        sid,
        ns.clone(),
        session.clone(),
        server.clone(),
        leaving,
        restoring,
    ));
    ns.sockets.insert(sid, socket.clone());
    let Some(link) = server.link.get() else {
        return (socket, Heard::now());
    };
    // Rooms from the token were chosen by the backend: no room policy.
    let heard = link.bus.connect(sid, socket.clone(), meta, &identity.rooms);
    (socket, heard)
}

/// The CONNECT answer.
fn answer(session: &Session<Conn>, socket: &Socket, pid: Option<&str>) {
    let ns = socket.namespace();
    let data = match (session.protocol(), pid) {
        (ProtocolVersion::V3, _) => None,
        (ProtocolVersion::V4, Some(pid)) if ns.recovery => {
            Some(json!({ "sid": socket.id().as_str(), "pid": pid }))
        }
        (ProtocolVersion::V4, _) => Some(json!({ "sid": socket.id().as_str() })),
    };
    let data = data.and_then(|data| CommonParser.encode_default(&data).ok());
    let mut frames = encode::packet_frames(Packet::connect(ns.name.clone(), data)).to_vec();
    // What the socket is sent next goes in a write of its own, as Node's
    // connection handler's emits do (see `Frame::boundary`).
    frames.push(Frame::boundary());
    let _ = socket.send(&frames);
}

/// Decides who a connecting client is, from its `auth` payload (`{token}`)
/// or, for socket.io-client 2.x, `?token=`.
async fn authenticate(
    server: &Dispatch,
    session: &Session<Conn>,
    ns: &Namespace,
    auth: Option<serde_json::Value>,
    query: Option<String>,
) -> Result<Identity, String> {
    let Some(link) = server.link.get() else {
        return Err("the server is starting".into());
    };
    let token = auth
        .as_ref()
        .and_then(|auth| auth.get("token"))
        .and_then(|token| token.as_str())
        .map(str::to_owned)
        .or_else(|| query_param(query.as_deref(), "token"));
    let handshake = session.handshake();
    let headers = handshake
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let request = ConnectRequest {
        auth,
        namespace: Some(ns.name.to_string()),
        headers,
        query,
        ..ConnectRequest::new(Protocol::SocketIo, token, Some(handshake.peer))
    };
    link.auth.check(&request).await.map_err(|error| {
        server
            .counters
            .refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        info!(protocol = "socket.io", ns = %ns.name, %error, "connection refused");
        error.to_string()
    })
}

fn log_open(socket: &Socket, identity: &Identity, peer: SocketAddr, recovered: bool) {
    info!(
        protocol = "socket.io",
        sid = %socket.id(),
        user = identity.user.as_deref(),
        ns = %socket.namespace().name,
        transport = super::transport_name(socket.transport()),
        %peer,
        recovered,
        "connection open"
    );
}
