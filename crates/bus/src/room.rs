//! The members of one room, split by how they are reached.

use std::collections::HashMap;
use std::sync::Arc;

use sockgate_core::{GroupId, Recipient, Route, Sid};

/// One room's members.
#[derive(Default)]
pub(crate) struct Room {
    /// Members reached envelope by envelope.
    pub(crate) direct: HashMap<Sid, Arc<dyn Recipient>>,
    /// Members reached through a group outlet, and which one.
    grouped: HashMap<Sid, GroupId>,
    /// Member count per group outlet, indexed by `GroupId`.
    group_counts: Vec<u32>,
}

impl Room {
    /// Adds a member; returns false if it was already one.
    pub(crate) fn insert(&mut self, sid: Sid, route: &Route) -> bool {
        match route {
            Route::Direct(recipient) => self.direct.insert(sid, recipient.clone()).is_none(),
            Route::Group(group) => {
                let added = self.grouped.insert(sid, *group).is_none();
                if added {
                    if self.group_counts.len() <= group.0 {
                        self.group_counts.resize(group.0 + 1, 0);
                    }
                    self.group_counts[group.0] += 1;
                }
                added
            }
        }
    }

    /// Removes a member; returns false if it was not one.
    pub(crate) fn remove(&mut self, sid: Sid) -> bool {
        if self.direct.remove(&sid).is_some() {
            return true;
        }
        match self.grouped.remove(&sid) {
            Some(group) => {
                self.group_counts[group.0] -= 1;
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.grouped.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.direct.len() + self.grouped.len()
    }

    /// Every member's id.
    pub(crate) fn sids(&self) -> impl Iterator<Item = Sid> + '_ {
        self.direct.keys().chain(self.grouped.keys()).copied()
    }

    /// Adds to `groups` the group outlets with at least one member not in `except`.
    pub(crate) fn groups_to_reach(&self, except: &[Sid], groups: &mut Vec<GroupId>) {
        for (index, &count) in self.group_counts.iter().enumerate() {
            let group = GroupId(index);
            if count == 0 || groups.contains(&group) {
                continue;
            }
            let excluded = except
                .iter()
                .filter(|sid| self.grouped.get(sid) == Some(&group))
                .count();
            if count as usize > excluded {
                groups.push(group);
            }
        }
    }
}
