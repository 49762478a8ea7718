//! Room streams: the bounded history of each room with recovery on
//! (`rooms.recover`).
//!
//! Each stream has its own lock. Publishing to a recoverable room numbers
//! the event, keeps it and offers it to the members while holding that
//! lock, and a resume re-joins the room and replays under the same lock,
//! so every member gets a room's events in offset order, and a resumed
//! client gets its missed events before any live one, none twice.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use rand::distr::{Alphanumeric, SampleString};
use sockgate_core::{Envelope, GapReason, Position, RoomName};

/// How much history recoverable rooms keep.
#[derive(Debug, Clone, Copy)]
pub struct HistoryLimits {
    /// Events kept per room (`rooms.history_size`).
    pub size: usize,
    /// How long an event is kept, and a departed connection's rooms
    /// (`rooms.history_ttl`).
    pub ttl: Duration,
    /// Most missed events one resume replays, over all its rooms; a room
    /// past it is a `too_old` gap. Half the outbound queue, so a replay
    /// never makes its own client a slow consumer.
    pub max_replay: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            size: 1000,
            ttl: Duration::from_secs(300),
            max_replay: 512,
        }
    }
}

/// One room's stream.
pub(crate) struct RoomStream {
    pub(crate) epoch: Arc<str>,
    /// The offset the next event gets.
    next: u64,
    entries: VecDeque<(Instant, Arc<Envelope>)>,
    /// Last publish, or last member leaving: a stream untouched for the
    /// ttl, with no history left, is forgotten.
    touched: Instant,
    /// Positions come from elsewhere (a cluster's Redis), not from here.
    mirrored: bool,
    /// This node has heard every event numbered elsewhere since the first
    /// it kept: a hole before the next one was missed, not skipped on purpose.
    following: bool,
}

impl RoomStream {
    fn new(now: Instant) -> Self {
        RoomStream {
            epoch: new_epoch(),
            next: 1,
            entries: VecDeque::new(),
            touched: now,
            mirrored: false,
            following: false,
        }
    }

    /// Keeps an event numbered elsewhere (a cluster's Redis); `None` when
    /// it is one this stream already has. A new epoch, or a hole before
    /// the event, starts the history afresh, so that it never claims to
    /// cover events it did not see.
    pub(crate) fn append_at(
        &mut self,
        envelope: Envelope,
        position: Position,
        limits: HistoryLimits,
        now: Instant,
    ) -> Option<Arc<Envelope>> {
        self.expire(limits, now);
        if !self.mirrored || *self.epoch != *position.epoch || position.offset > self.next {
            self.epoch = position.epoch.clone();
            self.entries.clear();
            self.mirrored = true;
        } else if position.offset < self.next {
            return None;
        }
        self.next = position.offset + 1;
        self.touched = now;
        self.following = true;
        Some(self.keep(envelope.with_position(position), limits, now))
    }

    /// Keeps a numbered event, within `history_size`, and returns it shared.
    fn keep(&mut self, envelope: Envelope, limits: HistoryLimits, now: Instant) -> Arc<Envelope> {
        let envelope = Arc::new(envelope);
        if limits.size > 0 {
            if self.entries.len() == limits.size {
                self.entries.pop_front();
            }
            self.entries.push_back((now, envelope.clone()));
        }
        envelope
    }

    /// Numbers `envelope`, keeps it, and returns it shared.
    pub(crate) fn append(
        &mut self,
        envelope: Envelope,
        limits: HistoryLimits,
        now: Instant,
    ) -> Arc<Envelope> {
        self.expire(limits, now);
        if self.mirrored {
            // Numbered here while the cluster's numbering is out of reach:
            // a life of its own, so that the two never give one position twice.
            *self = RoomStream::new(now);
        }
        let position = Position {
            epoch: self.epoch.clone(),
            offset: self.next,
        };
        self.next += 1;
        self.touched = now;
        self.keep(envelope.with_position(position), limits, now)
    }

    /// The kept events after `from`, oldest first, or why the client
    /// cannot have them.
    pub(crate) fn after(
        &mut self,
        from: &Position,
        limits: HistoryLimits,
        now: Instant,
    ) -> Result<Vec<Arc<Envelope>>, GapReason> {
        self.expire(limits, now);
        // A position this life of the stream has not given out is from
        // another life.
        if *from.epoch != *self.epoch || from.offset >= self.next {
            return Err(GapReason::EpochChanged);
        }
        let oldest_kept = self.entries.front().map_or(self.next, |(_, e)| offset_of(e));
        if from.offset + 1 < oldest_kept {
            return Err(GapReason::TooOld);
        }
        Ok(self
            .entries
            .iter()
            .filter(|(_, e)| offset_of(e) > from.offset)
            .map(|(_, e)| e.clone())
            .collect())
    }

    pub(crate) fn touch(&mut self, now: Instant) {
        self.touched = now;
    }

