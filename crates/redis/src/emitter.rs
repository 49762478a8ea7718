//! Decoding what `@socket.io/redis-emitter` (5.x) publishes, so Node
//! backends that emit through Redis reach sockgate clients of both
//! protocols (`docs/clustering.md` lists what is supported).
//!
//! The format, as the emitter and `@socket.io/redis-adapter` use it:
//! - broadcasts on `<prefix>#<nsp>#` (or `<prefix>#<nsp>#<room>#` for a
//!   single room): msgpack `[uid, {type: 2, data: [event, ...args], nsp},
//!   {rooms, flags, except}]`, binary values as msgpack bin;
//! - requests on `<prefix>-request#<nsp>#`: JSON `{type, opts: {rooms,
//!   except}, rooms | close | data}` with type 2 join, 3 leave,
//!   4 disconnect, 6 server-side emit.
//!
//! Rooms in `except` are rooms, as in socket.io: sockets in any of them are
//! skipped. sockgate's rooms are shared by every namespace and by raw
//! clients, so the namespace does not narrow the audience.

use base64::Engine;
use rmpv::Value as Msgpack;
use serde_json::{Map, Value};

/// Channel patterns to subscribe to for emitters using `prefix`.
pub(crate) fn patterns(prefix: &str) -> Vec<String> {
    vec![format!("{prefix}#*"), format!("{prefix}-request#*")]
}

/// Which sockets an operation is for: members of any of `rooms` (every
/// socket when empty), minus members of any of `except`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Rooms whose members are selected; empty selects everyone.
    pub rooms: Vec<String>,
    /// Rooms whose members are skipped.
    pub except: Vec<String>,
}

