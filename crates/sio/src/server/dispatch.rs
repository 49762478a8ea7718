//! The engine's handler: turns engine.io messages into socket.io packets
//! and hands each to its namespace's socket.

use std::sync::{Arc, OnceLock, Weak};

use socketioxide_core::packet::{Packet, PacketData};
use socketioxide_core::parser::{Parse, ParseConfig, ParseError};
use socketioxide_parser_common::CommonParser;
use sockgate_engine::{CloseReason, EngineHandler, Message, ProtocolVersion, Session};
use tracing::debug;

use super::conn::Conn;
use super::namespace::Namespaces;
use super::{connect, event, Counters, Link};
use crate::SioConfig;

/// The socket.io server behind the engine.
pub(crate) struct Dispatch {
    pub(crate) config: SioConfig,
    pub(crate) namespaces: Namespaces,
    pub(crate) link: OnceLock<Link>,
    pub(crate) counters: Counters,
    /// Limits on binary attachments, for the parser.
    pub(crate) parse: ParseConfig,
    /// This server, for the tasks it starts.
    pub(crate) me: Weak<Dispatch>,
}

impl Dispatch {
    /// The server as an owned handle, for a task.
    pub(crate) fn handle(&self) -> Option<Arc<Dispatch>> {
        self.me.upgrade()
    }

    fn on_packet(&self, session: &Arc<Session<Conn>>, packet: Packet) {
        // socket.io-client 2.x sends a namespace's query in its name.
        let (name, query) = match packet.ns.split_once('?') {
            Some((name, query)) => (name, Some(query)),
            None => (&*packet.ns, None),
        };
        match packet.inner {
            PacketData::Connect(data) => {
                let auth = data.and_then(|value| match value {
                    socketioxide_core::Value::Str(text, _) => serde_json::from_str(&text).ok(),
                    socketioxide_core::Value::Bytes(_) => None,
                });
                if let Some(server) = self.handle() {
                    connect::start(&server, session, name, auth, query.map(str::to_owned));
                }
            }
            PacketData::Disconnect => {
                let Some(ns) = self.namespaces.get(name) else {
                    return;
                };
                if let Some(socket) = session.data().remove(ns.index) {
                    socket.depart("client namespace disconnect");
                }
            }
            PacketData::Event(value, ack) | PacketData::BinaryEvent(value, ack) => {
                let socket = self
                    .namespaces
                    .get(name)
                    .and_then(|ns| session.data().socket(ns.index));
                // Node ignores events for namespaces the client is not in.
                if let Some(socket) = socket {
                    event::on_event(self, &socket, value, ack);
                }
            }
            // The server asks for no acks, and clients send no connect errors.
            PacketData::EventAck(..) | PacketData::BinaryAck(..) | PacketData::ConnectError(_) => {}
        }
    }
}

impl EngineHandler for Dispatch {
    type Data = Conn;

    fn on_open(&self, session: &Arc<Session<Conn>>) {
        // socket.io-client 2.x is connected to "/" without asking.
        if session.protocol() == ProtocolVersion::V3 && self.namespaces.get("/").is_some() {
            if let Some(server) = self.handle() {
                connect::start(&server, session, "/", None, None);
            }
            return;
        }
        connect::arm_timeout(self.config.connect_timeout, session);
    }

    fn on_message(&self, session: &Arc<Session<Conn>>, message: Message) {
        let parsed = session.data().parse(|state| match message {
            Message::Text(text) => CommonParser.decode_str(&self.parse, state, text),
            Message::Binary(bytes) => CommonParser.decode_bin(&self.parse, state, bytes),
        });
        match parsed {
            Ok(packet) => self.on_packet(session, packet),
            // A binary packet waits for its attachments.
            Err(ParseError::NeedsMoreBinaryData) => {}
            Err(error) => {
                debug!(sid = %session.id(), %error, "socket.io packet refused; closing");
                session.close(CloseReason::ParseError);
            }
        }
    }

    fn on_close(&self, session: &Arc<Session<Conn>>, reason: CloseReason) {
        let reason = disconnect_reason(reason);
        for socket in session.data().close() {
            socket.depart(reason);
        }
    }
}

/// socket.io's name for why a session ended, as disconnect handlers and
/// webhooks get it.
fn disconnect_reason(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::TransportClose | CloseReason::ForcedClose => "transport close",
        CloseReason::TransportError | CloseReason::PayloadTooLarge => "transport error",
        CloseReason::PingTimeout => "ping timeout",
        CloseReason::ServerClose => "forced server close",
        CloseReason::ParseError => "parse error",
        CloseReason::SlowConsumer => "slow consumer",
        CloseReason::ShuttingDown => "server shutting down",
    }
}
