//! Entry points for the fuzz targets in `fuzz/` only: not API, no stability
//! promise, hidden from the docs.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use crate::{Gateway, GatewayConfig};

/// The API key the fuzzer's gateway accepts (so `/api` is routed).
pub const API_KEY: &str = "fuzz-api-key-0123456789";

/// The browser origin the fuzzer's gateway allows (so the CORS paths run).
pub const ALLOWED_ORIGIN: &str = "https://app.example.com";

/// How long one connection may take before it is cut off.
const CONNECTION_TIMEOUT: Duration = Duration::from_millis(200);

/// How long the gateway may take to start answering a part of what a
/// client sends, and how long it must then stay quiet.
const PART_WAIT: Duration = Duration::from_millis(20);
const PART_QUIET: Duration = Duration::from_millis(2);

/// The peer every fuzzed connection comes from.
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);

/// Why a [`RequestFuzzer`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FuzzerError {
    /// The tokio runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The gateway could not be built.
    #[error(transparent)]
    Gateway(#[from] crate::ServeError),
}

/// A gateway built once from the defaults (plus [`API_KEY`] and
/// [`ALLOWED_ORIGIN`]; raw front on `/ws`), serving raw bytes as one
/// HTTP/1.1 connection through the real listener code.
pub struct RequestFuzzer {
    runtime: Runtime,
    gateway: Gateway,
}

impl RequestFuzzer {
    /// Builds the gateway on a current-thread runtime kept for [`serve`](Self::serve).
    pub fn new() -> Result<Self, FuzzerError> {
        RequestFuzzer::with_config(GatewayConfig::defaults())
    }

    /// As [`new`](Self::new), from `config` (plus [`API_KEY`] and [`ALLOWED_ORIGIN`]).
    fn with_config(mut config: GatewayConfig) -> Result<Self, FuzzerError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(FuzzerError::Runtime)?;
        config.api.keys = vec![API_KEY.to_owned()];
        config.allowed_origins = vec![ALLOWED_ORIGIN.to_owned()];
        let gateway = runtime.block_on(Gateway::new(config))?;
        Ok(RequestFuzzer { runtime, gateway })
    }

    /// Sends `bytes` as everything a client says on one connection, closes
    /// its sending side, and returns all the gateway answered (cut off
    /// after a short timeout).
    pub fn serve(&self, bytes: &[u8]) -> Vec<u8> {
        self.serve_in_parts(&[bytes])
    }

    /// As [`serve`](Self::serve), the client's bytes sent in `parts`; after
    /// each but the last, what the gateway answers is read until it has
    /// said something and fallen quiet (so that a websocket session has
    /// started, or a CONNECT is answered, before the next part is read).
    fn serve_in_parts(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.runtime.block_on(async {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let connection = tokio::spawn(self.gateway.serve_io(server, PEER));
            let (mut reader, mut writer) = tokio::io::split(client);
            let mut answer = Vec::new();
            // A read or write error just ends the exchange: what came so
            // far is kept.
            let exchange = async {
                let Some((last, first)) = parts.split_last() else {
                    return;
                };
                for part in first {
                    if writer.write_all(part).await.is_err() {
                        return;
                    }
                    let mut wait = PART_WAIT;
                    loop {
                        let read = tokio::time::timeout(wait, reader.read_buf(&mut answer)).await;
                        match read {
                            Ok(Ok(n)) if n > 0 => wait = PART_QUIET,
                            Ok(_) => return,
                            Err(_) => break,
                        }
                    }
                }
                let send = async {
                    let _ = writer.write_all(last).await;
                    let _ = writer.shutdown().await;
                };
                let _ = tokio::join!(send, reader.read_to_end(&mut answer));
            };
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, exchange).await;
            connection.abort();
            answer
        })
    }
}

