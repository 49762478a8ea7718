//! Raw protocol v1: parsing client frames and encoding gateway frames.
//! The wire format is the public contract documented in `docs/protocol.md`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sockgate_core::{Args, Envelope, ErrorCode, ResumeRequest};

/// A request id chosen by the client, echoed verbatim in its ack.
pub(crate) type RequestId = Box<RawValue>;

/// A client frame after validation.
#[derive(Debug)]
pub(crate) enum ClientFrame {
    Join {
        room: String,
    },
    Leave {
        room: String,
    },
    Publish {
        room: String,
        event: String,
        args: Args,
    },
    Ping,
    /// `{"op":"auth"}` after the session started: refused with a reason.
    Auth,
    /// An application event for the backend (event webhooks).
    Emit {
        event: String,
        args: Args,
    },
    /// Back after a disconnect: rooms and missed events (recovery).
    Resume(ResumeRequest),
}

/// A frame that could not be turned into a [`ClientFrame`].
#[derive(Debug)]
pub(crate) struct FrameError {
    /// The request id, when the frame got far enough to have one.
    pub(crate) id: Option<RequestId>,
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

/// Every field any op may carry; which ones are required depends on `op`.
/// Unknown fields are ignored so that clients may add their own.
#[derive(Deserialize)]
struct WireFrame {
    op: String,
    #[serde(default)]
    token: Option<String>,
    room: Option<String>,
    event: Option<String>,
    /// One argument; `null` is one too.
    #[serde(default, deserialize_with = "sockgate_core::given")]
    data: Option<Box<RawValue>>,
    /// Every argument, instead of `data`.
    args: Option<Vec<Box<RawValue>>>,
    rooms: Option<Box<RawValue>>,
    id: Option<RequestId>,
}

/// Parses one text frame; `Ok` carries the request id when there is one.
pub(crate) fn parse(text: &str) -> Result<(ClientFrame, Option<RequestId>), FrameError> {
    let wire: WireFrame = serde_json::from_str(text).map_err(|e| FrameError {
        id: None,
        code: ErrorCode::BadRequest,
        message: format!("invalid frame: {e}"),
    })?;
    let id = match wire.id {
        Some(id) if !is_valid_id(&id) => {
            return Err(bad_request(None, "\"id\" must be a number or a string"));
        }
        id => id,
    };
    let need = |field: Option<String>, name: &str| match field {
        Some(value) => Ok(value),
        None => Err(format!("op {:?} needs a string {name:?}", wire.op)),
    };
    let (data, args) = (wire.data, wire.args);
    let args = move || Args::from_data_or_args(data, args).map_err(|e| e.to_string());
    let frame = match wire.op.as_str() {
        "join" => need(wire.room, "room").map(|room| ClientFrame::Join { room }),
        "leave" => need(wire.room, "room").map(|room| ClientFrame::Leave { room }),
        "publish" => need(wire.room, "room").and_then(|room| {
            Ok(ClientFrame::Publish {
                room,
                event: need(wire.event, "event")?,
                args: args()?,
            })
        }),
        "ping" => Ok(ClientFrame::Ping),
        "auth" => Ok(ClientFrame::Auth),
        "emit" => need(wire.event, "event").and_then(|event| Ok(ClientFrame::Emit { event, args: args()? })),
        "resume" => resume_request(wire.token, wire.rooms.as_deref()).map(ClientFrame::Resume),
        other => Err(format!("unknown op {other:?}")),
    };
    match frame {
        Ok(frame) => Ok((frame, id)),
        Err(message) => Err(bad_request(id, &message)),
    }
}

/// `{"op":"resume","token":…,"rooms":{"<room>":{"epoch":…,"offset":…}}}`.
fn resume_request(token: Option<String>, rooms: Option<&RawValue>) -> Result<ResumeRequest, String> {
    let rooms = match rooms {
        None => Default::default(),
        Some(rooms) => serde_json::from_str(rooms.get()).map_err(|e| {
            format!(
                "op \"resume\" needs \"rooms\" as {{\"<room>\": {{\"epoch\": \"…\", \"offset\": n}}}}: {e}"
            )
        })?,
    };
    Ok(ResumeRequest { token, rooms })
}

fn bad_request(id: Option<RequestId>, message: &str) -> FrameError {
    FrameError {
        id,
        code: ErrorCode::BadRequest,
        message: message.to_owned(),
    }
}

fn is_valid_id(id: &RawValue) -> bool {
    matches!(id.get().as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9'))
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

/// The token of `{"op":"auth","token":…}`, the frame a client sends first
/// when `auth.required` is on and it has no `?token=`.
pub(crate) fn auth_token(text: &str) -> Option<String> {
    let wire: WireFrame = serde_json::from_str(text).ok()?;
    (wire.op == "auth").then_some(wire.token).flatten()
}

/// `{"op":"open","sid":…,"pingInterval":…,"user":…,"resume":…}`, the first
/// frame of a session (`user` only for authenticated connections, `resume`
/// only when some rooms keep a history).
pub(crate) fn open_frame(
    sid: &str,
    ping_interval_ms: u128,
    user: Option<&str>,
    resume: Option<&str>,
) -> String {
    #[derive(Serialize)]
    struct Open<'a> {
        op: &'static str,
        sid: &'a str,
        #[serde(rename = "pingInterval")]
        ping_interval: u128,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resume: Option<&'a str>,
    }
    to_json(&Open {
        op: "open",
        sid,
        ping_interval: ping_interval_ms,
        user,
        resume,
    })
}

/// `{"op":"ack","id":…,"ok":true}`.
pub(crate) fn ack_ok(id: &RawValue) -> String {
    #[derive(Serialize)]
    struct Ack<'a> {
        op: &'static str,
        id: &'a RawValue,
        ok: bool,
    }
    to_json(&Ack {
        op: "ack",
        id,
        ok: true,
    })
}

/// `{"op":"ack","id":…,"ok":false,"error":{…}}`.
pub(crate) fn ack_error(id: &RawValue, code: &str, message: &str) -> String {
    #[derive(Serialize)]
    struct AckError<'a> {
        op: &'static str,
        id: &'a RawValue,
        ok: bool,
        error: ErrorBody<'a>,
    }
    to_json(&AckError {
        op: "ack",
        id,
        ok: false,
        error: ErrorBody { code, message },
    })
}