    /// The last position kept, when `next` (numbered elsewhere) would leave
    /// a hole after it in the same epoch.
    pub(crate) fn missing_before(&self, next: &Position) -> Option<Position> {
        let hole = self.following && *self.epoch == *next.epoch && next.offset > self.next;
        hole.then(|| self.current())
    }

    /// This node stops hearing the room on purpose: what is published
    /// until it hears it again was skipped, not missed.
    pub(crate) fn stop_following(&mut self) {
        self.following = false;
    }

    /// The position of the last event numbered (offset 0: none yet).
    pub(crate) fn current(&self) -> Position {
        Position {
            epoch: self.epoch.clone(),
            offset: self.next - 1,
        }
    }

    fn expire(&mut self, limits: HistoryLimits, now: Instant) {
        while let Some((at, _)) = self.entries.front() {
            if now.duration_since(*at) < limits.ttl {
                break;
            }
            self.entries.pop_front();
        }
    }

    fn forgettable(&mut self, limits: HistoryLimits, now: Instant) -> bool {
        self.expire(limits, now);
        self.entries.is_empty() && now.duration_since(self.touched) >= limits.ttl
    }
}

fn offset_of(envelope: &Envelope) -> u64 {
    envelope.position().map_or(0, |p| p.offset)
}

/// A fresh epoch: 8 random letters and digits.
fn new_epoch() -> Arc<str> {
    Alphanumeric.sample_string(&mut rand::rng(), 8).into()
}

/// Every recoverable room's stream.
pub(crate) struct Streams {
    pub(crate) limits: HistoryLimits,
    rooms: DashMap<RoomName, Arc<Mutex<RoomStream>>>,
}

impl Streams {
    pub(crate) fn new(limits: HistoryLimits) -> Self {
        Streams {
            limits,
            rooms: DashMap::new(),
        }
    }

    /// The room's stream, locked (created on first use).
    pub(crate) fn lock(&self, room: &RoomName) -> StreamGuard {
        let stream = self
            .rooms
            .entry(room.clone())
            .or_insert_with(|| Arc::new(Mutex::new(RoomStream::new(Instant::now()))))
            .clone();
        StreamGuard { stream }
    }

    /// Works on the room's stream, if it has one, without creating it.
    pub(crate) fn peek<T>(&self, room: &RoomName, look: impl FnOnce(&mut RoomStream) -> T) -> Option<T> {
        let stream = self.rooms.get(room)?.clone();
        let mut stream = stream.lock().unwrap_or_else(|p| p.into_inner());
        Some(look(&mut stream))
    }

    /// Forgets streams with no history left that nobody touched for the ttl.
    pub(crate) fn sweep(&self, now: Instant) {
        let limits = self.limits;
        self.rooms.retain(|_, stream| {
            // A stream someone holds right now is in use.
            Arc::strong_count(stream) > 1
                || !stream
                    .lock()
                    .map(|mut s| s.forgettable(limits, now))
                    .unwrap_or(true)
        });
    }

    /// Rooms with a stream.
    pub(crate) fn len(&self) -> usize {
        self.rooms.len()
    }
}

/// A stream taken out of the map, to be locked without holding a shard.
pub(crate) struct StreamGuard {
    stream: Arc<Mutex<RoomStream>>,
}

impl StreamGuard {
    pub(crate) fn lock(&self) -> MutexGuard<'_, RoomStream> {
        self.stream.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;
    use sockgate_core::RoomPolicy;

    use super::*;

    fn event(n: u64) -> Envelope {
        let room = RoomPolicy::allow_all(16).name("r").unwrap();
        Envelope::new(
            Some(room),
            "e".into(),
            RawValue::from_string(n.to_string()).unwrap().into(),
        )
    }

    fn limits(size: usize, ttl_secs: u64) -> HistoryLimits {
        HistoryLimits {
            size,
            ttl: Duration::from_secs(ttl_secs),
            max_replay: 512,
        }
    }

    fn data(events: &[Arc<Envelope>]) -> Vec<String> {
        events.iter().map(|e| e.args().first().get().to_owned()).collect()
    }

    #[test]
    fn a_hole_in_a_followed_mirror_is_missing_but_not_after_stopping_on_purpose() {
        let (now, limits) = (Instant::now(), limits(10, 60));
        let at = |offset| Position {
            epoch: "redis".into(),
            offset,
        };
        let mut stream = RoomStream::new(now);
        // Nothing followed yet: no hole to catch up.
        assert_eq!(stream.missing_before(&at(5)), None);
        stream.append_at(event(1), at(1), limits, now).unwrap();
        stream.append_at(event(2), at(2), limits, now).unwrap();
        assert_eq!(stream.missing_before(&at(3)), None, "the next one");
        assert_eq!(stream.missing_before(&at(6)), Some(at(2)), "3 to 5 missed");
        let other_epoch = Position {
            epoch: "fresh".into(),
            offset: 9,
        };
        assert_eq!(stream.missing_before(&other_epoch), None);
        stream.stop_following();
        assert_eq!(stream.missing_before(&at(6)), None, "skipped on purpose");
    }

