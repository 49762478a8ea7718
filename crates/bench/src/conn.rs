//! One benchmark client connection, speaking either sockgate's raw
//! protocol v1 or socket.io (engine.io v4 over websocket), through the
//! same small API: open, join, publish, read events.
//!
//! The socket.io side is a minimal engine.io client: it opens the default
//! namespace, sends events as `42[…]`, reads acks as `43…`, and answers
//! the server's pings (`2`) with pongs (`3`).

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Which protocol a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    /// sockgate's raw protocol v1 (JSON text frames).
    Raw,
    /// socket.io over the websocket transport.
    Sio,
}

/// Where a server's two fronts are.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `ws://host:port` without a path.
    pub(crate) base: String,
    /// Path of the raw front.
    pub(crate) raw_path: String,
    /// Path of the socket.io engine.
    pub(crate) sio_path: String,
}

impl Target {
    fn url(&self, protocol: Protocol) -> String {
        match protocol {
            Protocol::Raw => format!("{}{}", self.base, self.raw_path),
            Protocol::Sio => format!("{}{}?EIO=4&transport=websocket", self.base, self.sio_path),
        }
    }
}

type Socket = WebSocketStream<TcpStream>;

/// An open connection that has passed its protocol's handshake.
pub(crate) struct Conn {
    socket: Socket,
    protocol: Protocol,
    next_id: u64,
}

/// What [`Conn::next_text`] read.
pub(crate) enum Incoming {
    /// An application frame (raw JSON, or a socket.io packet).
    Text(String),
    /// The server closed the connection.
    Closed,
}