/// `{"op":"error","error":{…}}`, for a frame with no id to answer.
pub(crate) fn error_frame(code: &str, message: &str) -> String {
    #[derive(Serialize)]
    struct ErrorFrame<'a> {
        op: &'static str,
        error: ErrorBody<'a>,
    }
    to_json(&ErrorFrame {
        op: "error",
        error: ErrorBody { code, message },
    })
}

/// A failed request: a failed ack when it had an id, else an error frame.
pub(crate) fn failure(id: Option<&RawValue>, code: &str, message: &str) -> String {
    match id {
        Some(id) => ack_error(id, code, message),
        None => error_frame(code, message),
    }
}

/// `{"op":"ack","id":…,"ok":true,"data":…}` answering an `emit`: `data` is
/// the backend's first ack argument, `args` all of them when there are several.
pub(crate) fn ack_with_args(id: &RawValue, args: &[serde_json::Value]) -> String {
    #[derive(Serialize)]
    struct Ack<'a> {
        op: &'static str,
        id: &'a RawValue,
        ok: bool,
        data: &'a serde_json::Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        args: Option<&'a [serde_json::Value]>,
    }
    to_json(&Ack {
        op: "ack",
        id,
        ok: true,
        data: args.first().unwrap_or(&serde_json::Value::Null),
        args: (args.len() > 1).then_some(args),
    })
}

/// `{"op":"pong"}`.
pub(crate) const PONG_FRAME: &str = r#"{"op":"pong"}"#;

/// `{"op":"event","room":…,"event":…,"data":…}`: encoded once per publish.
/// `data` is the first argument (`null` when there is none), as raw
/// protocol v1 always had it; `args` holds every argument when there are
/// not exactly one, as in an `emit`'s ack.
pub(crate) fn event_frame(envelope: &Envelope) -> String {
    #[derive(Serialize)]
    struct Event<'a> {
        op: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        event: &'a str,
        data: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        args: Option<&'a Args>,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    }
    let position = envelope.position();
    to_json(&Event {
        op: "event",
        room: envelope.room().map(|room| room.as_str()),
        event: envelope.event(),
        data: envelope.args().first(),
        args: Some(envelope.args()).filter(|args| args.len() != 1),
        epoch: position.map(|p| &*p.epoch),
        offset: position.map(|p| p.offset),
    })
}

