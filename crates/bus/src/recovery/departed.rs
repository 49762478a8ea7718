//! Departed sessions: the rooms of connections that went away, kept under
//! their resume token so that they can come back (for `rooms.history_ttl`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use sockgate_core::{Position, RoomName};

/// The rooms of a connection that went away, under its resume token.
#[derive(Debug, Clone)]
pub(crate) struct Departed {
    /// The user it was authenticated as.
    pub(crate) user: Option<String>,
    /// The rooms it was in.
    pub(crate) rooms: Vec<RoomName>,
    /// Where its recoverable rooms' histories stood when it went away.
    pub(crate) positions: Vec<(RoomName, Position)>,
    /// The recoverable events it was sent last (see `DepartedSession::trail`).
    pub(crate) trail: Vec<(RoomName, Position)>,
    at: Instant,
}

/// Departed connections, each kept for the ttl or until it resumes.
#[derive(Default)]
pub(crate) struct DepartedSessions {
    by_token: DashMap<Arc<str>, Departed>,
}

impl DepartedSessions {
    pub(crate) fn keep(
        &self,
        token: Arc<str>,
        user: Option<String>,
        rooms: Vec<RoomName>,
        positions: Vec<(RoomName, Position)>,
        trail: Vec<(RoomName, Position)>,
    ) {
        self.by_token.insert(
            token,
            Departed {
                user,
                rooms,
                positions,
                trail,
                at: Instant::now(),
            },
        );
    }

    /// Takes the session under `token`, if it is still kept and was `user`'s.
    pub(crate) fn take(&self, token: &str, ttl: Duration, user: Option<&str>) -> Option<Departed> {
        let (_, departed) = self
            .by_token
            .remove_if(token, |_, departed| departed.user.as_deref() == user)?;
        (departed.at.elapsed() < ttl).then_some(departed)
    }

    /// A copy of the session under `token`, left in place.
    pub(crate) fn peek(&self, token: &str) -> Option<Departed> {
        self.by_token.get(token).map(|departed| departed.clone())
    }

    pub(crate) fn sweep(&self, ttl: Duration, now: Instant) {
        self.by_token
            .retain(|_, departed| now.duration_since(departed.at) < ttl);
    }

    pub(crate) fn len(&self) -> usize {
        self.by_token.len()
    }
}
