//! `/metrics`: the Prometheus text format, rendered at scrape time from the
//! lock-free counters each piece keeps (nothing extra on the delivery path).

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use sockgate_backend::Webhooks;
use sockgate_bus::{LocalBus, RESUME_OUTCOMES};
use sockgate_redis::ClusterBus;
use sockgate_sio::SocketIoCounters;
use sockgate_ws::RawFront;

/// Everything `/metrics` reads.
pub(crate) struct Telemetry {
    pub(crate) bus: Arc<LocalBus>,
    pub(crate) raw: RawFront,
    pub(crate) sio: SocketIoCounters,
    pub(crate) webhooks: Webhooks,
    pub(crate) cluster: Option<Arc<ClusterBus>>,
}

type Labels = Vec<(String, String)>;

fn labelled_counter(pairs: &[(&str, u64)], label: &str) -> Family<Labels, Counter> {
    let family = Family::<Labels, Counter>::default();
    for (value, count) in pairs {
        family
            .get_or_create(&vec![(label.to_owned(), (*value).to_owned())])
            .inc_by(*count);
    }
    family
}

impl Telemetry {
    /// The metrics, in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut registry = Registry::with_prefix("sockgate");
        let counter = |n: u64| ConstCounter::new(n);
        let (raw, _) = self.bus.connections_by_protocol();
        let (polling, websocket) = self.sio.sessions_by_transport();
        let connections = Family::<Labels, Gauge>::default();
        for (protocol, transport, count) in [
            ("raw", "websocket", raw as u64),
            ("socket.io", "polling", polling),
            ("socket.io", "websocket", websocket),
        ] {
            let labels = vec![
                ("protocol".to_owned(), protocol.to_owned()),
                ("transport".to_owned(), transport.to_owned()),
            ];
            connections
                .get_or_create(&labels)
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        registry.register(
            "connections",
            "Open connections on this node, by protocol and transport",
            connections,
        );
        registry.register(
            "rooms",
            "Rooms with members on this node",
            ConstGauge::new(self.bus.room_count() as i64),
        );
        let (histories, departed) = self.bus.history_counts();
        let bus_counts = self.bus.metrics().snapshot();
        registry.register(
            "recovery_rooms",
            "Recoverable rooms with a history on this node (rooms.recover)",
            ConstGauge::new(histories as i64),
        );
        let resumes = Family::<Labels, Counter>::default();
        for (outcome, count) in RESUME_OUTCOMES.iter().zip(bus_counts.resumes) {
            resumes
                .get_or_create(&vec![("outcome".to_owned(), (*outcome).to_owned())])
                .inc_by(count);
        }
        registry.register(
            "recovery_resumes",
            "Rooms resumed, by outcome (replayed, or the gap: too_old, epoch_changed, not_recoverable)",
            resumes,
        );
        registry.register(
            "recovery_replayed_events",
            "Missed events queued to clients by resumes",
            counter(bus_counts.replayed_events),
        );
        registry.register(
            "recovery_departed_sessions",
            "Departed connections whose rooms are kept for their resume token",
            ConstGauge::new(departed as i64),
        );

        let bus = self.bus.metrics().snapshot();
        registry.register("publishes", "Events published to rooms", counter(bus.publishes));
        registry.register(
            "deliveries",
            "Events queued to connections of both protocols (one per receiver)",
            counter(bus.deliveries),
        );
        registry.register(
            "slow_consumer_disconnects",
            "Connections closed because they fell behind (a full outbound queue; raw: also the memory budget), by protocol",
            labelled_counter(
                &[
                    ("raw", self.raw.metrics().snapshot().slow_consumers),
                    ("socketio", self.sio.slow_consumers()),
                ],
                "protocol",
            ),
        );

        registry.register(
            "raw_queued_bytes",
            "Bytes of encoded events waiting in raw outbound queues (limits.max_queued_bytes)",
            ConstGauge::new(i64::try_from(self.raw.queue_budget().used()).unwrap_or(i64::MAX)),
        );
        let ws = self.raw.metrics().snapshot();
        registry.register(
            "raw_handshakes",
            "Raw WebSocket upgrades accepted",
            counter(ws.handshakes),
        );
        registry.register(
            "raw_handshake_failures",
            "Raw WebSocket upgrades refused, by reason",
            labelled_counter(&ws.handshake_failures, "reason"),
        );
        registry.register(
            "auth_refusals",
            "Connections refused by authentication, by protocol",
            labelled_counter(
                &[
                    ("raw", ws.auth_refusals),
                    ("socket.io", self.sio.refused_connections()),
                ],
                "protocol",
            ),
        );
        registry.register(
            "messages_in",
            "Messages received from clients, by protocol",
            labelled_counter(
                &[("raw", ws.frames_in), ("socket.io", self.sio.events_in())],
                "protocol",
            ),
        );
        registry.register(
            "raw_bytes_in",
            "Bytes of text frames received from raw clients",
            counter(ws.bytes_in),
        );
        registry.register(
            "raw_messages_out",
            "Text frames sent to raw clients",
            counter(ws.frames_out),
        );
        registry.register(
            "raw_bytes_out",
            "Bytes of text frames sent to raw clients",
            counter(ws.bytes_out),
        );

        let hooks = self.webhooks.metrics();
        registry.register("webhook_calls", "Webhook calls made", counter(hooks.calls));
        registry.register(
            "webhook_failures",
            "Webhook calls refused or answered unusably",
            counter(hooks.failures),
        );
        registry.register(
            "webhook_timeouts",
            "Webhook calls that timed out",
            counter(hooks.timeouts),
        );
        registry.register(
            "webhook_duration_seconds",
            "Total duration of webhook calls (divided by sockgate_webhook_calls_total: the mean)",
            ConstCounter::new(hooks.latency_micros as f64 / 1e6),
        );

        if let Some(cluster) = &self.cluster {
            let c = cluster.metrics().snapshot();
            registry.register(
                "cluster_connected",
                "1 while this node reaches Redis",
                ConstGauge::new(i64::from(c.connected)),
            );
            registry.register(
                "cluster_failing_over",
                "1 while one shard of the Redis Cluster fails over (the node's client reconnects, other masters answer)",
                ConstGauge::new(i64::from(c.failing_over)),
            );
            registry.register(
                "cluster_lost",
                "Messages other nodes published to rooms this node hears that never reached it (holes in each sender's numbers, seen at its next message)",
                counter(c.lost),
            );
            registry.register(
                "cluster_caught_up",
                "Events of recoverable rooms this node missed (not subscribed where they were published) and read back from Redis before the next one",
                counter(c.caught_up),
            );
            registry.register("cluster_sent", "Cluster messages published", counter(c.sent));
            registry.register(
                "cluster_published",
                "Cluster messages published, by kind of channel (broadcast: heard by every node)",
                labelled_counter(
                    &[
                        ("room", c.published_room),
                        ("node", c.published_node),
                        ("broadcast", c.published_broadcast),
                    ],
                    "channel",
                ),
            );
            registry.register(
                "cluster_received",
                "Cluster messages received",
                counter(c.received),
            );
            registry.register(
                "cluster_send_failures",
                "Cluster messages that could not be sent (Redis down or queue full)",
                counter(c.send_failures),
            );
            registry.register(
                "cluster_reconnects",
                "Reconnections to Redis",
                counter(c.reconnects),
            );
            registry.register(
                "cluster_subscription_timeouts",
                "Joins acked after cluster.timeout without their room's subscription confirmed",
                counter(c.subscription_timeouts),
            );
        }

        let mut text = String::new();
        let _ = encode(&mut text, &registry);
        text
    }
}
