//! Micro-benchmarks of the delivery path without a network: encoding an
//! envelope once, and fanning a publish out to a room's members. Run with
//! `cargo bench -p sockgate-bus`; see docs/performance.md.

#![allow(missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::value::RawValue;
use sockgate_bus::{BusLimits, LocalBus};
use sockgate_core::{ClientBus, ConnMeta, Envelope, Offer, Protocol, Recipient, RoomPolicy, Sid};

/// Takes the shared encoding, as a raw connection's queue does, and counts.
struct CountingRecipient {
    offered: AtomicUsize,
}

impl Recipient for CountingRecipient {
    fn offer(&self, envelope: &Arc<Envelope>) -> Offer {
        let frame =
            envelope.encoded(|e| bytes::Bytes::from(format!("{}{}", e.event(), e.args().first().get())));
        std::hint::black_box(frame);
        self.offered.fetch_add(1, Ordering::Relaxed);
        Offer::Queued
    }
    fn disconnect(&self) {}
}

fn payload() -> Box<RawValue> {
    let data = format!(r#"{{"n":1,"t":123456,"pad":"{}"}}"#, "x".repeat(100));
    RawValue::from_string(data).expect("valid JSON")
}

fn fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_fan_out");
    for members in [1usize, 100, 1000] {
        let bus = LocalBus::new(RoomPolicy::allow_all(128), BusLimits::default());
        let recipient = Arc::new(CountingRecipient {
            offered: AtomicUsize::new(0),
        });
        for _ in 0..members {
            let sid = Sid::random();
            drop(bus.connect(sid, recipient.clone(), ConnMeta::new(Protocol::Raw, None), &[]));
            bus.join(sid, "room").expect("join");
        }
        group.throughput(Throughput::Elements(members as u64));
        group.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, _| {
            b.iter(|| {
                bus.publish(None, "room", "chat", payload().into())
                    .expect("publish")
            });
        });
    }
    group.finish();
}

fn encode_once(c: &mut Criterion) {
    c.bench_function("envelope_encode_and_share_1000", |b| {
        b.iter(|| {
            let envelope = Arc::new(Envelope::new(None, "chat".into(), payload().into()));
            for _ in 0..1000 {
                let frame = envelope
                    .encoded(|e| bytes::Bytes::from(format!("{}{}", e.event(), e.args().first().get())));
                std::hint::black_box(frame);
            }
        });
    });
}

criterion_group!(benches, fan_out, encode_once);
criterion_main!(benches);
