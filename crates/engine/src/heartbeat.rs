//! The heartbeat as a small state machine without I/O, driven by the
//! polling timer task and by the websocket task alike.
//!
//! v4 (Node's `schedulePing`): the server pings one `ping_interval` after
//! the open; a pong re-arms the next ping one `ping_interval` later; a ping
//! unanswered for `ping_timeout` ends the session. v3: the client pings, the
//! server answers, and a client silent for `ping_interval + ping_timeout`
//! ends the session.

use std::time::Duration;

use engineioxide_core::ProtocolVersion;
use tokio::time::Instant;

/// What the timer firing means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Not due yet (the deadline moved): wait for [`Heartbeat::deadline`].
    Wait,
    /// Send a ping now (v4).
    Ping,
    /// The client is gone: close with `PingTimeout`.
    Dead,
}

/// One session's heartbeat.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    v3: bool,
    awaiting_pong: bool,
    deadline: Instant,
    interval: Duration,
    timeout: Duration,
}

impl Heartbeat {
    /// Starts at `now` (the open, or an upgrade's completion).
    pub(crate) fn new(
        protocol: ProtocolVersion,
        interval: Duration,
        timeout: Duration,
        now: Instant,
    ) -> Self {
        let v3 = protocol == ProtocolVersion::V3;
        Heartbeat {
            v3,
            awaiting_pong: false,
            deadline: now + if v3 { interval + timeout } else { interval },
            interval,
            timeout,
        }
    }

    /// When the timer should fire next.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The timer fired at `now`.
    pub(crate) fn fired(&mut self, now: Instant) -> Beat {
        if now < self.deadline {
            return Beat::Wait;
        }
        if self.v3 || self.awaiting_pong {
            return Beat::Dead;
        }
        self.awaiting_pong = true;
        // From when the ping was due, not from when the timer woke: a late
        // wake-up does not stretch the timeout.
        self.deadline += self.timeout;
        Beat::Ping
    }

    /// The client's heartbeat packet (v4 pong, v3 ping) arrived at `now`.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.awaiting_pong = false;
        self.deadline = now
            + if self.v3 {
                self.interval + self.timeout
            } else {
                self.interval
            };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(300);
    const TIMEOUT: Duration = Duration::from_millis(200);

    #[test]
    fn v4_pings_one_interval_after_the_open_not_at_once() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(ProtocolVersion::V4, INTERVAL, TIMEOUT, start);
        assert_eq!(beat.deadline(), start + INTERVAL);
        assert_eq!(beat.fired(start), Beat::Wait);
        assert_eq!(beat.fired(start + INTERVAL), Beat::Ping);
        assert_eq!(beat.deadline(), start + INTERVAL + TIMEOUT);
    }

    #[test]
    fn v4_a_pong_rearms_the_next_ping_one_interval_later() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(ProtocolVersion::V4, INTERVAL, TIMEOUT, start);
        assert_eq!(beat.fired(start + INTERVAL), Beat::Ping);
        let pong = start + INTERVAL + Duration::from_millis(50);
        beat.heard(pong);
        assert_eq!(beat.deadline(), pong + INTERVAL);
        assert_eq!(beat.fired(pong + INTERVAL), Beat::Ping);
    }

    #[test]
    fn v4_an_unanswered_ping_is_a_dead_client() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(ProtocolVersion::V4, INTERVAL, TIMEOUT, start);
        assert_eq!(beat.fired(start + INTERVAL), Beat::Ping);
        assert_eq!(beat.fired(start + INTERVAL + TIMEOUT), Beat::Dead);
    }

    #[test]
    fn v3_waits_for_the_clients_pings() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(ProtocolVersion::V3, INTERVAL, TIMEOUT, start);
        assert_eq!(beat.fired(start + INTERVAL), Beat::Wait);
        beat.heard(start + INTERVAL);
        assert_eq!(beat.fired(start + INTERVAL + INTERVAL), Beat::Wait);
        assert_eq!(beat.fired(start + INTERVAL * 2 + TIMEOUT), Beat::Dead);
    }
}