/// How the bytes of a [`PacketFuzzer`] input reach the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// The body of an engine.io v4 polling POST (`\x1e`-separated packets).
    PollingV4,
    /// The body of an engine.io v3 polling POST, string framing (`len:packet`).
    PollingV3String,
    /// The body of an engine.io v3 polling POST, binary framing.
    PollingV3Binary,
    /// websocket messages of an engine.io v4 session.
    WebsocketV4,
    /// websocket messages of an engine.io v3 session.
    WebsocketV3,
}

impl Carrier {
    const ALL: [Carrier; 5] = [
        Carrier::PollingV4,
        Carrier::PollingV3String,
        Carrier::PollingV3Binary,
        Carrier::WebsocketV4,
        Carrier::WebsocketV3,
    ];
}

/// A gateway built once (namespaces `/` and `/custom`, no connection rate
/// limit) that takes arbitrary bytes as engine.io and socket.io packets of
/// a session already connected to `/`: a polling POST body in one of the
/// three payload framings, or websocket messages. Every input goes through
/// the real listener, engine and socket.io server, binary attachment state
/// included.
pub struct PacketFuzzer {
    requests: RequestFuzzer,
}

impl PacketFuzzer {
    /// Builds the gateway on a current-thread runtime.
    pub fn new() -> Result<Self, FuzzerError> {
        let mut config = GatewayConfig::defaults();
        config.socketio.namespaces = vec!["/".to_owned(), "/custom".to_owned()];
        config.connects_per_second_per_ip = 0.0;
        config.max_connections_per_ip = 0;
        Ok(PacketFuzzer {
            requests: RequestFuzzer::with_config(config)?,
        })
    }

    /// Feeds `data` to a fresh session: the first byte picks the
    /// [`Carrier`], the rest is the payload (websocket: messages split at
    /// `0x1e`, a message starting with `0x00` is binary, the others text).
    /// Returns everything the gateway answered, for tests.
    pub fn feed(&self, data: &[u8]) -> Vec<u8> {
        self.feed_among(data, &Carrier::ALL)
    }

    /// The one gateway a fuzz target feeds, built on first use.
    pub fn shared() -> &'static PacketFuzzer {
        static SHARED: std::sync::OnceLock<PacketFuzzer> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| PacketFuzzer::new().expect("the gateway builds"))
    }

    /// Feeds `data` to a fresh session on polling: the first byte picks one
    /// of the three payload framings.
    pub fn feed_polling(&self, data: &[u8]) -> Vec<u8> {
        self.feed_among(data, &Carrier::ALL[..3])
    }

    /// Feeds `data` to a fresh session on websocket: the first byte picks
    /// engine.io v4 or v3.
    pub fn feed_websocket(&self, data: &[u8]) -> Vec<u8> {
        self.feed_among(data, &Carrier::ALL[3..])
    }

    fn feed_among(&self, data: &[u8], carriers: &[Carrier]) -> Vec<u8> {
        let Some((first, rest)) = data.split_first() else {
            return Vec::new();
        };
        match carriers[usize::from(*first) % carriers.len()] {
            Carrier::WebsocketV4 => self.websocket(4, rest),
            Carrier::WebsocketV3 => self.websocket(3, rest),
            polling => self.polling(polling, rest),
        }
    }

    fn polling(&self, carrier: Carrier, payload: &[u8]) -> Vec<u8> {
        let (eio, content_type, connect): (u8, &str, &[u8]) = match carrier {
            Carrier::PollingV3String => (3, "text/plain;charset=UTF-8", b"2:40"),
            Carrier::PollingV3Binary => (3, "application/octet-stream", b"\x00\x02\xff40"),
            _ => (4, "text/plain;charset=UTF-8", b"40"),
        };
        let open = self.requests.serve(&request("GET", eio, None, "", b""));
        let Some(sid) = sid_of(&open) else {
            return open;
        };
        let mut answers = open;
        // socket.io-client 2.x (v3) is connected to "/" at once; v4 asks.
        if eio == 4 {
            answers.extend(
                self.requests
                    .serve(&request("POST", eio, Some(&sid), content_type, connect)),
            );
        }
        answers.extend(
            self.requests
                .serve(&request("POST", eio, Some(&sid), content_type, payload)),
        );
        answers.extend(self.requests.serve(&request("GET", eio, Some(&sid), "", b"")));
        // The client's close: the session does not outlive the input.
        let close: &[u8] = if eio == 3 { b"1:1" } else { b"1" };
        let close_type = "text/plain;charset=UTF-8";
        answers.extend(
            self.requests
                .serve(&request("POST", eio, Some(&sid), close_type, close)),
        );
        answers
    }

    fn websocket(&self, eio: u8, payload: &[u8]) -> Vec<u8> {
        let upgrade = format!(
            "GET /socket.io/?EIO={eio}&transport=websocket HTTP/1.1\r\nHost: x\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .into_bytes();
        // socket.io-client 2.x (v3) is connected to "/" at once; v4 asks.
        let connect = match eio {
            4 => ws_frame(0x1, b"40"),
            _ => Vec::new(),
        };
        let mut messages = Vec::new();
        for message in payload.split(|b| *b == 0x1e) {
            match message.split_first() {
                Some((0, binary)) => messages.extend(ws_frame(0x2, binary)),
                _ => messages.extend(ws_frame(0x1, String::from_utf8_lossy(message).as_bytes())),
            }
        }
        // The client's close frame last: the session ends with the input.
        let close = ws_frame(0x8, &1000u16.to_be_bytes());
        self.requests
            .serve_in_parts(&[&upgrade, &connect, &messages, &close])
    }
}

