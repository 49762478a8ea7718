//! The `sockgate` binary: parse the command line, load the config, serve
//! until SIGINT or SIGTERM.

mod cli;
mod signal;

use anyhow::Context;
use clap::Parser;
use sockgate_app::{Gateway, GatewayConfig, DEFAULT_CONFIG_TOML};
use tracing::info;

use crate::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::DefaultConfig) => {
            use std::io::Write;
            std::io::stdout().write_all(DEFAULT_CONFIG_TOML.as_bytes())?;
            return Ok(());
        }
        Some(Command::Check) => {
            let loaded = GatewayConfig::load(cli.config.as_deref())?;
            use std::io::Write;
            std::io::stdout().write_all(loaded.effective.as_bytes())?;
            eprintln!("{}: ok", loaded.source);
            return Ok(());
        }
        None => {}
    }
    let loaded = GatewayConfig::load(cli.config.as_deref())?;
    let mut config = loaded.config;
    init_logging(config.log_json);
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    info!(config = %loaded.source, "starting sockgate {}", env!("CARGO_PKG_VERSION"));
    // Every connection is a file descriptor: use all the process may have.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => info!(limit, "open files limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open files limit"),
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?
        .block_on(serve(config))
}

/// Logs to stderr, as text or JSON lines, filtered by `RUST_LOG` (default `info`).
fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

async fn serve(config: GatewayConfig) -> anyhow::Result<()> {
    let running = Gateway::new(config)
        .await
        .context("cannot start the gateway")?
        .start()
        .await
        .context("cannot start the gateway")?;
    let signal = signal::shutdown().await;
    info!(signal, "shutting down");
    if !running.shut_down().await {
        tracing::warn!("server.shutdown_timeout passed before every client was gone");
    }
    Ok(())
}