/// `{"op":"ack","id":…,"ok":true,"data":<report>}` for a resume.
pub(crate) fn ack_with_data(id: &RawValue, data: &impl Serialize) -> String {
    #[derive(Serialize)]
    struct Ack<'a, T> {
        op: &'static str,
        id: &'a RawValue,
        ok: bool,
        data: &'a T,
    }
    to_json(&Ack {
        op: "ack",
        id,
        ok: true,
        data,
    })
}

fn to_json(value: &impl Serialize) -> String {
    // Serialising plain structs of strings and validated JSON cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use sockgate_core::RoomPolicy;

    use super::*;

    fn parse_ok(text: &str) -> (ClientFrame, Option<String>) {
        let (frame, id) = parse(text).unwrap();
        (frame, id.map(|id| id.get().to_owned()))
    }

    #[test]
    fn parses_every_op() {
        let (frame, id) = parse_ok(r#"{"op":"join","room":"act42","id":1}"#);
        assert!(matches!(frame, ClientFrame::Join { ref room } if room == "act42"));
        assert_eq!(id.as_deref(), Some("1"));
        let (frame, _) = parse_ok(r#"{"op":"leave","room":"act42"}"#);
        assert!(matches!(frame, ClientFrame::Leave { ref room } if room == "act42"));
        let (frame, id) =
            parse_ok(r#"{"op":"publish","room":"r","event":"chat","data":{"t":[1,2]},"id":"x"}"#);
        match frame {
            ClientFrame::Publish { room, event, args } => {
                assert_eq!(
                    (room.as_str(), event.as_str(), args.len(), args.first().get()),
                    ("r", "chat", 1, r#"{"t":[1,2]}"#)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(id.as_deref(), Some("\"x\""));
        assert!(matches!(parse_ok(r#"{"op":"ping"}"#).0, ClientFrame::Ping));
    }

    #[test]
    fn publish_without_data_sends_null() {
        let (frame, _) = parse_ok(r#"{"op":"publish","room":"r","event":"e"}"#);
        assert!(
            matches!(frame, ClientFrame::Publish { ref args, .. } if args.len() == 1 && args.first().get() == "null")
        );
    }

    fn args_of(frame: ClientFrame) -> Vec<String> {
        match frame {
            ClientFrame::Publish { args, .. } | ClientFrame::Emit { args, .. } => {
                args.iter().map(|arg| arg.get().to_owned()).collect()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn args_carry_every_argument_and_exclude_data() {
        let (frame, _) = parse_ok(r#"{"op":"publish","room":"r","event":"e","args":[1,"2",{"three":3}]}"#);
        assert_eq!(args_of(frame), ["1", "\"2\"", r#"{"three":3}"#]);
        let (frame, _) = parse_ok(r#"{"op":"emit","event":"e","args":[]}"#);
        assert!(args_of(frame).is_empty());
        let (frame, _) = parse_ok(r#"{"op":"emit","event":"e","data":[1,2]}"#);
        assert_eq!(args_of(frame), ["[1,2]"]);
        // A null `data` is still an argument: naming both is refused.
        for both in [
            r#"{"op":"publish","room":"r","event":"e","data":null,"args":[1],"id":9}"#,
            r#"{"op":"emit","event":"e","data":1,"args":[1],"id":9}"#,
        ] {
            let err = parse(both).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadRequest);
            assert!(
                err.message.contains("\"data\"") && err.message.contains("\"args\""),
                "{}",
                err.message
            );
            assert_eq!(err.id.unwrap().get(), "9");
        }
        let err = parse(r#"{"op":"publish","room":"r","event":"e","args":{"a":1}}"#).unwrap_err();
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[test]
    fn bad_frames_say_what_is_wrong_and_keep_the_id() {
        let err = parse("not json").unwrap_err();
        assert!(err.message.starts_with("invalid frame"), "{}", err.message);
        assert!(err.id.is_none());
        let err = parse(r#"{"op":"dance","id":7}"#).unwrap_err();
        assert_eq!(err.message, "unknown op \"dance\"");
        assert_eq!(err.id.unwrap().get(), "7");
        let err = parse(r#"{"op":"join","room":5}"#).unwrap_err();
        assert!(err.message.contains("invalid type"), "{}", err.message);
        let err = parse(r#"{"op":"publish","room":"r","id":2}"#).unwrap_err();
        assert_eq!(err.message, "op \"publish\" needs a string \"event\"");
        let err = parse(r#"{"op":"ping","id":{"a":1}}"#).unwrap_err();
        assert_eq!(err.message, "\"id\" must be a number or a string");
        assert_eq!(err.code, ErrorCode::BadRequest);
    }

    /// No input may panic the parser; every refusal says something.
    #[test]
    fn hostile_frames_are_refused_without_panicking() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let cases = [
            "",
            " ",
            "null",
            "\"op\"",
            "{}",
            r#"{"op":null}"#,
            r#"{"op":"join"}"#,
            r#"{"op":"join","room":null}"#,
            r#"{"op":"join","room":"r","id":[1]}"#,
            r#"{"op":"join","room":"\ud800"}"#,
            r#"{"op":"publish","room":"r","event":"e","data":}"#,
            r#"{"op":"join","room":"r"} trailing"#,
            &deep,
        ];
        for case in cases {
            let error = parse(case).expect_err(case);
            assert!(!error.message.is_empty(), "{case}");
        }
        // Deeply nested data is valid JSON: it is carried as text, never
        // recursed into, so it is accepted (its size is bounded by
        // limits.max_message_bytes).
        let deep_data = format!(r#"{{"op":"publish","room":"r","event":"e","data":{deep}}}"#);
        assert!(matches!(
            parse(&deep_data),
            Ok((ClientFrame::Publish { .. }, None))
        ));
    }

    #[test]
    fn gateway_frames_have_the_documented_shape() {
        let id = RawValue::from_string("3".into()).unwrap();
        assert_eq!(ack_ok(&id), r#"{"op":"ack","id":3,"ok":true}"#);
        assert_eq!(
            ack_error(&id, ErrorCode::Forbidden.as_str(), "no"),
            r#"{"op":"ack","id":3,"ok":false,"error":{"code":"forbidden","message":"no"}}"#
        );
        assert_eq!(
            error_frame(ErrorCode::Unsupported.as_str(), "binary"),
            r#"{"op":"error","error":{"code":"unsupported","message":"binary"}}"#
        );
        assert_eq!(
            open_frame("abc", 25000, None, None),
            r#"{"op":"open","sid":"abc","pingInterval":25000}"#
        );
        assert_eq!(
            open_frame("abc", 25000, Some("42"), Some("tok")),
            r#"{"op":"open","sid":"abc","pingInterval":25000,"user":"42","resume":"tok"}"#
        );
        assert_eq!(
            auth_token(r#"{"op":"auth","token":"t.k.n"}"#).as_deref(),
            Some("t.k.n")
        );
        assert_eq!(auth_token(r#"{"op":"join","token":"t"}"#), None);
        assert_eq!(auth_token("nope"), None);
        let room = RoomPolicy::allow_all(8).name("r\"1").unwrap();
        let data = RawValue::from_string("[1,\"x\"]".into()).unwrap();
        let env = Envelope::new(Some(room), "chat".into(), data.clone().into());
        assert_eq!(
            event_frame(&env),
            r#"{"op":"event","room":"r\"1","event":"chat","data":[1,"x"]}"#
        );
        let direct = Envelope::new(None, "chat".into(), data.into());
        assert_eq!(
            event_frame(&direct),
            r#"{"op":"event","event":"chat","data":[1,"x"]}"#
        );
    }

    #[test]
    fn events_with_other_than_one_argument_list_them_all_in_args() {
        let room = RoomPolicy::allow_all(8).name("r").unwrap();
        let args =
            Args::from_array(&RawValue::from_string(r#"[1,"2",{"three":3}]"#.into()).unwrap()).unwrap();
        let env = Envelope::new(Some(room.clone()), "move".into(), args);
        assert_eq!(
            event_frame(&env),
            r#"{"op":"event","room":"r","event":"move","data":1,"args":[1,"2",{"three":3}]}"#
        );
        let none = Envelope::new(None, "ping".into(), Args::list(Vec::new()));
        assert_eq!(
            event_frame(&none),
            r#"{"op":"event","event":"ping","data":null,"args":[]}"#
        );
        let position = sockgate_core::Position {
            epoch: "AAoT0qyV".into(),
            offset: 17,
        };
        let args = Args::from_array(&RawValue::from_string("[1,2]".into()).unwrap()).unwrap();
        let numbered = Envelope::new(Some(room), "move".into(), args).with_position(position);
        assert_eq!(
            event_frame(&numbered),
            r#"{"op":"event","room":"r","event":"move","data":1,"args":[1,2],"epoch":"AAoT0qyV","offset":17}"#
        );
    }
}
