//! The members of one room.

use std::collections::HashMap;
use std::sync::Arc;

use sockgate_core::{Recipient, Sid};

/// One room's members and how to reach each.
#[derive(Default)]
pub(crate) struct Room {
    /// Members, each reached envelope by envelope.
    pub(crate) members: HashMap<Sid, Arc<dyn Recipient>>,
}

impl Room {
    /// Adds a member; returns false if it was already one.
    pub(crate) fn insert(&mut self, sid: Sid, recipient: &Arc<dyn Recipient>) -> bool {
        self.members.insert(sid, recipient.clone()).is_none()
    }

    /// Removes a member; returns false if it was not one.
    pub(crate) fn remove(&mut self, sid: Sid) -> bool {
        self.members.remove(&sid).is_some()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// Every member's id.
    pub(crate) fn sids(&self) -> impl Iterator<Item = Sid> + '_ {
        self.members.keys().copied()
    }
}