/// One polling request on its own connection (`Connection: close`).
fn request(method: &str, eio: u8, sid: Option<&str>, content_type: &str, body: &[u8]) -> Vec<u8> {
    let sid = sid.map(|sid| format!("&sid={sid}")).unwrap_or_default();
    let mut bytes = format!(
        "{method} /socket.io/?EIO={eio}&transport=polling{sid} HTTP/1.1\r\nHost: x\r\n\
         Connection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend(body);
    bytes
}

/// The sid in an answer to a handshake (the first `"sid":"…"`).
fn sid_of(answer: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(answer);
    let start = text.find("\"sid\":\"")? + 7;
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_owned())
}

/// A masked client websocket frame (zero mask key, so the payload is as is).
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend((len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend((len as u64).to_be_bytes());
        }
    }
    frame.extend([0, 0, 0, 0]);
    frame.extend(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(fuzzer: &RequestFuzzer, request: &str) -> String {
        String::from_utf8_lossy(&fuzzer.serve(request.as_bytes())).into_owned()
    }

    /// An input for `carrier`.
    fn input(carrier: Carrier, payload: &[u8]) -> Vec<u8> {
        let index = Carrier::ALL.iter().position(|c| *c == carrier).unwrap() as u8;
        let mut input = vec![index];
        input.extend(payload);
        input
    }

    /// Every carrier reaches the socket.io server with a session connected
    /// to `/`: an event with an ack id is answered (no route: `no_handler`).
    #[test]
    fn packets_reach_a_connected_socket_on_every_carrier() {
        let fuzzer = PacketFuzzer::new().unwrap();
        let cases: [(Carrier, &[u8]); 5] = [
            (Carrier::PollingV4, br#"421["chat","hi"]"#),
            (Carrier::PollingV3String, br#"16:421["chat","hi"]"#),
            (Carrier::PollingV3Binary, b"\x00\x01\x06\xff421[\"chat\",\"hi\"]"),
            (Carrier::WebsocketV4, br#"421["chat","hi"]"#),
            (Carrier::WebsocketV3, br#"421["chat","hi"]"#),
        ];
        for (carrier, payload) in cases {
            let answer = String::from_utf8_lossy(&fuzzer.feed(&input(carrier, payload))).into_owned();
            assert!(
                answer.contains("431[") && answer.contains("no_handler"),
                "{carrier:?}: {answer}"
            );
        }
    }

    /// Inputs that have broken parsers elsewhere, through the same entry
    /// point as the `engine_packets` and `sio_packets` fuzz targets: none
    /// may panic, and the gateway keeps serving.
    #[test]
    fn nasty_packets_never_panic_and_the_gateway_keeps_serving() {
        let fuzzer = PacketFuzzer::new().unwrap();
        let nasty: &[&[u8]] = &[
            b"",
            b"\x1e\x1e\x1e",
            b"4",
            b"40/",
            b"40/custom,{",
            b"4abc",
            b"42{}",
            b"42abc[\"x\"]",
            b"4299999999999999999999[\"x\"]",
            b"42-1[\"x\"]",
            b"42[]",
            b"42[null]",
            b"42[\"\\ud800\"]",
            b"45-[\"x\",{\"_placeholder\":true,\"num\":0}]",
            b"452-[\"x\",{\"_placeholder\":true,\"num\":7}]\x1e\x00\x01",
            b"4518446744073709551615-[\"x\"]",
            b"451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1e\x00\x01\x1e\x00\x02",
            b"461-1[{\"_placeholder\":true,\"num\":0}]\x1e\x00",
            b"\x00\x01\x02",
            b"b",
            b"b!!!",
            b"bAAEC",
            b"2probe\x1e5\x1e3probe",
            b"99999999999:4x",
            b"2:4\xc3",
            b"\x01\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\xff\x04",
            b"\x00\xff",
            b"\xff\xff\xff",
            b"41/nope,\x1e41\x1e41",
            b"40?x=1\x1e42?x=1,[\"x\"]",
            b"40{\"pid\":\"x\",\"offset\":\"y\"}",
            b"40{\"pid\":1,\"offset\":[]}",
        ];
        for payload in nasty {
            for carrier in Carrier::ALL {
                fuzzer.feed(&input(carrier, payload));
            }
        }
        let deep = format!("42[\"x\",{}{}]", "[".repeat(5000), "]".repeat(5000));
        let long = format!("452-[\"{}\"]", "x".repeat(200_000));
        for payload in [deep.as_bytes(), long.as_bytes()] {
            for carrier in Carrier::ALL {
                fuzzer.feed(&input(carrier, payload));
            }
        }
        let answer = String::from_utf8_lossy(&fuzzer.feed(&input(Carrier::PollingV4, b"41"))).into_owned();
        assert!(
            answer.contains("HTTP/1.1 200") && answer.contains("40{\"sid\""),
            "{answer}"
        );
    }

    /// The seeds of `fuzz/corpus/http_request` reach every front.
    #[test]
    fn requests_reach_the_real_router() {
        let fuzzer = RequestFuzzer::new().unwrap();
        let health = answer(&fuzzer, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
            "{health}"
        );
        let sio = answer(
            &fuzzer,
            "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(
            sio.starts_with("HTTP/1.1 200") && sio.contains("\"sid\""),
            "{sio}"
        );
        let mut upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            .to_vec();
        // A masked text frame (zero mask key, so the payload reads as is).
        let ping = br#"{"op":"ping"}"#;
        upgrade.extend([0x81, 0x80 | ping.len() as u8, 0, 0, 0, 0]);
        upgrade.extend(ping);
        let raw = String::from_utf8_lossy(&fuzzer.serve(&upgrade)).into_owned();
        // The session reads the frame, then the end of the stream: a lost
        // connection, which it drops without writing (so no pong here).
        assert!(raw.starts_with("HTTP/1.1 101"), "{raw}");
        let api = answer(
            &fuzzer,
            &format!("GET /api/rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\r\n"),
        );
        assert!(api.starts_with("HTTP/1.1 200"), "{api}");
        let garbage = answer(&fuzzer, "\u{0}\u{1}GET\r\n\r\n");
        assert!(
            garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
            "{garbage}"
        );
    }
}
