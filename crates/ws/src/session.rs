//! One raw WebSocket session: it greets the client, registers it on the
//! bus, and runs a reader (`reader.rs`: client frames become bus calls)
//! in the connection's task and a writer (`writer.rs`: the bounded
//! outbound queue, pings, the close frame) in a task of its own.
//!
//! The session is generic over `Sink + Stream` of tungstenite messages, so it
//! is unit-tested on in-memory duplex streams without a listener.

use std::future::Future;
use std::sync::Arc;

use futures_util::{Sink, Stream, StreamExt};
use sockgate_core::{
    new_resume_token, ClientBus, ConnMeta, Envelope, EventHandler, Heard, Identity, Sid, TokenBucket,
};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::task::AbortOnDropHandle;

use crate::control::{Control, Outbound, RawRecipient};
use crate::protocol;
use crate::{CloseReason, WsConfig};
use sockgate_queue::{self as queue, Receiver, Sender};

mod heartbeat;
mod reader;
mod writer;

pub(crate) use heartbeat::Liveness;
use reader::Reader;
use writer::Writer;

/// What a session starts from; boxed, so that the session's future does
/// not keep a dead copy of each argument for the connection's whole life.
struct SessionStart<S> {
    socket: S,
    sid: Sid,
    identity: Identity,
    meta: ConnMeta,
}

/// Runs a session to its end and says why it ended.
///
/// The client gets `{"op":"open",…}` first, is registered with the bus, and
/// is removed from it (leaving every room) before this returns.
pub fn run_session<'a, S>(
    socket: S,
    sid: Sid,
    identity: Identity,
    meta: ConnMeta,
    links: &'a SessionLinks,
    config: &'a WsConfig,
) -> impl Future<Output = CloseReason> + Send + 'a
where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Send
        + 'static,
{
    let start = Box::new(SessionStart {
        socket,
        sid,
        identity,
        meta,
    });
    session(start, links, config)
}

async fn session<S>(start: Box<SessionStart<S>>, links: &SessionLinks, config: &WsConfig) -> CloseReason
where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Send
        + 'static,
{
    let SessionStart {
        socket,
        sid,
        identity,
        meta,
    } = unbox(start);
    let (bus, events) = (links.bus.clone(), links.events.clone());
    let (queue, outbound, control, heard) = enter(sid, identity, meta, links, config);
    // The writer does not run yet: in a cluster, the client gets its open
    // frame once the rooms it starts in are heard from every node.
    heard.await;

    let (sink, stream) = socket.split();
    // The writer is a task of its own, so that a delivery wakes only the
    // writer, not the reader too (as one task joining both would).
    let writer = Writer {
        sink,
        outbound,
        control: control.clone(),
        metrics: links.metrics.clone(),
        heartbeat: (config.ping_interval, config.ping_timeout),
        close_timeout: config.close_timeout,
    };
    let writer = AbortOnDropHandle::new(tokio::spawn(writer.run()));
    let reader = Reader {
        metrics: &links.metrics,
        rate: std::sync::Mutex::new(TokenBucket::new(config.messages_per_second, config.message_burst)),
        sid,
        bus: bus.as_ref(),
        shared_bus: &bus,
        events: events.as_ref(),
        queue,
        control: &control,
        config,
    };
    let session = async { tokio::join!(reader.run(stream), writer) };
    // On shutdown the session closes itself with 1001 "going away", drains,
    // and ends like any other. It leaves the bus first, so that its
    // departed session (what its resume token takes back) is on its way to
    // the cluster before the client is told to come back elsewhere.
    let shutdown = async {
        links.shutdown.cancelled().await;
        depart(bus.as_ref(), events.as_ref(), sid, CloseReason::ServerShutdown);
        control.close(CloseReason::ServerShutdown);
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = session => {}
        () = shutdown => {}
    }
    depart(bus.as_ref(), events.as_ref(), sid, control.reason());
    if control.reason() == CloseReason::SlowConsumer {
        links.metrics.slow_consumer();
    }
    control.reason()
}

/// Greets the client (open frame, then the backend's welcome events) and
/// registers it on the bus. A function of its own, so that the session's
/// future does not keep the identity for the connection's whole life.
fn enter(
    sid: Sid,
    identity: Identity,
    meta: ConnMeta,
    links: &SessionLinks,
    config: &WsConfig,
) -> (Sender<Outbound>, Receiver<Outbound>, Arc<Control>, Heard) {
    let (queue, outbound) = queue::bounded(config.outbound_queue);
    let control = Arc::new(Control::default());
    // When rooms keep a history, the client can come back with this.
    let resume_token = links.bus.recovery().is_some().then(new_resume_token);
    let open = protocol::open_frame(
        sid.as_str(),
        config.ping_interval.as_millis(),
        identity.user.as_deref(),
        resume_token.as_deref(),
    );
    // The queue is empty, so the open frame is first in line, followed by
    // the backend's welcome events, before the bus can deliver anything.
    let _ = queue.try_send(Outbound::Reply(open));
    for welcome in &identity.welcome {
        let envelope = Envelope::new(None, welcome.event.as_str().into(), welcome.args.clone());
        let _ = queue.try_send(Outbound::Reply(protocol::event_frame(&envelope)));
    }
    // Rooms from the token were chosen by the backend: no room policy.
    let heard = links.bus.connect(
        sid,
        Arc::new(RawRecipient {
            queue: queue.clone(),
            control: control.clone(),
            budget: links.budget.clone(),
        }),
        ConnMeta {
            user: identity.user,
            metadata: identity.metadata.map(Arc::new),
            resume_token,
            ..meta
        },
        &identity.rooms,
    );
    (queue, outbound, control, heard)
}

/// Moves a value out of its box and frees the box at once. (A box that is
/// destructured in place stays allocated until the end of its scope, which
/// for the session is the connection's whole life.)
#[allow(clippy::boxed_local)] // the box is the point: it must be freed here
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// Takes the connection off the bus (once) and tells the backend.
fn depart(bus: &dyn ClientBus, events: Option<&Arc<dyn EventHandler>>, sid: Sid, reason: CloseReason) {
    let Some(snapshot) = bus.connection(sid) else {
        return;
    };
    bus.disconnect(sid);
    if let Some(events) = events {
        events.on_disconnect(snapshot, reason.as_str());
    }
}

/// What a session is connected to, shared by every session of a front.
#[derive(Clone)]
pub struct SessionLinks {
    /// The bus the connection is registered on.
    pub bus: Arc<dyn ClientBus>,
    /// Where `emit`s go (event webhooks), if anywhere.
    pub events: Option<Arc<dyn EventHandler>>,
    /// Cancelled when the gateway shuts down.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The front's counters.
    pub metrics: Arc<crate::WsMetrics>,
    /// Memory all raw outbound queues may hold (`limits.max_queued_bytes`).
    pub budget: Arc<crate::QueueBudget>,
}

#[cfg(test)]
mod tests;
