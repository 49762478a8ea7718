//! The bridge from socket.io events to bus calls.
//!
//! socketioxide spawns a task per event for handlers written as closures, so
//! two events from one socket could reach the bus out of order. The control
//! events are instead handled by [`ControlHandler`], a hand-written
//! `MessageHandler` that runs inline in the socket's receive path, in the
//! order the client sent them. Handlers are registered from a connect
//! middleware, which socketioxide awaits before confirming the CONNECT, so
//! an event sent the instant the client is connected cannot be missed.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::json;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts, MessageHandler, Value};
use socketioxide::socket::{DisconnectReason, Socket};
use sockgate_core::{
    new_resume_token, query_param, Args, AuthError, BusError, ClientBus, ConnMeta, ConnectAuth,
    ConnectRequest, ConnectionLimiter, ConnectionPermit, ErrorCode, EventHandler, GroupId, Heard, Identity,
    Protocol, RateVerdict, Route, Sid, TokenBucket, Welcome,
};
use tracing::info;

use crate::departure::{Departures, Leaving};
use crate::forward::EventForwarder;
use crate::json::{inline_attachments, EventArgs, Payload};
use crate::outlet::{room_key, sid_key};
use crate::EventNames;

/// Which control event a [`ControlHandler`] answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Control {
    Join,
    Leave,
    Publish,
    Resume,
}

/// What a namespace's handlers share.
pub(crate) struct Bridge {
    pub(crate) bus: Arc<dyn ClientBus>,
    pub(crate) group: GroupId,
    pub(crate) auth: ConnectAuth,
    pub(crate) events: Option<Arc<dyn EventHandler>>,
    pub(crate) names: EventNames,
    /// Welcome events of sockets accepted but not yet connected.
    pub(crate) welcomes: Mutex<HashMap<Sid, Vec<Welcome>>>,
    /// Connections refused by authentication, across namespaces.
    pub(crate) refused: Arc<std::sync::atomic::AtomicU64>,
    /// Events received from clients, across namespaces.
    pub(crate) events_in: Arc<std::sync::atomic::AtomicU64>,
    /// `limits.messages_per_second` and `limits.message_burst`.
    pub(crate) rate: (u32, u32),
    /// Live connections, in total and per IP.
    pub(crate) limiter: Arc<ConnectionLimiter>,
    /// The namespace's connections on the bus, each to depart once.
    pub(crate) departures: Departures,
}

/// One socket's rate limit, shared by all its handlers.
pub(crate) type SocketRate = Arc<Mutex<TokenBucket>>;

/// Applies the rate limit to one event: `None` to go on; otherwise the
/// refusal to ack with. A socket that keeps going is disconnected.
pub(crate) fn over_rate(rate: &SocketRate, socket: &Arc<Socket<LocalAdapter>>) -> Option<serde_json::Value> {
    let verdict = rate
        .lock()
        .map(|mut bucket| bucket.take(std::time::Instant::now()))
        .unwrap_or(RateVerdict::Allowed);
    match verdict {
        RateVerdict::Allowed => None,
        RateVerdict::Refused => Some(json!({
            "ok": false,
            "error": {
                "code": ErrorCode::RateLimited.as_str(),
                "message": "too many events: slow down (limits.messages_per_second)",
            },
        })),
        RateVerdict::Exceeded => {
            let _ = socket.clone().disconnect();
            Some(
                json!({ "ok": false, "error": { "code": ErrorCode::RateLimited.as_str(), "message": "disconnected" } }),
            )
        }
    }
}

/// The namespace's connect handler: its middleware half authenticates
/// and registers the socket (socketioxide awaits it before confirming the
/// CONNECT, so a refusal is the client's `connect_error` and the control
/// handlers are in place before the client can emit); its handler half
/// runs right after the CONNECT is sent and delivers the welcome events.
#[derive(Clone)]
pub(crate) struct Connector(pub(crate) Arc<Bridge>);

impl ConnectHandler<LocalAdapter, Inline> for Connector {
    fn call(&self, socket: Arc<Socket<LocalAdapter>>, auth: Option<Value>) {
        let sid = to_bus_sid(&socket);
        let welcomes = self
            .0
            .welcomes
            .lock()
            .map(|mut w| w.remove(&sid))
            .unwrap_or_default();
        for welcome in welcomes.unwrap_or_default() {
            let _ = socket.emit(welcome.event.as_str(), &EventArgs::new(&welcome.args, None));
        }
        let auth: Option<serde_json::Value> = auth
            .as_ref()
            .and_then(|value| value.as_str())
            .and_then(|s| serde_json::from_str(s).ok());
        crate::resume::after_connect(&socket, &self.0.bus, auth.as_ref());
    }

