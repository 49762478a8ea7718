//! The engine driven through [`Engine::handle`] with in-memory requests:
//! what only the engine can tell (counters, `on_close` exactly once, the
//! shutdown), and malformed input that must close cleanly, never panic.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use crate::{
    CloseReason, EchoHandler, Engine, EngineConfig, EngineHandler, Frame, Message, SendError, Session,
};

/// Records what the engine tells it, and echoes.
#[derive(Default)]
struct Recorder {
    opened: AtomicUsize,
    closed: Mutex<Vec<CloseReason>>,
}

impl EngineHandler for Recorder {
    type Data = ();

    fn on_open(&self, _session: &Arc<Session<()>>) {
        self.opened.fetch_add(1, Ordering::SeqCst);
    }

    fn on_message(&self, session: &Arc<Session<()>>, message: Message) {
        EchoHandler.on_message(session, message);
    }

    fn on_close(&self, _session: &Arc<Session<()>>, reason: CloseReason) {
        self.closed.lock().unwrap().push(reason);
    }
}

fn peer() -> SocketAddr {
    "127.0.0.1:1234".parse().unwrap()
}

fn request(method: &str, query: &str, body: &'static [u8]) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(format!("/engine.io/?{query}"))
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

async fn call<H: EngineHandler>(
    engine: &Arc<Engine<H>>,
    method: &str,
    query: &str,
    body: &'static [u8],
) -> (u16, Bytes) {
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        engine.handle(request(method, query, body), peer()),
    )
    .await
    .expect("the engine answered");
    (response.status().as_u16(), response.into_body())
}

async fn open<H: EngineHandler>(engine: &Arc<Engine<H>>) -> String {
    let (status, body) = call(engine, "GET", "EIO=4&transport=polling", b"").await;
    assert_eq!(status, 200);
    let open: serde_json::Value = serde_json::from_slice(&body[1..]).unwrap();
    format!("EIO=4&transport=polling&sid={}", open["sid"].as_str().unwrap())
}

fn engine(config: EngineConfig) -> (Arc<Engine<Recorder>>, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    (Engine::new(config, recorder.clone()), recorder)
}

/// Lets the session's task run until `done` holds.
async fn eventually(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("never happened");
}

#[tokio::test]
async fn a_full_queue_closes_the_session_as_a_slow_consumer_and_counts_it() {
    let (engine, recorder) = engine(EngineConfig {
        outbound_queue: 4,
        ..EngineConfig::default()
    });
    let query = open(&engine).await;
    assert_eq!(engine.sessions_by_transport(), (1, 0));
    let (status, _) = call(&engine, "POST", &query, b"4a\x1e4b\x1e4c\x1e4d\x1e4e\x1e4f").await;
    assert_eq!(status, 200);
    eventually(|| recorder.closed.lock().unwrap().len() == 1).await;
    assert_eq!(*recorder.closed.lock().unwrap(), [CloseReason::SlowConsumer]);
    assert_eq!(engine.slow_consumers(), 1);
    assert_eq!(engine.sessions_by_transport(), (0, 0));
    assert_eq!(call(&engine, "GET", &query, b"").await.0, 400);
}

#[tokio::test]
async fn send_all_queues_a_packet_and_its_attachments_or_nothing() {
    let (engine, _recorder) = engine(EngineConfig {
        outbound_queue: 3,
        ..EngineConfig::default()
    });
    let query = open(&engine).await;
    let sid = query.rsplit('=').next().unwrap().parse().unwrap();
    let session = engine.session(&sid).unwrap();
    let frames = [
        Frame::text("51-[\"e\",{\"_placeholder\":true,\"num\":0}]"),
        Frame::binary(Bytes::from_static(&[1])),
    ];
    assert_eq!(session.send_all(&frames), Ok(()));
    let (_, body) = call(&engine, "GET", &query, b"").await;
    assert_eq!(
        body.as_ref(),
        b"451-[\"e\",{\"_placeholder\":true,\"num\":0}]\x1ebAQ=="
    );
    assert_eq!(session.send(Frame::text("x")), Ok(()));
    assert_eq!(session.send(Frame::text("x")), Ok(()));
    // 2 + 2 > 3: nothing is queued, and the session is a slow consumer.
    assert_eq!(session.send_all(&frames), Err(SendError::Full));
    assert!(session.is_closed());
    assert_eq!(session.send(Frame::text("y")), Err(SendError::Closed));
}

