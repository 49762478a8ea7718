//! This node's live numbers for the admin dashboard (`GET /api/stats`,
//! `GET /api/connections`): counts read from both fronts when asked, and a
//! bounded history of what happened in each recent interval, sampled by a
//! background task from the same lock-free counters `/metrics` reads.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockgate_backend::{Activity, ConnectionCounts, History, Sample, Stats};
use sockgate_core::ConnRecord;
use tokio_util::sync::CancellationToken;

use crate::metrics::Telemetry;

/// How often the history takes a sample.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Samples kept: ten minutes.
const SAMPLES_KEPT: usize = 120;

/// Running totals, from which each sample is the difference.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    messages_in: u64,
    publishes: u64,
    deliveries: u64,
}

/// The node's activity: live counts plus the recent history.
pub(crate) struct NodeActivity {
    telemetry: Arc<Telemetry>,
    history: Mutex<(Totals, VecDeque<Sample>)>,
}

impl NodeActivity {
    pub(crate) fn new(telemetry: Arc<Telemetry>) -> Arc<Self> {
        let totals = totals(&telemetry);
        Arc::new(NodeActivity {
            telemetry,
            history: Mutex::new((totals, VecDeque::with_capacity(SAMPLES_KEPT))),
        })
    }

    /// Samples every `interval` until `stop` is cancelled.
    pub(crate) async fn sample_every(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => self.sample(),
            }
        }
    }

    /// Records what happened since the last sample.
    fn sample(&self) {
        let now = totals(&self.telemetry);
        let connections = self.connection_counts().total;
        let at = u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(u64::MAX);
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let (last, samples) = &mut *history;
        if samples.len() == SAMPLES_KEPT {
            samples.pop_front();
        }
        samples.push_back(Sample {
            at,
            messages_in: now.messages_in.saturating_sub(last.messages_in),
            publishes: now.publishes.saturating_sub(last.publishes),
            deliveries: now.deliveries.saturating_sub(last.deliveries),
            connections,
        });
        *last = now;
    }

    fn connection_counts(&self) -> ConnectionCounts {
        let (raw, _) = self.telemetry.bus.connections_by_protocol();
        let (polling, websocket) = self.telemetry.sio.sessions_by_transport();
        let raw = raw as u64;
        ConnectionCounts {
            total: raw + polling + websocket,
            raw,
            socketio_websocket: websocket,
            socketio_polling: polling,
        }
    }
}

fn totals(telemetry: &Telemetry) -> Totals {
    let bus = telemetry.bus.metrics().snapshot();
    Totals {
        messages_in: telemetry.raw.metrics().snapshot().frames_in + telemetry.sio.events_in(),
        publishes: bus.publishes,
        deliveries: bus.deliveries,
    }
}

impl Activity for NodeActivity {
    fn stats(&self) -> Stats {
        let samples = self
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .iter()
            .copied()
            .collect();
        Stats {
            connections: self.connection_counts(),
            rooms: self.telemetry.bus.room_count(),
            history: History {
                interval_seconds: SAMPLE_INTERVAL.as_secs(),
                samples,
            },
        }
    }

    fn newest_connections(&self, limit: usize) -> Vec<(ConnRecord, &'static str)> {
        self.telemetry
            .bus
            .newest_connections(limit)
            .iter()
            .map(|snapshot| {
                // Raw clients are always on WebSocket.
                let transport = self
                    .telemetry
                    .sio
                    .transport_of(snapshot.sid)
                    .unwrap_or("websocket");
                (ConnRecord::from(snapshot), transport)
            })
            .collect()
    }
}
