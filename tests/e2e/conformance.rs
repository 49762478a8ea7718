//! RFC 6455 on the raw side: what a client that breaks the framing rules
//! gets (the close code the RFC prescribes), and the echo endpoint that
//! lets conformance suites check the layer as a black box.

use crate::util::frames::{Frame, FrameClient, BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT};
use crate::util::{Gateway, RawClient};

async fn echo_gateway() -> Gateway {
    Gateway::with_config("[diagnostics]\necho_path = \"/echo\"\n").await
}

/// A connection on `path` ready for frames: on the raw protocol's path the
/// `open` frame it gets first is read and checked.
async fn ready(gateway: &Gateway, path: &str) -> FrameClient {
    let mut client = FrameClient::connect(gateway, path).await;
    if path == "/ws" {
        let open = client.recv().await.expect("open frame");
        assert!(String::from_utf8_lossy(&open.payload).contains(r#""op":"open""#));
    }
    client
}

fn text(payload: &str) -> Frame {
    Frame {
        fin: true,
        opcode: TEXT,
        payload: payload.as_bytes().to_vec(),
    }
}

#[tokio::test]
async fn the_echo_path_sends_back_messages_reassembled_from_fragments() {
    let gateway = echo_gateway().await;
    let mut client = FrameClient::connect(&gateway, "/echo").await;
    client.send(true, TEXT, "héllo".as_bytes()).await;
    assert_eq!(client.recv().await, Some(text("héllo")));
    client.send(true, BINARY, &[0, 1, 2, 255]).await;
    let binary = client.recv().await.unwrap();
    assert_eq!((binary.opcode, binary.payload), (BINARY, vec![0, 1, 2, 255]));

    // Three fragments with a ping between them: the pong comes at once,
    // the message once it is whole.
    client.send(false, TEXT, b"frag").await;
    client.send(true, PING, b"mid-message").await;
    client.send(false, CONTINUATION, b"men").await;
    client.send(true, CONTINUATION, b"ted").await;
    let pong = client.recv().await.unwrap();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (PONG, &b"mid-message"[..])
    );
    assert_eq!(client.recv().await, Some(text("fragmented")));

    // A UTF-8 character split across two fragments is fine.
    let bytes = "€".as_bytes();
    client.send(false, TEXT, &bytes[..1]).await;
    client.send(true, CONTINUATION, &bytes[1..]).await;
    assert_eq!(client.recv().await, Some(text("€")));

    // The close handshake: our code comes back, then the TCP connection ends.
    client.send(true, CLOSE, &1000u16.to_be_bytes()).await;
    assert_eq!(client.expect_close().await.close_code(), Some(1000));
    client.expect_eof().await;
}

#[tokio::test]
async fn the_echo_path_is_off_by_default() {
    let gateway = Gateway::start().await;
    let answer = gateway.http_get("/echo").await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let gateway = echo_gateway().await;
    for path in ["/ws", "/echo"] {
        let mut client = ready(&gateway, path).await;
        client
            .send(true, TEXT, b"{\"op\":\"ping\",\"x\":\"\xff\xfe\"}")
            .await;
        let close = client.expect_close().await;
        assert_eq!(close.close_code(), Some(1007), "{path}");
        assert_eq!(&close.payload[2..], b"invalid utf-8", "{path}");
        client.expect_eof().await;

        // Split over fragments: caught when the message is whole.
        let mut client = ready(&gateway, path).await;
        client.send(false, TEXT, b"ok so far ").await;
        client.send(true, CONTINUATION, b"\xc3\x28").await;
        assert_eq!(client.expect_close().await.close_code(), Some(1007), "{path}");
    }
}

#[tokio::test]
async fn framing_violations_close_with_1002() {
    let gateway = echo_gateway().await;
    // (what the client does wrong, first byte, masked, payload)
    let violations: [(&str, u8, bool, &[u8]); 6] = [
        ("unmasked client frame", 0x80 | TEXT, false, b"hi"),
        ("reserved bit set", 0x80 | 0x40 | TEXT, true, b"hi"),
        ("unknown opcode", 0x80 | 0x3, true, b"hi"),
        ("fragmented ping", PING, true, b"hi"),
        (
            "continuation with nothing to continue",
            0x80 | CONTINUATION,
            true,
            b"hi",
        ),
        ("control frame over 125 bytes", 0x80 | PING, true, &[b'x'; 126]),
    ];
    for path in ["/ws", "/echo"] {
        for (what, first, masked, payload) in violations {
            let mut client = ready(&gateway, path).await;
            client.send_raw(first, masked, payload).await;
            let close = client.expect_close().await;
            assert_eq!(close.close_code(), Some(1002), "{what} on {path}");
            client.expect_eof().await;
        }
    }
}

#[tokio::test]
async fn a_new_message_inside_a_fragmented_one_closes_with_1002() {
    let gateway = Gateway::start().await;
    let mut client = ready(&gateway, "/ws").await;
    client.send(false, TEXT, b"{\"op\":").await;
    client.send(true, TEXT, b"{\"op\":\"ping\"}").await;
    assert_eq!(client.expect_close().await.close_code(), Some(1002));
}

#[tokio::test]
async fn random_bytes_after_the_handshake_end_the_connection_and_nobody_else_notices() {
    let gateway = Gateway::start().await;
    let mut bystander = RawClient::connect(&gateway.ws_url("/ws")).await;
    bystander.join("calm").await;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20 {
        let mut client = ready(&gateway, "/ws").await;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        client.send_bytes(&noise).await;
        // The noise may announce a frame longer than what follows: the
        // gateway waits for the rest, until the client's side ends.
        client.finish_writing().await;
        // Whatever the noise decodes to, the gateway ends the connection
        // (with a close frame when the noise broke a rule it can name).
        while let Some(frame) = client.recv().await {
            if frame.opcode == CLOSE {
                let code = frame.close_code().unwrap_or(1005);
                assert!([1002, 1007, 1009].contains(&code), "close code {code}");
            }
        }
    }
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    publisher.publish("calm", "still", serde_json::json!(1)).await;
    assert_eq!(bystander.recv_event().await["event"], "still");
}

#[tokio::test]
async fn a_ping_is_answered_with_its_payload_and_a_close_code_is_echoed() {
    let gateway = Gateway::start().await;
    let mut client = ready(&gateway, "/ws").await;
    client.send(true, PING, b"payload").await;
    let pong = client.recv().await.unwrap();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (PONG, &b"payload"[..]));
    let mut close = 4321u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    client.send(true, CLOSE, &close).await;
    assert_eq!(client.expect_close().await.close_code(), Some(4321));
    client.expect_eof().await;
}

#[tokio::test]
async fn a_bad_close_frame_is_answered_with_1002_or_1007() {
    let gateway = echo_gateway().await;
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.extend_from_slice(b"\xff");
    // (what is wrong, close payload, expected code)
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("one-byte payload", vec![0x03], 1002),
        ("code 999", 999u16.to_be_bytes().to_vec(), 1002),
        ("reserved code 1005", 1005u16.to_be_bytes().to_vec(), 1002),
        ("unassigned code 1100", 1100u16.to_be_bytes().to_vec(), 1002),
        ("reason not UTF-8", bad_reason, 1007),
    ];
    for path in ["/ws", "/echo"] {
        for (what, payload, expected) in &cases {
            let mut client = ready(&gateway, path).await;
            client.send(true, CLOSE, payload).await;
            assert_eq!(
                client.expect_close().await.close_code(),
                Some(*expected),
                "{what} on {path}"
            );
        }
    }
}
