//! The in-process bus: one room registry for every protocol, sharded so that
//! publishes to different rooms never contend, with encode-once fan-out.

mod local;
mod metrics;
mod room;
mod stream;

pub use local::{BusLimits, FetchedHistory, HistoryEvent, LocalBus};
pub use metrics::{Metrics, MetricsSnapshot, RESUME_OUTCOMES};
pub use stream::HistoryLimits;
