//! The bus's sections: `[rooms]` and `[limits]`.

use std::time::Duration;

use sockgate_bus::{BusLimits, HistoryLimits};
use sockgate_core::{PayloadLimits, RoomPolicy, MAX_PAYLOAD_DEPTH_LIMIT};

use super::rules::{at_least, positive};
use super::Result;
use crate::config::raw::{RawLimits, RawRooms};
use crate::ConfigError;

/// `[rooms]`, validated.
pub(super) struct Rooms {
    pub(super) policy: RoomPolicy,
    pub(super) history_size: usize,
    pub(super) history_ttl: Duration,
}

impl Rooms {
    /// The history kept for rooms with recovery.
    pub(super) fn history(&self, limits: &Limits) -> HistoryLimits {
        HistoryLimits {
            size: self.history_size,
            ttl: self.history_ttl,
            // Half the queue: a replay leaves room for live events.
            max_replay: (limits.outbound_queue / 2).max(1),
        }
    }
}

/// `[rooms]`: who may join and publish where, and the recovery history.
pub(super) fn rooms(rooms: RawRooms) -> Result<Rooms> {
    if !(1..=4096).contains(&rooms.max_name_bytes) {
        return Err(ConfigError::invalid("rooms.max_name_bytes", "must be 1..=4096"));
    }
    let policy = RoomPolicy::new(&rooms.allow_join, &rooms.allow_publish, rooms.max_name_bytes)
        .and_then(|policy| policy.with_recover(&rooms.recover))
        .map_err(|e| ConfigError::invalid("rooms", e.to_string()))?;
    if !(1..=1_000_000).contains(&rooms.history_size) {
        return Err(ConfigError::invalid("rooms.history_size", "must be 1..=1000000"));
    }
    positive("rooms.history_ttl", rooms.history_ttl)?;
    Ok(Rooms {
        policy,
        history_size: rooms.history_size,
        history_ttl: rooms.history_ttl,
    })
}

/// `[limits]`, validated.
pub(super) struct Limits {
    pub(super) max_message_bytes: usize,
    pub(super) max_event_name_bytes: usize,
    pub(super) outbound_queue: usize,
    pub(super) messages_per_second: u32,
    pub(super) message_burst: u32,
    pub(super) max_rooms_per_connection: usize,
    pub(super) max_connections: usize,
    pub(super) max_connections_per_ip: usize,
    pub(super) connects_per_second_per_ip: f64,
    pub(super) connect_burst_per_ip: u32,
    pub(super) max_binary_attachments: usize,
    /// `max_payload_depth` and `max_binary_attachments`.
    pub(super) payload: PayloadLimits,
    pub(super) max_queued_bytes: usize,
}

impl Limits {
    /// The limits the bus enforces on every publish.
    pub(super) fn bus(&self) -> BusLimits {
        BusLimits {
            max_event_name_bytes: self.max_event_name_bytes,
            max_rooms_per_connection: self.max_rooms_per_connection,
            payload: self.payload,
        }
    }
}

/// `[limits]`: sizes, rates and counts, each with a floor that keeps the
/// gateway usable.
pub(super) fn limits(limits: RawLimits) -> Result<Limits> {
    at_least("limits.max_message_bytes", limits.max_message_bytes as u64, 256)?;
    at_least(
        "limits.max_event_name_bytes",
        limits.max_event_name_bytes as u64,
        1,
    )?;
    at_least("limits.outbound_queue", limits.outbound_queue as u64, 1)?;
    at_least(
        "limits.messages_per_second",
        u64::from(limits.messages_per_second),
        1,
    )?;
    at_least("limits.message_burst", u64::from(limits.message_burst), 1)?;
    at_least(
        "limits.max_rooms_per_connection",
        limits.max_rooms_per_connection as u64,
        1,
    )?;
    at_least("limits.max_payload_depth", limits.max_payload_depth as u64, 1)?;
    if limits.max_payload_depth > MAX_PAYLOAD_DEPTH_LIMIT {
        return Err(ConfigError::invalid(
            "limits.max_payload_depth",
            format!(
                "must be at most {MAX_PAYLOAD_DEPTH_LIMIT} (deeper JSON cannot be parsed back), got {}",
                limits.max_payload_depth
            ),
        ));
    }
    if !(limits.connects_per_second_per_ip >= 0.0 && limits.connects_per_second_per_ip.is_finite()) {
        return Err(ConfigError::invalid(
            "limits.connects_per_second_per_ip",
            "must be a number of connections per second, 0 or more",
        ));
    }
    at_least(
        "limits.connect_burst_per_ip",
        u64::from(limits.connect_burst_per_ip),
        1,
    )?;
    at_least("limits.max_queued_bytes", limits.max_queued_bytes as u64, 65536)?;
    Ok(Limits {
        max_message_bytes: limits.max_message_bytes,
        max_event_name_bytes: limits.max_event_name_bytes,
        outbound_queue: limits.outbound_queue,
        messages_per_second: limits.messages_per_second,
        message_burst: limits.message_burst,
        max_rooms_per_connection: limits.max_rooms_per_connection,
        max_connections: limits.max_connections,
        max_connections_per_ip: limits.max_connections_per_ip,
        connects_per_second_per_ip: limits.connects_per_second_per_ip,
        connect_burst_per_ip: limits.connect_burst_per_ip,
        max_binary_attachments: limits.max_binary_attachments,
        payload: PayloadLimits {
            max_depth: limits.max_payload_depth,
            max_binary: limits.max_binary_attachments,
        },
        max_queued_bytes: limits.max_queued_bytes,
    })
}
