//! Counting what a failover (or anything else) loses between nodes.
//!
//! Redis pub/sub drops a message silently when the receiver is not
//! subscribed where it is published: during a shard's failover, a node's
//! held publishes reach the promoted replica before the other nodes have
//! subscribed there again. Nobody is told. So each node numbers its own
//! messages per room channel ([`Outbound`]), and each receiver checks the
//! numbers it hears per sender and room ([`Inbound`]): a hole is a loss,
//! counted when the sender's next message to the room arrives, and a
//! number heard before is the same message sent twice (a Redis client
//! resends what was in flight when its connection dropped), dropped. What is
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

/// The numbers this node gives its messages, per room. The first
/// generation is the time the node started (in nanoseconds), so that a
/// node restarted with the same `cluster.node_id` numbers afresh instead of
/// repeating numbers its receivers take as duplicates.
#[derive(Debug)]
pub(crate) struct Outbound {
    state: Mutex<(u64, HashMap<String, u64>)>,
}

impl Default for Outbound {
    fn default() -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX));
        Outbound {
            state: Mutex::new((started, HashMap::new())),
        }
    }
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

/// What a message's number says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// New; this many of the sender's messages before it never arrived.
    New { lost: u64 },
    /// A number already heard from this sender: the same message again
    /// (its Redis client sent it twice after a connection loss). Dropped.
    Again,
}

impl Inbound {
    /// Records `seq` from `node` in `room`. Another generation starts
    /// afresh and counts nothing lost.
    pub(crate) fn heard(&self, room: &str, node: &str, seq: Seq) -> Heard {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let senders = rooms.entry(room.to_owned()).or_default();
        match senders.get(node) {
            Some([generation, n]) if *generation == seq[0] && seq[1] <= *n => Heard::Again,
            last => {
                let lost = match last {
                    Some([generation, n]) if *generation == seq[0] => seq[1] - n - 1,
                    _ => 0,
                };
                senders.insert(node.to_owned(), seq);
                Heard::New { lost }
            }
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

    const NEW: Heard = Heard::New { lost: 0 };

    #[test]
    fn a_hole_in_a_senders_numbers_is_counted_once() {
        let (out, inbound) = (Outbound::default(), Inbound::default());
        assert_eq!(inbound.heard("r", "a", out.next("r")), NEW);
        let _lost = (out.next("r"), out.next("r"));
        assert_eq!(inbound.heard("r", "a", out.next("r")), Heard::New { lost: 2 });
        assert_eq!(inbound.heard("r", "a", out.next("r")), NEW);
        // Another room, another sender: numbered apart.
        assert_eq!(inbound.heard("s", "a", out.next("s")), NEW);
        assert_eq!(inbound.heard("r", "b", [0, 9]), NEW);
    }

    #[test]
    fn a_number_heard_before_is_the_same_message_again() {
        let inbound = Inbound::default();
        assert_eq!(inbound.heard("r", "a", [3, 5]), NEW);
        assert_eq!(inbound.heard("r", "a", [3, 5]), Heard::Again);
        assert_eq!(inbound.heard("r", "a", [3, 4]), Heard::Again);
        assert_eq!(inbound.heard("r", "a", [3, 6]), NEW);
    }

    #[test]
    fn a_restarted_sender_or_a_forgotten_room_starts_afresh() {
        let inbound = Inbound::default();
        assert_eq!(inbound.heard("r", "a", [0, 5]), NEW);
        assert_eq!(inbound.heard("r", "a", [1, 1]), NEW, "a new generation");
        inbound.forget(["r"]);
        assert_eq!(inbound.heard("r", "a", [1, 1]), NEW);
        // Restarted with the same id: its generation is its start time.
        let (before, after) = (Outbound::default(), Outbound::default());
        assert_ne!(before.next("r")[0], after.next("r")[0]);
    }
}
