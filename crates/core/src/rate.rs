//! A token bucket: the per-connection message rate limit.

use std::time::{Duration, Instant};

/// What the bucket says about one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the rate.
    Allowed,
    /// Over the rate: refuse this message, keep the connection.
    Refused,
    /// Kept going over the rate: disconnect.
    Exceeded,
}

/// `rate` messages per second on average, bursts of up to `burst`.
/// Refusals beyond another `burst` in a row mean the client is not slowing
/// down, and the connection should go.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    refused_in_a_row: u32,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> Self {
        TokenBucket::per_second(f64::from(rate), burst)
    }

    /// A full bucket refilled at a rate that need not be whole (0.5: one
    /// token every two seconds).
    pub fn per_second(rate: f64, burst: u32) -> Self {
        TokenBucket {
            rate: rate.max(0.0),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
            refused_in_a_row: 0,
        }
    }

    /// Takes a token for a message arriving at `now`.
    pub fn take(&mut self, now: Instant) -> RateVerdict {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            return RateVerdict::Allowed;
        }
        self.refused_in_a_row += 1;
        if f64::from(self.refused_in_a_row) > self.burst {
            RateVerdict::Exceeded
        } else {
            RateVerdict::Refused
        }
    }

    /// Whether the bucket has refilled to its burst by `now`: it then says
    /// nothing a new bucket would not, and its owner may forget it.
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.tokens + elapsed.as_secs_f64() * self.rate >= self.burst
    }

    /// How long until the next token (for messages).
    pub fn retry_after(&self) -> Duration {
        if self.rate <= 0.0 {
            return Duration::MAX;
        }
        Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refuses_then_gives_up_on_the_client() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3);
        for _ in 0..3 {
            assert_eq!(bucket.take(start), RateVerdict::Allowed);
        }
        for _ in 0..3 {
            assert_eq!(bucket.take(start), RateVerdict::Refused);
        }
        assert_eq!(bucket.take(start), RateVerdict::Exceeded);
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 2);
        bucket.take(start);
        bucket.take(start);
        assert_eq!(bucket.take(start), RateVerdict::Refused);
        // 100 ms at 10/s is one token, and a success resets the streak.
        assert_eq!(
            bucket.take(start + Duration::from_millis(100)),
            RateVerdict::Allowed
        );
        assert_eq!(
            bucket.take(start + Duration::from_millis(100)),
            RateVerdict::Refused
        );
    }
}
