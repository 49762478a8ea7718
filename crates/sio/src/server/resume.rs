//! sockgate's own resume for socket.io clients (`docs/recovery.md`),
//! beside socket.io's connection state recovery: each socket gets a
//! resume token in a `sockgate:session` event right after it connects; a
//! client that comes back presents it, with the position of the last event
//! it got in each room, in its handshake `auth` (`{resume: {token, rooms}}`,
//! answered by a `sockgate:resumed` event) or in a `resume` control event
//! (answered by its ack; the only way for socket.io-client 2.x).

use std::sync::Arc;

use serde_json::json;
use sockgate_core::{resume, ClientBus, ResumeReport, ResumeRequest};

use super::socket::Socket;

/// The event that hands a connected socket its resume token.
const SESSION_EVENT: &str = "sockgate:session";
/// The event that answers a resume asked for in the handshake `auth`.
const RESUMED_EVENT: &str = "sockgate:resumed";

/// Right after CONNECT: hands out the socket's resume token, and resumes
/// when the handshake `auth` payload asked to.
pub(crate) fn after_connect(socket: &Arc<Socket>, bus: Arc<dyn ClientBus>, auth: Option<&serde_json::Value>) {
    let Some(token) = bus.connection(socket.id()).and_then(|c| c.meta.resume_token) else {
        return;
    };
    // With socket.io's own recovery, the CONNECT answer's pid is the token.
    if !socket.namespace().recovery {
        socket.emit(SESSION_EVENT, &[json!({ "resume": &*token })]);
    }
    let Some(request) = auth.and_then(|auth| auth.get("resume")) else {
        return;
    };
    let request = serde_json::from_value::<ResumeRequest>(request.clone());
    let socket = socket.clone();
    tokio::spawn(async move {
        let report = match request {
            Ok(request) => json!(run(&socket, bus.as_ref(), &request).await),
            Err(error) => {
                json!({ "error": { "code": "bad_request", "message": format!("auth.resume: {error}") } })
            }
        };
        socket.emit(RESUMED_EVENT, &[report]);
    });
}

/// The `resume` control event: `{token, rooms}`; the answer is its ack.
pub(crate) fn on_resume(
    socket: &Arc<Socket>,
    bus: Arc<dyn ClientBus>,
    arg: Option<serde_json::Value>,
    ack: Option<i64>,
) {
    let request = match serde_json::from_value::<ResumeRequest>(arg.unwrap_or_default()) {
        Ok(request) => request,
        Err(error) => {
            if let Some(id) = ack {
                socket.ack(
                    id,
                    &[json!({
                        "ok": false,
                        "error": { "code": "bad_request", "message": format!("expected {{token, rooms}}: {error}") },
                    })],
                );
            }
            return;
        }
    };
    let socket = socket.clone();
    tokio::spawn(async move {
        let report = run(&socket, bus.as_ref(), &request).await;
        if let Some(id) = ack {
            socket.ack(
                id,
                &[json!({ "ok": true, "session": report.session, "rooms": report.rooms })],
            );
        }
    });
}

async fn run(socket: &Socket, bus: &dyn ClientBus, request: &ResumeRequest) -> ResumeReport {
    let user = bus.connection(socket.id()).and_then(|c| c.meta.user);
    resume(bus, socket.id(), user.as_deref(), request).await
}
