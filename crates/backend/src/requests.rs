//! The JSON bodies the API takes, and how each names its targets.

use serde::Deserialize;
use serde_json::value::RawValue;
use sockgate_core::{Args, Sid, Target, Who};

use crate::ApiError;

/// `POST /emit`: an event for exactly one of the targets, with one
/// argument (`data`) or any number (`args`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmitRequest {
    pub(crate) event: String,
    /// One argument; `null` is one too.
    #[serde(default, deserialize_with = "sockgate_core::given")]
    data: Option<Box<RawValue>>,
    /// Every argument, instead of `data`.
    #[serde(default)]
    args: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    rooms: Option<Vec<String>>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    except: Vec<String>,
    /// Webhook answers only: the connection that emitted the event.
    #[serde(default)]
    sender: bool,
}

/// The rooms an emit names, owned so that a [`Target`] can borrow them.
pub(crate) enum EmitTarget {
    Rooms(Vec<String>),
    All,
    Sid(Sid),
    User(String),
}

impl EmitTarget {
    pub(crate) fn as_target(&self) -> Target<'_> {
        match self {
            EmitTarget::Rooms(rooms) => Target::Rooms(rooms),
            EmitTarget::All => Target::All,
            EmitTarget::Sid(sid) => Target::Sid(*sid),
            EmitTarget::User(user) => Target::User(user),
        }
    }
}

impl EmitRequest {
    /// Whether this emit is for the calling connection (webhook answers);
    /// clears the flag.
    pub(crate) fn take_sender(&mut self) -> bool {
        std::mem::take(&mut self.sender)
    }

    /// The event's arguments: `data` (one, `null` when absent) or `args`,
    /// never both.
    pub(crate) fn take_args(&mut self) -> Result<Args, ApiError> {
        Args::from_data_or_args(self.data.take(), self.args.take())
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    }

    /// The one target this request names.
    pub(crate) fn target(&mut self) -> Result<EmitTarget, ApiError> {
        let named = [
            self.room.is_some(),
            self.rooms.is_some(),
            self.sid.is_some(),
            self.user.is_some(),
            self.all,
        ];
        if named.iter().filter(|named| **named).count() != 1 {
            return Err(ApiError::BadRequest(
                "name exactly one target: \"room\", \"rooms\", \"sid\", \"user\" or \"all\": true".into(),
            ));
        }
        Ok(if let Some(room) = self.room.take() {
            EmitTarget::Rooms(vec![room])
        } else if let Some(rooms) = self.rooms.take() {
            if rooms.is_empty() {
                return Err(ApiError::BadRequest("\"rooms\" must not be empty".into()));
            }
            EmitTarget::Rooms(rooms)
        } else if let Some(sid) = &self.sid {
            EmitTarget::Sid(parse_sid(sid)?)
        } else if let Some(user) = self.user.take() {
            EmitTarget::User(user)
        } else {
            EmitTarget::All
        })
    }

    /// The connections to skip; ids that cannot exist are ignored.
    pub(crate) fn except(&self) -> Vec<Sid> {
        self.except.iter().filter_map(|sid| sid.parse().ok()).collect()
    }
}

/// `POST /join`, `POST /leave`: rooms for a connection or a user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MembershipRequest {
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

impl MembershipRequest {
    /// Every room named, at least one.
    pub(crate) fn rooms(&mut self) -> Result<Vec<String>, ApiError> {
        let mut rooms = std::mem::take(&mut self.rooms);
        rooms.extend(self.room.take());
        if rooms.is_empty() {
            return Err(ApiError::BadRequest(
                "name at least one room in \"room\" or \"rooms\"".into(),
            ));
        }
        Ok(rooms)
    }

    pub(crate) fn who(&self) -> Result<WhoTarget, ApiError> {
        resolve_who(&self.sid, &self.user)
    }
}

/// An owned [`Who`].
pub(crate) enum WhoTarget {
    Sid(Sid),
    User(String),
}

impl WhoTarget {
    pub(crate) fn as_who(&self) -> Who<'_> {
        match self {
            WhoTarget::Sid(sid) => Who::Sid(*sid),
            WhoTarget::User(user) => Who::User(user),
        }
    }
}

/// `"sid"` or `"user"`, exactly one.
fn resolve_who(sid: &Option<String>, user: &Option<String>) -> Result<WhoTarget, ApiError> {
    match (sid, user) {
        (Some(sid), None) => Ok(WhoTarget::Sid(parse_sid(sid)?)),
        (None, Some(user)) => Ok(WhoTarget::User(user.clone())),
        _ => Err(ApiError::BadRequest(
            "name exactly one of \"sid\" or \"user\"".into(),
        )),
    }
}

/// `POST /disconnect`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisconnectRequest {
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

impl DisconnectRequest {
    pub(crate) fn who(&self) -> Result<WhoTarget, ApiError> {
        resolve_who(&self.sid, &self.user)
    }
}

/// A sid from a request; one that cannot exist is "not found".
pub(crate) fn parse_sid(sid: &str) -> Result<Sid, ApiError> {
    sid.parse()
        .map_err(|_| ApiError::NotFound(format!("no connection {sid:?}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An emit as the API reads it (text) and as a webhook answer holds it
    /// (a parsed value): the same arguments either way.
    fn args_of(body: serde_json::Value) -> Result<Vec<String>, ApiError> {
        let from_text: EmitRequest = serde_json::from_str(&body.to_string()).unwrap();
        let from_value: EmitRequest = serde_json::from_value(body).unwrap();
        let [text, value] = [from_text, from_value].map(|mut request| {
            request
                .take_args()
                .map(|args| args.iter().map(|arg| arg.get().to_owned()).collect::<Vec<_>>())
        });
        assert_eq!(format!("{text:?}"), format!("{value:?}"));
        text
    }

    #[test]
    fn data_is_one_argument_and_args_every_one() {
        let args = |body| args_of(body).unwrap();
        assert_eq!(args(json!({"event": "e", "all": true})), ["null"]);
        assert_eq!(
            args(json!({"event": "e", "all": true, "data": [1, 2]})),
            ["[1,2]"]
        );
        assert_eq!(
            args(json!({"event": "e", "all": true, "args": [1, "2", {"three": 3}]})),
            ["1", "\"2\"", r#"{"three":3}"#]
        );
        assert!(args(json!({"event": "e", "all": true, "args": []})).is_empty());
    }

    #[test]
    fn data_and_args_together_are_refused_by_name() {
        for data in [json!(null), json!(1)] {
            let refused = args_of(json!({"event": "e", "all": true, "data": data, "args": [1]}));
            let Err(ApiError::BadRequest(message)) = refused else {
                panic!("expected a bad request, got {refused:?}");
            };
            assert!(
                message.contains("\"data\"") && message.contains("\"args\""),
                "{message}"
            );
        }
    }
}
