//! socket.io's connection state recovery, for stock clients, on the
//! rooms' own streams (`rooms.recover`): no second history.
//!
//! Node's socket.io numbers every packet with one offset per server, so
//! the one offset a client keeps (the last string argument of the last
//! event it got) orders everything it was sent. sockgate numbers events per
//! room, and an event's bytes are shared by every receiver, so the offset
//! appended to an event names that event only: `"<epoch>-<offset>"` of its
//! room's stream.
//!
//! To turn that one position into a position per room, each socket keeps a
//! short trail of the recoverable events it was sent, in order ([`Trail`]),
//! and leaves it with its departed session. Everything before the client's
//! event in the trail reached the client (events arrive in order);
//! everything after it did not. So each room resumes after its last event
//! at or before that point, and a room with no event in the trail resumes
//! after the last event it was sent. A client whose event is no longer in
//! the trail (it was more than the trail's length behind) is not
//! recovered: it connects with `recovered === false`, never with a silent
//! gap.

use std::collections::VecDeque;

use sockgate_core::{Envelope, Heard, Position, Recovery, Rejoined, Resumed, RoomName, Sid};

/// How many recent recoverable events a socket remembers.
pub(crate) const TRAIL_LEN: usize = 64;

/// Most rooms a trail's room table holds. Rooms with an event in the trail
/// (at most [`TRAIL_LEN`]) are always kept; the others only keep the last
/// event a socket was sent from a room it may have left long ago, so past
/// this many, those sent to least recently are forgotten, down to half.
pub(crate) const TRAIL_ROOMS: usize = 2 * TRAIL_LEN;

/// The string offset appended to an event of a recoverable room.
pub(crate) fn offset_arg(envelope: &Envelope) -> Option<serde_json::Value> {
    let position = envelope.position()?;
    Some(serde_json::Value::String(format_offset(position)))
}

/// `"<epoch>-<offset>"`.
pub(crate) fn format_offset(position: &Position) -> String {
    format!("{}-{}", position.epoch, position.offset)
}

/// The position an offset string names, if it is one.
pub(crate) fn parse_offset(offset: &str) -> Option<Position> {
    let (epoch, number) = offset.rsplit_once('-')?;
    let offset = number.parse().ok()?;
    (!epoch.is_empty()).then(|| Position {
        epoch: epoch.into(),
        offset,
    })
}

/// The recoverable events a socket was sent last, oldest first.
///
/// The room table is bounded ([`TRAIL_ROOMS`]): a socket that goes through
/// many rooms (joins, leaves) would otherwise keep one entry per room it
/// ever heard from. A forgotten room has no event in the trail, so at a
/// resume it starts where its history stood when the socket went away
/// (`DepartedSession::positions`): the last event the socket was sent, if
/// it is still in the room; and a room it left is not resumed at all.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    /// Rooms seen, with the position of the last event sent and when it
    /// was recorded (a count of records); entries point in here.
    rooms: Vec<(RoomName, Position, u64)>,
    /// (room index, offset), oldest first, at most [`TRAIL_LEN`].
    recent: VecDeque<(u32, u64)>,
    /// Events recorded so far.
    records: u64,
}

impl Trail {
    /// Records an event of `room` at `position`, sent to the socket.
    pub(crate) fn record(&mut self, room: &RoomName, position: &Position) {
        self.records += 1;
        let index = match self.rooms.iter().position(|(name, ..)| name == room) {
            Some(index) => {
                let (_, last, touched) = &mut self.rooms[index];
                match last.epoch == position.epoch {
                    true => last.offset = position.offset,
                    false => *last = position.clone(),
                }
                *touched = self.records;
                index
            }
            None => {
                if self.rooms.len() >= TRAIL_ROOMS {
                    self.forget_rooms();
                }
                self.rooms.push((room.clone(), position.clone(), self.records));
                self.rooms.len() - 1
            }
        };
        if self.recent.len() == TRAIL_LEN {
            self.recent.pop_front();
        }
        self.recent.push_back((index as u32, position.offset));
    }

    /// Forgets rooms with no event in the trail, the least recently sent
    /// to first, down to half the table, and renumbers the trail.
    fn forget_rooms(&mut self) {
        let mut in_trail = vec![false; self.rooms.len()];
        for &(index, _) in &self.recent {
            in_trail[index as usize] = true;
        }
        let mut others: Vec<(u64, usize)> = (0..self.rooms.len())
            .filter(|&index| !in_trail[index])
            .map(|index| (self.rooms[index].2, index))
            .collect();
        others.sort_unstable_by(|a, b| b.cmp(a));
        let in_use = in_trail.iter().filter(|kept| **kept).count();
        let mut keep = in_trail;
        for &(_, index) in others.iter().take((TRAIL_ROOMS / 2).saturating_sub(in_use)) {
            keep[index] = true;
        }
        let mut renumbered = vec![u32::MAX; self.rooms.len()];
        let mut next = 0u32;
        for (index, kept) in keep.iter().enumerate() {
            if *kept {
                renumbered[index] = next;
                next += 1;
            }
        }
        let mut index = 0;
        self.rooms.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        for (room, _) in &mut self.recent {
            *room = renumbered[*room as usize];
        }
    }

