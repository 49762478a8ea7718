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
        got.push(format!("{}:{}", envelope.event(), envelope.args().first().get()));
        Offer::Queued
    }
    fn disconnect(&self) {
        self.got.lock().unwrap().push("disconnected".into());
    }
}

fn data(json: &str) -> Args {
    Args::one(serde_json::value::RawValue::from_string(json.to_owned()).unwrap())
}

fn meta() -> ConnMeta {
    ConnMeta::new(sockgate_core::Protocol::Raw, None)
}

fn user(id: &str) -> ConnMeta {
    ConnMeta {
        user: Some(id.to_owned()),
        ..meta()
    }
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
    assert!(bus.connect(a, ra.clone(), meta(), &[]).is_now());
    assert!(bus.connect(b, rb.clone(), meta(), &[]).is_now());
    assert!(bus.connect(c, rc.clone(), meta(), &[]).is_now());
    bus.join(a, "act42").unwrap();
    bus.join(b, "act42").unwrap();
    bus.join(c, "other").unwrap();

    bus.publish(Some(a), "act42", "chat", data("{\"n\":1}")).unwrap();

    assert!(ra.events().is_empty(), "the sender must not get its own event");
    assert_eq!(rb.events(), ["chat:{\"n\":1}"]);
    assert!(rc.events().is_empty(), "a member of another room must not get it");
}

#[test]
fn a_full_queue_is_counted_as_a_slow_consumer_and_others_still_get_the_event() {
    let bus = bus();
    let (pub_sid, slow, fast) = (Sid::random(), Sid::random(), Sid::random());
    let slow_r = TestRecipient::new(1);
    let fast_r = TestRecipient::new(8);
    assert!(bus.connect(pub_sid, TestRecipient::new(8), meta(), &[]).is_now());
    assert!(bus.connect(slow, slow_r.clone(), meta(), &[]).is_now());
    assert!(bus.connect(fast, fast_r.clone(), meta(), &[]).is_now());
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
    assert!(bus.connect(a, TestRecipient::new(8), meta(), &[]).is_now());
    assert!(bus.connect(b, TestRecipient::new(8), meta(), &[]).is_now());
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
            ..BusLimits::default()
        },
    );
    let a = Sid::random();
    assert!(bus.connect(a, TestRecipient::new(8), meta(), &[]).is_now());
    assert_eq!(
        bus.join(a, "lobby").map(|j| j.room),
        Err(BusError::JoinForbidden("lobby".into()))
    );
    assert!(matches!(
        bus.join(a, "act:toolong").map(|j| j.room),
        Err(BusError::InvalidRoom(_))
    ));
    assert_eq!(bus.join(a, "act:1").unwrap().room.as_str(), "act:1");
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
    assert_eq!(
        bus.publish(Some(a), "act:open", "a\nb", data("1")),
        Err(BusError::InvalidEvent { max: 4 })
    );
    let bus = bus_with_long_events();
    assert_eq!(
        bus.publish(None, "r", "disconnect", data("1")),
        Err(BusError::ReservedEvent("disconnect".into()))
    );
    assert_eq!(
        bus.join(Sid::random(), "r").map(|j| j.room),
        Err(BusError::UnknownConnection)
    );
}

fn bus_with_long_events() -> LocalBus {
    bus()
}

