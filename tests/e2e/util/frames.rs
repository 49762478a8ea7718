//! A WebSocket client that writes frames byte by byte, for what a
//! well-behaved client library will not send: invalid UTF-8, fragmented
//! control frames, unmasked frames, reserved bits, random bytes.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Gateway, WAIT};

/// Opcodes (RFC 6455 section 5.2).
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The status code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// A hand-driven WebSocket connection.
pub struct FrameClient {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl FrameClient {
    /// Upgrades a fresh TCP connection on `path`; panics unless the answer is 101.
    pub async fn connect(gateway: &Gateway, path: &str) -> FrameClient {
        let stream = TcpStream::connect(gateway.addr).await.expect("connect");
        FrameClient::upgrade(stream, gateway.addr, path).await
    }

    /// Like [`FrameClient::connect`], to the gateway at `addr` from the
    /// loopback address `source`.
    pub async fn connect_from(addr: SocketAddr, path: &str, source: &str) -> FrameClient {
        FrameClient::upgrade(tcp_from(source, addr).await, addr, path).await
    }

    async fn upgrade(mut stream: TcpStream, addr: SocketAddr, path: &str) -> FrameClient {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write upgrade");
        let mut client = FrameClient {
            stream,
            buffer: Vec::new(),
        };
        let head_end = loop {
            if let Some(end) = client.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            assert!(client.fill().await, "connection closed during the handshake");
        };
        let head = String::from_utf8_lossy(&client.buffer[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        client.buffer.drain(..head_end);
        client
    }

    /// Sends one masked frame.
    pub async fn send(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.send_raw(u8::from(fin) << 7 | opcode, true, payload).await;
    }

    /// Sends one frame with the given first byte (FIN, RSV bits, opcode),
    /// masked or not. Write errors are ignored: the server may have hung up.
    pub async fn send_raw(&mut self, first: u8, masked: bool, payload: &[u8]) {
        let mut frame = vec![first];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            len @ 0..=125 => frame.push(mask_bit | len as u8),
            len @ 126..=65535 => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if masked {
            let key = [0x37, 0xfa, 0x21, 0x3d];
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            frame.extend_from_slice(payload);
        }
        let _ = self.stream.write_all(&frame).await;
    }

    /// Sends bytes as they are.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Ends the client's side of the TCP connection (a FIN, no close frame).
    pub async fn finish_writing(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// The next frame, or `None` once the server has closed the connection.
    pub async fn recv(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some((frame, used)) = parse(&self.buffer) {
                    self.buffer.drain(..used);
                    return Some(frame);
                }
                if !self.fill().await {
                    return None;
                }
            }
        })
        .await
        .expect("the server neither sent a frame nor closed")
    }

    /// Reads past data frames to the server's close frame and returns it;
    /// panics if the connection ends without one.
    pub async fn expect_close(&mut self) -> Frame {
        loop {
            match self.recv().await {
                Some(frame) if frame.opcode == CLOSE => return frame,
                Some(_) => {}
                None => panic!("the connection ended without a close frame"),
            }
        }
    }

    /// Whether the server ends the TCP connection (after its close frame).
    pub async fn expect_eof(&mut self) {
        while self.recv().await.is_some() {}
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// A TCP connection to the gateway from the loopback address `source`
/// (127.0.0.2 and up), so that one test can play several client addresses.
pub async fn tcp_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source address"))
        .expect("bind source address");
    socket.connect(addr).await.expect("connect")
}

/// One unmasked server frame from the front of `bytes`, and its length.
fn parse(bytes: &[u8]) -> Option<(Frame, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    assert_eq!(second & 0x80, 0, "server frames are never masked");
    let (len, header) = match second & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        len => (usize::from(len), 2),
    };
    let payload = bytes.get(header..header + len)?.to_vec();
    let frame = Frame {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
        payload,
    };
    Some((frame, header + len))
}