    fn call_middleware<'a>(
        &'a self,
        socket: Arc<Socket<LocalAdapter>>,
        auth: &'a Option<Value>,
    ) -> Pin<Box<dyn Future<Output = Result<(), Box<dyn std::fmt::Display + Send>>> + Send + 'a>> {
        Box::pin(async move {
            let socket = SocketRef::from(socket);
            let payload = auth
                .as_ref()
                .and_then(|value| value.as_str())
                .and_then(|s| serde_json::from_str(s).ok());
            let identity = authenticate(&socket, &self.0, payload)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::fmt::Display + Send>)?;
            let peer = socket.req_parts().extensions.get::<SocketAddr>().copied();
            let ip = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
            let permit = self
                .0
                .limiter
                .admit(ip)
                .map_err(|e| Box::new(e) as Box<dyn std::fmt::Display + Send>)?;
            // The CONNECT is answered once the rooms the socket starts in
            // are heard from every node.
            on_connect(&socket, &self.0, identity, permit).await;
            Ok(())
        })
    }
}

/// The argument of the publish event: `{room, event, data}` for one
/// argument, `{room, event, args: […]}` for any number.
#[derive(Deserialize)]
struct PublishArgs {
    room: String,
    event: String,
    #[serde(default, deserialize_with = "sockgate_core::given")]
    data: Option<Payload>,
    #[serde(default)]
    args: Option<Vec<Payload>>,
}

/// Marker type for [`ControlHandler`]'s `MessageHandler` impl.
pub(crate) struct Inline;

/// Handles one control event synchronously; see the module docs.
pub(crate) struct ControlHandler {
    pub(crate) control: Control,
    pub(crate) bridge: Arc<Bridge>,
    pub(crate) rate: SocketRate,
}

impl MessageHandler<LocalAdapter, Inline> for ControlHandler {
    fn call(&self, socket: Arc<Socket<LocalAdapter>>, mut value: Value, ack_id: Option<i64>) {
        self.bridge
            .events_in
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(ack) = AckSender::from_message_parts(&socket, &mut value, &ack_id);
        if let Some(refusal) = over_rate(&self.rate, &socket) {
            let _ = ack.send(&refusal);
            return;
        }
        let sid = to_bus_sid(&socket);
        let bus = self.bridge.bus.as_ref();
        if let Control::Resume = self.control {
            crate::resume::on_resume(&socket, &self.bridge.bus, &mut value, ack);
            return;
        }
        let result = match self.control {
            Control::Join => match room_arg(&socket, &mut value)
                .and_then(|room| bus.join(sid, &room).map_err(Into::into))
            {
                Ok(joined) if !joined.heard.is_now() => {
                    answer_when_heard(joined.heard, ack);
                    return;
                }
                joined => joined.map(drop),
            },
            Control::Leave => room_arg(&socket, &mut value)
                .and_then(|room| bus.leave(sid, &room).map(drop).map_err(Into::into)),
            Control::Publish => publish(bus, sid, &socket, &mut value),
            Control::Resume => Ok(()),
        };
        let reply = match result {
            Ok(_) => json!({ "ok": true }),
            Err(refusal) => json!({
                "ok": false,
                "error": { "code": refusal.code.as_str(), "message": refusal.message },
            }),
        };
        // Without an ack id this does nothing; an error means the socket is gone.
        let _ = ack.send(&reply);
    }
}

/// Acks a join once events published to its room on other nodes reach
/// this node (a cluster node subscribes first).
fn answer_when_heard(heard: Heard, ack: AckSender<LocalAdapter>) {
    tokio::spawn(async move {
        heard.await;
        let _ = ack.send(&json!({ "ok": true }));
    });
}

/// Why a control event was refused, as sent in its ack.
struct Refusal {
    code: ErrorCode,
    message: String,
}

