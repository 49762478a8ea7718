//! Encodes queued [`Frame`]s into one long-polling payload: v4 (`\x1e`
//! between packets, binary as `b` + base64), v3 string framing
//! (`<utf-16 length>:<packet>`, binary as `b4` + base64) and v3 binary
//! framing (`0x00|0x01`, length digits, `0xff`, packet), as
//! `engineioxide-core`'s encoders write them.
//!
//! The core crate's encoders read a stream of its own `Packet`s; the engine
//! queues ready-made frames, so the framing is written here, once per GET,
//! without turning each frame back into a `Packet`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use engineioxide_core::ProtocolVersion;

use crate::frame::{Frame, Kind};

/// How a GET's payload is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// engine.io v4.
    V4,
    /// engine.io v3, strings only (`b64=1`, or nothing binary to send).
    V3String,
    /// engine.io v3 binary framing (a binary frame to send, and no `b64`).
    V3Binary,
}

impl Framing {
    /// The framing for these frames.
    pub(crate) fn choose(protocol: ProtocolVersion, b64: bool, frames: &[Frame]) -> Framing {
        match protocol {
            ProtocolVersion::V4 => Framing::V4,
            ProtocolVersion::V3 if !b64 && frames.iter().any(|f| matches!(f.0, Kind::Binary(_))) => {
                Framing::V3Binary
            }
            ProtocolVersion::V3 => Framing::V3String,
        }
    }

    /// The payload's content type.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Framing::V3Binary => "application/octet-stream",
            _ => "text/plain; charset=UTF-8",
        }
    }
}

/// At most how many bytes `frame` takes in a payload (its separator or
/// length prefix included), whatever the framing.
pub(crate) fn size_hint(frame: &Frame) -> usize {
    // Length prefix (up to 20 digits), separator and type bytes.
    const OVERHEAD: usize = 24;
    match &frame.0 {
        Kind::Text(text) => text.len() + OVERHEAD,
        Kind::Binary(data) => base64::encoded_len(data.len(), true).unwrap_or(usize::MAX / 2) + OVERHEAD,
        Kind::Boundary => 0,
    }
}

/// The payload carrying `frames` in order.
pub(crate) fn encode(framing: Framing, frames: &[Frame]) -> Bytes {
    let mut out = BytesMut::with_capacity(frames.iter().map(size_hint).sum());
    // Write boundaries mean nothing in a payload.
    for (n, frame) in frames.iter().filter(|f| !f.is_boundary()).enumerate() {
        match framing {
            Framing::V4 => {
                if n > 0 {
                    out.put_u8(0x1e);
                }
                match &frame.0 {
                    Kind::Text(text) => out.put_slice(text.as_bytes()),
                    Kind::Binary(data) => {
                        out.put_u8(b'b');
                        put_base64(&mut out, data);
                    }
                    Kind::Boundary => {}
                }
            }
            Framing::V3String => match &frame.0 {
                Kind::Text(text) => {
                    let len = text.as_str().encode_utf16().count();
                    out.put_slice(len.to_string().as_bytes());
                    out.put_u8(b':');
                    out.put_slice(text.as_bytes());
                }
                Kind::Binary(data) => {
                    // "b4" + base64: ASCII, so its UTF-16 length is its length.
                    let len = 2 + base64::encoded_len(data.len(), true).unwrap_or(0);
                    out.put_slice(len.to_string().as_bytes());
                    out.put_slice(b":b4");
                    put_base64(&mut out, data);
                }
                Kind::Boundary => {}
            },
            Framing::V3Binary => match &frame.0 {
                Kind::Text(text) => {
                    out.put_u8(0x00);
                    put_digits(&mut out, text.len());
                    out.put_u8(0xff);
                    out.put_slice(text.as_bytes());
                }
                Kind::Binary(data) => {
                    out.put_u8(0x01);
                    put_digits(&mut out, data.len() + 1);
                    out.put_u8(0xff);
                    out.put_u8(0x04);
                    out.put_slice(data);
                }
                Kind::Boundary => {}
            },
        }
    }
    out.freeze()
}

fn put_base64(out: &mut BytesMut, data: &[u8]) {
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

/// A length as v3 binary framing writes it: one byte (0–9) per digit.
fn put_digits(out: &mut BytesMut, n: usize) {
    for digit in n.to_string().bytes() {
        out.put_u8(digit - b'0');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<Frame> {
        vec![
            Frame::control("2"),
            Frame::text("é"),
            Frame::binary(Bytes::from_static(&[1, 2, 3])),
        ]
    }

    #[test]
    fn v4_separates_packets_with_record_separators() {
        let payload = encode(Framing::V4, &frames());
        assert_eq!(payload.as_ref(), "2\x1e4é\x1ebAQID".as_bytes());
    }

    #[test]
    fn v3_string_framing_counts_utf16_units() {
        let framing = Framing::choose(ProtocolVersion::V3, true, &frames());
        assert_eq!(framing, Framing::V3String);
        let payload = encode(framing, &frames());
        assert_eq!(payload.as_ref(), "1:22:4é6:b4AQID".as_bytes());
    }

    #[test]
    fn v3_binary_framing_when_the_client_takes_binary() {
        let framing = Framing::choose(ProtocolVersion::V3, false, &frames());
        assert_eq!(framing, Framing::V3Binary);
        assert_eq!(framing.content_type(), "application/octet-stream");
        let payload = encode(framing, &frames());
        let mut expected = vec![0x00, 1, 0xff, b'2', 0x00, 3, 0xff, b'4', 0xc3, 0xa9];
        expected.extend_from_slice(&[0x01, 4, 0xff, 0x04, 1, 2, 3]);
        assert_eq!(payload.as_ref(), expected.as_slice());
    }

    #[test]
    fn v3_text_only_payloads_stay_strings() {
        let text = [Frame::text("hi")];
        assert_eq!(
            Framing::choose(ProtocolVersion::V3, false, &text),
            Framing::V3String
        );
        assert_eq!(encode(Framing::V3String, &text).as_ref(), b"3:4hi");
    }

    #[test]
    fn size_hints_bound_the_encoding() {
        let frames = frames();
        let bound: usize = frames.iter().map(size_hint).sum();
        for framing in [Framing::V4, Framing::V3String, Framing::V3Binary] {
            assert!(encode(framing, &frames).len() <= bound);
        }
    }
}
