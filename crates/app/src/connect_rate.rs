//! `limits.connects_per_second_per_ip`: how fast one client address may
//! open new connections (raw upgrades and engine.io handshakes).
//!
//! One token bucket per address; IPv6 addresses count per /64, the block a
//! single host usually controls. Buckets that have refilled are forgotten,
//! so the table holds only addresses that connected in the last few seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sockgate_core::{RateVerdict, TokenBucket};

/// Table size at which refilled buckets are first swept out.
const FIRST_SWEEP_AT: usize = 4096;

/// New connections per second per client address.
#[derive(Debug)]
pub(crate) struct ConnectRate {
    rate: f64,
    burst: u32,
    table: Mutex<Table>,
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<IpAddr, TokenBucket>,
    sweep_at: usize,
}

impl ConnectRate {
    /// `rate` new connections per second per address on average, `burst`
    /// at once; a rate of 0 turns the limit off.
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        ConnectRate {
            rate,
            burst,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                sweep_at: FIRST_SWEEP_AT,
            }),
        }
    }

    /// Counts a new connection from `ip`; `Err` holds how long the client
    /// should wait before trying again.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let key = address_key(ip);
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.buckets.len() >= table.sweep_at {
            table.buckets.retain(|_, bucket| !bucket.is_full(now));
            // Sweeping again only once the table has doubled keeps the cost
            // per connection constant under a flood from many addresses.
            table.sweep_at = (table.buckets.len() * 2).max(FIRST_SWEEP_AT);
        }
        let bucket = table
            .buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::per_second(self.rate, self.burst));
        match bucket.take(now) {
            RateVerdict::Allowed => Ok(()),
            RateVerdict::Refused | RateVerdict::Exceeded => Err(bucket.retry_after()),
        }
    }
}

/// IPv4 addresses count alone; IPv6 ones per /64 (IPv4-mapped ones as IPv4).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_burst_per_address_until_tokens_return() {
        let limit = ConnectRate::new(10.0, 3);
        let now = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.admit(a, now).is_ok());
        }
        let wait = limit.admit(a, now).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
        assert!(limit.admit(b, now).is_ok(), "other addresses are not affected");
        assert!(limit.admit(a, now + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn ipv6_hosts_count_per_64_block() {
        let limit = ConnectRate::new(1.0, 1);
        let now = Instant::now();
        assert!(limit.admit("2001:db8::1".parse().unwrap(), now).is_ok());
        assert!(limit.admit("2001:db8::ffff".parse().unwrap(), now).is_err());
        assert!(limit.admit("2001:db8:0:1::1".parse().unwrap(), now).is_ok());
        assert!(limit.admit("::ffff:10.0.0.1".parse().unwrap(), now).is_ok());
        assert!(limit.admit("10.0.0.1".parse().unwrap(), now).is_err());
    }

    #[test]
    fn forgets_refilled_addresses_so_the_table_stays_small() {
        let limit = ConnectRate::new(1000.0, 1);
        let start = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            assert!(limit
                .admit(ip, start + Duration::from_millis(u64::from(i)))
                .is_ok());
        }
        let table = limit.table.lock().unwrap();
        assert!(
            table.buckets.len() < 2 * FIRST_SWEEP_AT,
            "{}",
            table.buckets.len()
        );
    }

    #[test]
    fn zero_rate_is_no_limit() {
        let limit = ConnectRate::new(0.0, 0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..10_000).all(|_| limit.admit(ip, Instant::now()).is_ok()));
    }
}
