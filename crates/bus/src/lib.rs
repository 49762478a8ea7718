//! The in-process bus: one room registry for every protocol, sharded so that
//! publishes to different rooms never contend, with encode-once fan-out.

mod local;
mod metrics;
mod recovery;
mod room;

pub use local::{BusLimits, Delivery, LocalBus, Numbering};
pub use metrics::{Metrics, MetricsSnapshot, RESUME_OUTCOMES};
pub use recovery::streams::HistoryLimits;
pub use recovery::{Elsewhere, FetchedHistory, HistoryEvent};