    #[test]
    fn numbers_events_and_replays_exactly_those_after_a_position() {
        let (now, limits) = (Instant::now(), limits(10, 60));
        let mut stream = RoomStream::new(now);
        let appended: Vec<_> = (1..=5).map(|n| stream.append(event(n), limits, now)).collect();
        let third = appended[2].position().unwrap().clone();
        assert_eq!(third.offset, 3);
        assert_eq!(data(&stream.after(&third, limits, now).unwrap()), ["4", "5"]);
        let last = appended[4].position().unwrap().clone();
        assert!(stream.after(&last, limits, now).unwrap().is_empty());
    }

    #[test]
    fn a_position_before_the_kept_history_is_too_old() {
        let (now, limits) = (Instant::now(), limits(3, 60));
        let mut stream = RoomStream::new(now);
        let first = stream.append(event(1), limits, now).position().unwrap().clone();
        for n in 2..=5 {
            stream.append(event(n), limits, now);
        }
        // Kept: 3, 4, 5. After 1 the client needs 2, which is gone.
        assert_eq!(
            stream.after(&first, limits, now).map(|e| data(&e)),
            Err(GapReason::TooOld)
        );
        let second = Position { offset: 2, ..first };
        assert_eq!(
            data(&stream.after(&second, limits, now).unwrap()),
            ["3", "4", "5"]
        );
    }

    #[test]
    fn events_older_than_the_ttl_are_gone() {
        let (start, limits) = (Instant::now(), limits(10, 60));
        let mut stream = RoomStream::new(start);
        let first = stream.append(event(1), limits, start).position().unwrap().clone();
        stream.append(event(2), limits, start);
        let later = start + Duration::from_secs(61);
        assert_eq!(
            stream.after(&first, limits, later).map(|e| data(&e)),
            Err(GapReason::TooOld)
        );
        // Nothing was missed after the last one, even with the history gone.
        let last = Position { offset: 2, ..first };
        assert_eq!(stream.after(&last, limits, later).map(|e| data(&e)), Ok(vec![]));
    }

    #[test]
    fn positions_from_another_life_of_the_stream_are_refused() {
        let (now, limits) = (Instant::now(), limits(10, 60));
        let mut stream = RoomStream::new(now);
        let position = stream.append(event(1), limits, now).position().unwrap().clone();
        let other = RoomStream::new(now).epoch;
        let stale = Position {
            epoch: other,
            offset: 1,
        };
        assert_eq!(
            stream.after(&stale, limits, now).map(|e| data(&e)),
            Err(GapReason::EpochChanged)
        );
        let future = Position {
            offset: 7,
            ..position
        };
        assert_eq!(
            stream.after(&future, limits, now).map(|e| data(&e)),
            Err(GapReason::EpochChanged)
        );
    }

    #[test]
    fn a_mirror_keeps_given_positions_and_starts_afresh_after_a_hole() {
        let (now, limits) = (Instant::now(), limits(10, 60));
        let mut stream = RoomStream::new(now);
        let at = |offset| Position {
            epoch: "redis1".into(),
            offset,
        };
        assert!(stream.append_at(event(1), at(1), limits, now).is_some());
        assert!(stream.append_at(event(2), at(2), limits, now).is_some());
        assert!(
            stream.append_at(event(2), at(2), limits, now).is_none(),
            "a duplicate"
        );
        assert_eq!(data(&stream.after(&at(1), limits, now).unwrap()), ["2"]);
        // 3 and 4 never arrived here: the mirror cannot vouch for them.
        assert!(stream.append_at(event(5), at(5), limits, now).is_some());
        assert_eq!(
            stream.after(&at(2), limits, now).map(|e| data(&e)),
            Err(GapReason::TooOld)
        );
        assert_eq!(data(&stream.after(&at(4), limits, now).unwrap()), ["5"]);
        // Numbering locally (Redis out of reach) leaves the mirrored epoch.
        let local = stream.append(event(6), limits, now).position().unwrap().clone();
        assert_ne!(&*local.epoch, "redis1");
        assert_eq!(local.offset, 1);
    }

    #[test]
    fn idle_streams_with_no_history_are_swept() {
        let streams = Streams::new(limits(10, 60));
        let room = RoomPolicy::allow_all(16).name("r").unwrap();
        let now = Instant::now();
        streams.lock(&room).lock().append(event(1), streams.limits, now);
        streams.sweep(now + Duration::from_secs(30));
        assert_eq!(streams.len(), 1);
        streams.sweep(now + Duration::from_secs(61));
        assert_eq!(streams.len(), 0);
    }
}
