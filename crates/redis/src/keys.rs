//! Where a node's things live in Redis: key and channel names, and whether
//! channels are plain (`PUBLISH`/`SUBSCRIBE`, one Redis) or sharded
//! (`SPUBLISH`/`SSUBSCRIBE`, a Redis Cluster).
//!
//! On a Redis Cluster every key and the channel of one room carry the same
//! hash tag (`{<room>}`), so they sit in one hash slot: the script that
//! numbers a room's event touches its stream, counter and epoch and
//! publishes on its channel in one slot, and a `CROSSSLOT` error cannot
//! happen. On one Redis names stay as they always were, so nodes of an
//! older version and a newer one share a Redis during a rolling upgrade.

/// Key and channel names of one node in one cluster.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    node: String,
    /// A Redis Cluster: sharded pub/sub and hash-tagged room names.
    sharded: bool,
}

/// Which of a node's channels a message goes on (counted per kind, so the
/// share left on the broadcast channel shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelKind {
    /// A room's channel: nodes with members in the room hear it.
    Room,
    /// One node's own channel.
    Node,
    /// The broadcast channel, which every node hears.
    Broadcast,
}

/// A channel a message is published on, and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Channel {
    pub(crate) name: String,
    pub(crate) kind: ChannelKind,
}

impl Keys {
    pub(crate) fn new(prefix: &str, node: &str, sharded: bool) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            node: node.to_owned(),
            sharded,
        }
    }
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
    pub(crate) fn node(&self) -> &str {
        &self.node
    }
    /// Whether channels are sharded (a Redis Cluster).
    pub(crate) fn sharded(&self) -> bool {
        self.sharded
    }
    /// The set of node ids that have joined the cluster.
    pub(crate) fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
    /// A node's heartbeat key.
    pub(crate) fn alive(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }
    /// A node's connection records.
    pub(crate) fn conns(&self, node: &str) -> String {
        format!("{}:node:{node}:conns", self.prefix)
    }
    /// The channel for what concerns every node (emits to everyone, and
    /// what cannot be addressed more narrowly).
    pub(crate) fn broadcast_channel(&self) -> Channel {
        Channel {
            name: format!("{}#all", self.prefix),
            kind: ChannelKind::Broadcast,
        }
    }
    /// A node's own channel: emits, joins, leaves and kicks for one of its
    /// connections.
    pub(crate) fn node_channel(&self, node: &str) -> Channel {
        Channel {
            name: format!("{}#node#{node}", self.prefix),
            kind: ChannelKind::Node,
        }
    }
    /// The channel of one room.
    pub(crate) fn room_channel(&self, room: &str) -> Channel {
        Channel {
            name: format!("{}#room#{}", self.prefix, self.room_part(room)),
            kind: ChannelKind::Room,
        }
    }
    /// The hash of the last message each node had numbered in a
    /// recoverable room (in the room's slot), so that one sent twice is
    /// numbered once.
    pub(crate) fn numbered_senders(&self, room: &str) -> String {
        format!("{}:history:{}:senders", self.prefix, self.room_part(room))
    }
    /// A recoverable room's history: its stream, offset counter and epoch.
    pub(crate) fn history(&self, room: &str) -> [String; 3] {
        let base = format!("{}:history:{}", self.prefix, self.room_part(room));
        [
            format!("{base}:events"),
            format!("{base}:offset"),
            format!("{base}:epoch"),
        ]
    }
    /// The rooms of a departed connection, under its resume token.
    pub(crate) fn departed(&self, token: &str) -> String {
        format!("{}:departed:{token}", self.prefix)
    }

    /// How a room appears in its keys and channel: as itself on one Redis;
    /// on a cluster, in a hash tag so that they all share its slot.
    ///
    /// Redis hashes what lies between the first `{` and the first `}`
    /// after it. The prefix has no braces (checked at start), so for a room
    /// without `}` the tag is the room itself. A room with a `}` would cut
    /// its tag short, or leave it empty (then the whole key is hashed, and
    /// each key lands elsewhere), so it is tagged with a hash of its name
    /// instead, followed by the name, which keeps names distinct.
    fn room_part(&self, room: &str) -> String {
        match (self.sharded, room.contains('}')) {
            (false, _) => room.to_owned(),
            (true, false) => format!("{{{room}}}"),
            (true, true) => format!("{{#{:016x}}}{room}", fnv1a(room.as_bytes())),
        }
    }
}

/// FNV-1a, 64 bits: a hash every node computes the same, whatever its
/// version or platform (std's hashers promise neither).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use fred::util::redis_keyslot;

    use super::*;

    fn slots(keys: &Keys, room: &str) -> Vec<u16> {
        let mut names = keys.history(room).to_vec();
        names.push(keys.room_channel(room).name);
        names.iter().map(|name| redis_keyslot(name.as_bytes())).collect()
    }

    #[test]
    fn one_redis_keeps_the_names_it_always_had() {
        let keys = Keys::new("sockgate", "n1", false);
        assert_eq!(keys.room_channel("act42").name, "sockgate#room#act42");
        assert_eq!(keys.history("act42")[0], "sockgate:history:act42:events");
        assert_eq!(keys.broadcast_channel().name, "sockgate#all");
        assert_eq!(keys.node_channel("n1").name, "sockgate#node#n1");
    }

    #[test]
    fn on_a_cluster_every_key_of_a_room_shares_its_slot() {
        let keys = Keys::new("sockgate", "n1", true);
        assert_eq!(keys.room_channel("act42").name, "sockgate#room#{act42}");
        assert_eq!(keys.history("act42")[1], "sockgate:history:{act42}:offset");
        for room in ["act42", "user:7", "a{b", "}", "a}b", "{x}", "}{", "{}", "é"] {
            let slots = slots(&keys, room);
            assert!(slots.windows(2).all(|w| w[0] == w[1]), "{room}: {slots:?}");
        }
        // Rooms whose names differ only after a '}' stay apart.
        assert_ne!(keys.room_channel("a}b").name, keys.room_channel("a}c").name);
        assert_ne!(keys.room_channel("x").name, keys.room_channel("{x}").name);
    }

    #[test]
    fn rooms_spread_over_the_slots() {
        let keys = Keys::new("sockgate", "n1", true);
        let distinct: std::collections::BTreeSet<u16> =
            (0..100).map(|i| slots(&keys, &format!("room{i}"))[0]).collect();
        assert!(distinct.len() > 90, "{}", distinct.len());
    }
}
