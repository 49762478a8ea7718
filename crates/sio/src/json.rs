//! Event payloads from socket.io as JSON, with binary attachments kept.
//!
//! The bus carries JSON. socket.io events may carry binary attachments
//! (Buffers, ArrayBuffers): the event's JSON holds a placeholder
//! `{"_placeholder":true,"num":N}` for each, and the bytes travel beside it.
//! [`inline_attachments`] turns each placeholder into
//! `{"$binary":"<base64>"}`, the documented form in which raw clients (and
//! socket.io receivers) get them. On the way out, [`EventArgs`] and
//! [`AckArgs`] turn those objects back into binary attachments.

use std::collections::VecDeque;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value};
use sockgate_core::{may_carry_binary, Args};

/// Replaces binary placeholders in `value` by base64 objects, in place.
/// A placeholder whose attachment is missing becomes `null`.
pub(crate) fn inline_attachments(value: &mut Value, attachments: &VecDeque<Bytes>) {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| inline_attachments(item, attachments)),
        Value::Object(object) => match placeholder_index(object) {
            Some(index) => {
                *value = match attachments.get(index) {
                    Some(bytes) => binary_object(bytes),
                    None => Value::Null,
                }
            }
            None => object
                .values_mut()
                .for_each(|item| inline_attachments(item, attachments)),
        },
        _ => {}
    }
}

fn placeholder_index(object: &Map<String, Value>) -> Option<usize> {
    if object.len() != 2 || object.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    object.get("num")?.as_u64().and_then(|n| usize::try_from(n).ok())
}

fn binary_object(bytes: &[u8]) -> Value {
    let mut object = Map::new();
    object.insert(
        "$binary".into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    );
    Value::Object(object)
}

/// Event or ack arguments for socketioxide: serialised as a tuple so that
/// each element becomes its own argument, with `{"$binary":"<base64>"}`
/// objects turned back into binary attachments.
pub(crate) struct AckArgs<'a>(pub(crate) &'a [Value]);

impl serde::Serialize for AckArgs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for arg in self.0 {
            tuple.serialize_element(&WithBinary(arg))?;
        }
        tuple.end()
    }
}

/// An event's arguments for socketioxide, each its own argument (a tuple:
/// `emit("move", 1, 2)` reaches `(x, y) => …`), serialised once per emit
/// however many sockets get it.
///
/// Arguments pass through as the JSON text the bus carries, except those
/// that may hold a `{"$binary":…}` object: only they pay for parsing (the
/// same test, and the same marker rule, by which the bus counted them
/// against `limits.max_binary_attachments`), so that their markers become
/// binary attachments again. `last`, a recoverable room's position, comes
/// after every argument.
pub(crate) struct EventArgs<'a> {
    args: &'a Args,
    /// Per argument, its parsed value when it may hold binary; empty when
    /// no argument may.
    parsed: Vec<Option<Value>>,
    last: Option<Value>,
}

impl<'a> EventArgs<'a> {
    /// `args`, followed by `last` when there is one.
    pub(crate) fn new(args: &'a Args, last: Option<Value>) -> Self {
        let binary = |arg: &serde_json::value::RawValue| {
            may_carry_binary(arg.get())
                .then(|| serde_json::from_str::<Value>(arg.get()).ok())
                .flatten()
        };
        let parsed = match args.iter().any(|arg| may_carry_binary(arg.get())) {
            true => args.iter().map(binary).collect(),
            false => Vec::new(),
        };
        EventArgs { args, parsed, last }
    }
}

impl serde::Serialize for EventArgs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let len = self.args.len() + usize::from(self.last.is_some());
        let mut tuple = serializer.serialize_tuple(len)?;
        for (index, arg) in self.args.iter().enumerate() {
            match self.parsed.get(index).and_then(Option::as_ref) {
                Some(value) => tuple.serialize_element(&WithBinary(value))?,
                None => tuple.serialize_element(arg)?,
            }
        }
        if let Some(last) = &self.last {
            tuple.serialize_element(last)?;
        }
        tuple.end()
    }
}