    /// The trail as (room, position) pairs, oldest first, for the departed
    /// session: first the last event of each room whose events have all
    /// left the trail, then the trail itself.
    pub(crate) fn entries(&self) -> Vec<(RoomName, Position)> {
        let in_trail = |index: usize| self.recent.iter().any(|&(i, _)| i as usize == index);
        let older = self
            .rooms
            .iter()
            .enumerate()
            .filter(|&(index, _)| !in_trail(index))
            .map(|(_, (room, last, _))| (room.clone(), last.clone()));
        let recent = self.recent.iter().filter_map(|&(index, offset)| {
            let (room, last, _) = self.rooms.get(index as usize)?;
            Some((
                room.clone(),
                Position {
                    epoch: last.epoch.clone(),
                    offset,
                },
            ))
        });
        older.chain(recent).collect()
    }
}

/// Where each room of `trail` resumes, given the last event the client
/// got: after its last event at or before the client's, or, for a room
/// whose every trailed event came later, just before the first of them.
/// `None` when the client's event is not in the trail.
pub(crate) fn resume_points(
    trail: &[(RoomName, Position)],
    got: &Position,
) -> Option<Vec<(RoomName, Position)>> {
    let at = trail.iter().rposition(|(_, position)| position == got)?;
    let mut points: Vec<(RoomName, Position)> = Vec::new();
    for (index, (room, position)) in trail.iter().enumerate() {
        let point = match index <= at {
            true => position.clone(),
            false => Position {
                epoch: position.epoch.clone(),
                offset: position.offset.saturating_sub(1),
            },
        };
        match points.iter_mut().find(|(name, _)| name == room) {
            // At or before the client's event, the latest wins.
            Some((_, kept)) if index <= at => *kept = point,
            // After it, the first one decides.
            Some(_) => {}
            None => points.push((room.clone(), point)),
        }
    }
    Some(points)
}

/// A departed session a client asked back, with where each room resumes.
pub(crate) struct Restore {
    /// The client's `pid`, kept by the new socket.
    pub(crate) pid: std::sync::Arc<str>,
    /// Each room, and the position after which its events are missed.
    pub(crate) rooms: Vec<(RoomName, Option<Position>)>,
}

/// Takes back the departed session a CONNECT names with `{pid, offset}`,
/// if it is `user`'s and the client's offset is one it was sent; `None`
/// means a normal connect (`socket.recovered === false`).
pub(crate) async fn take(
    recovery: &dyn Recovery,
    auth: Option<&serde_json::Value>,
    user: Option<&str>,
) -> Option<Restore> {
    let auth = auth?;
    let pid = auth.get("pid")?.as_str()?;
    let got = match auth.get("offset") {
        Some(serde_json::Value::String(offset)) => Some(parse_offset(offset)?),
        _ => None,
    };
    let departed = recovery.take_departed(pid, user).await?;
    let points = match &got {
        Some(got) => resume_points(&departed.trail, got)?,
        // No offset: the client got no recoverable event, which is only
        // certain when it was sent none.
        None if departed.trail.is_empty() => Vec::new(),
        None => return None,
    };
    let rooms = departed
        .rooms
        .iter()
        .map(|room| {
            let from = points
                .iter()
                .chain(departed.positions.iter())
                .find(|(name, _)| name == room)
                .map(|(_, position)| position.clone());
            (room.clone(), from)
        })
        .collect();
    Some(Restore {
        pid: pid.into(),
        rooms,
    })
}

/// Puts `sid` back in the restored rooms, queueing every missed event in
/// order; true when every room's events could be replayed.
pub(crate) async fn replay(recovery: &dyn Recovery, sid: Sid, restore: &Restore) -> bool {
    let mut budget = recovery.max_replay();
    let mut whole = true;
    let mut waits = Vec::new();
    for (room, from) in &restore.rooms {
        match recovery
            .resume_room(sid, room.as_str(), from.as_ref(), true, budget)
            .await
        {
            Ok(Rejoined { outcome, heard }) => {
                waits.push(heard);
                match outcome {
                    Resumed::Replayed(count) => budget = budget.saturating_sub(count),
                    // Rooms without recovery have nothing to replay.
                    Resumed::Gap(sockgate_core::GapReason::NotRecoverable) => {}
                    Resumed::Gap(_) => whole = false,
                }
            }
            Err(_) => whole = false,
        }
    }
    Heard::all(waits).await;
    whole
}

