//! Connect auth with JWTs on both protocols, and addressing users.

use jsonwebtoken::Algorithm;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::util::api::api_config;
use crate::util::jwt::{claims, now_plus, Keys};
use crate::util::{close_frame_of, Gateway, RawClient, SioClient, SioOptions};

fn sio_with_token(token: &str) -> SioOptions {
    SioOptions {
        auth: Some(json!({"token": token})),
        ..SioOptions::default()
    }
}

async fn raw_refusal(url: &str) -> (CloseCode, String) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the upgrade itself succeeds");
    close_frame_of(&mut ws).await
}

#[tokio::test]
async fn each_key_type_authenticates_both_protocols() {
    let keys = Keys::get();
    let gateway = Gateway::with_config(&keys.config("required = true")).await;
    for (alg, user) in [
        (Algorithm::HS256, "h"),
        (Algorithm::RS256, "r"),
        (Algorithm::ES256, "e"),
    ] {
        let token = keys.token(alg, &claims(user));
        let raw = RawClient::connect(&gateway.ws_url(&format!("/ws?token={token}"))).await;
        assert_eq!(raw.open["user"], user, "{alg:?}");
        let sio = SioClient::connect_with(&gateway, sio_with_token(&token)).await;
        assert!(!sio.id.is_empty(), "{alg:?}");
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_clear_reason() {
    let keys = Keys::get();
    let gateway = Gateway::with_config(&keys.config("")).await;
    let expired = keys.token(Algorithm::HS256, &json!({"sub": "42", "exp": now_plus(-3600)}));

    let (code, reason) = raw_refusal(&gateway.ws_url(&format!("/ws?token={expired}"))).await;
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::from(4001), "invalid token: token expired")
    );
    let mut sio = SioClient::spawn(&gateway, sio_with_token(&expired)).await;
    assert_eq!(
        sio.expect_type("connect_error").await["message"],
        "invalid token: token expired"
    );

    let (code, reason) = raw_refusal(&gateway.ws_url("/ws?token=not.a.jwt")).await;
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::from(4001), "invalid token: malformed token")
    );

    // auth.required is off here: no token at all is anonymous and fine.
    let anonymous = RawClient::connect(&gateway.ws_url("/ws")).await;
    assert!(anonymous.open.get("user").is_none());
    SioClient::connect(&gateway).await;
}

