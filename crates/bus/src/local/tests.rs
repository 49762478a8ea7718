use std::sync::Mutex;

use super::*;

/// A recipient with a fixed capacity that records what it got.
struct TestRecipient {
    capacity: usize,
    got: Mutex<Vec<String>>,
}

impl TestRecipient {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(TestRecipient {
            capacity,
            got: Mutex::new(Vec::new()),
        })
    }
    fn events(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

impl sockgate_core::Recipient for TestRecipient {
    fn offer(&self, envelope: &Arc<Envelope>) -> Offer {
        let mut got = self.got.lock().unwrap();
        if got.len() == self.capacity {
            return Offer::Full;
        }
        got.push(format!("{}:{}", envelope.event(), envelope.data().get()));
        Offer::Queued
    }
}

/// A group outlet that records broadcasts and mirrored joins.
#[derive(Default)]
struct TestOutlet {
    calls: Mutex<Vec<String>>,
}

impl GroupOutlet for TestOutlet {
    fn broadcast(&self, room: &RoomName, sender: Option<Sid>, envelope: &Arc<Envelope>) {
        let sender = sender.map(|s| s.to_string()).unwrap_or_default();
        self.calls
            .lock()
            .unwrap()
            .push(format!("broadcast {room} {} from {sender}", envelope.event()));
    }
    fn on_join(&self, sid: Sid, room: &RoomName) {
        self.calls.lock().unwrap().push(format!("join {sid} {room}"));
    }
    fn on_leave(&self, sid: Sid, room: &RoomName) {
        self.calls.lock().unwrap().push(format!("leave {sid} {room}"));
    }
}

fn data(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

fn bus() -> LocalBus {
    LocalBus::new(RoomPolicy::allow_all(128), BusLimits::default())
}

#[test]
fn publish_reaches_every_member_but_the_sender() {
    let bus = bus();
    let (a, b, c) = (Sid::random(), Sid::random(), Sid::random());
    let (ra, rb, rc) = (
        TestRecipient::new(8),
        TestRecipient::new(8),
        TestRecipient::new(8),
    );
    bus.connect(a, Route::Direct(ra.clone()));
    bus.connect(b, Route::Direct(rb.clone()));
    bus.connect(c, Route::Direct(rc.clone()));
    bus.join(a, "act42").unwrap();
    bus.join(b, "act42").unwrap();
    bus.join(c, "other").unwrap();

    bus.publish(Some(a), "act42", "chat", data("{\"n\":1}")).unwrap();

    assert!(ra.events().is_empty(), "the sender must not get its own event");
    assert_eq!(rb.events(), ["chat:{\"n\":1}"]);
    assert!(rc.events().is_empty(), "a member of another room must not get it");
}

#[test]
fn group_outlet_is_called_once_per_publish_and_skipped_when_only_the_sender_is_in_it() {
    let mut bus = bus();
    let outlet = Arc::new(TestOutlet::default());
    let group = bus.add_group(outlet.clone());
    let (x, y) = (Sid::random(), Sid::random());
    bus.connect(x, Route::Group(group));
    bus.connect(y, Route::Group(group));
    bus.join(x, "r").unwrap();
    bus.publish(Some(x), "r", "e", data("1")).unwrap();
    bus.join(y, "r").unwrap();
    bus.publish(Some(x), "r", "e", data("2")).unwrap();

    let calls = outlet.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            format!("join {x} r"),
            format!("join {y} r"),
            format!("broadcast r e from {x}")
        ]
    );
}

#[test]
fn a_full_queue_is_counted_as_a_slow_consumer_and_others_still_get_the_event() {
    let bus = bus();
    let (pub_sid, slow, fast) = (Sid::random(), Sid::random(), Sid::random());
    let slow_r = TestRecipient::new(1);
    let fast_r = TestRecipient::new(8);
    bus.connect(pub_sid, Route::Direct(TestRecipient::new(8)));
    bus.connect(slow, Route::Direct(slow_r.clone()));
    bus.connect(fast, Route::Direct(fast_r.clone()));
    bus.join(slow, "r").unwrap();
    bus.join(fast, "r").unwrap();
    for n in 0..3 {
        bus.publish(Some(pub_sid), "r", "e", data(&n.to_string()))
            .unwrap();
    }
    assert_eq!(slow_r.events().len(), 1);
    assert_eq!(fast_r.events().len(), 3);
    assert_eq!(bus.metrics().snapshot().slow_consumers, 2);
}

#[test]
fn disconnect_leaves_every_room_and_empty_rooms_are_dropped() {
    let bus = bus();
    let (a, b) = (Sid::random(), Sid::random());
    bus.connect(a, Route::Direct(TestRecipient::new(8)));
    bus.connect(b, Route::Direct(TestRecipient::new(8)));
    bus.join(a, "one").unwrap();
    bus.join(a, "two").unwrap();
    bus.join(b, "two").unwrap();
    assert_eq!(bus.room_count(), 2);

    bus.disconnect(a);
    assert_eq!(bus.room_count(), 1);
    assert_eq!(bus.member_count("two"), 1);
    bus.leave(b, "two").unwrap();
    assert_eq!(bus.room_count(), 0);
    assert_eq!(bus.connection_count(), 1);
}

#[test]
fn policy_and_event_rules_are_enforced() {
    let bus = LocalBus::new(
        RoomPolicy::new(&["act:*"], &["act:open"], 8).unwrap(),
        BusLimits {
            max_event_name_bytes: 4,
        },
    );
    let a = Sid::random();
    bus.connect(a, Route::Direct(TestRecipient::new(8)));
    assert_eq!(bus.join(a, "lobby"), Err(BusError::JoinForbidden("lobby".into())));
    assert!(matches!(
        bus.join(a, "act:toolong"),
        Err(BusError::InvalidRoom(_))
    ));
    assert_eq!(bus.join(a, "act:1").unwrap().as_str(), "act:1");
    assert_eq!(
        bus.publish(Some(a), "act:1", "chat", data("1")),
        Err(BusError::PublishForbidden("act:1".into()))
    );
    assert_eq!(
        bus.publish(Some(a), "act:open", "chatty", data("1")),
        Err(BusError::InvalidEvent { max: 4 })
    );
    assert_eq!(
        bus.publish(Some(a), "act:open", "", data("1")),
        Err(BusError::InvalidEvent { max: 4 })
    );
    let bus = bus_with_long_events();
    assert_eq!(
        bus.publish(None, "r", "disconnect", data("1")),
        Err(BusError::ReservedEvent("disconnect".into()))
    );
    assert_eq!(bus.join(Sid::random(), "r"), Err(BusError::UnknownConnection));
}

fn bus_with_long_events() -> LocalBus {
    bus()
}
