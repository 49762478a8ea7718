//! What each soak client received, and what that adds up to: events lost,
//! duplicated, or skipped with the server's word for it, per room.
//!
//! Every client keeps, per room, the sequence numbers it got in arrival
//! order as runs `[conn, from, to]` (`conn` counts the client's
//! connections: 0 for the first, one more per reconnect), a count of
//! duplicates, and the connections whose resume answered a gap for the
//! room (`too_old`, `epoch_changed`, …). The Node peer keeps the very same
//! shape, so both fleets are judged by one function here.
//!
//! How a missing sequence number is judged: it lies between the nearest
//! number received below it and the nearest above (or the room's last
//! published number). When both were received on the same connection, the
//! client was connected all along and missed it live (`lost_live`).
//! Otherwise a reconnect lies between them: if a resume in between
//! answered a gap for the room, the client was told (`gap_declared`);
//! if not, the resume should have replayed it (`lost_resumed`, which must
//! be 0). A number no client received at all is counted once, as
//! `lost_everywhere`.
//!
//! One known loss is counted apart, before any of the above: events
//! published while a killed master failed over (until the nodes subscribed
//! again) may reach no live member (docs/clustering.md, "When a master
//! fails"); a client that was live then misses them, whether or not it
//! resumed later (`lost_failover`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// One client's record of one room.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RoomLog {
    /// `[conn, from, to]`: sequence numbers `from..=to`, received in order
    /// on connection `conn`.
    pub(crate) runs: Vec<[u64; 3]>,
    /// Events received a second time.
    pub(crate) dups: u64,
    /// Connections whose resume answered a gap for this room.
    pub(crate) gaps: Vec<u64>,
    #[serde(skip)]
    seen: BTreeSet<u64>,
}

impl RoomLog {
    /// Records sequence number `seq` received on connection `conn`.
    pub(crate) fn receive(&mut self, conn: u64, seq: u64) {
        if !self.seen.insert(seq) {
            self.dups += 1;
            return;
        }
        match self.runs.last_mut() {
            Some(run) if run[0] == conn && run[2] + 1 == seq => run[2] = seq,
            _ => self.runs.push([conn, seq, seq]),
        }
    }

    /// Records that the resume of connection `conn` answered a gap.
    pub(crate) fn gap(&mut self, conn: u64) {
        self.gaps.push(conn);
    }
}

/// One client's whole record, as the fleets report it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ClientLog {
    /// `raw`, `v4-websocket`, `v4-polling` or `v2`.
    pub(crate) kind: String,
    /// Reconnections (each followed by a resume).
    pub(crate) reconnects: u64,
    /// Resumes whose token was found (`session: true`).
    pub(crate) sessions_found: u64,
    /// The connection it ended on.
    pub(crate) conn: u64,
    /// Events received, duplicates included.
    pub(crate) received: u64,
    /// Room → its record.
    pub(crate) rooms: BTreeMap<String, RoomLog>,
    /// When each connection opened, ms since the Unix epoch (to line
    /// records up with the faults when reading `--records`).
    #[serde(default)]
    pub(crate) opened_ms: Vec<u64>,
    /// The URL each connection went to.
    #[serde(default)]
    pub(crate) opened_on: Vec<String>,
    /// Connections whose joins or resume got no answer in 30 s (dropped
    /// and tried again).
    #[serde(default)]
    pub(crate) resume_timeouts: u64,
}

/// Lost and duplicated events over a whole fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Verdict {
    /// Missed across a reconnect whose resume did not say so: must be 0.
    pub(crate) lost_resumed: u64,
    /// Missed while connected (the client never dropped in between).
    pub(crate) lost_live: u64,
    /// Missed across a resume that answered a gap for the room.
    pub(crate) gap_declared: u64,
    /// Received twice by the same client: must be 0.
    pub(crate) duplicated: u64,
    /// Published (sequence numbers sent) but received by no client at all.
    pub(crate) lost_everywhere: u64,
    /// Missed, published during the failover.
    pub(crate) lost_failover: u64,
    /// Of those, missed across a reconnect whose resume did not say so
    /// (the rest were missed while connected).
    pub(crate) lost_failover_resumed: u64,
    /// Clients that reconnected at least once.
    pub(crate) clients_resumed: u64,
    /// Of those, clients with `lost_resumed` or duplicates.
    pub(crate) clients_resumed_with_loss: u64,
}

