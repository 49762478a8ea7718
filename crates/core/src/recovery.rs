//! Missed-message recovery: positions in a room's stream, and what
//! resuming from one comes to.
//!
//! A room that has recovery on (`rooms.recover`) numbers every event
//! published to it: an `epoch`, which names one life of the room's stream,
//! and an `offset`, which grows by one per event. A client that keeps the
//! position of the last event it got can come back later and get exactly
//! the events after it, or learn that they are gone.

use std::sync::Arc;

use crate::{BusFuture, ClientBus, Heard, Result, RoomName, Sid};

/// Where an event sits in its room's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// One life of the room's stream; a new epoch means its history is gone.
    pub epoch: Arc<str>,
    /// The event's number in that life, from 1.
    pub offset: u64,
}

/// What a resume from a position came to, for one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// The client is back in the room, and this many missed events were
    /// queued to it, in order, before any live one.
    Replayed(usize),
    /// The client is back in the room, but the events it missed cannot be
    /// replayed: it should reload the room's state from the application.
    Gap(GapReason),
}

/// Why the missed events of a room cannot be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// Some of them have left the history (`rooms.history_size`,
    /// `rooms.history_ttl`).
    TooOld,
    /// The room's stream started a new life since (the history was lost,
    /// for instance by a restart, or it expired).
    EpochChanged,
    /// The room does not keep a history (`rooms.recover`).
    NotRecoverable,
}

impl GapReason {
    /// The reason as clients see it: `too_old`, `epoch_changed` or
    /// `not_recoverable`.
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::TooOld => "too_old",
            GapReason::EpochChanged => "epoch_changed",
            GapReason::NotRecoverable => "not_recoverable",
        }
    }
}

/// What the bus kept of a connection that went away, for its resume token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartedSession {
    /// The user it was authenticated as, if any: only the same user may
    /// take its rooms back.
    pub user: Option<String>,
    /// The rooms it was in, whoever had put it there.
    pub rooms: Vec<RoomName>,
    /// Where each recoverable room's history stood when it went away: a
    /// resume that brings no position for such a room replays from there,
    /// so a client that had got nothing yet (a quiet room) misses nothing.
    pub positions: Vec<(RoomName, Position)>,
    /// The recoverable events it was sent last, oldest first, as its
    /// recipient kept them ([`Recipient::trail`](crate::Recipient::trail)):
    /// what socket.io's connection state recovery turns a client's one
    /// offset into a position per room with. Empty for others.
    pub trail: Vec<(RoomName, Position)>,
}

/// A fresh resume token: 22 random letters and digits (about 130 bits).
pub fn new_resume_token() -> Arc<str> {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 22).into()
}

/// What a client sends to resume: the token of the connection it had
/// (optional), and the position of the last event it got in each room.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// The `resume` token its previous connection was given.
    #[serde(default)]
    pub token: Option<String>,
    /// Room name → position of the last event the client got there.
    #[serde(default)]
    pub rooms: std::collections::BTreeMap<String, ClientPosition>,
}

/// A position as clients send it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPosition {
    /// The stream's epoch, as given with the event.
    pub epoch: String,
    /// The event's offset.
    pub offset: u64,
}

/// What a resume came to, as clients see it: whether the previous
/// connection's rooms were found, and per room how many missed events were
/// queued or why they cannot be.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResumeReport {
    /// The token was known: the previous connection's rooms are back.
    pub session: bool,
    /// Room → `{"replayed": n}` or `{"gap": "too_old" | …}`, or
    /// `{"error": {code, message}}` when the room could not be joined.
    pub rooms: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A room a resume put a connection back in.
#[derive(Debug)]
pub struct Rejoined {
    /// What became of its missed events.
    pub outcome: Resumed,
    /// Resolves once the room's events reach the connection from every
    /// node (see [`Heard`]).
    pub heard: Heard,
}

