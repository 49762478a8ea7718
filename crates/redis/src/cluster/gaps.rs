//! Counting what a failover (or anything else) loses between nodes.
//!
//! Redis pub/sub drops a message silently when the receiver is not
//! subscribed where it is published: during a shard's failover, a node's
//! held publishes reach the promoted replica before the other nodes have
//! subscribed there again. Nobody is told. So each node numbers its own
//! messages per room channel ([`Outbound`]), and each receiver checks the
//! numbers it hears per sender and room ([`Inbound`]): a hole is a loss,
//! counted when the sender's next message to the room arrives. What is
//! lost at the very end of a sender's traffic to a room (no next message)
//! is not seen, and a room this node stopped hearing on purpose (no local
//! member left) starts afresh when it is heard again.
//!
//! This is for plain rooms. Events of recoverable rooms carry their offset
//! in the room's stream, which is checked instead, and their holes are
//! read back from Redis (`catch_up`).

use std::collections::HashMap;
use std::sync::Mutex;

/// The most rooms a node numbers its messages for before it starts a new
/// generation (receivers then start each room afresh): bounds memory.
const MAX_ROOMS: usize = 100_000;

/// A message's place in its sender's traffic to one room: the sender's
/// generation of numbers, and the number.
pub(crate) type Seq = [u64; 2];

/// The numbers this node gives its messages, per room.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    state: Mutex<(u64, HashMap<String, u64>)>,
}

impl Outbound {
    /// The number of the next message to `room` (the first is 1).
    pub(crate) fn next(&self, room: &str) -> Seq {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (generation, rooms) = &mut *state;
        if rooms.len() >= MAX_ROOMS && !rooms.contains_key(room) {
            rooms.clear();
            *generation += 1;
        }
        let n = rooms.entry(room.to_owned()).or_insert(0);
        *n += 1;
        [*generation, *n]
    }
}

/// The last number heard from each sender in each room this node hears.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    rooms: Mutex<HashMap<String, HashMap<String, Seq>>>,
}

impl Inbound {
    /// Records `seq` from `node` in `room`; answers how many of that
    /// node's messages to the room before it never arrived. Another
    /// generation, or a number not above the last (the sender restarted
    /// with the same id), starts afresh and counts nothing.
    pub(crate) fn heard(&self, room: &str, node: &str, seq: Seq) -> u64 {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let senders = rooms.entry(room.to_owned()).or_default();
        let last = senders.insert(node.to_owned(), seq);
        match last {
            Some([generation, n]) if generation == seq[0] && seq[1] > n => seq[1] - n - 1,
            _ => 0,
        }
    }

    /// Forgets `rooms`: this node stopped hearing them on purpose.
    pub(crate) fn forget<'a>(&self, rooms: impl IntoIterator<Item = &'a str>) {
        let mut known = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        for room in rooms {
            known.remove(room);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_in_a_senders_numbers_is_counted_once() {
        let (out, inbound) = (Outbound::default(), Inbound::default());
        assert_eq!(inbound.heard("r", "a", out.next("r")), 0);
        let _lost = (out.next("r"), out.next("r"));
        assert_eq!(inbound.heard("r", "a", out.next("r")), 2);
        assert_eq!(inbound.heard("r", "a", out.next("r")), 0);
        // Another room, another sender: numbered apart.
        assert_eq!(inbound.heard("s", "a", out.next("s")), 0);
        assert_eq!(inbound.heard("r", "b", [0, 9]), 0);
    }

    #[test]
    fn a_restarted_sender_or_a_forgotten_room_starts_afresh() {
        let inbound = Inbound::default();
        assert_eq!(inbound.heard("r", "a", [0, 5]), 0);
        assert_eq!(inbound.heard("r", "a", [0, 1]), 0);
        assert_eq!(inbound.heard("r", "a", [1, 7]), 0);
        inbound.forget(["r"]);
        assert_eq!(inbound.heard("r", "a", [1, 9]), 0);
    }
}
