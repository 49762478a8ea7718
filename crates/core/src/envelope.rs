//! The message envelope: one published event, shared by every receiver.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::{RoomName, Sid};

/// An event name, shared between the envelope and every encoding of it.
pub type EventName = Arc<str>;

/// One event published to one room.
///
/// The payload is kept as validated JSON text, never re-parsed on the
/// delivery path. Each protocol front encodes the envelope at most once
/// (see [`Envelope::encoded`]) and hands the same bytes to every receiver.
#[derive(Debug)]
pub struct Envelope {
    room: RoomName,
    event: EventName,
    data: Box<RawValue>,
    sender: Option<Sid>,
    raw_frame: OnceLock<Bytes>,
}

impl Envelope {
    /// A new envelope; `sender` is excluded from delivery.
    pub fn new(room: RoomName, event: EventName, data: Box<RawValue>, sender: Option<Sid>) -> Self {
        Envelope {
            room,
            event,
            data,
            sender,
            raw_frame: OnceLock::new(),
        }
    }

    /// The room the event was published to.
    pub fn room(&self) -> &RoomName {
        &self.room
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The JSON payload, as sent by the publisher.
    pub fn data(&self) -> &RawValue {
        &self.data
    }

    /// The connection that published it, if a client did.
    pub fn sender(&self) -> Option<Sid> {
        self.sender
    }

    /// The raw-WebSocket encoding of this envelope, built by `encode` on the
    /// first call and shared (as cheap `Bytes` clones) by every later one.
    pub fn encoded(&self, encode: impl FnOnce(&Envelope) -> Bytes) -> Bytes {
        self.raw_frame.get_or_init(|| encode(self)).clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::RoomPolicy;

    #[test]
    fn encodes_once_for_every_receiver() {
        let room = RoomPolicy::allow_all(16).name("r").unwrap();
        let data = RawValue::from_string("{\"a\":1}".into()).unwrap();
        let env = Envelope::new(room, "chat".into(), data, None);
        let calls = AtomicUsize::new(0);
        let encode = |e: &Envelope| {
            calls.fetch_add(1, Ordering::Relaxed);
            Bytes::from(format!("{}:{}", e.event(), e.data().get()))
        };
        let first = env.encoded(encode);
        let second = env.encoded(encode);
        assert_eq!(first, Bytes::from_static(b"chat:{\"a\":1}"));
        assert_eq!(first, second);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
