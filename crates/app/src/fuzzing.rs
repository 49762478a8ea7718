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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(FuzzerError::Runtime)?;
        let mut config = GatewayConfig::defaults();
        config.api.keys = vec![API_KEY.to_owned()];
        config.allowed_origins = vec![ALLOWED_ORIGIN.to_owned()];
        let gateway = runtime.block_on(Gateway::new(config))?;
        Ok(RequestFuzzer { runtime, gateway })
    }

    /// Sends `bytes` as everything a client says on one connection, closes
    /// its sending side, and returns all the gateway answered (cut off
    /// after a short timeout).
    pub fn serve(&self, bytes: &[u8]) -> Vec<u8> {
        self.runtime.block_on(async {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let connection = tokio::spawn(self.gateway.serve_io(server, PEER));
            let (mut reader, mut writer) = tokio::io::split(client);
            let mut answer = Vec::new();
            let send = async {
                let _ = writer.write_all(bytes).await;
                let _ = writer.shutdown().await;
            };
            // A read error just ends the answer: what came so far is kept.
            let exchange = async {
                let _ = tokio::join!(send, reader.read_to_end(&mut answer));
            };
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, exchange).await;
            connection.abort();
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(fuzzer: &RequestFuzzer, request: &str) -> String {
        String::from_utf8_lossy(&fuzzer.serve(request.as_bytes())).into_owned()
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
