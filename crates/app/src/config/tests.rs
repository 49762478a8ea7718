use super::*;
use std::time::Duration;

fn error_of(text: &str) -> String {
    GatewayConfig::from_toml(text).unwrap_err().to_string()
}

#[test]
fn the_shipped_gateway_toml_equals_the_built_in_defaults() {
    let file = GatewayConfig::from_toml(DEFAULT_CONFIG_TOML).unwrap();
    let defaults = GatewayConfig::defaults();
    assert_eq!(format!("{file:?}"), format!("{defaults:?}"));
    assert_eq!(defaults.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(defaults.socketio.path, "/socket.io/");
    assert_eq!(defaults.raw_paths, ["/ws"]);
    assert_eq!(defaults.raw.max_message_bytes, 65536);
}

#[test]
fn the_upgrade_timeout_is_nodes_by_default_and_must_be_positive() {
    assert_eq!(
        GatewayConfig::defaults().socketio.upgrade_timeout,
        Duration::from_secs(10)
    );
    let config = GatewayConfig::from_toml("[socketio]\nupgrade_timeout = \"3s\"").unwrap();
    assert_eq!(config.socketio.upgrade_timeout, Duration::from_secs(3));
    assert_eq!(
        error_of("[socketio]\nupgrade_timeout = \"0s\""),
        "socketio.upgrade_timeout: must be longer than 0s"
    );
}

#[test]
fn an_empty_file_means_defaults() {
    let empty = GatewayConfig::from_toml("").unwrap();
    assert_eq!(format!("{empty:?}"), format!("{:?}", GatewayConfig::defaults()));
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let message = error_of("[raw]\npathz = [\"/x\"]\n");
    assert!(message.contains("unknown field `pathz`"), "{message}");
    let message = error_of("lisen = \"1.2.3.4:5\"\n");
    assert!(message.contains("unknown field `lisen`"), "{message}");
}

#[test]
fn bad_values_name_the_key() {
    assert_eq!(
        error_of("listen = \"nowhere\""),
        "listen: \"nowhere\" is not an IP:port address"
    );
    assert_eq!(
        error_of("[raw]\npaths = [\"/ws\", \"ws2\"]"),
        "raw.paths[1]: \"ws2\" must be an absolute path like \"/ws\""
    );
    assert_eq!(
        error_of("[raw]\npaths = [\"/socket.io/raw\"]"),
        "raw.paths[0]: \"/socket.io/raw\" is inside socketio.path \"/socket.io/\""
    );
    assert_eq!(
        error_of("[limits]\noutbound_queue = 0"),
        "limits.outbound_queue: must be at least 1, got 0"
    );
    assert_eq!(
        error_of("[limits]\nmax_queued_bytes = 1000"),
        "limits.max_queued_bytes: must be at least 65536, got 1000"
    );
    assert_eq!(
        error_of("[limits]\nconnect_burst_per_ip = 0"),
        "limits.connect_burst_per_ip: must be at least 1, got 0"
    );
    assert_eq!(
        error_of("[diagnostics]\necho_path = \"/ws\""),
        "diagnostics.echo_path: \"/ws\" is already socket.io's or a raw path"
    );
    assert_eq!(
        error_of("[socketio]\nping_interval = \"0s\""),
        "socketio.ping_interval: must be longer than 0s"
    );
    assert_eq!(
        error_of("[events]\njoin = \"disconnect\""),
        "events.join: \"disconnect\" is empty or reserved by socket.io"
    );
    assert!(error_of("[rooms]\nallow_join = [\"[x\"]").starts_with("rooms: invalid room pattern \"[x\""));
    let message = error_of("[socketio]\nping_interval = \"soon\"");
    assert!(message.contains("ping_interval"), "{message}");
}

#[test]
fn api_settings_are_checked() {
    assert_eq!(
        error_of("[api]\nkeys = [\"short\"]"),
        "api.keys[0]: an API key is at least 16 visible ASCII characters (use a long random string)"
    );
    assert_eq!(
        error_of("[api]\npath = \"/socket.io/api\""),
        "api.path: \"/socket.io/api\" overlaps socketio.path \"/socket.io/\""
    );
    assert_eq!(
        error_of("[api]\npath = \"/ws\""),
        "api.path: \"/ws\" overlaps raw path \"/ws\""
    );
    let config =
        GatewayConfig::from_toml("[api]\npath = \"/admin/api/\"\nkeys = [\"0123456789abcdef\"]").unwrap();
    assert_eq!(config.api.path, "/admin/api");
}

#[test]
fn console_pages_are_checked() {
    assert_eq!(
        error_of("[console]\ndemo_path = \"/ws\""),
        "console.demo_path: \"/ws\" is taken by \"/ws\""
    );
    assert_eq!(
        error_of("[console]\nadmin_path = \"/socket.io/admin\""),
        "console.admin_path: \"/socket.io/admin\" is taken by \"/socket.io/\""
    );
    assert_eq!(
        error_of("[console]\nadmin_path = \"/\""),
        "console.admin_path: \"/\" would shadow every other path"
    );
    assert_eq!(
        error_of("[console]\nadmin_path = \"/demo\""),
        "console.admin_path: must differ from console.demo_path"
    );
    let config = GatewayConfig::from_toml("[console]\ndemo_path = \"\"\nadmin_path = \"/ops/\"").unwrap();
    assert_eq!(config.demo_path, None);
    assert_eq!(config.admin_path.as_deref(), Some("/ops"));
}

#[test]
fn auth_settings_are_checked() {
    assert_eq!(
        error_of("[auth]\nrequired = true"),
        "auth.required: needs a way to authenticate: set a key in [auth.jwt] or auth.webhook_url"
    );
    assert_eq!(
        error_of("[auth.jwt]\nhs256_secret = \"short\""),
        "auth.jwt.hs256_secret: use at least 16 characters"
    );
    assert!(error_of("[auth.jwt]\nrs256_public_key = \"/nonexistent.pem\"")
        .starts_with("auth.jwt.rs256_public_key: cannot read \"/nonexistent.pem\""));
    assert!(error_of(
        "[auth.jwt]\nes256_public_key = \"-----BEGIN PUBLIC KEY-----\\nnope\\n-----END PUBLIC KEY-----\""
    )
    .starts_with("auth.jwt.es256_public_key: not an EC public key in PEM"));
    let config =
        GatewayConfig::from_toml("[auth]\nrequired = true\n[auth.jwt]\nhs256_secret = \"0123456789abcdef\"")
            .unwrap();
    assert!(config.auth.required && config.auth.authenticator.is_some());
}

#[test]
fn webhook_settings_are_checked() {
    assert_eq!(
        error_of("[webhooks]\ndisconnect_url = \"ftp://x\""),
        "webhooks.disconnect_url: \"ftp://x\" is not an http:// or https:// URL"
    );
    assert_eq!(
        error_of("[[webhooks.routes]]\nevents = []\nurl = \"http://b\""),
        "webhooks.routes[0].events: name at least one event pattern"
    );
    assert!(
        error_of("[[webhooks.routes]]\nevents = [\"[x\"]\nurl = \"http://b\"")
            .starts_with("webhooks.routes[0].events: invalid event pattern")
    );
    assert_eq!(
        error_of("[auth]\nwebhook_url = \"http://b/c\"\n[auth.jwt]\nhs256_secret = \"0123456789abcdef\""),
        "auth.webhook_url: use either the connect webhook or [auth.jwt], not both"
    );
    let config = GatewayConfig::from_toml(
        "[auth]\nrequired = true\nwebhook_url = \"http://127.0.0.1:9/c\"\n[[webhooks.routes]]\nevents = [\"chat:*\"]\nurl = \"http://127.0.0.1:9/e\"",
    )
    .unwrap();
    assert_eq!(config.webhooks.routes.len(), 1);
    assert_eq!(
        config.webhooks.connect_url.as_deref(),
        Some("http://127.0.0.1:9/c")
    );
}

#[test]
fn socketio_path_is_normalised_to_a_trailing_slash() {
    let config = GatewayConfig::from_toml("[socketio]\npath = \"/rt/socket.io\"").unwrap();
    assert_eq!(config.socketio.path, "/rt/socket.io/");
}

#[test]
fn secrets_come_from_the_environment_and_are_never_shown() {
    let env = |name: &str| match name {
        "SOCKGATE_API_KEYS" => Some("first-key-0123456789, second-key-0123456789".to_owned()),
        "SOCKGATE_JWT_HS256_SECRET" => Some("env-secret-0123456789".to_owned()),
        _ => None,
    };
    let (config, effective) =
        GatewayConfig::from_toml_with_env("[api]\nkeys = [\"file-key-0123456789\"]", env).unwrap();
    assert_eq!(config.api.keys, ["first-key-0123456789", "second-key-0123456789"]);
    assert!(config.auth.authenticator.is_some());
    assert!(
        effective.contains("keys = [\n    \"<redacted>\",\n    \"<redacted>\",\n]"),
        "{effective}"
    );
    assert!(effective.contains("hs256_secret = \"<redacted>\""), "{effective}");
    assert!(!effective.contains("0123456789"), "{effective}");
    assert!(effective.contains("listen = \"127.0.0.1:3000\""), "{effective}");
}

#[test]
fn log_format_is_text_or_json() {
    assert!(
        GatewayConfig::from_toml("[log]\nformat = \"json\"")
            .unwrap()
            .log_json
    );
    assert_eq!(
        error_of("[log]\nformat = \"xml\""),
        "log.format: \"xml\": use \"text\" or \"json\""
    );
}
