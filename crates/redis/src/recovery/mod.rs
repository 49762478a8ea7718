//! The cluster's part of missed-message recovery (`docs/recovery.md`), one
//! job per module:
//!
//! - [`numbering`]: Redis numbers every event of a recoverable room, so that
//!   every node gets a room's events in one order with one numbering;
//! - [`departed`]: departed sessions kept in Redis, so that a resume token
//!   works on any node;
//! - [`resume`]: resuming on any node, from this node's copy of a room's
//!   history or from the stream Redis keeps, and the bus's
//!   [`Recovery`](sockgate_core::Recovery) face in a cluster.
//!
//! Everything else about recovery (streams, held events, replays) is the
//! local bus's (`sockgate-bus`'s `recovery` module), which this one feeds.

pub(crate) mod departed;
pub(crate) mod numbering;
pub(crate) mod resume;
