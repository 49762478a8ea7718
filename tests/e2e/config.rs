//! The binary's command line and config checks, as an operator meets them.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::util::gateway::binary;

fn run(args: &[&str], config: Option<&str>) -> (bool, String, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sockgate-e2e-cli-{}-{unique}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(binary());
    command.current_dir(&dir).args(args);
    if let Some(config) = config {
        let path = dir.join("custom.toml");
        std::fs::write(&path, config).unwrap();
        command.arg("--config").arg(&path);
    }
    let output = command.output().expect("run sockgate");
    let _ = std::fs::remove_dir_all(&dir);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_key_stops_the_gateway_naming_the_key() {
    let (ok, _, stderr) = run(&[], Some("[raw]\npathz = [\"/x\"]\n"));
    assert!(!ok);
    assert!(stderr.contains("unknown field `pathz`"), "{stderr}");
}

#[test]
fn a_bad_value_stops_the_gateway_naming_the_key() {
    let (ok, _, stderr) = run(&[], Some("[limits]\noutbound_queue = 0\n"));
    assert!(!ok);
    assert!(
        stderr.contains("limits.outbound_queue: must be at least 1, got 0"),
        "{stderr}"
    );
}

#[test]
fn check_config_and_default_config() {
    let (ok, _, stderr) = run(&["check-config"], Some("listen = \"127.0.0.1:4000\"\n"));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("custom.toml: ok"), "{stderr}");
    let (ok, stdout, _) = run(&["default-config"], None);
    assert!(ok);
    assert_eq!(stdout, include_str!("../../gateway.toml"));
    let (ok, _, stderr) = run(&["check-config"], None);
    assert!(ok);
    assert!(stderr.contains("built-in defaults: ok"), "{stderr}");
}

#[test]
fn check_prints_the_settings_in_effect_with_secrets_from_the_environment_redacted() {
    let dir = std::env::temp_dir().join(format!("sockgate-e2e-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(&config, "[limits]\noutbound_queue = 7\n").unwrap();
    let output = Command::new(binary())
        .arg("check")
        .arg("--config")
        .arg(&config)
        .env("SOCKGATE_API_KEYS", "env-key-0123456789abc")
        .output()
        .expect("run sockgate check");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("outbound_queue = 7"), "{stdout}");
    assert!(stdout.contains("keys = [\"<redacted>\"]"), "{stdout}");
    assert!(!stdout.contains("env-key-0123456789abc"), "{stdout}");
}

#[test]
fn the_production_example_is_valid_and_has_no_demo() {
    let config = include_str!("../../examples/production/gateway.toml");
    let (ok, _, stderr) = run(&["check-config"], Some(config));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(&["check"], Some(config));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("demo_path = \"\""), "{stdout}");
}
