//! A socket.io client on the long-polling transport, for `idle
//! --transport polling`: as a browser holds one, with one keep-alive HTTP
//! connection that always has a GET pending (the server answers it when it
//! has something to say) and a second one for the client's POSTs (CONNECT,
//! the join, pongs).

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::conn::Target;

/// One HTTP/1.1 keep-alive connection.
struct Http {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Http {
    async fn connect(host: &str) -> anyhow::Result<Http> {
        let stream = TcpStream::connect(host)
            .await
            .with_context(|| format!("connect {host}"))?;
        stream.set_nodelay(true)?;
        Ok(Http {
            stream: BufReader::new(stream),
            host: host.to_owned(),
        })
    }

    /// Sends a request and reads its answer's body (a 200 is required).
    async fn request(&mut self, method: &str, path: &str, body: &str) -> anyhow::Result<String> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut status = String::new();
        self.stream.read_line(&mut status).await?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line).await? == 0 {
                bail!("connection closed in an answer's head");
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        if !status.contains(" 200 ") {
            bail!("{method} {path}: {}", status.trim_end());
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// A polling session connected to `/` and joined to a room.
pub(crate) struct PollingSession {
    poll: Http,
    push: Http,
    path: String,
}

impl PollingSession {
    /// Opens a session (engine.io handshake), connects `/` and joins `room`,
    /// each answer read from a poll.
    pub(crate) async fn open(target: &Target, room: &str, timeout: Duration) -> anyhow::Result<Self> {
        tokio::time::timeout(timeout, Self::open_now(target, room))
            .await
            .context("timed out")?
    }

    async fn open_now(target: &Target, room: &str) -> anyhow::Result<Self> {
        let host = target
            .base
            .trim_start_matches("ws://")
            .trim_start_matches("http://")
            .to_owned();
        let mut poll = Http::connect(&host).await?;
        let open = poll
            .request("GET", &format!("{}?EIO=4&transport=polling", target.sio_path), "")
            .await?;
        let sid = open
            .split("\"sid\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .context("no sid in the open packet")?
            .to_owned();
        let path = format!("{}?EIO=4&transport=polling&sid={sid}", target.sio_path);
        let mut session = PollingSession {
            push: Http::connect(&host).await?,
            poll,
            path,
        };
        session.post("40").await?;
        session.wait_for(|packet| packet.starts_with("40")).await?;
        session.post(&format!(r#"421["join","{room}"]"#)).await?;
        session.wait_for(|packet| packet.starts_with("431")).await?;
        Ok(session)
    }

    /// POSTs `payload`; a push connection the server closed while it was
    /// idle is opened again once.
    async fn post(&mut self, payload: &str) -> anyhow::Result<()> {
        if self.push.request("POST", &self.path, payload).await.is_err() {
            self.push = Http::connect(&self.push.host.clone()).await?;
            self.push.request("POST", &self.path, payload).await?;
        }
        Ok(())
    }

    /// Polls until a packet matching `wanted` arrives, answering pings.
    async fn wait_for(&mut self, wanted: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        loop {
            let payload = self.poll.request("GET", &self.path, "").await?;
            let mut found = false;
            for packet in payload.split('\x1e') {
                match packet {
                    "2" => self.post("3").await?,
                    "1" => bail!("the server closed the session"),
                    packet if wanted(packet) => found = true,
                    _ => {}
                }
            }
            if found {
                return Ok(());
            }
        }
    }

    /// Holds the session: a GET always pending, pings answered, until the
    /// session ends.
    pub(crate) async fn hold(mut self) {
        let _ = self.wait_for(|_| false).await;
    }
}