#[cfg(test)]
mod tests {
    use sockgate_core::RoomPolicy;

    use super::*;

    fn position(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    #[test]
    fn offsets_round_trip_and_junk_is_refused() {
        let p = position("Ab12cd34", 17);
        assert_eq!(format_offset(&p), "Ab12cd34-17");
        assert_eq!(parse_offset("Ab12cd34-17"), Some(p));
        assert_eq!(parse_offset("17"), None);
        assert_eq!(parse_offset("-17"), None);
        assert_eq!(parse_offset("abc-x"), None);
    }

    #[test]
    fn each_room_resumes_after_what_the_client_got_and_no_later() {
        let policy = RoomPolicy::allow_all(16);
        let (a, b, c) = (
            policy.name("a").unwrap(),
            policy.name("b").unwrap(),
            policy.name("c").unwrap(),
        );
        let mut trail = Trail::default();
        trail.record(&a, &position("A", 1));
        trail.record(&b, &position("B", 7));
        trail.record(&a, &position("A", 2));
        trail.record(&c, &position("C", 4));
        trail.record(&b, &position("B", 8));
        let entries = trail.entries();
        // The client got A-2: b resumes after 7, a after 2, c before 4.
        let points = resume_points(&entries, &position("A", 2)).unwrap();
        assert_eq!(
            points,
            vec![
                (a.clone(), position("A", 2)),
                (b.clone(), position("B", 7)),
                (c.clone(), position("C", 3)),
            ]
        );
        // The client got everything.
        let points = resume_points(&entries, &position("B", 8)).unwrap();
        assert!(points.contains(&(c, position("C", 4))));
        // An event the trail does not hold: no recovery.
        assert_eq!(resume_points(&entries, &position("A", 9)), None);
    }

    #[test]
    fn the_trail_keeps_only_the_latest_events() {
        let policy = RoomPolicy::allow_all(16);
        let (old, room) = (policy.name("old").unwrap(), policy.name("r").unwrap());
        let mut trail = Trail::default();
        trail.record(&old, &position("O", 5));
        for offset in 1..=(TRAIL_LEN as u64 + 10) {
            trail.record(&room, &position("E", offset));
        }
        let entries = trail.entries();
        // The room whose events left the trail keeps its last one, first.
        assert_eq!(entries.len(), TRAIL_LEN + 1);
        assert_eq!(entries[0], (old, position("O", 5)));
        assert_eq!(entries[1].1.offset, 11);
    }

    #[test]
    fn rooms_left_long_ago_do_not_stay_in_the_room_table() {
        let policy = RoomPolicy::allow_all(16);
        let mut trail = Trail::default();
        // A socket that goes through many rooms, one event each.
        for n in 0..10_000u64 {
            let room = policy.name(&format!("r{n}")).unwrap();
            trail.record(&room, &position("E", n));
            assert!(trail.rooms.len() <= TRAIL_ROOMS);
        }
        // The trail itself is whole: the last TRAIL_LEN events, in order,
        // each under its own room.
        let entries = trail.entries();
        let recent = &entries[entries.len() - TRAIL_LEN..];
        for (k, (room, at)) in recent.iter().enumerate() {
            let n = 10_000 - TRAIL_LEN as u64 + k as u64;
            assert_eq!((room.as_str(), at.offset), (format!("r{n}").as_str(), n));
        }
        // And a client that got any of them resumes each room right.
        let got = position("E", 9_990);
        let points = resume_points(&entries, &got).unwrap();
        let r9995 = policy.name("r9995").unwrap();
        assert!(points.contains(&(r9995, position("E", 9_994))));
    }

    #[test]
    fn forgetting_rooms_keeps_those_in_the_trail_and_the_latest_others() {
        let policy = RoomPolicy::allow_all(16);
        let (busy, quiet) = (policy.name("busy").unwrap(), policy.name("quiet").unwrap());
        let mut trail = Trail::default();
        trail.record(&quiet, &position("Q", 1));
        for n in 0..(TRAIL_ROOMS as u64 * 3) {
            trail.record(&policy.name(&format!("r{n}")).unwrap(), &position("E", n));
            trail.record(&busy, &position("B", n));
        }
        let entries = trail.entries();
        // "busy" is in the trail; "quiet" was sent nothing for long: gone.
        assert!(entries
            .iter()
            .any(|(room, at)| *room == busy && at.offset == TRAIL_ROOMS as u64 * 3 - 1));
        assert!(!entries.iter().any(|(room, _)| *room == quiet));
    }
}
