//! What nodes tell each other over Redis pub/sub: one JSON object per
//! message, the payload embedded as raw JSON (never re-parsed on the way).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sockgate_core::Args;

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
    /// to several rooms reaches each connection once; see `ServerBus::emit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) besides: Vec<String>,
    /// The event name (emit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) event: Option<String>,
    /// The first argument (emit), which is all that nodes before
    /// multi-argument events read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<Box<RawValue>>,
    /// Every argument, when there are not exactly one (emit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) args: Option<Vec<Box<RawValue>>>,
    /// This message's number among its sender's messages to the room
    /// channel it travels on (see `cluster::gaps`): a receiver counts
    /// holes as lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seq: Option<[u64; 2]>,
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
            args: None,
            seq: None,
            position: None,
        }
    }

    /// Sets an emit's arguments: `data` alone for one, `args` beside it
    /// for any other number.
    pub(crate) fn set_args(&mut self, args: &Args) {
        self.data = Some(args.first().to_owned());
        self.args = (args.len() != 1).then(|| args.iter().map(ToOwned::to_owned).collect());
    }

    /// Takes an emit's arguments (a missing or JSON null `data` is one
    /// `null`).
    pub(crate) fn take_args(&mut self) -> Args {
        match (self.args.take(), self.data.take()) {
            (Some(args), _) => Args::list(args),
            (None, data) => Args::one(data.unwrap_or_else(|| RawValue::NULL.to_owned())),
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

    #[test]
    fn several_arguments_travel_beside_the_first() {
        let args =
            Args::from_array(&RawValue::from_string(r#"[1,null,{"three":3}]"#.into()).unwrap()).unwrap();
        let mut message = ClusterMessage::new("n1", Op::Emit);
        message.set_args(&args);
        let text = serde_json::to_string(&message).unwrap();
        assert!(
            text.ends_with(r#""data":1,"args":[1,null,{"three":3}]}"#),
            "{text}"
        );
        let mut back: ClusterMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back.take_args(), args);

        let mut one = ClusterMessage::new("n1", Op::Emit);
        one.set_args(&Args::one(RawValue::NULL.to_owned()));
        let text = serde_json::to_string(&one).unwrap();
        let mut back: ClusterMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back.take_args().first().get(), "null");
    }
}