#[tokio::test]
async fn when_auth_is_required_raw_clients_may_send_the_token_as_their_first_frame() {
    let keys = Keys::get();
    let gateway = Gateway::with_config(&keys.config("required = true\ntimeout = \"1s\"")).await;
    let token = keys.token(Algorithm::ES256, &claims("frame-user"));

    let (mut ws, _) = tokio_tungstenite::connect_async(gateway.ws_url("/ws"))
        .await
        .unwrap();
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::Text(
        json!({"op": "auth", "token": token}).to_string().into(),
    ))
    .await
    .unwrap();
    let open = match ws.next().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        other => panic!("expected open, got {other:?}"),
    };
    assert_eq!(open["op"], "open");
    assert_eq!(open["user"], "frame-user");

    // Anything else first is refused…
    let (mut ws, _) = tokio_tungstenite::connect_async(gateway.ws_url("/ws"))
        .await
        .unwrap();
    ws.send(Message::Text(r#"{"op":"join","room":"r"}"#.into()))
        .await
        .unwrap();
    let (code, reason) = close_frame_of(&mut ws).await;
    assert_eq!(code, CloseCode::from(4001));
    assert!(reason.contains("the first frame must be"), "{reason}");
    // …and so is silence past auth.timeout.
    let (code, reason) = raw_refusal(&gateway.ws_url("/ws")).await;
    assert_eq!(code, CloseCode::from(4001));
    assert!(reason.contains("auth.timeout"), "{reason}");

    let mut sio = SioClient::spawn(&gateway, SioOptions::default()).await;
    assert_eq!(
        sio.expect_type("connect_error").await["message"],
        "authentication required: send a token"
    );
}

#[tokio::test]
async fn socketio_v2_clients_send_the_token_in_the_query() {
    let keys = Keys::get();
    let gateway = Gateway::with_config(&keys.config("required = true")).await;
    let token = keys.token(Algorithm::HS256, &claims("old-client"));
    let mut raw = RawClient::connect(&gateway.ws_url(&format!("/ws?token={token}"))).await;
    raw.join("r").await;
    let mut old = SioClient::connect_with(
        &gateway,
        SioOptions {
            client: "v2",
            query: Some(json!({"token": token})),
            ..SioOptions::default()
        },
    )
    .await;
    old.publish("r", "hi", json!("from v2")).await;
    assert_eq!(raw.recv_event().await["data"], "from v2");
}

#[tokio::test]
async fn the_rooms_claim_is_joined_at_connect() {
    let keys = Keys::get();
    let gateway = Gateway::with_config(&keys.config("")).await;
    let token = keys.token(
        Algorithm::HS256,
        &json!({"sub": "7", "exp": now_plus(60), "rooms": ["act42", "team:blue"]}),
    );
    let mut raw = RawClient::connect(&gateway.ws_url(&format!("/ws?token={token}"))).await;
    let mut sio = SioClient::connect_with(&gateway, sio_with_token(&token)).await;
    let mut publisher = RawClient::connect(&gateway.ws_url("/ws")).await;
    publisher.publish("team:blue", "hello", json!("blue team")).await;
    assert_eq!(raw.recv_event().await["data"], "blue team");
    assert_eq!(sio.expect_event("hello").await, [json!("blue team")]);
}

#[tokio::test]
async fn the_backend_addresses_every_device_of_a_user() {
    let keys = Keys::get();
    let gateway = Gateway::with_config(&format!("{}{}", api_config(), keys.config(""))).await;
    let alice = keys.token(Algorithm::HS256, &claims("alice"));
    let bob = keys.token(Algorithm::HS256, &claims("bob"));
    let mut phone = RawClient::connect(&gateway.ws_url(&format!("/ws?token={alice}"))).await;
    let mut browser = SioClient::connect_with(&gateway, sio_with_token(&alice)).await;
    let mut other = RawClient::connect(&gateway.ws_url(&format!("/ws?token={bob}"))).await;

    // Clients cannot join other users' rooms.
    let (ack, _) = other.request(json!({"op": "join", "room": "user:alice"})).await;
    assert_eq!(ack["error"]["code"], "forbidden");

    let response = gateway
        .api_post(
            "/api/emit",
            &json!({"user": "alice", "event": "notice", "data": "you have mail"}),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        phone.recv_event().await,
        json!({"op": "event", "room": "user:alice", "event": "notice", "data": "you have mail"})
    );
    assert_eq!(browser.expect_event("notice").await, [json!("you have mail")]);
    other.assert_silent().await;

    let info = gateway
        .api_get(&format!("/api/connections/{}", browser.id))
        .await
        .body;
    assert_eq!(info["result"]["user"], "alice");
    assert_eq!(info["result"]["rooms"], json!(["user:alice"]));

    let response = gateway
        .api_post("/api/join", &json!({"user": "alice", "room": "vip"}))
        .await;
    assert_eq!(response.body, json!({"result": {"connections": 2}}));
    other.publish("vip", "e", json!(1)).await;
    assert_eq!(phone.recv_event().await["room"], "vip");
    assert_eq!(browser.expect_event("e").await, [json!(1)]);

    let response = gateway
        .api_post("/api/disconnect", &json!({"user": "alice"}))
        .await;
    assert_eq!(response.body, json!({"result": {"connections": 2}}));
    assert_eq!(
        phone.expect_close().await.expect("close").code,
        CloseCode::from(4000)
    );
    assert_eq!(
        browser.expect_type("disconnect").await["reason"],
        "io server disconnect"
    );
}

/// Regression (outside probe): with `issuer` and `audience` configured, a
/// token carrying neither claim opened a connection, and one whose `nbf`
/// lay a day ahead was accepted. Both are refused now, on both protocols.
#[tokio::test]
async fn tokens_without_the_configured_issuer_and_audience_or_not_yet_valid_are_refused() {
    let keys = Keys::get();
    let config = format!(
        "{}issuer = \"https://auth.example\"\naudience = \"chat\"\n",
        keys.config("")
    );
    let gateway = Gateway::with_config(&config).await;
    let token = |claims: serde_json::Value| keys.token(Algorithm::HS256, &claims);
    // A token with neither claim is refused for one of them (which one
    // jsonwebtoken names first is not fixed).
    let bare = token(json!({"sub": "42", "exp": now_plus(60)}));
    let (code, reason) = raw_refusal(&gateway.ws_url(&format!("/ws?token={bare}"))).await;
    assert_eq!(code, CloseCode::from(4001));
    assert!(reason.starts_with("invalid token: missing claim"), "{reason}");
    let mut sio = SioClient::spawn(&gateway, sio_with_token(&bare)).await;
    let message = sio.expect_type("connect_error").await["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .starts_with("invalid token: missing claim"),
        "{message}"
    );
    let cases = [
        (
            token(json!({"sub": "42", "exp": now_plus(60), "iss": "https://auth.example"})),
            "invalid token: missing claim \"aud\"",
        ),
        (
            token(
                json!({"sub": "42", "exp": now_plus(90_000), "nbf": now_plus(86_400),
                         "iss": "https://auth.example", "aud": "chat"}),
            ),
            "invalid token: token not valid yet (nbf)",
        ),
    ];
    for (refused, why) in &cases {
        let (code, reason) = raw_refusal(&gateway.ws_url(&format!("/ws?token={refused}"))).await;
        assert_eq!((code, reason.as_str()), (CloseCode::from(4001), *why));
        let mut sio = SioClient::spawn(&gateway, sio_with_token(refused)).await;
        assert_eq!(sio.expect_type("connect_error").await["message"], *why);
    }
    // The same token with both claims and no future nbf gets in.
    let good = token(json!({"sub": "42", "exp": now_plus(60), "nbf": now_plus(-5),
                            "iss": "https://auth.example", "aud": "chat"}));
    let raw = RawClient::connect(&gateway.ws_url(&format!("/ws?token={good}"))).await;
    assert_eq!(raw.open["user"], "42");
    SioClient::connect_with(&gateway, sio_with_token(&good)).await;
}