/// A JSON value whose `{"$binary":"<base64>"}` objects serialise as bytes.
struct WithBinary<'a>(&'a Value);

impl serde::Serialize for WithBinary<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(object) => {
                if let Some(bytes) = sockgate_core::binary_bytes(object) {
                    return serializer.serialize_bytes(&bytes);
                }
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (key, value) in object {
                    map.serialize_entry(key, &WithBinary(value))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&WithBinary(item))?;
                }
                seq.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// The extra, last argument of an event from a recoverable room, for
/// sockgate's own resume: `{room, epoch, offset}`.
pub(crate) fn position_arg(envelope: &sockgate_core::Envelope) -> Option<Value> {
    let position = envelope.position()?;
    Some(serde_json::json!({
        "room": envelope.room().map(|room| room.as_str()),
        "epoch": &*position.epoch,
        "offset": position.offset,
    }))
}

/// A socket.io event's name and every argument, attachments inlined as
/// `{"$binary"}` objects; `None` when it is not `[name, ...args]`.
pub(crate) fn decode_event(value: &socketioxide_core::Value) -> Option<(String, Vec<Value>)> {
    let socketioxide_core::Value::Str(text, attachments) = value else {
        return None;
    };
    let mut items: Vec<Value> = serde_json::from_str(text.as_str()).ok()?;
    if items.is_empty() {
        return None;
    }
    let Value::String(event) = items.remove(0) else {
        return None;
    };
    if let Some(attachments) = attachments {
        items
            .iter_mut()
            .for_each(|item| inline_attachments(item, attachments));
    }
    Some((event, items))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Each argument becomes its own, binary ones as attachments, the
    /// position after the last: checked on the packet socket.io clients get.
    #[test]
    fn event_args_are_separate_arguments_with_binary_and_the_position_last() {
        use socketioxide_core::parser::Parse;
        let packet = |args: &EventArgs<'_>| {
            let parser = socketioxide_parser_common::CommonParser;
            match parser.encode_value(args, Some("move")).unwrap() {
                socketioxide_core::Value::Str(text, bins) => {
                    (text.as_str().to_owned(), bins.map_or(0, |bins| bins.len()))
                }
                other => panic!("unexpected {other:?}"),
            }
        };
        let args = |json: &str| {
            Args::from_array(&serde_json::from_str::<Box<serde_json::value::RawValue>>(json).unwrap())
                .unwrap()
        };
        let three = args(r#"[1,"2",{"three":3}]"#);
        assert_eq!(
            packet(&EventArgs::new(&three, None)),
            (r#"["move",1,"2",{"three":3}]"#.into(), 0)
        );
        let none = args("[]");
        assert_eq!(packet(&EventArgs::new(&none, None)), (r#"["move"]"#.into(), 0));
        let binary = args(r#"[1,{"b":{"$binary":"AQID"}}]"#);
        assert_eq!(
            packet(&EventArgs::new(&binary, Some(json!({"offset": 4})))),
            (
                r#"["move",1,{"b":{"_placeholder":true,"num":0}},{"offset":4}]"#.into(),
                1
            )
        );
    }

    #[test]
    fn placeholders_become_base64_objects_at_any_depth() {
        let attachments = VecDeque::from([Bytes::from_static(&[1, 2, 3]), Bytes::from_static(b"")]);
        let mut value = json!({
            "a": {"_placeholder": true, "num": 0},
            "list": [1, {"deep": {"_placeholder": true, "num": 1}}],
            "missing": {"_placeholder": true, "num": 7},
            "lookalike": {"_placeholder": true, "num": 0, "extra": 1},
        });
        inline_attachments(&mut value, &attachments);
        assert_eq!(
            value,
            json!({
                "a": {"$binary": "AQID"},
                "list": [1, {"deep": {"$binary": ""}}],
                "missing": null,
                "lookalike": {"_placeholder": true, "num": 0, "extra": 1},
            })
        );
    }
}
