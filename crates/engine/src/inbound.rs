//! What a client's packet does to its session, whichever transport carried
//! it (Node's `Socket.onPacket`).

use std::sync::Arc;

use engineioxide_core::{Packet, ProtocolVersion};

use crate::frame::Frame;
use crate::{CloseReason, EngineHandler, Message, Session};

/// What the transport should do after a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// Nothing more.
    Done,
    /// The heartbeat packet the engine waits for (v4 pong, v3 ping) arrived.
    Heard,
}

/// Handles one packet from the client; `Err` ends the session for that
/// reason.
pub(crate) fn on_packet<H: EngineHandler>(
    handler: &H,
    session: &Arc<Session<H::Data>>,
    packet: Packet,
) -> Result<Inbound, CloseReason> {
    let v3 = session.protocol() == ProtocolVersion::V3;
    match packet {
        Packet::Message(text) => handler.on_message(session, Message::Text(text)),
        Packet::Binary(data) | Packet::BinaryV3(data) => handler.on_message(session, Message::Binary(data)),
        Packet::Close => return Err(CloseReason::ForcedClose),
        // v3: the client pings and the server answers.
        Packet::Ping | Packet::PingUpgrade if v3 => {
            let pong = match packet {
                Packet::PingUpgrade => "3probe",
                _ => "3",
            };
            return match session.send_control(Frame::control(pong)) {
                Ok(()) => Ok(Inbound::Heard),
                Err(_) => Err(CloseReason::SlowConsumer),
            };
        }
        Packet::Pong | Packet::PongUpgrade if !v3 => return Ok(Inbound::Heard),
        // "invalid heartbeat direction", as Node calls it.
        Packet::Ping | Packet::PingUpgrade | Packet::Pong | Packet::PongUpgrade => {
            return Err(CloseReason::TransportError)
        }
        // Out of place but harmless: Node ignores them too.
        Packet::Upgrade | Packet::Noop | Packet::Open(_) => {}
    }
    Ok(Inbound::Done)
}
