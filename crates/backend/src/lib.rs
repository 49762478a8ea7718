//! sockgate's backend integration: the server HTTP API through which the
//! team's own backend emits to rooms, users and connections, moves
//! connections between rooms, disconnects them, and inspects rooms and
//! connections (`docs/api.md`); and the webhooks through which the gateway
//! asks the backend who may connect and what client events mean
//! (`docs/webhooks.md`).

mod activity;
mod api;
mod auth;
mod connect;
mod error;
mod events;
mod requests;
mod webhook;

use std::sync::Arc;

pub use activity::{Activity, ConnectionCounts, History, Sample, Stats};
pub use api::{Api, ApiConfig};
pub use connect::ConnectWebhook;
pub use error::ApiError;
pub use events::{EventRoute, EventWebhooks, RouteError};
pub use webhook::{WebhookClientError, WebhookConfig, WebhookMetrics, WebhookSnapshot};

use sockgate_core::ServerBus;

/// Builds the webhooks over one shared HTTP client.
#[derive(Clone)]
pub struct Webhooks {
    client: Arc<webhook::WebhookClient>,
}

impl Webhooks {
    /// A client with the given settings.
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookClientError> {
        Ok(Webhooks {
            client: Arc::new(webhook::WebhookClient::new(config)?),
        })
    }

    /// Counters of the calls made so far.
    pub fn metrics(&self) -> WebhookSnapshot {
        self.client.metrics().snapshot()
    }

    /// Resolves once no webhook call is in flight (graceful shutdown).
    pub async fn idle(&self) {
        self.client.idle().await;
    }

    /// The connect webhook at `url`.
    pub fn connect(&self, url: String) -> ConnectWebhook {
        ConnectWebhook::new(self.client.clone(), url)
    }

    /// The event (and disconnect) webhooks.
    pub fn events(
        &self,
        routes: &[EventRoute],
        disconnect_url: Option<String>,
        bus: Arc<dyn ServerBus>,
    ) -> Result<EventWebhooks, RouteError> {
        EventWebhooks::new(self.client.clone(), routes, disconnect_url, bus)
    }
}
