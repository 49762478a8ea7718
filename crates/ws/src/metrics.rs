//! Counters of the raw WebSocket front.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::HandshakeError;

/// Lock-free counters updated by the raw front and its sessions.
#[derive(Debug, Default)]
pub struct WsMetrics {
    handshakes: AtomicU64,
    handshake_failures: [AtomicU64; HandshakeError::COUNT],
    auth_refusals: AtomicU64,
    frames_in: AtomicU64,
    bytes_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_out: AtomicU64,
    slow_consumers: AtomicU64,
}

/// A copy of [`WsMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsSnapshot {
    /// Upgrades accepted (101 sent).
    pub handshakes: u64,
    /// Upgrades refused, by reason (see [`HandshakeError::REASONS`]).
    pub handshake_failures: [(&'static str, u64); HandshakeError::COUNT],
    /// Connections refused by authentication (close 4001).
    pub auth_refusals: u64,
    /// Text frames received from clients.
    pub frames_in: u64,
    /// Bytes of those frames.
    pub bytes_in: u64,
    /// Text frames sent to clients (events, acks, errors).
    pub frames_out: u64,
    /// Bytes of those frames.
    pub bytes_out: u64,
    /// Connections closed with 1008 "slow consumer" (a full queue, or
    /// behind while over `limits.max_queued_bytes`).
    pub slow_consumers: u64,
}

impl WsMetrics {
    pub(crate) fn handshake(&self, outcome: Result<(), &HandshakeError>) {
        let counter = match outcome {
            Ok(()) => &self.handshakes,
            Err(error) => &self.handshake_failures[error.index()],
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn frame_out(&self, bytes: usize) {
        self.frames_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(crate) fn auth_refused(&self) {
        self.auth_refusals.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn frame_in(&self, bytes: usize) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> WsSnapshot {
        WsSnapshot {
            handshakes: self.handshakes.load(Ordering::Relaxed),
            handshake_failures: std::array::from_fn(|index| {
                (
                    HandshakeError::REASONS[index],
                    self.handshake_failures[index].load(Ordering::Relaxed),
                )
            }),
            auth_refusals: self.auth_refusals.load(Ordering::Relaxed),
            frames_in: self.frames_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            slow_consumers: self.slow_consumers.load(Ordering::Relaxed),
        }
    }
}
