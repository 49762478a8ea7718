//! Counters of the raw WebSocket front.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free counters updated by the raw front and its sessions.
#[derive(Debug, Default)]
pub struct WsMetrics {
    handshakes: AtomicU64,
    handshake_failures: AtomicU64,
    auth_refusals: AtomicU64,
    frames_in: AtomicU64,
    bytes_in: AtomicU64,
}

/// A copy of [`WsMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WsSnapshot {
    /// Upgrades accepted (101 sent).
    pub handshakes: u64,
    /// Upgrades refused (bad request, version, subprotocol).
    pub handshake_failures: u64,
    /// Connections refused by authentication (close 4001).
    pub auth_refusals: u64,
    /// Text frames received from clients.
    pub frames_in: u64,
    /// Bytes of those frames.
    pub bytes_in: u64,
}

impl WsMetrics {
    pub(crate) fn handshake(&self, accepted: bool) {
        let counter = if accepted {
            &self.handshakes
        } else {
            &self.handshake_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn auth_refused(&self) {
        self.auth_refusals.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn frame_in(&self, bytes: usize) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> WsSnapshot {
        WsSnapshot {
            handshakes: self.handshakes.load(Ordering::Relaxed),
            handshake_failures: self.handshake_failures.load(Ordering::Relaxed),
            auth_refusals: self.auth_refusals.load(Ordering::Relaxed),
            frames_in: self.frames_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
        }
    }
}
