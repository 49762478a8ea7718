//! The message envelope: one published event, shared by every receiver.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use crate::{Args, Position, RoomName};

/// An event name, shared between the envelope and every encoding of it.
pub type EventName = Arc<str>;

/// Event names socket.io clients reserve for themselves: the gateway never
/// delivers or routes events with these names.
pub const RESERVED_EVENT_NAMES: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether socket.io reserves `name` (see [`RESERVED_EVENT_NAMES`]).
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENT_NAMES.contains(&name)
}

/// One event published to one room.
///
/// The arguments are kept as validated JSON text, never re-parsed on the
/// delivery path. Each protocol front encodes the envelope at most once
/// (see [`Envelope::encoded`]) and hands the same bytes to every receiver.
pub struct Envelope {
    room: Option<RoomName>,
    event: EventName,
    args: Args,
    position: Option<Position>,
    /// One cache slot per front ([`Encoding`]).
    encoded: [OnceLock<Box<dyn Any + Send + Sync>>; 2],
}

/// Whose encoding of an envelope is cached: each protocol front has a slot
/// of its own, so that a room with members of both is encoded once per
/// protocol, never once per receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The raw-WebSocket frame.
    Raw,
    /// socket.io packets (per namespace, inside the cached value).
    SocketIo,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("room", &self.room)
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl Envelope {
    /// A new envelope; `room` is `None` for events addressed to connections
    /// rather than to a room.
    pub fn new(room: Option<RoomName>, event: EventName, args: Args) -> Self {
        Envelope {
            room,
            event,
            args,
            position: None,
            encoded: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The same envelope, numbered in its room's stream (recovery).
    pub fn with_position(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    /// Where the event sits in its room's stream, for rooms with recovery.
    pub fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    /// The room the event was published to, if it was.
    pub fn room(&self) -> Option<&RoomName> {
        self.room.as_ref()
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The event's arguments, as sent by the publisher.
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// The raw-WebSocket encoding of this envelope: see [`Envelope::encoded_as`].
    pub fn encoded<T>(&self, encode: impl FnOnce(&Envelope) -> T) -> T
    where
        T: Any + Clone + Send + Sync,
    {
        self.encoded_as(Encoding::Raw, encode)
    }

    /// The encoding of this envelope for one front, built by `encode` on
    /// the first call and cloned by every later one, so a publish is
    /// serialised once per protocol however many receivers it has.
    ///
    /// `T` should be a cheap-to-clone handle such as `Bytes` or an `Arc`.
    /// Each front has one cache slot: a caller asking for another type in
    /// the same slot gets a fresh, uncached encoding.
    pub fn encoded_as<T>(&self, slot: Encoding, encode: impl FnOnce(&Envelope) -> T) -> T
    where
        T: Any + Clone + Send + Sync,
    {
        let mut encode = Some(encode);
        let cached = self.encoded[slot as usize].get_or_init(|| {
            let encode = encode.take().expect("get_or_init runs its closure once");
            Box::new(encode(self))
        });
        match (cached.downcast_ref::<T>(), encode) {
            (Some(value), _) => value.clone(),
            (None, Some(encode)) => encode(self),
            (None, None) => unreachable!("a freshly cached value has the requested type"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;

    use super::*;
    use crate::RoomPolicy;

    #[test]
    fn encodes_once_for_every_receiver() {
        let room = RoomPolicy::allow_all(16).name("r").unwrap();
        let data = serde_json::value::RawValue::from_string("{\"a\":1}".into()).unwrap();
        let env = Envelope::new(Some(room), "chat".into(), Args::one(data));
        let calls = AtomicUsize::new(0);
        let encode = |e: &Envelope| {
            calls.fetch_add(1, Ordering::Relaxed);
            Bytes::from(format!("{}:{}", e.event(), e.args().first().get()))
        };
        let first = env.encoded(encode);
        let second = env.encoded(encode);
        assert_eq!(first, Bytes::from_static(b"chat:{\"a\":1}"));
        assert_eq!(first, second);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        // Another type does not clobber the cache.
        assert_eq!(env.encoded(|e| e.event().len()), 4);
        assert_eq!(env.encoded(encode), first);
        // The other front's slot is its own.
        assert_eq!(env.encoded_as(Encoding::SocketIo, |e| e.event().len()), 4);
        assert_eq!(env.encoded_as(Encoding::SocketIo, |_| 0usize), 4);
        assert_eq!(env.encoded(encode), first);
    }
}