/// Resuming after a drop: the bus's optional face, present when some rooms
/// keep a history (see [`ClientBus::recovery`](crate::ClientBus::recovery)).
pub trait Recovery: Send + Sync {
    /// Takes what was kept of the connection that had resume `token`, if
    /// it was `user`'s (once; `None` when unknown, expired or another's).
    /// A connection still registered with the token, which the gateway has
    /// not seen die yet, is disconnected and its rooms taken over.
    fn take_departed<'a>(
        &'a self,
        token: &'a str,
        user: Option<&'a str>,
    ) -> BusFuture<'a, Option<DepartedSession>>;
    /// Puts `sid` back in `room` and, given the position of the last event
    /// the client got there, queues the events it missed, in order, before
    /// any live one. `trusted` rooms come from the connection's own past
    /// (its departed session) and skip the room policy; others are joined
    /// as by [`ClientBus::join`](crate::ClientBus::join). At most
    /// `max_events` are replayed: a room that missed more is a `too_old` gap.
    fn resume_room<'a>(
        &'a self,
        sid: Sid,
        room: &'a str,
        from: Option<&'a Position>,
        trusted: bool,
        max_events: usize,
    ) -> BusFuture<'a, Result<Rejoined>>;
    /// Most missed events one resume replays over all its rooms, so that a
    /// replay never fills the client's queue.
    fn max_replay(&self) -> usize;
}

/// Resumes `sid` on `bus`: takes back the rooms of the connection that had
/// `request.token` (if it was the same user's), joins the rooms of
/// `request.rooms` (as joins, under the room policy), and replays each
/// room's missed events from the client's position, in order. Resolves
/// once every room is heard, so that the client learns it is back only
/// when live events reach it. Without recovery (no room keeps a history)
/// the rooms are only joined, and a position is a `not_recoverable` gap.
pub async fn resume(
    bus: &dyn ClientBus,
    sid: Sid,
    user: Option<&str>,
    request: &ResumeRequest,
) -> ResumeReport {
    match bus.recovery() {
        Some(recovery) => resume_with(recovery, sid, user, request).await,
        None => rejoin_only(bus, sid, request).await,
    }
}

/// [`resume`] without recovery: joins the rooms.
async fn rejoin_only(bus: &dyn ClientBus, sid: Sid, request: &ResumeRequest) -> ResumeReport {
    let mut report = ResumeReport::default();
    let mut waits = Vec::new();
    for room in request.rooms.keys() {
        let outcome = match bus.join(sid, room) {
            Ok(joined) => {
                waits.push(joined.heard);
                serde_json::json!({ "gap": GapReason::NotRecoverable.as_str() })
            }
            Err(error) => error_json(&error),
        };
        report.rooms.insert(room.clone(), outcome);
    }
    Heard::all(waits).await;
    report
}

fn error_json(error: &crate::BusError) -> serde_json::Value {
    serde_json::json!({ "error": { "code": error.code().as_str(), "message": error.to_string() } })
}

/// [`resume`] with recovery.
async fn resume_with(
    recovery: &dyn Recovery,
    sid: Sid,
    user: Option<&str>,
    request: &ResumeRequest,
) -> ResumeReport {
    use serde_json::json;

    let mut report = ResumeReport::default();
    // Only the same user (or anonymous for anonymous) gets its rooms back.
    let departed = match request.token.as_deref() {
        Some(token) => recovery.take_departed(token, user).await,
        None => None,
    };
    let mut rooms: Vec<(String, bool)> = Vec::new();
    let mut kept_positions: Vec<(RoomName, Position)> = Vec::new();
    if let Some(departed) = departed {
        report.session = true;
        rooms.extend(departed.rooms.iter().map(|room| (room.to_string(), true)));
        kept_positions = departed.positions;
    }
    for room in request.rooms.keys() {
        if !rooms.iter().any(|(known, _)| known == room) {
            rooms.push((room.clone(), false));
        }
    }
    // Replays share one budget, so that they never fill the client's queue.
    let mut budget = recovery.max_replay();
    let mut waits = Vec::new();
    for (room, trusted) in rooms {
        let from = request
            .rooms
            .get(&room)
            .map(|p| Position {
                epoch: p.epoch.as_str().into(),
                offset: p.offset,
            })
            .or_else(|| {
                let kept = kept_positions.iter().find(|(name, _)| name.as_str() == room);
                kept.map(|(_, position)| position.clone())
            });
        let resumed = recovery
            .resume_room(sid, &room, from.as_ref(), trusted, budget)
            .await;
        let outcome = match resumed {
            Ok(Rejoined { outcome, heard }) => {
                waits.push(heard);
                match outcome {
                    Resumed::Replayed(count) => {
                        budget = budget.saturating_sub(count);
                        json!({ "replayed": count })
                    }
                    Resumed::Gap(reason) => json!({ "gap": reason.as_str() }),
                }
            }
            Err(error) => error_json(&error),
        };
        report.rooms.insert(room, outcome);
    }
    // One wait for all of them.
    Heard::all(waits).await;
    report
}
