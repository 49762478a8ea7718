//! A raw RFC 6455 client speaking raw protocol v1.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::Response;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{QUIET, WAIT};

/// A connected raw client; its `open` frame has been read.
pub struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The sid from the `open` frame.
    pub sid: String,
    /// The whole `open` frame.
    pub open: Value,
    /// The handshake response.
    pub response: Response<Option<Vec<u8>>>,
    next_id: u64,
}

impl RawClient {
    /// Connects to `url` and reads the `open` frame.
    pub async fn connect(url: &str) -> RawClient {
        RawClient::connect_with_protocols(url, None).await
    }

    /// Connects over an already-open TCP stream (e.g. from a chosen source address).
    pub async fn connect_on(stream: TcpStream, url: &str) -> RawClient {
        let request = url.into_client_request().expect("request");
        let (ws, response) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .expect("connect failed");
        RawClient::opened(ws, response).await
    }

    /// Connects from `source` (a loopback address) with extra request headers.
    pub async fn connect_with_headers(
        url: &str,
        source: &str,
        port: u16,
        headers: &[(&str, &str)],
    ) -> RawClient {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
        let mut request = url.into_client_request().expect("request");
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let (ws, response) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .expect("connect failed");
        RawClient::opened(ws, response).await
    }

    /// Connects offering `Sec-WebSocket-Protocol: protocols`.
    pub async fn connect_with_protocols(url: &str, protocols: Option<&str>) -> RawClient {
        let mut request = url.into_client_request().expect("request");
        if let Some(protocols) = protocols {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", protocols.parse().expect("header"));
        }
        let (ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        RawClient::opened(ws, response).await
    }

    /// Reads the `open` frame of a fresh connection.
    async fn opened(
        ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
        response: Response<Option<Vec<u8>>>,
    ) -> RawClient {
        let mut client = RawClient {
            ws,
            sid: String::new(),
            open: Value::Null,
            response,
            next_id: 0,
        };
        let open = client.recv().await;
        assert_eq!(open["op"], "open", "first frame: {open}");
        assert_eq!(open["pingInterval"], 25000);
        client.sid = open["sid"].as_str().expect("sid").to_owned();
        client.open = open;
        client
    }

    /// Sends a text frame as is.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.expect("send");
    }

    /// Sends a text frame; false once the connection is gone.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::Text(text.into())).await.is_ok()
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends a request with a fresh id and returns its ack (events arriving
    /// first are returned in the second element).
    pub async fn request(&mut self, mut frame: Value) -> (Value, Vec<Value>) {
        self.next_id += 1;
        let id = self.next_id;
        frame["id"] = json!(id);
        self.send(frame).await;
        let mut before = Vec::new();
        loop {
            let frame = self.recv().await;
            if frame["op"] == "ack" && frame["id"] == id {
                return (frame, before);
            }
            before.push(frame);
        }
    }

    /// Joins a room and asserts the ack is ok.
    pub async fn join(&mut self, room: &str) {
        let (ack, _) = self.request(json!({"op": "join", "room": room})).await;
        assert_eq!(ack["ok"], true, "join {room}: {ack}");
    }

    /// Publishes and asserts the ack is ok.
    pub async fn publish(&mut self, room: &str, event: &str, data: Value) {
        let (ack, _) = self
            .request(json!({"op": "publish", "room": room, "event": event, "data": data}))
            .await;
        assert_eq!(ack["ok"], true, "publish to {room}: {ack}");
    }

    /// Publishes every one of `args` (`"args":[…]`) and asserts the ack is ok.
    pub async fn publish_args(&mut self, room: &str, event: &str, args: Value) {
        let (ack, _) = self
            .request(json!({"op": "publish", "room": room, "event": event, "args": args}))
            .await;
        assert_eq!(ack["ok"], true, "publish to {room}: {ack}");
    }

    /// The next JSON text frame (pings are answered and skipped).
    pub async fn recv(&mut self) -> Value {
        let text = tokio::time::timeout(WAIT, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) => return text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => panic!("expected a text frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("no frame arrived in time");
        serde_json::from_str(&text).expect("gateway frames are JSON")
    }

    /// The next room event; fails on anything else.
    pub async fn recv_event(&mut self) -> Value {
        let frame = self.recv().await;
        assert_eq!(frame["op"], "event", "expected an event, got {frame}");
        frame
    }

    /// Asserts nothing arrives for a short while.
    pub async fn assert_silent(&mut self) {
        if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(QUIET, self.ws.next()).await {
            panic!("expected silence, got {text}");
        }
    }

    /// Reads and discards whatever arrives within a moment.
    pub async fn recv_all_now(&mut self) {
        while let Ok(Some(Ok(_))) = tokio::time::timeout(QUIET, self.ws.next()).await {}
    }

    /// Reads until the gateway closes; returns its close frame (if any).
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
        .expect("the gateway did not close the connection")
    }

    /// Sends a raw message of any kind.
    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// Closes the connection cleanly.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Reads a stream until the gateway's close frame; fails on a text frame.
pub async fn close_frame_of<S>(
    ws: &mut S,
) -> (
    tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode,
    String,
)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code, frame.reason.to_string()),
            Some(Ok(Message::Text(text))) => panic!("expected a close frame, got {text}"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
