//! [`Frame`] (an outbound engine.io packet, encoded once and shared) and
//! [`Message`] (an inbound one).

use bytes::Bytes;
use engineioxide_core::Str;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A message received from a client.
#[derive(Debug, Clone)]
pub enum Message {
    /// A text message (the engine.io `4` packet's data).
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

/// One engine.io message ready to write, built once and cloned (cheaply) for
/// every receiver.
///
/// A text frame holds the whole engine.io packet (`"4…"`, or a control packet
/// like `"2"`) as tungstenite's `Utf8Bytes`, so that writing it to a
/// websocket is a reference-count clone; a binary frame holds the raw data.
#[derive(Debug, Clone)]
pub struct Frame(pub(crate) Kind);

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A whole text packet, its type byte included.
    Text(Utf8Bytes),
    /// Binary message data (the type is implied).
    Binary(Bytes),
    /// A write boundary: nothing is written for it (see [`Frame::boundary`]).
    Boundary,
}

impl Frame {
    /// A text message packet: the full engine.io packet ("4" + text) is
    /// built here, once.
    pub fn text(text: &str) -> Frame {
        let mut packet = String::with_capacity(text.len() + 1);
        packet.push('4');
        packet.push_str(text);
        Frame(Kind::Text(packet.into()))
    }

    /// A binary message packet.
    pub fn binary(data: Bytes) -> Frame {
        Frame(Kind::Binary(data))
    }

    /// A write boundary, not a packet: the websocket writer sends what it
    /// has before the frames queued behind it, in a write of their own;
    /// polling skips it.
    ///
    /// Why: Node's engine.io writes what a socket.io `connection` handler
    /// emits only once the CONNECT answer's write has completed, so clients
    /// get the two in separate reads. Some clients rely on it: the `ws`
    /// 8.5 client pinned by the official socket.io-protocol suite emits
    /// every message of one network read synchronously, and a listener
    /// added after the first one (`once`, then await) never hears the
    /// second. Queued after the CONNECT answer, a boundary gives them the
    /// same separation, at the cost of one extra flush per namespace
    /// connection.
    pub fn boundary() -> Frame {
        Frame(Kind::Boundary)
    }

    /// Whether this is a [`boundary`](Self::boundary), not a packet.
    pub(crate) fn is_boundary(&self) -> bool {
        matches!(self.0, Kind::Boundary)
    }

    /// A control packet (`"2"`, `"3probe"`, …) or the open packet.
    pub(crate) fn control(packet: &'static str) -> Frame {
        Frame(Kind::Text(Utf8Bytes::from_static(packet)))
    }

    /// A text packet built elsewhere (the open packet).
    pub(crate) fn packet(packet: String) -> Frame {
        Frame(Kind::Text(packet.into()))
    }
}
