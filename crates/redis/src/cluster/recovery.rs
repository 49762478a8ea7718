//! The cluster bus's part of missed-message recovery (`docs/recovery.md`):
//! numbering recoverable rooms' events in Redis, resuming from Redis when
//! this node's copy of a history cannot serve, departed sessions kept in
//! Redis.

use fred::prelude::*;
use sockgate_core::{Args, Bus, DepartedSession, Position, Result, Resumed, Sid, Who};
use tracing::{debug, warn};

use super::ClusterBus;
use crate::history;
use crate::message::{ClusterMessage, Op};
use crate::sender::Outgoing;

impl ClusterBus {
    /// Whether emits to `room` are numbered in Redis: it keeps a history
    /// and Redis is reachable (without Redis, this node numbers them itself,
    /// in an epoch of its own).
    pub(super) fn sequences(&self, room: &str) -> bool {
        self.local.recovers_room(room) && self.metrics.snapshot().connected
    }

    /// Queues an emit to a recoverable room for numbering in Redis; every
    /// node with members, this one included, delivers it when Redis
    /// publishes it back with its position.
    /// Members of `besides` get another copy of the same emit.
    pub(super) fn sequence(&self, room: &str, except: &[Sid], besides: &[String], event: &str, args: Args) {
        let mut message = ClusterMessage::new(self.keys.node(), Op::Emit);
        message.rooms = vec![room.to_owned()];
        message.except = except.iter().map(ToString::to_string).collect();
        message.besides = besides.to_vec();
        message.event = Some(event.to_owned());
        message.set_args(&args);
        match serde_json::to_string(&message) {
            Ok(payload) => self.queue(Outgoing::Sequence {
                room: room.to_owned(),
                payload,
            }),
            Err(_) => self.metrics.send_failed(),
        }
    }
}

impl ClusterBus {
    /// A departed session, from this node or from Redis (taken once).
    pub(super) async fn take_shared_departed(
        &self,
        token: &str,
        user: Option<&str>,
    ) -> Option<DepartedSession> {
        if let Some(session) = self.local.take_departed(token, user) {
            // Taken here: not to be taken again elsewhere.
            let _: std::result::Result<i64, Error> = self.client.del(self.keys.departed(token)).await;
            return Some(session);
        }
        match history::take_departed(&self.client, &self.keys, self.local.policy(), token, user).await {
            Ok(session) => session,
            Err(error) => {
                debug!(%error, "reading a departed session from Redis failed");
                None
            }
        }
    }

    /// A resume on any node: from this node's copy of the history when it
    /// covers the gap, else from Redis, with live events held meanwhile.
    pub(super) async fn resume_anywhere(
        &self,
        sid: Sid,
        room: &str,
        from: Option<&Position>,
        trusted: bool,
        max_events: usize,
    ) -> Result<Resumed> {
        let Some(from) = from.filter(|from| self.sequences(room) && !self.local.covers(room, from)) else {
            return self.resume(sid, room, from, trusted, max_events);
        };
        let name = self.local.start_resume(sid, room, trusted)?;
        self.after_membership(Who::Sid(sid));
        // Live events must reach this node before the gap is read, or one
        // published in between would be neither read nor heard.
        self.subscribe_now(room).await;
        let fetched = match history::read_after(&self.client, &self.keys, room, from, max_events).await {
            Ok(fetched) => fetched,
            Err(error) => {
                warn!(%error, room, "reading a room's history from Redis failed");
                None
            }
        };
        Ok(self.local.finish_resume(sid, &name, from, fetched, max_events))
    }
}
