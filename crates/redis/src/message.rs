//! What nodes tell each other over Redis pub/sub: one JSON object per
//! message, the payload embedded as raw JSON (never re-parsed on the way).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One cluster message. `op` says what to do; the other fields are the
/// ones that op needs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClusterMessage {
    /// The node that sent it (a node ignores its own messages).
    pub(crate) node: String,
    /// `emit`, `join`, `leave` or `kick`.
    pub(crate) op: Op,
    /// Target rooms (emit; rooms to join or leave).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rooms: Vec<String>,
    /// Target connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    /// Target user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
    /// Emit to every connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) all: bool,
    /// Connections to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) except: Vec<String>,
    /// Rooms whose members another copy of the same emit reaches (an emit
    /// to several rooms reaches each connection once; see `Bus::emit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) besides: Vec<String>,
    /// The event name (emit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) event: Option<String>,
    /// The payload (emit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<Box<RawValue>>,
    /// Where Redis numbered the event, for a recoverable room (added by
    /// the script that numbers it; see `history`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) position: Option<WirePosition>,
}

/// A position as it travels between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WirePosition {
    pub(crate) epoch: String,
    pub(crate) offset: u64,
}

/// What a [`ClusterMessage`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Op {
    Emit,
    Join,
    Leave,
    Kick,
}

impl ClusterMessage {
    pub(crate) fn new(node: &str, op: Op) -> Self {
        ClusterMessage {
            node: node.to_owned(),
            op,
            rooms: Vec::new(),
            sid: None,
            user: None,
            all: false,
            except: Vec::new(),
            besides: Vec::new(),
            event: None,
            data: None,
            position: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_the_payload_untouched() {
        let mut message = ClusterMessage::new("n1", Op::Emit);
        message.rooms = vec!["act42".into()];
        message.except = vec!["AAAAAAAAAAAAAAAA".into()];
        message.event = Some("chat".into());
        message.data = Some(RawValue::from_string(r#"{"b":[1,2],"a":"x"}"#.into()).unwrap());
        let text = serde_json::to_string(&message).unwrap();
        assert_eq!(
            text,
            r#"{"node":"n1","op":"emit","rooms":["act42"],"except":["AAAAAAAAAAAAAAAA"],"event":"chat","data":{"b":[1,2],"a":"x"}}"#
        );
        let back: ClusterMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back.op, Op::Emit);
        assert_eq!(back.data.unwrap().get(), r#"{"b":[1,2],"a":"x"}"#);
    }
}