#[test]
fn server_emits_reach_rooms_once_users_sids_and_everyone() {
    let bus = bus();
    let (a, b, c, g) = (Sid::random(), Sid::random(), Sid::random(), Sid::random());
    let (ra, rb, rc, rg) = (
        TestRecipient::new(16),
        TestRecipient::new(16),
        TestRecipient::new(16),
        TestRecipient::new(16),
    );
    assert!(bus.connect(a, ra.clone(), user("ann"), &[]).is_now());
    assert!(bus.connect(b, rb.clone(), user("ann"), &[]).is_now());
    assert!(bus.connect(c, rc.clone(), meta(), &[]).is_now());
    assert!(bus.connect(g, rg.clone(), user("ann"), &[]).is_now());
    bus.add_rooms(Who::Sid(c), &["one".into(), "two".into()]).unwrap();
    bus.add_rooms(Who::Sid(a), &["two".into()]).unwrap();

    // Several rooms: a member of both gets it once.
    bus.emit(Target::Rooms(&["one".into(), "two".into()]), &[], "m", data("1"))
        .unwrap();
    assert_eq!(rc.events(), ["m:1"]);
    assert_eq!(ra.events(), ["m:1"]);
    // A user: all of their connections, except one.
    bus.emit(Target::User("ann"), &[b], "u", data("2")).unwrap();
    assert_eq!(ra.events(), ["m:1", "u:2"]);
    assert!(rb.events().is_empty());
    // One connection, and everyone.
    bus.emit(Target::Sid(c), &[], "s", data("3")).unwrap();
    bus.emit(Target::All, &[a], "all", data("4")).unwrap();
    assert_eq!(rc.events(), ["m:1", "s:3", "all:4"]);
    assert_eq!(rb.events(), ["all:4"]);
    assert_eq!(
        bus.emit(Target::Sid(Sid::random()), &[], "x", data("5")),
        Err(BusError::UnknownConnection)
    );
    assert_eq!(rg.events(), ["u:2", "all:4"]);

    assert_eq!(bus.kick(Who::User("ann")), 3);
    assert_eq!(ra.events().last().map(String::as_str), Some("disconnected"));
    assert_eq!(rg.events().last().map(String::as_str), Some("disconnected"));
}

#[test]
fn user_rooms_are_joined_at_connect_and_closed_to_clients() {
    let bus = bus();
    let a = Sid::random();
    assert!(bus.connect(a, TestRecipient::new(8), user("bob"), &[]).is_now());
    assert_eq!(bus.members("user:bob"), [a]);
    assert_eq!(
        bus.join(a, "user:eve").map(|j| j.room),
        Err(BusError::ReservedRoom("user:eve".into()))
    );
    assert_eq!(
        bus.publish(Some(a), "user:bob", "e", data("1")),
        Err(BusError::ReservedRoom("user:bob".into()))
    );
    let snapshot = bus.connection(a).unwrap();
    assert_eq!(snapshot.meta.user.as_deref(), Some("bob"));
    assert_eq!(
        snapshot.rooms.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        ["user:bob"]
    );
    bus.add_rooms(Who::User("bob"), &["b".into(), "a".into()])
        .unwrap();
    assert_eq!(
        bus.rooms()
            .iter()
            .map(|(r, n)| (r.as_str(), *n))
            .collect::<Vec<_>>(),
        [("a", 1), ("b", 1), ("user:bob", 1)]
    );
    assert_eq!(bus.remove_rooms(Who::User("bob"), &["a".into()]).unwrap(), 1);
    assert_eq!(bus.remove_rooms(Who::User("nobody"), &["a".into()]).unwrap(), 0);
    assert_eq!(
        bus.add_rooms(Who::Sid(Sid::random()), &["a".into()])
            .map(|added| added.connections),
        Err(BusError::UnknownConnection)
    );
}

#[test]
fn a_client_cannot_join_more_rooms_than_the_limit_but_the_backend_can() {
    let bus = LocalBus::new(
        RoomPolicy::allow_all(16),
        BusLimits {
            max_rooms_per_connection: 2,
            ..BusLimits::default()
        },
    );
    let a = Sid::random();
    assert!(bus.connect(a, TestRecipient::new(8), meta(), &[]).is_now());
    bus.join(a, "one").unwrap();
    bus.join(a, "two").unwrap();
    assert_eq!(
        bus.join(a, "three").map(|j| j.room),
        Err(BusError::TooManyRooms(2))
    );
    assert_eq!(
        bus.join(a, "two").unwrap().room.as_str(),
        "two",
        "joining again is not a new room"
    );
    bus.add_rooms(Who::Sid(a), &["three".into()]).unwrap();
    assert_eq!(bus.connection(a).unwrap().rooms.len(), 3);
}

/// A recipient that records the offsets of the events it got.
#[derive(Default)]
struct OffsetRecorder {
    offsets: Mutex<Vec<u64>>,
}

impl sockgate_core::Recipient for OffsetRecorder {
    fn offer(&self, envelope: &Arc<Envelope>) -> Offer {
        let offset = envelope.position().expect("a recoverable room's event").offset;
        self.offsets.lock().unwrap().push(offset);
        Offer::Queued
    }
    fn disconnect(&self) {}
}

