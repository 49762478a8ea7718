//! Room names and the policy that says which rooms may be joined or published to.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// The name of a room, validated against [`RoomPolicy`] and cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Arc<str>);

impl RoomName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for RoomName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// Why a room name or pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomPolicyError {
    /// The name is empty or longer than `rooms.max_name_bytes`.
    #[error("room name must be 1..={max} bytes, got {len}")]
    NameLength {
        /// Length of the refused name in bytes.
        len: usize,
        /// `rooms.max_name_bytes`.
        max: usize,
    },
    /// A pattern in `rooms.allow_join` / `rooms.allow_publish` is not a valid glob.
    #[error("invalid room pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern as written in the config.
        pattern: String,
        /// What the glob parser said.
        reason: String,
    },
}

/// Which rooms clients may join and publish to, and how long names may be.
///
/// Patterns are shell-style globs (`*`, `?`, `[ab]`, `{a,b}`); `*` also
/// matches `/` and `:` so `"act:*"` covers every `act:` room.
#[derive(Debug, Clone)]
pub struct RoomPolicy {
    allow_join: GlobSet,
    allow_publish: GlobSet,
    recover: GlobSet,
    max_name_bytes: usize,
}

impl RoomPolicy {
    /// Builds a policy from glob patterns; an empty list allows nothing.
    pub fn new<S: AsRef<str>>(
        allow_join: &[S],
        allow_publish: &[S],
        max_name_bytes: usize,
    ) -> Result<Self, RoomPolicyError> {
        Ok(RoomPolicy {
            allow_join: compile(allow_join)?,
            allow_publish: compile(allow_publish)?,
            recover: GlobSet::empty(),
            max_name_bytes,
        })
    }

    /// The same policy, with a history kept for rooms matching `recover`
    /// (`rooms.recover`; see `docs/recovery.md`).
    pub fn with_recover<S: AsRef<str>>(mut self, recover: &[S]) -> Result<Self, RoomPolicyError> {
        self.recover = compile(recover)?;
        Ok(self)
    }

    /// Whether `rooms.recover` matches this room: its events are numbered
    /// and kept for clients that come back.
    pub fn recovers(&self, room: &RoomName) -> bool {
        self.recover.is_match(room.as_str())
    }

    /// [`RoomPolicy::recovers`] for a name not checked yet (a name that
    /// breaks the naming rule matches nothing that matters: it is refused).
    pub fn recovers_name(&self, room: &str) -> bool {
        self.recover.is_match(room)
    }

    /// Whether any room keeps a history.
    pub fn recovers_any(&self) -> bool {
        !self.recover.is_empty()
    }

    /// A policy that allows every room up to `max_name_bytes` long.
    pub fn allow_all(max_name_bytes: usize) -> Self {
        RoomPolicy::new(&["*"], &["*"], max_name_bytes).expect("'*' is a valid glob")
    }

    /// Checks the naming rule and returns the room's shared name.
    pub fn name(&self, raw: &str) -> Result<RoomName, RoomPolicyError> {
        if raw.is_empty() || raw.len() > self.max_name_bytes {
            return Err(RoomPolicyError::NameLength {
                len: raw.len(),
                max: self.max_name_bytes,
            });
        }
        Ok(RoomName(Arc::from(raw)))
    }

    /// Whether `rooms.allow_join` matches this room.
    pub fn may_join(&self, room: &RoomName) -> bool {
        self.allow_join.is_match(room.as_str())
    }

    /// Whether `rooms.allow_publish` matches this room.
    pub fn may_publish(&self, room: &RoomName) -> bool {
        self.allow_publish.is_match(room.as_str())
    }
}

fn compile<S: AsRef<str>>(patterns: &[S]) -> Result<GlobSet, RoomPolicyError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let pattern = pattern.as_ref();
        let glob = Glob::new(pattern).map_err(|e| RoomPolicyError::BadPattern {
            pattern: pattern.to_owned(),
            reason: e.kind().to_string(),
        })?;
        set.add(glob);
    }
    set.build().map_err(|e| RoomPolicyError::BadPattern {
        pattern: patterns.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", "),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_length_checked() {
        let policy = RoomPolicy::allow_all(4);
        assert!(policy.name("abcd").is_ok());
        assert_eq!(
            policy.name(""),
            Err(RoomPolicyError::NameLength { len: 0, max: 4 })
        );
        assert_eq!(
            policy.name("abcde"),
            Err(RoomPolicyError::NameLength { len: 5, max: 4 })
        );
    }

    #[test]
    fn globs_decide_join_and_publish_separately() {
        let policy = RoomPolicy::new(&["act:*", "lobby"], &["act:*"], 128).unwrap();
        let act = policy.name("act:42/sub").unwrap();
        let lobby = policy.name("lobby").unwrap();
        let other = policy.name("admin").unwrap();
        assert!(policy.may_join(&act) && policy.may_publish(&act));
        assert!(policy.may_join(&lobby) && !policy.may_publish(&lobby));
        assert!(!policy.may_join(&other) && !policy.may_publish(&other));
    }

    #[test]
    fn bad_patterns_are_reported_with_the_pattern() {
        let err = RoomPolicy::new(&["[unclosed"], &["*"], 8).unwrap_err();
        assert!(matches!(err, RoomPolicyError::BadPattern { ref pattern, .. } if pattern == "[unclosed"));
    }
}