/// What the publishers sent, per room.
#[derive(Debug, Default)]
pub(crate) struct Expected {
    /// Room → last sequence number published.
    pub(crate) last: HashMap<String, u64>,
    /// Room → sequence numbers published to it while a master failed over.
    pub(crate) in_failover: HashMap<String, BTreeSet<u64>>,
}

/// Judges the records of the clients of `kind` (every client's when
/// `None`) against what was published in each room; what no client at all
/// received is judged over every client.
pub(crate) fn judge(clients: &[ClientLog], expected: &Expected, kind: Option<&str>) -> Verdict {
    let published = &expected.last;
    // Every number some client received, per room.
    let mut anyone: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    for client in clients {
        for (room, log) in &client.rooms {
            let set = anyone.entry(room).or_default();
            for run in &log.runs {
                set.extend(run[1]..=run[2]);
            }
        }
    }
    let mut verdict = Verdict::default();
    for (room, &last) in published {
        let first = anyone
            .get(room.as_str())
            .and_then(|s| s.first().copied())
            .unwrap_or(last + 1);
        let got = anyone.get(room.as_str());
        verdict.lost_everywhere += (first..=last)
            .filter(|s| !got.is_some_and(|g| g.contains(s)))
            .count() as u64;
    }
    for client in clients.iter().filter(|c| kind.is_none_or(|k| c.kind == k)) {
        let before = verdict.clone();
        for (room, log) in &client.rooms {
            let last = published.get(room).copied().unwrap_or(0);
            let got = anyone.get(room.as_str());
            let failover = expected.in_failover.get(room);
            judge_room(log, last, client.conn, got, failover, &mut verdict);
        }
        if client.reconnects > 0 {
            verdict.clients_resumed += 1;
            if verdict.lost_resumed > before.lost_resumed || verdict.duplicated > before.duplicated {
                verdict.clients_resumed_with_loss += 1;
            }
        }
    }
    verdict
}

fn judge_room(
    log: &RoomLog,
    last: u64,
    end_conn: u64,
    anyone: Option<&BTreeSet<u64>>,
    failover: Option<&BTreeSet<u64>>,
    verdict: &mut Verdict,
) {
    verdict.duplicated += log.dups;
    // seq → connection it arrived on.
    let mut at: BTreeMap<u64, u64> = BTreeMap::new();
    for run in &log.runs {
        for seq in run[1]..=run[2] {
            at.insert(seq, run[0]);
        }
    }
    let Some((&first, _)) = at.first_key_value() else {
        return;
    };
    for seq in first..=last.max(first) {
        if at.contains_key(&seq) || !anyone.is_some_and(|a| a.contains(&seq)) {
            continue;
        }
        let below = at.range(..seq).next_back().map(|(_, &c)| c).unwrap_or(0);
        let above = at.range(seq..).next().map(|(_, &c)| c).unwrap_or(end_conn);
        if failover.is_some_and(|f| f.contains(&seq)) {
            verdict.lost_failover += 1;
            let declared = log.gaps.iter().any(|&g| g > below && g <= above);
            if below != above && !declared {
                verdict.lost_failover_resumed += 1;
            }
            continue;
        }
        if below == above {
            verdict.lost_live += 1;
        } else if log.gaps.iter().any(|&g| g > below && g <= above) {
            verdict.gap_declared += 1;
        } else {
            verdict.lost_resumed += 1;
        }
    }
}

/// Latencies in a log-scale histogram (32 buckets per doubling, about 2 %
/// wide), mergeable across processes: the Node peer buckets the same way.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Latencies(BTreeMap<u32, u64>);

impl Latencies {
    /// The bucket of a latency in microseconds.
    pub(crate) fn bucket(us: u64) -> u32 {
        ((us.max(1) as f64).log2() * 32.0).floor() as u32
    }

    /// Records one latency.
    pub(crate) fn record(&mut self, us: u64) {
        *self.0.entry(Self::bucket(us)).or_default() += 1;
    }

    /// Adds another histogram's counts.
    pub(crate) fn merge(&mut self, other: &Latencies) {
        for (&bucket, &count) in &other.0 {
            *self.0.entry(bucket).or_default() += count;
        }
    }

