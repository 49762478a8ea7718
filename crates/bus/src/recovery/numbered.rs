//! Delivering events numbered in a room's stream: numbered here, or
//! numbered by a cluster's Redis and kept in this node's copy of the
//! history. Either way the event is kept and offered to the room's members
//! under the stream's lock, so that every member gets the room's events in
//! offset order.

use std::sync::Arc;
use std::time::Instant;

use sockgate_core::{Args, Envelope, Position, RoomName, Sid};

use crate::local::Delivered;
use crate::LocalBus;

impl LocalBus {
    /// Numbers the event in `room`'s stream (here, or where a cluster's
    /// Redis numbered it: `at`), keeps it, and offers it to the room's
    /// members but those of `besides` (another copy of the same emit
    /// reaches them). An event numbered elsewhere that this node already
    /// delivered is dropped.
    pub(crate) fn deliver_numbered(
        &self,
        room: &RoomName,
        except: &[Sid],
        besides: &[RoomName],
        event: &str,
        args: Args,
        at: Option<Position>,
    ) {
        let Some(streams) = &self.streams else {
            return;
        };
        let stream = streams.lock(room);
        let mut stream = stream.lock();
        let envelope = Envelope::new(Some(room.clone()), event.into(), args);
        let envelope = match at {
            None => Some(stream.append(envelope, streams.limits, Instant::now())),
            Some(position) => stream.append_at(envelope, position, streams.limits, Instant::now()),
        };
        if let Some(envelope) = envelope {
            self.offer_numbered(room, except, besides, &envelope);
        }
    }

    /// Offers a numbered event to the room's members (the caller holds the
    /// room stream's lock); members resuming from elsewhere get it later.
    fn offer_numbered(
        &self,
        room: &RoomName,
        except: &[Sid],
        besides: &[RoomName],
        envelope: &Arc<Envelope>,
    ) {
        let held = self.held_back(room, envelope);
        let except: std::borrow::Cow<'_, [Sid]> = match held.is_empty() {
            true => except.into(),
            false => [except, &held].concat().into(),
        };
        let reached_otherwise = self.members_of(besides);
        let mut delivered = Delivered::default();
        if let Some(members) = self.rooms.get(room) {
            for (sid, recipient) in &members.members {
                let skip =
                    except.contains(sid) || reached_otherwise.as_ref().is_some_and(|r| r.contains(sid));
                if !skip {
                    delivered.count(recipient.offer(envelope));
                }
            }
        }
        self.metrics.published(delivered.queued, delivered.slow);
    }
}