/// One emitter operation, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum EmitterCommand {
    /// `emitter.to(…).except(…).emit(event, ...args)`.
    Emit {
        /// Who gets it.
        to: Selector,
        /// The event name.
        event: String,
        /// Every argument, in order.
        args: Vec<Value>,
    },
    /// `emitter.in(…).socketsJoin(rooms)`.
    Join {
        /// Whose rooms change.
        who: Selector,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// `emitter.in(…).socketsLeave(rooms)`.
    Leave {
        /// Whose rooms change.
        who: Selector,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// `emitter.in(…).disconnectSockets(close)`.
    Disconnect {
        /// Who is disconnected.
        who: Selector,
    },
}

/// Why an emitter message could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

/// Decodes a message on an emitter channel; `Ok(None)` for messages that
/// carry nothing for sockgate (server-side emits, other adapters' requests).
pub fn decode(prefix: &str, channel: &str, bytes: &[u8]) -> Result<Option<EmitterCommand>, DecodeError> {
    if channel.starts_with(&format!("{prefix}-request#")) {
        return decode_request(bytes);
    }
    if channel.starts_with(&format!("{prefix}#")) {
        return decode_broadcast(bytes).map(Some);
    }
    Ok(None)
}

fn decode_broadcast(bytes: &[u8]) -> Result<EmitterCommand, DecodeError> {
    let value =
        rmpv::decode::read_value(&mut &bytes[..]).map_err(|e| DecodeError(format!("not msgpack: {e}")))?;
    let Value::Array(parts) = to_json(value) else {
        return Err(DecodeError("a broadcast is a [uid, packet, opts] array".into()));
    };
    let (packet, opts) = match parts.as_slice() {
        [_uid, packet, opts] => (packet, opts),
        _ => return Err(DecodeError("a broadcast is a [uid, packet, opts] array".into())),
    };
    if packet["type"] != 2 && packet["type"] != 5 {
        return Err(DecodeError(format!("unsupported packet type {}", packet["type"])));
    }
    let Some(mut args) = packet["data"].as_array().cloned() else {
        return Err(DecodeError("packet.data is not an array".into()));
    };
    if args.is_empty() {
        return Err(DecodeError("packet.data has no event name".into()));
    }
    let Value::String(event) = args.remove(0) else {
        return Err(DecodeError("the event name is not a string".into()));
    };
    Ok(EmitterCommand::Emit {
        to: selector(opts),
        event,
        args,
    })
}

fn decode_request(bytes: &[u8]) -> Result<Option<EmitterCommand>, DecodeError> {
    let request: Value = if bytes.first() == Some(&b'{') {
        serde_json::from_slice(bytes).map_err(|e| DecodeError(format!("not JSON: {e}")))?
    } else {
        let value = rmpv::decode::read_value(&mut &bytes[..])
            .map_err(|e| DecodeError(format!("not msgpack: {e}")))?;
        to_json(value)
    };
    let who = selector(&request["opts"]);
    Ok(match request["type"].as_u64() {
        Some(2) => Some(EmitterCommand::Join {
            who,
            rooms: rooms(&request["rooms"]),
        }),
        Some(3) => Some(EmitterCommand::Leave {
            who,
            rooms: rooms(&request["rooms"]),
        }),
        Some(4) => Some(EmitterCommand::Disconnect { who }),
        // Server-side emits are for socket.io servers' own handlers, and
        // other types are requests between socket.io servers.
        _ => None,
    })
}

fn selector(opts: &Value) -> Selector {
    Selector {
        rooms: rooms(&opts["rooms"]),
        except: rooms(&opts["except"]),
    }
}

/// Room names; socket.io allows numbers, which become their decimal text.
fn rooms(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|room| match room {
                    Value::String(room) => Some(room.clone()),
                    Value::Number(room) => Some(room.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// msgpack to JSON: binary becomes `{"$binary":"<base64>"}` (sockgate's
/// form for binary, delivered to socket.io clients as binary again), and a
/// timestamp (a JS `Date`, which notepack encodes as extension −1) the
/// ISO-8601 string `Date.toJSON()` gives, as Node's clients would see it.
fn to_json(value: Msgpack) -> Value {
    match value {
        Msgpack::Nil => Value::Null,
        Msgpack::Boolean(b) => Value::Bool(b),
        Msgpack::Integer(i) => i
            .as_i64()
            .map(Value::from)
            .or_else(|| i.as_u64().map(Value::from))
            .unwrap_or(Value::Null),
        Msgpack::F32(f) => serde_json::Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number),
        Msgpack::F64(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Msgpack::String(s) => Value::String(s.into_str().unwrap_or_default()),
        Msgpack::Binary(bytes) => {
            let mut object = Map::new();
            object.insert(
                "$binary".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
            Value::Object(object)
        }
        Msgpack::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Msgpack::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| {
                    let key = match key {
                        Msgpack::String(s) => s.into_str().unwrap_or_default(),
                        other => other.to_string(),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
        Msgpack::Ext(TIMESTAMP_EXT, bytes) => timestamp(&bytes).map_or(Value::Null, Value::String),
        // Other extensions have no JSON form.
        Msgpack::Ext(_, _) => Value::Null,
    }
}

/// The msgpack extension type of timestamps.
const TIMESTAMP_EXT: i8 = -1;

/// A msgpack timestamp (32, 64 or 96 bits) as `Date.toJSON()` writes it,
/// to the millisecond; `None` for malformed ones and for dates before 1970
/// or after 9999, which this form cannot hold.
fn timestamp(bytes: &[u8]) -> Option<String> {
    let (seconds, nanos) = match bytes.len() {
        4 => (i64::from(u32::from_be_bytes(bytes.try_into().ok()?)), 0),
        8 => {
            let packed = u64::from_be_bytes(bytes.try_into().ok()?);
            ((packed & 0x3_ffff_ffff) as i64, (packed >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(bytes[4..].try_into().ok()?),
            u32::from_be_bytes(bytes[..4].try_into().ok()?),
        ),
        _ => return None,
    };
    const YEAR_10000: i64 = 253_402_300_800;
    if !(0..YEAR_10000).contains(&seconds) || nanos >= 1_000_000_000 {
        return None;
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::new(seconds as u64, nanos);
    Some(humantime::format_rfc3339_millis(at).to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn broadcast(channel: &str, bytes: &str) -> EmitterCommand {
        decode("socket.io", channel, &hex(bytes)).unwrap().unwrap()
    }

    // Captured from @socket.io/redis-emitter 5.1.0 against Redis 7.0.
    #[test]
    fn emit_to_everyone() {
        let command = broadcast(
            "socket.io#/#",
            "93a7656d697474657283a47479706502a46461746192a36d736781a16101a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490",
        );
        assert_eq!(
            command,
            EmitterCommand::Emit {
                to: Selector::default(),
                event: "msg".into(),
                args: vec![json!({"a": 1})]
            }
        );
    }

    #[test]
    fn emit_to_rooms_except_rooms() {
        let command = broadcast(
            "socket.io#/#",
            "93a7656d697474657283a47479706502a46461746192a36d7367a178a36e7370a12f83a5726f6f6d7392a161a162a5666c61677380a665786365707491a163",
        );
        assert_eq!(
            command,
            EmitterCommand::Emit {
                to: Selector {
                    rooms: vec!["a".into(), "b".into()],
                    except: vec!["c".into()]
                },
                event: "msg".into(),
                args: vec![json!("x")]
            }
        );
    }

    #[test]
    fn binary_and_several_arguments() {
        // emit('bin', Buffer[00 01 02 ff], {nested: Buffer("hi")})
        let command = broadcast(
            "socket.io#/#",
            "93a7656d697474657283a47479706502a46461746193a362696ec404000102ff81a66e6573746564c4026869a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490",
        );
        let EmitterCommand::Emit { event, args, .. } = command else {
            panic!("not an emit")
        };
        assert_eq!(event, "bin");
        assert_eq!(
            args,
            [
                json!({"$binary": "AAEC/w=="}),
                json!({"nested": {"$binary": "aGk="}})
            ]
        );
    }

    #[test]
    fn dates_become_the_iso_strings_nodes_clients_see() {
        // emit('when', new Date(Date.UTC(2026, 11, 5, 12, 20, 11, 123)), new Date(0), 7),
        // encoded by notepack.io (64- and 32-bit timestamps).
        let command = broadcast(
            "socket.io#/#",
            "93a7656d697474657283a47479706502a46461746194a47768656ed7ff1d5353006b14017bd6ff0000000007a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490",
        );
        let EmitterCommand::Emit { event, args, .. } = command else {
            panic!("not an emit")
        };
        assert_eq!(event, "when");
        assert_eq!(
            args,
            [
                json!("2026-12-05T12:20:11.123Z"),
                json!("1970-01-01T00:00:00.000Z"),
                json!(7)
            ]
        );
        // 96-bit form, and malformed ones.
        let mut wide = vec![0, 0, 0, 0];
        wide.extend(1_000_000_000_i64.to_be_bytes());
        assert_eq!(timestamp(&wide).as_deref(), Some("2001-09-09T01:46:40.000Z"));
        assert_eq!(timestamp(&[1, 2, 3]), None);
        let mut before_1970 = vec![0, 0, 0, 0];
        before_1970.extend((-1_i64).to_be_bytes());
        assert_eq!(timestamp(&before_1970), None);
    }

    #[test]
    fn requests_join_leave_disconnect() {
        let request = |json: &str| decode("socket.io", "socket.io-request#/#", json.as_bytes()).unwrap();
        assert_eq!(
            request(r#"{"type":2,"opts":{"rooms":["a"],"except":[]},"rooms":["b","c"]}"#),
            Some(EmitterCommand::Join {
                who: Selector {
                    rooms: vec!["a".into()],
                    except: vec![]
                },
                rooms: vec!["b".into(), "c".into()]
            })
        );
        assert_eq!(
            request(r#"{"type":3,"opts":{"rooms":["a"],"except":["z"]},"rooms":["x"]}"#),
            Some(EmitterCommand::Leave {
                who: Selector {
                    rooms: vec!["a".into()],
                    except: vec!["z".into()]
                },
                rooms: vec!["x".into()]
            })
        );
        assert_eq!(
            request(r#"{"type":4,"opts":{"rooms":[],"except":[]},"close":false}"#),
            Some(EmitterCommand::Disconnect {
                who: Selector::default()
            })
        );
        assert_eq!(request(r#"{"uid":"emitter","type":6,"data":["hello",1]}"#), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode("socket.io", "socket.io#/#", b"\xc1\xff").is_err());
        assert!(decode("socket.io", "socket.io#/#", &hex("93a16101a162")).is_err());
        assert!(decode("socket.io", "socket.io-request#/#", b"{nope").is_err());
        assert_eq!(decode("socket.io", "elsewhere", b"x").unwrap(), None);
    }
}