    /// How many latencies were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The latency (µs, the bucket's lower bound) at quantile `q`.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        let target = (self.count() as f64 * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (&bucket, &count) in &self.0 {
            seen += count;
            if seen >= target {
                return 2f64.powf(f64::from(bucket) / 32.0).round() as u64;
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(reconnects: u64, conn: u64, rooms: &[(&str, RoomLog)]) -> ClientLog {
        ClientLog {
            kind: "raw".into(),
            reconnects,
            conn,
            rooms: rooms.iter().map(|(r, l)| (r.to_string(), l.clone())).collect(),
            ..ClientLog::default()
        }
    }

    fn log(events: &[(u64, u64)], gaps: &[u64]) -> RoomLog {
        let mut log = RoomLog::default();
        for &(conn, seq) in events {
            log.receive(conn, seq);
        }
        for &g in gaps {
            log.gap(g);
        }
        log
    }

    #[test]
    fn judges_each_missing_number_by_what_lies_around_it() {
        let published = Expected {
            last: HashMap::from([("r".to_string(), 10)]),
            ..Expected::default()
        };
        // A witness that got everything from 1 to 10.
        let all = log(&(1..=10).map(|s| (0, s)).collect::<Vec<_>>(), &[]);
        // Missed 3 live, 6 across an undeclared resume, 8 twice received.
        let a = log(
            &[
                (0, 1),
                (0, 2),
                (0, 4),
                (0, 5),
                (1, 7),
                (1, 8),
                (1, 8),
                (1, 9),
                (1, 10),
            ],
            &[],
        );
        // Missed 4 and 5 across a resume that answered a gap.
        let b = log(&[(0, 2), (0, 3), (1, 6), (1, 7), (1, 8), (1, 9), (1, 10)], &[1]);
        let verdict = judge(
            &[
                client(0, 0, &[("r", all)]),
                client(1, 1, &[("r", a)]),
                client(1, 1, &[("r", b)]),
            ],
            &published,
            None,
        );
        assert_eq!(
            verdict,
            Verdict {
                lost_resumed: 1,
                lost_live: 1,
                gap_declared: 2,
                duplicated: 1,
                lost_everywhere: 0,
                lost_failover: 0,
                lost_failover_resumed: 0,
                clients_resumed: 2,
                clients_resumed_with_loss: 1,
            }
        );
    }

    #[test]
    fn a_number_nobody_got_is_counted_once_and_a_missed_tail_by_the_last_connection() {
        let published = Expected {
            last: HashMap::from([("r".to_string(), 6)]),
            ..Expected::default()
        };
        let a = log(&[(0, 1), (0, 2), (0, 4), (0, 5)], &[]);
        let b = log(&[(0, 1), (0, 2), (0, 4), (0, 5), (0, 6)], &[]);
        let verdict = judge(
            &[client(1, 1, &[("r", a)]), client(0, 0, &[("r", b)])],
            &published,
            None,
        );
        assert_eq!(verdict.lost_everywhere, 1);
        // 6 missed after a reconnect to connection 1.
        assert_eq!(verdict.lost_resumed, 1);
        assert_eq!(verdict.lost_live, 0);
    }

    #[test]
    fn what_a_failover_swallowed_is_counted_apart() {
        let published = Expected {
            last: HashMap::from([("r".to_string(), 6)]),
            in_failover: HashMap::from([("r".to_string(), BTreeSet::from([3, 4]))]),
        };
        let all = log(&(1..=6).map(|s| (0, s)).collect::<Vec<_>>(), &[]);
        // Missed 3 and 4 across a resume, and 5 live: only 5 is not the failover's.
        let a = log(&[(0, 1), (0, 2), (1, 6)], &[]);
        let verdict = judge(
            &[client(0, 0, &[("r", all)]), client(1, 1, &[("r", a)])],
            &published,
            None,
        );
        assert_eq!(
            (verdict.lost_failover, verdict.lost_resumed, verdict.lost_live),
            (2, 1, 0)
        );
        // The failover's two were missed across the resume, not live.
        assert_eq!(verdict.lost_failover_resumed, 2);
    }

    #[test]
    fn latency_quantiles_come_from_log_buckets() {
        let mut latencies = Latencies::default();
        for us in 1..=1000 {
            latencies.record(us);
        }
        let p99 = latencies.quantile(0.99);
        assert!((960..=990).contains(&p99), "{p99}");
        assert_eq!(Latencies::bucket(1024), 320);
    }
}
