//! sockgate's server: the config file, the front listener that sends each
//! request to the right protocol front, and the serve loop.
//!
//! The protocol fronts (`sockgate-ws`, `sockgate-sio`) know nothing of each
//! other; they meet here, on one [`LocalBus`](sockgate_bus::LocalBus).

mod activity;
mod body_deadline;
mod client_addr;
mod config;
mod connect_rate;
mod console;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod metrics;
mod origin;
mod readiness;
mod rejection;
mod router;
mod tls;

pub use config::{
    ForwardedHeader, GatewayConfig, LoadedConfig, WebhookSettings, DEFAULT_CONFIG_TOML, ENV_OVERRIDES,
};
pub use error::{ConfigError, ServeError};
pub use gateway::{Gateway, RunningGateway};
pub use tls::TlsError;