impl From<BusError> for Refusal {
    fn from(error: BusError) -> Self {
        Refusal {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal {
        code: ErrorCode::BadRequest,
        message: message.into(),
    }
}

fn room_arg(socket: &Arc<Socket<LocalAdapter>>, value: &mut Value) -> Result<String, Refusal> {
    let Ok(TryData(room)) = TryData::<String>::from_message_parts(socket, value, &None);
    room.map_err(|_| bad_request("expected the room name as a string argument"))
}

fn publish(
    bus: &dyn ClientBus,
    sid: Sid,
    socket: &Arc<Socket<LocalAdapter>>,
    value: &mut Value,
) -> Result<(), Refusal> {
    let attachments = match value {
        Value::Str(_, Some(attachments)) => attachments.clone(),
        _ => Default::default(),
    };
    let Ok(TryData(publish)) = TryData::<PublishArgs>::from_message_parts(socket, value, &None);
    let publish = publish.map_err(|e| {
        bad_request(format!(
            "expected {{room, event, data}} or {{room, event, args: [...]}}: {e}"
        ))
    })?;
    let to_json = |Payload(mut value): Payload| {
        if !attachments.is_empty() {
            inline_attachments(&mut value, &attachments);
        }
        serde_json::value::to_raw_value(&value).map_err(|e| bad_request(e.to_string()))
    };
    let data = publish.data.map(to_json).transpose()?;
    let list = publish
        .args
        .map(|list| list.into_iter().map(to_json).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let args = Args::from_data_or_args(data, list).map_err(|e| bad_request(e.to_string()))?;
    bus.publish(Some(sid), &publish.room, &publish.event, args)?;
    Ok(())
}

/// The bus id of a socket: the same 16 characters as its socket.io id.
pub(crate) fn to_bus_sid(socket: &Socket<LocalAdapter>) -> Sid {
    socket
        .id
        .as_str()
        .parse()
        .expect("socketioxide ids are 16 url-safe base64 characters")
}

/// Decides who a connecting socket is, from its handshake `auth` payload
/// (`{token}`); a refusal's message becomes the client's `connect_error`.
pub(crate) async fn authenticate(
    socket: &SocketRef,
    bridge: &Bridge,
    payload: Option<serde_json::Value>,
) -> Result<Identity, AuthError> {
    // socket.io-client 2.x has no handshake `auth`: it sends `?token=`.
    let token = payload
        .as_ref()
        .and_then(|payload| payload.get("token"))
        .and_then(|token| token.as_str())
        .map(str::to_owned)
        .or_else(|| query_param(socket.req_parts().uri.query(), "token"));
    let parts = socket.req_parts();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let request = ConnectRequest {
        auth: payload,
        namespace: Some(socket.ns().to_owned()),
        headers,
        query: parts.uri.query().map(str::to_owned),
        ..ConnectRequest::new(
            Protocol::SocketIo,
            token,
            parts.extensions.get::<SocketAddr>().copied(),
        )
    };
    let outcome = bridge.auth.check(&request).await;
    if let Err(error) = &outcome {
        bridge.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        info!(protocol = "socket.io", sid = %socket.id, %error, "connection refused");
    }
    outcome
}

/// Registers the connection with the bus and its control handlers on the
/// socket; the answer resolves once the rooms it starts in are heard.
pub(crate) fn on_connect(
    socket: &SocketRef,
    bridge: &Arc<Bridge>,
    identity: Identity,
    permit: ConnectionPermit,
) -> Heard {
    let events = &bridge.names;
    let sid = to_bus_sid(socket);
    let peer = socket.req_parts().extensions.get::<SocketAddr>().copied();
    let meta = ConnMeta {
        namespace: Some(socket.ns().to_owned()),
        user: identity.user.clone(),
        metadata: identity.metadata.clone().map(Arc::new),
        // When rooms keep a history, the client can come back with this.
        resume_token: bridge.bus.recovery().is_some().then(new_resume_token),
        ..ConnMeta::new(Protocol::SocketIo, peer)
    };

    // The socket's own room in socketioxide's index (see `outlet`).
    socket.join(sid_key(sid));
    // Rooms from the token were chosen by the backend: no room policy.
    let heard = bridge
        .bus
        .connect(sid, Route::Group(bridge.group), meta, &identity.rooms);
    if !identity.welcome.is_empty() {
        if let Ok(mut welcomes) = bridge.welcomes.lock() {
            welcomes.insert(sid, identity.welcome.clone());
        }
    }
    // The socket is not in its namespace yet while the middleware runs, so
    // the outlet could not mirror the rooms joined at connect (the user's
    // room, the token's rooms): mirror them here, on the socket itself.
    for room in bridge.bus.connection(sid).map(|c| c.rooms).unwrap_or_default() {
        socket.join(room_key(room.as_str()));
    }
    let rate: SocketRate = Arc::new(Mutex::new(TokenBucket::new(bridge.rate.0, bridge.rate.1)));
    for (name, control) in [
        (&events.join, Control::Join),
        (&events.leave, Control::Leave),
        (&events.publish, Control::Publish),
        (&events.resume, Control::Resume),
    ] {
        socket.on(
            name.clone(),
            ControlHandler {
                control,
                bridge: bridge.clone(),
                rate: rate.clone(),
            },
        );
    }
    // The front listener always records the peer; "-" would mean a bug there.
    let peer = peer.map_or_else(|| "-".to_owned(), |peer| peer.to_string());
    info!(
        protocol = "socket.io",
        %sid,
        user = identity.user.as_deref(),
        ns = socket.ns(),
        transport = ?socket.transport_type(),
        %peer,
        "connection open"
    );
    socket.on_fallback(EventForwarder {
        events: bridge.events.clone(),
        received: bridge.events_in.clone(),
        rate,
    });
    bridge.departures.arrived(
        sid,
        Leaving {
            permit,
            ns: socket.ns().to_owned(),
            peer,
        },
    );
    let bridge = bridge.clone();
    socket.on_disconnect(move |reason: DisconnectReason| async move {
        bridge.depart(sid, &reason.to_string());
    });
    heard
}