#[tokio::test]
async fn on_close_comes_once_whoever_closes() {
    let (engine, recorder) = engine(EngineConfig::default());
    let query = open(&engine).await;
    let sid = query.rsplit('=').next().unwrap().parse().unwrap();
    let session = engine.session(&sid).unwrap();
    session.close(CloseReason::ServerClose);
    session.close(CloseReason::SlowConsumer);
    let (_, body) = call(&engine, "POST", &query, b"1").await;
    assert!(body.is_empty() || body.as_ref() == b"ok" || body.starts_with(b"{"));
    // The client's next poll takes the close packet; then the sid is gone.
    assert_eq!(
        call(&engine, "GET", &query, b"").await,
        (200, Bytes::from_static(b"1"))
    );
    eventually(|| engine.session(&sid).is_none()).await;
    assert_eq!(*recorder.closed.lock().unwrap(), [CloseReason::ServerClose]);
    assert_eq!(engine.slow_consumers(), 0);
    assert_eq!(recorder.opened.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_clients_close_packet_is_a_forced_close() {
    let (engine, recorder) = engine(EngineConfig::default());
    let query = open(&engine).await;
    assert_eq!(call(&engine, "POST", &query, b"1").await.0, 200);
    eventually(|| recorder.closed.lock().unwrap().len() == 1).await;
    assert_eq!(*recorder.closed.lock().unwrap(), [CloseReason::ForcedClose]);
}

/// A poll after the client's own close (POST `1`, no poll pending) finds
/// the sid unknown, as from Node's.
#[tokio::test]
async fn a_poll_after_the_clients_close_finds_the_sid_unknown() {
    let (engine, recorder) = engine(EngineConfig::default());
    let query = open(&engine).await;
    assert_eq!(call(&engine, "POST", &query, b"1").await.0, 200);
    assert_eq!(call(&engine, "GET", &query, b"").await.0, 400);
    eventually(|| recorder.closed.lock().unwrap().len() == 1).await;
    assert_eq!(*recorder.closed.lock().unwrap(), [CloseReason::ForcedClose]);
}

#[tokio::test]
async fn malformed_payloads_close_with_a_parse_error_and_never_panic() {
    let bodies: [&'static [u8]; 6] = [b"abc", b"\xff\xfe", b"b!!notbase64", b"0", b"", b"4ok\x1e\x1e9"];
    for body in bodies {
        let (engine, recorder) = engine(EngineConfig::default());
        let query = open(&engine).await;
        let (status, _) = call(&engine, "POST", &query, body).await;
        assert!(status == 200 || status == 400, "{body:?}: {status}");
        if status == 400 {
            eventually(|| recorder.closed.lock().unwrap().len() == 1).await;
            assert_eq!(
                *recorder.closed.lock().unwrap(),
                [CloseReason::ParseError],
                "{body:?}"
            );
        }
    }
    // v3 string framing with lengths that lie.
    for body in [&b"99:4short"[..], b"x:4", b"2:4\xc3"] {
        let (engine, _recorder) = engine(EngineConfig::default());
        let (_, open) = call(&engine, "GET", "EIO=3&transport=polling", b"").await;
        let text = String::from_utf8(open.to_vec()).unwrap();
        let open: serde_json::Value = serde_json::from_str(&text.split_once(':').unwrap().1[1..]).unwrap();
        let query = format!("EIO=3&transport=polling&sid={}", open["sid"].as_str().unwrap());
        let body: &'static [u8] = Box::leak(body.to_vec().into_boxed_slice());
        assert_eq!(call(&engine, "POST", &query, body).await.0, 400, "{body:?}");
    }
}

#[tokio::test]
async fn shut_down_closes_every_session_and_waits_for_them() {
    let (engine, recorder) = engine(EngineConfig::default());
    open(&engine).await;
    open(&engine).await;
    tokio::time::timeout(Duration::from_secs(10), engine.shut_down())
        .await
        .expect("shut down in time");
    assert_eq!(*recorder.closed.lock().unwrap(), [CloseReason::ShuttingDown; 2]);
    assert_eq!(engine.sessions_by_transport(), (0, 0));
    assert_eq!(call(&engine, "GET", "EIO=4&transport=polling", b"").await.0, 503);
}

#[tokio::test]
async fn a_v4_ping_from_the_client_is_the_wrong_direction() {
    let (engine, recorder) = engine(EngineConfig::default());
    let query = open(&engine).await;
    assert_eq!(call(&engine, "POST", &query, b"2").await.0, 200);
    eventually(|| recorder.closed.lock().unwrap().len() == 1).await;
    assert_eq!(*recorder.closed.lock().unwrap(), [CloseReason::TransportError]);
}