#[test]
fn a_resume_during_concurrent_publishes_gets_every_event_once_in_order() {
    let policy = RoomPolicy::allow_all(32).with_recover(&["act:*"]).unwrap();
    let bus = Arc::new(LocalBus::new(policy, BusLimits::default()).with_history(HistoryLimits::default()));
    let (first, resumer) = (Sid::random(), Sid::random());
    assert!(bus.connect(first, TestRecipient::new(10), meta(), &[]).is_now());
    bus.publish(Some(first), "act:1", "e", data("0")).unwrap();
    let position = Position {
        epoch: bus
            .streams
            .as_ref()
            .unwrap()
            .lock(&bus.policy.name("act:1").unwrap())
            .lock()
            .epoch
            .clone(),
        offset: 1,
    };
    let recorder = Arc::new(OffsetRecorder::default());
    assert!(bus.connect(resumer, recorder.clone(), meta(), &[]).is_now());

    // Four publishers race the resume.
    let publishers: Vec<_> = (0..4)
        .map(|_| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for n in 0..200 {
                    bus.publish(Some(first), "act:1", "e", data(&n.to_string()))
                        .unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1));
    let resumed = bus
        .resume_here(resumer, "act:1", Some(&position), false, 10_000)
        .unwrap();
    publishers.into_iter().for_each(|p| p.join().unwrap());

    let offsets = recorder.offsets.lock().unwrap().clone();
    // Offsets 2..=801, each once, in order: replayed ones, then live ones.
    assert_eq!(offsets, (2..=801).collect::<Vec<u64>>(), "resumed: {resumed:?}");
}

/// Regression: an emit to a room with history and a plain room reached a
/// member of both twice (the history room's copy, then the plain copy for
/// every room). Each connection now gets one copy: the first history
/// room's it is in, else the plain one.
#[test]
fn an_emit_to_history_and_plain_rooms_reaches_each_member_once() {
    let policy = RoomPolicy::allow_all(32).with_recover(&["hist*"]).unwrap();
    let bus = LocalBus::new(policy, BusLimits::default()).with_history(HistoryLimits::default());
    let (a, b, c) = (Sid::random(), Sid::random(), Sid::random());
    let (ra, rb, rc) = (
        TestRecipient::new(16),
        TestRecipient::new(16),
        TestRecipient::new(16),
    );
    assert!(bus.connect(a, ra.clone(), meta(), &[]).is_now());
    assert!(bus.connect(b, rb.clone(), meta(), &[]).is_now());
    assert!(bus.connect(c, rc.clone(), meta(), &[]).is_now());
    bus.add_rooms(Who::Sid(a), &["hist1".into(), "plain1".into()])
        .unwrap();
    bus.add_rooms(Who::Sid(b), &["hist1".into(), "hist2".into(), "plain1".into()])
        .unwrap();
    bus.add_rooms(Who::Sid(c), &["hist2".into(), "plain1".into(), "plain2".into()])
        .unwrap();

    let rooms = ["plain1".into(), "hist1".into(), "hist2".into(), "plain2".into()];
    bus.emit(Target::Rooms(&rooms), &[], "m", data("1")).unwrap();
    assert_eq!(ra.events(), ["m:1"]);
    assert_eq!(rb.events(), ["m:1"]);
    assert_eq!(rc.events(), ["m:1"]);
    // The numbered copies were kept: a member of hist2 only was not missed.
    bus.emit(Target::Rooms(&["hist2".into()]), &[], "n", data("2"))
        .unwrap();
    assert_eq!(rc.events(), ["m:1", "n:2"]);
}

/// Regression: a member resuming from a cluster's history was only ever
/// forgotten by a later event; one that left mid-resume stayed in the
/// bookkeeping every publish to a history room scanned.
#[test]
fn a_member_that_leaves_mid_resume_is_forgotten() {
    let policy = RoomPolicy::allow_all(32).with_recover(&["act:*"]).unwrap();
    let bus = LocalBus::new(policy, BusLimits::default()).with_history(HistoryLimits::default());
    let sid = Sid::random();
    assert!(bus.connect(sid, TestRecipient::new(8), meta(), &[]).is_now());
    bus.start_resume(sid, "act:1", false).unwrap();
    assert_eq!(bus.held.get("act:1").map(|r| r.len()), Some(1));
    bus.disconnect(sid);
    assert!(bus.held.is_empty());
}
