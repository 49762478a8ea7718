//! Which node holds a connection of another node, as the directory last
//! said: the HTTP API looks a sid up before it emits to it, joins it to
//! rooms or disconnects it, and what it sends next then goes to that
//! node's own channel instead of the broadcast channel every node hears.
//!
//! A sid lives on one node for its whole life, so an entry is never wrong,
//! only useless once the connection is gone. The map is bounded
//! ([`LOCATED_SIDS`]): when it is full it is emptied, and a sid not found
//! here goes on the broadcast channel, which reaches it too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sockgate_core::Sid;

/// Most sids remembered at once.
pub(crate) const LOCATED_SIDS: usize = 16_384;

/// Sids of other nodes' connections, with their node.
#[derive(Debug, Default)]
pub(crate) struct Located {
    nodes: Mutex<HashMap<Sid, Arc<str>>>,
}

impl Located {
    /// Remembers that `sid` is on `node`.
    pub(crate) fn remember(&self, sid: Sid, node: &str) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if nodes.len() >= LOCATED_SIDS && !nodes.contains_key(&sid) {
            nodes.clear();
        }
        nodes.insert(sid, Arc::from(node));
    }

    /// The node of `sid`, if known.
    pub(crate) fn node_of(&self, sid: Sid) -> Option<Arc<str>> {
        self.nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sid)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_up_to_its_bound() {
        let located = Located::default();
        let first = Sid::random();
        located.remember(first, "n1");
        assert_eq!(located.node_of(first).as_deref(), Some("n1"));
        for _ in 1..LOCATED_SIDS {
            located.remember(Sid::random(), "n2");
        }
        assert_eq!(located.node_of(first).as_deref(), Some("n1"));
        located.remember(Sid::random(), "n3");
        assert_eq!(located.node_of(first), None, "emptied once full");
    }
}
