//! The gateway serving `https://` and `wss://` itself, with a self-signed
//! certificate the test makes with openssl.

use std::process::Command;

use serde_json::json;

use crate::util::{Gateway, SioClient, SioOptions};

fn self_signed(dir: &std::path::Path) -> (String, String) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success());
    let path = |name: &str| dir.join(name).display().to_string();
    (path("cert.pem"), path("key.pem"))
}

#[tokio::test]
async fn https_and_wss_serve_both_protocols() {
    let dir = std::env::temp_dir().join(format!("sockgate-e2e-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = self_signed(&dir);
    let gateway = Gateway::with_config(&format!("[tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n")).await;
    let base = format!("https://{}", gateway.addr);

    let health = Command::new("curl")
        .args(["-sk", &format!("{base}/healthz")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&health.stdout), "ok\n");
    let plain = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{}/healthz", gateway.addr),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "000",
        "plain HTTP is not served on a TLS port"
    );

    let mut listeners = Vec::new();
    for transports in ["websocket", "polling"] {
        let mut sio = SioClient::connect_with(
            &gateway,
            SioOptions {
                transports,
                url: Some(base.clone()),
                insecure_tls: true,
                ..SioOptions::default()
            },
        )
        .await;
        sio.join("secure").await;
        listeners.push(sio);
    }

    // A raw client over wss:// (Node's ws, trusting the test certificate).
    let script = format!(
        r#"const WebSocket = require("ws");
const ws = new WebSocket("wss://{}/ws", {{ ca: require("fs").readFileSync("{cert}") }});
ws.on("message", (m) => {{
  const f = JSON.parse(m);
  if (f.op === "open") ws.send(JSON.stringify({{op: "publish", room: "secure", event: "hello", data: "over wss", id: 1}}));
  if (f.op === "ack") {{ console.log(JSON.stringify(f)); ws.close(); }}
}});
ws.on("error", (e) => {{ console.log(JSON.stringify({{error: String(e)}})); process.exit(1); }});
setTimeout(() => process.exit(2), 8000);"#,
        gateway.addr
    );
    let raw = tokio::process::Command::new("node")
        .current_dir(crate::util::sio::js_dir())
        .args(["-e", &script])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&raw.stdout);
    assert_eq!(stdout.trim(), r#"{"op":"ack","id":1,"ok":true}"#, "{stdout}");
    for sio in &mut listeners {
        assert_eq!(sio.expect_event("hello").await, [json!("over wss")]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
