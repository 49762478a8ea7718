//! sockgate behind a real nginx, with the configuration `docs/deploy-nginx.md`
//! documents: socket.io over websocket and polling, raw WebSocket, and the
//! client address the gateway sees through the proxy.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpSocket;
use tokio::process::{Child, Command};

use crate::util::api::api_config;
use crate::util::{Gateway, RawClient, SioClient, SioOptions, WAIT};

/// The proxy part of `docs/deploy-nginx.md`, pointed at `upstream`.
fn nginx_conf(dir: &std::path::Path, listen: u16, upstream: std::net::SocketAddr) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream sockgate {{
        server {upstream};
    }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://sockgate;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 75s;
            proxy_send_timeout 75s;
            proxy_buffering off;
        }}
    }}
}}
"#
    )
}

/// A running nginx, stopped when dropped.
struct Nginx {
    _child: Child,
    port: u16,
    _dir: std::path::PathBuf,
}

async fn start_nginx(upstream: std::net::SocketAddr) -> Nginx {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("sockgate-e2e-nginx-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&dir, port, upstream)).unwrap();
    let binary = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|b| std::path::Path::new(b).exists())
        .unwrap_or("nginx");
    let child = Command::new(binary)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx (tests/run installs it)");
    tokio::time::timeout(WAIT, async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("nginx did not start listening");
    Nginx {
        _child: child,
        port,
        _dir: dir,
    }
}

/// A raw client whose connection comes from `source` (a loopback address).
async fn raw_from(source: &str, url: &str, port: u16) -> RawClient {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    RawClient::connect_on(stream, url).await
}

#[tokio::test]
async fn both_protocols_work_through_nginx_and_the_gateway_sees_the_real_client() {
    let config = format!("{}[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n", api_config());
    let gateway = Gateway::with_config(&config).await;
    let nginx = start_nginx(gateway.addr).await;
    let proxied = format!("ws://127.0.0.1:{}/ws", nginx.port);

    // A raw client from 127.0.0.2, through nginx (which connects from 127.0.0.1).
    let mut raw = raw_from("127.0.0.2", &proxied, nginx.port).await;
    raw.join("r").await;
    let info = gateway
        .api_get(&format!("/api/connections/{}", raw.sid))
        .await
        .body;
    assert_eq!(info["result"]["peer"], "127.0.0.2:0", "{info}");

    // socket.io over websocket and over long-polling, through nginx.
    for transports in ["websocket", "polling"] {
        let mut sio = SioClient::connect_with(
            &gateway,
            SioOptions {
                transports,
                url: Some(format!("http://127.0.0.1:{}", nginx.port)),
                ..SioOptions::default()
            },
        )
        .await;
        assert_eq!(sio.transport, transports);
        sio.join("r").await;
        sio.publish("r", "hi", json!(transports)).await;
        assert_eq!(raw.recv_event().await["data"], transports);
        raw.publish("r", "back", json!("to you")).await;
        assert_eq!(sio.expect_event("back").await, [json!("to you")]);
    }

    // A client that talks to the gateway directly cannot claim an address:
    // its peer (127.0.0.3) is not a trusted proxy.
    let direct = format!("ws://{}/ws", gateway.addr);
    let mut liar = RawClient::connect_with_headers(
        &direct,
        "127.0.0.3",
        gateway.addr.port(),
        &[("x-forwarded-for", "203.0.113.66")],
    )
    .await;
    liar.join("r").await;
    let info = gateway
        .api_get(&format!("/api/connections/{}", liar.sid))
        .await
        .body;
    assert!(
        info["result"]["peer"].as_str().unwrap().starts_with("127.0.0.3:"),
        "{info}"
    );
}
