//! socket.io packets as engine.io frames: a packet's text, then one frame
//! per binary attachment. A bus event is encoded once per namespace and
//! the frames are shared by every member there ([`event_frames`]).

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use socketioxide_core::packet::Packet;
use socketioxide_core::parser::Parse;
use socketioxide_core::Value;
use socketioxide_parser_common::CommonParser;
use sockgate_core::{Encoding, Envelope};
use sockgate_engine::{Frame, Str};
use tracing::warn;

use super::namespace::Namespace;
use super::recover;
use crate::json::{position_arg, AckArgs, EventArgs};

/// One packet's frames, shared by every receiver.
pub(crate) type Frames = Arc<[Frame]>;

/// The frames of `packet`.
pub(crate) fn packet_frames(packet: Packet) -> Frames {
    match CommonParser.encode(packet) {
        Value::Str(text, attachments) => std::iter::once(Frame::text(&text))
            .chain(attachments.into_iter().flatten().map(Frame::binary))
            .collect(),
        Value::Bytes(bytes) => Arc::from([Frame::binary(bytes)]),
    }
}

/// An event packet for one socket: `[event, ...args]`, where `args`
/// serialises as a tuple (each element its own argument).
pub(crate) fn event(ns: &Str, event: &str, args: &impl Serialize) -> Option<Frames> {
    match CommonParser.encode_value(args, Some(event)) {
        Ok(value) => Some(packet_frames(Packet::event(ns.clone(), value))),
        Err(error) => {
            warn!(ns = %ns, event, %error, "socket.io event could not be encoded");
            None
        }
    }
}

/// The answer to a client's event `id`: every argument its own, binary
/// markers as attachments.
pub(crate) fn ack(ns: &Str, id: i64, args: &[serde_json::Value]) -> Option<Frames> {
    match CommonParser.encode_value(&AckArgs(args), None) {
        Ok(value) => Some(packet_frames(Packet::ack(ns.clone(), value, id))),
        Err(error) => {
            warn!(ns = %ns, %error, "socket.io ack could not be encoded");
            None
        }
    }
}

/// One envelope's encodings, a slot per namespace.
struct PerNamespace(Box<[OnceLock<Frames>]>);

/// The frames of a bus event for the members of `ns`, encoded by the first
/// of them and shared by the others. Events of recoverable rooms end with
/// their position: a string offset where socket.io's own recovery is on,
/// `{room, epoch, offset}` for sockgate's resume otherwise.
pub(crate) fn event_frames(envelope: &Envelope, ns: &Namespace, namespaces: usize) -> Frames {
    let cache: Arc<PerNamespace> = envelope.encoded_as(Encoding::SocketIo, |_| {
        Arc::new(PerNamespace((0..namespaces).map(|_| OnceLock::new()).collect()))
    });
    match cache.0.get(ns.index) {
        Some(slot) => slot.get_or_init(|| encode_event(envelope, ns)).clone(),
        None => encode_event(envelope, ns),
    }
}

fn encode_event(envelope: &Envelope, ns: &Namespace) -> Frames {
    let last = match ns.recovery {
        true => recover::offset_arg(envelope),
        false => position_arg(envelope),
    };
    let args = EventArgs::new(envelope.args(), last);
    event(&ns.name, envelope.event(), &args).unwrap_or_else(|| Arc::from([]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_ack_with_binary_is_a_binary_ack_and_its_attachment() {
        let frames = ack(
            &Str::from("/chat"),
            4,
            &[json!({"ok": true}), json!({"$binary": "AQID"})],
        )
        .unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(
            format!("{:?}", frames[0]),
            format!(
                "{:?}",
                Frame::text(r#"61-/chat,4[{"ok":true},{"_placeholder":true,"num":0}]"#)
            )
        );
    }
}