impl Conn {
    /// Connects to `target` (from `source`, when given) and completes the
    /// handshake: the raw `open` frame, or engine.io open + socket.io CONNECT.
    pub(crate) async fn open(
        target: &Target,
        protocol: Protocol,
        source: Option<IpAddr>,
    ) -> anyhow::Result<Conn> {
        let url = target.url(protocol);
        let request = url.as_str().into_client_request().context("bad url")?;
        let host = request.uri().host().context("url without host")?.to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .next()
            .context("host does not resolve")?;
        let tcp = match source {
            Some(ip) => {
                let socket = if ip.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(addr).await?
            }
            None => TcpStream::connect(addr).await?,
        };
        tcp.set_nodelay(true)?;
        // Small buffers: the load tool may hold tens of thousands of these.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (socket, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
            .await
            .with_context(|| format!("upgrade {url}"))?;
        let mut conn = Conn {
            socket,
            protocol,
            next_id: 0,
        };
        match protocol {
            Protocol::Raw => {
                conn.expect(|text| text.contains(r#""op":"open""#)).await?;
            }
            Protocol::Sio => {
                conn.expect(|text| text.starts_with('0')).await?;
                conn.send("40".to_owned()).await?;
                conn.expect(|text| text.starts_with("40")).await?;
            }
        }
        Ok(conn)
    }

    /// Joins `room` and waits for the ack.
    pub(crate) async fn join(&mut self, room: &str) -> anyhow::Result<()> {
        self.request("join", json!(room)).await
    }

    /// Publishes with an ack and waits for it.
    pub(crate) async fn publish_acked(&mut self, room: &str, event: &str, data: &str) -> anyhow::Result<()> {
        let data: serde_json::Value = serde_json::from_str(data)?;
        self.request("publish", json!({"room": room, "event": event, "data": data}))
            .await
    }

    /// Sends a publish without asking for an ack.
    pub(crate) async fn publish(&mut self, room: &str, event: &str, data: &str) -> anyhow::Result<()> {
        let frame = publish_frame(self.protocol, room, event, data);
        self.send(frame).await
    }

    /// The next application frame; socket.io pings are answered on the way.
    pub(crate) async fn next_text(&mut self) -> anyhow::Result<Incoming> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if self.protocol == Protocol::Sio && text.as_str() == "2" {
                        self.send("3".to_owned()).await?;
                        continue;
                    }
                    return Ok(Incoming::Text(text.as_str().to_owned()));
                }
                Some(Ok(Message::Close(_))) | None => return Ok(Incoming::Closed),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
            }
        }
    }

    /// Closes the connection cleanly.
    pub(crate) async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    async fn send(&mut self, text: String) -> anyhow::Result<()> {
        self.socket.send(Message::Text(text.into())).await?;
        Ok(())
    }

    async fn expect(&mut self, wanted: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        loop {
            match self.next_text().await? {
                Incoming::Text(text) if wanted(&text) => return Ok(()),
                Incoming::Text(_) => {}
                Incoming::Closed => bail!("closed during the handshake"),
            }
        }
    }

    /// Sends a control request with an id / ack and waits for a positive ack.
    async fn request(&mut self, op: &str, arg: serde_json::Value) -> anyhow::Result<()> {
        self.next_id += 1;
        let id = self.next_id;
        let frame = match self.protocol {
            Protocol::Raw => {
                let mut frame = match op {
                    "join" => json!({"op": "join", "room": arg}),
                    _ => {
                        let mut frame = arg;
                        frame["op"] = json!(op);
                        frame
                    }
                };
                frame["id"] = json!(id);
                frame.to_string()
            }
            Protocol::Sio => format!("42{id}{}", json!([op, arg])),
        };
        self.send(frame).await?;
        let (raw_ack, sio_ack) = (format!(r#""id":{id},"#), format!("43{id}["));
        loop {
            match self.next_text().await? {
                Incoming::Text(text) if text.contains(&raw_ack) || text.starts_with(&sio_ack) => {
                    if !text.contains(r#""ok":true"#) {
                        bail!("{op} refused: {text}");
                    }
                    return Ok(());
                }
                Incoming::Text(_) => {}
                Incoming::Closed => bail!("closed before the {op} ack"),
            }
        }
    }
}

/// A publish without an ack, as `protocol` writes it; `data` is JSON text.
pub(crate) fn publish_frame(protocol: Protocol, room: &str, event: &str, data: &str) -> String {
    let (room, event) = (json!(room), json!(event));
    match protocol {
        Protocol::Raw => format!(r#"{{"op":"publish","room":{room},"event":{event},"data":{data}}}"#),
        Protocol::Sio => format!(r#"42["publish",{{"room":{room},"event":{event},"data":{data}}}]"#),
    }
}

/// Recognises one event in either protocol's frames (raw `"event":"name"`,
/// socket.io `42["name",…]`) without parsing the JSON; built once, since
/// the load tool reads hundreds of thousands of deliveries a second.
pub(crate) struct EventMatcher {
    sio_prefix: String,
    raw_field: String,
}

impl EventMatcher {
    pub(crate) fn new(event: &str) -> Self {
        EventMatcher {
            sio_prefix: format!(r#"42["{event}""#),
            raw_field: format!(r#""event":"{event}""#),
        }
    }

    /// Whether `text` carries this event.
    pub(crate) fn matches(&self, text: &str) -> bool {
        text.starts_with(&self.sio_prefix) || text.contains(&self.raw_field)
    }
}

/// The unsigned integer after `needle` (a key with its quotes and colon,
/// such as `"n":`) in `text`, without parsing the JSON.
pub(crate) fn number_after(text: &str, needle: &str) -> Option<u64> {
    let start = text.find(needle)? + needle.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_of_both_protocols_without_parsing() {
        let raw = r#"{"op":"event","room":"b","event":"m","data":{"n":12,"t":3456,"pad":"x"}}"#;
        let sio = r#"42["m",{"n":12,"t":3456,"pad":"x"}]"#;
        let (m, done) = (EventMatcher::new("m"), EventMatcher::new("done"));
        for text in [raw, sio] {
            assert!(m.matches(text));
            assert!(!done.matches(text));
            assert_eq!(number_after(text, r#""n":"#), Some(12));
            assert_eq!(number_after(text, r#""t":"#), Some(3456));
            assert_eq!(number_after(text, r#""missing":"#), None);
        }
        assert_eq!(
            publish_frame(Protocol::Sio, "r", "m", "{}"),
            r#"42["publish",{"room":"r","event":"m","data":{}}]"#
        );
    }
}
