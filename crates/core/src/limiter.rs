//! Caps on live connections, in total and per client IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// `limits.max_connections` and `limits.max_connections_per_ip`.
#[derive(Debug, Default)]
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_ip: usize,
    live: Mutex<Live>,
}

#[derive(Debug, Default)]
struct Live {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// `limits.max_connections` are open.
    #[error("too many connections (limits.max_connections)")]
    Total,
    /// `limits.max_connections_per_ip` are open from this address.
    #[error("too many connections from this address (limits.max_connections_per_ip)")]
    PerIp,
}

/// One counted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionPermit {
    limiter: Arc<ConnectionLimiter>,
    ip: IpAddr,
}

impl ConnectionLimiter {
    /// A limiter; 0 means no limit.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnectionLimiter {
            max_total,
            max_per_ip,
            live: Mutex::default(),
        })
    }

    /// Counts a new connection from `ip`, if it fits.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, LimitError> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if self.max_total > 0 && live.total >= self.max_total {
            return Err(LimitError::Total);
        }
        let from_ip = live.per_ip.get(&ip).copied().unwrap_or(0);
        if self.max_per_ip > 0 && from_ip >= self.max_per_ip {
            return Err(LimitError::PerIp);
        }
        live.total += 1;
        live.per_ip.insert(ip, from_ip + 1);
        Ok(ConnectionPermit {
            limiter: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut live = self.limiter.live.lock().unwrap_or_else(|p| p.into_inner());
        live.total = live.total.saturating_sub(1);
        if let Some(count) = live.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                live.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_ip_and_in_total_and_frees_places_on_drop() {
        let limiter = ConnectionLimiter::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = limiter.admit(a).unwrap();
        let _second = limiter.admit(a).unwrap();
        assert_eq!(limiter.admit(a).unwrap_err(), LimitError::PerIp);
        let _third = limiter.admit(b).unwrap();
        assert_eq!(limiter.admit(b).unwrap_err(), LimitError::Total);
        drop(first);
        assert!(limiter.admit(a).is_ok());
        let unlimited = ConnectionLimiter::new(0, 0);
        let permits: Vec<_> = (0..100).map(|_| unlimited.admit(a).unwrap()).collect();
        assert_eq!(permits.len(), 100);
    }
}
