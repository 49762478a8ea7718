//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// One port for socket.io and raw WebSocket clients over one shared room bus.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    /// Config file (default: ./gateway.toml if present, else built-in defaults).
    #[arg(long, short, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Listen address, overriding `listen` from the config.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Validate the config (file, defaults and environment overrides) and
    /// print the settings in effect, secrets redacted; status 1 and the
    /// offending key when invalid.
    #[command(alias = "check-config")]
    Check,
    /// Print the default config file, every key commented.
    DefaultConfig,
}
