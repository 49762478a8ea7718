//! When to ping a client and when to give up on it.
//!
//! One timer serves both jobs: it fires at the next ping, and once a ping
//! is out, at that ping's deadline. An idle connection thus carries one
//! timer entry instead of a ping interval (which boxes its own timer) and
//! a separate pong deadline, and the writer polls one timer per wake-up.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// When the client was last heard from, in milliseconds since the session
/// began. The reader touches it on every frame; the heartbeat reads it.
#[derive(Debug)]
pub(crate) struct Liveness {
    start: Instant,
    last_seen_ms: AtomicU64,
}

impl Default for Liveness {
    fn default() -> Self {
        Self::new()
    }
}

impl Liveness {
    pub(super) fn new() -> Self {
        Liveness {
            start: Instant::now(),
            last_seen_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records that the client sent something just now.
    pub(crate) fn touch(&self) {
        self.last_seen_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn seen_since(&self, ms: u64) -> bool {
        self.last_seen_ms.load(Ordering::Relaxed) >= ms
    }
}

/// What the writer must do when the heartbeat timer fires.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Beat {
    /// Send a ping now.
    Ping,
    /// The client answered the last ping (or sent anything) in time.
    Alive,
    /// Nothing came from the client within `ping_timeout` of the last ping.
    Dead,
}

/// The ping schedule of one session.
pub(super) struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    /// The outstanding ping: when it went out, in the liveness clock and
    /// as an instant.
    outstanding: Option<(u64, Instant)>,
}

impl Heartbeat {
    /// A schedule with the first ping one `interval` from now, and the
    /// timer to drive it.
    pub(super) fn new(interval: Duration, timeout: Duration) -> (Self, Sleep) {
        let timer = tokio::time::sleep(interval);
        let heartbeat = Heartbeat {
            interval,
            timeout,
            outstanding: None,
        };
        (heartbeat, timer)
    }

    /// Called when `timer` fires: says what to do and sets the timer for
    /// the next step.
    pub(super) fn fired(&mut self, timer: Pin<&mut Sleep>, liveness: &Liveness) -> Beat {
        let now = Instant::now();
        match self.outstanding.take() {
            None => {
                self.outstanding = Some((liveness.now_ms(), now));
                timer.reset(now + self.timeout);
                Beat::Ping
            }
            Some((sent_ms, sent_at)) => {
                // The next ping is due one interval after the last one
                // (at once, if the timeout is the longer of the two).
                timer.reset((sent_at + self.interval).max(now));
                if liveness.seen_since(sent_ms) {
                    Beat::Alive
                } else {
                    Beat::Dead
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(interval: u64, timeout: u64) -> (Heartbeat, Pin<Box<Sleep>>, Liveness) {
        let (heartbeat, timer) = Heartbeat::new(Duration::from_secs(interval), Duration::from_secs(timeout));
        (heartbeat, Box::pin(timer), Liveness::new())
    }

    #[tokio::test(start_paused = true)]
    async fn pings_every_interval_while_the_client_answers() {
        let start = Instant::now();
        let (mut heartbeat, mut timer, liveness) = schedule(25, 20);
        let mut beats = Vec::new();
        for _ in 0..4 {
            timer.as_mut().await;
            let beat = heartbeat.fired(timer.as_mut(), &liveness);
            if beat == Beat::Ping {
                liveness.touch(); // the client's pong
            }
            beats.push((beat, start.elapsed().as_secs()));
        }
        let expected = [
            (Beat::Ping, 25),
            (Beat::Alive, 45),
            (Beat::Ping, 50),
            (Beat::Alive, 70),
        ];
        assert_eq!(beats, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_silent_past_the_timeout_is_dead() {
        let start = Instant::now();
        let (mut heartbeat, mut timer, liveness) = schedule(10, 5);
        timer.as_mut().await;
        assert_eq!(heartbeat.fired(timer.as_mut(), &liveness), Beat::Ping);
        timer.as_mut().await;
        assert_eq!(heartbeat.fired(timer.as_mut(), &liveness), Beat::Dead);
        assert_eq!(start.elapsed().as_secs(), 15);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_longer_than_the_interval_pings_again_at_the_deadline() {
        let start = Instant::now();
        let (mut heartbeat, mut timer, liveness) = schedule(5, 10);
        timer.as_mut().await;
        assert_eq!(heartbeat.fired(timer.as_mut(), &liveness), Beat::Ping);
        liveness.touch();
        timer.as_mut().await;
        assert_eq!(heartbeat.fired(timer.as_mut(), &liveness), Beat::Alive);
        timer.as_mut().await;
        assert_eq!(heartbeat.fired(timer.as_mut(), &liveness), Beat::Ping);
        assert_eq!(start.elapsed().as_secs(), 15);
    }
}
