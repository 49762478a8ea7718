//! Helpers that make each test read as a scenario.

pub mod api;
pub mod backend;
pub mod flood;
pub mod frames;
pub mod gateway;
pub mod jwt;
pub mod proxy;
mod raw;
pub mod recovery;
pub mod redis;
pub mod redis_cluster;
pub mod sio;

pub use gateway::Gateway;
pub use raw::{close_frame_of, RawClient};
pub use sio::{SioClient, SioOptions};

use std::time::Duration;

/// How long any single expectation may wait before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long to wait when asserting that something does *not* arrive.
pub const QUIET: Duration = Duration::from_millis(300);
