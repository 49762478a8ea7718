//! The HTTP client every webhook goes through: one connection pool, a
//! timeout per call, and a bounded number of calls in flight per backend.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::debug;

/// Settings shared by all webhooks (`[webhooks]`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Time one call may take, waiting for a free slot included (`webhooks.timeout`).
    pub timeout: Duration,
    /// Calls in flight per backend origin (`webhooks.max_concurrency`).
    pub max_concurrency: usize,
    /// Largest answer read, in bytes (`webhooks.max_response_bytes`).
    pub max_response_bytes: usize,
    /// Sent as `Authorization: Bearer <secret>` when set (`webhooks.secret`).
    pub secret: Option<String>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: Duration::from_secs(5),
            max_concurrency: 64,
            max_response_bytes: 1024 * 1024,
            secret: None,
        }
    }
}

/// Why a webhook call produced no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CallError {
    /// No answer (or no free slot) within the timeout.
    #[error("no answer within the timeout")]
    Timeout,
    /// Connection refused, non-2xx status, or an answer that is not JSON.
    #[error("{0}")]
    Unavailable(String),
}

/// The webhooks' HTTP client could not be built (reqwest could not set
/// up TLS, say). Without it, no webhook can keep its user agent, connect
/// timeout or refusal to follow redirects, so the gateway does not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhooks' HTTP client: {0}")]
pub struct WebhookClientError(#[source] reqwest::Error);

/// Posts JSON to backends and reads their JSON answers.
pub(crate) struct WebhookClient {
    http: reqwest::Client,
    config: WebhookConfig,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    in_flight: AtomicUsize,
    metrics: WebhookMetrics,
}

/// Counters of webhook calls (notifications included).
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    calls: AtomicU64,
    failures: AtomicU64,
    timeouts: AtomicU64,
    latency_micros: AtomicU64,
}

/// A copy of [`WebhookMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookSnapshot {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed (refused, non-2xx, unusable answer).
    pub failures: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// Total time of finished calls, in microseconds.
    pub latency_micros: u64,
}

impl WebhookMetrics {
    fn record(&self, started: std::time::Instant, outcome: &Result<Value, CallError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.fetch_add(micros, Ordering::Relaxed);
        match outcome {
            Ok(_) => {}
            Err(CallError::Timeout) => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Err(CallError::Unavailable(_)) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> WebhookSnapshot {
        WebhookSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            latency_micros: self.latency_micros.load(Ordering::Relaxed),
        }
    }
}

impl WebhookClient {
    pub(crate) fn new(config: WebhookConfig) -> Result<Self, WebhookClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("sockgate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout)
            // A redirect would re-send the event (its user, its arguments)
            // wherever the answer points; the configured URL is the only one.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(WebhookClientError)?;
        Ok(WebhookClient {
            http,
            config,
            slots: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            metrics: WebhookMetrics::default(),
        })
    }

    /// The slot pool of `url`'s backend (scheme, host and port).
    fn slots(&self, url: &str) -> Arc<Semaphore> {
        let origin = reqwest::Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| url.to_owned());
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots
            .entry(origin)
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.max_concurrency.max(1))))
            .clone()
    }

    /// Posts `body` and returns the JSON answer, within the timeout.
    pub(crate) async fn post(&self, url: &str, body: &Value) -> Result<Value, CallError> {
        let slots = self.slots(url);
        let call = async {
            let permit = slots
                .acquire_owned()
                .await
                .map_err(|_| CallError::Unavailable("client closed".into()))?;
            self.send(url, body, permit).await
        };
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(self.config.timeout, call)
            .await
            .unwrap_or(Err(CallError::Timeout));
        self.metrics.record(started, &outcome);
        outcome
    }

    pub(crate) fn metrics(&self) -> &WebhookMetrics {
        &self.metrics
    }

    /// Posts `body` in the background if a slot is free right now; the
    /// answer is ignored. Returns false when the call was dropped.
    pub(crate) fn notify(self: &Arc<Self>, url: &str, body: Value) -> bool {
        let Ok(permit) = self.slots(url).try_acquire_owned() else {
            return false;
        };
        let (client, url) = (self.clone(), url.to_owned());
        tokio::spawn(async move {
            match tokio::time::timeout(client.config.timeout, client.send(&url, &body, permit)).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => debug!(%url, %error, "notification webhook failed"),
                Err(_) => debug!(%url, "notification webhook timed out"),
            }
        });
        true
    }

    /// Resolves once no call is in flight.
    pub(crate) async fn idle(&self) {
        while self.in_flight.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn send(&self, url: &str, body: &Value, _permit: OwnedSemaphorePermit) -> Result<Value, CallError> {
        // A guard, so a call dropped by its timeout is not counted forever.
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let _in_flight = InFlight(&self.in_flight);
        self.exchange(url, body).await
    }

    async fn exchange(&self, url: &str, body: &Value) -> Result<Value, CallError> {
        let mut request = self.http.post(url).json(body);
        if let Some(secret) = &self.config.secret {
            request = request.bearer_auth(secret);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| CallError::Unavailable(describe(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(CallError::Unavailable(format!(
                "the backend answered {status}; webhooks do not follow redirects (configure the final URL)"
            )));
        }
        if !status.is_success() {
            return Err(CallError::Unavailable(format!("the backend answered {status}")));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| CallError::Unavailable(describe(&e)))?
        {
            if bytes.len() + chunk.len() > self.config.max_response_bytes {
                return Err(CallError::Unavailable(format!(
                    "the answer is over {} bytes (webhooks.max_response_bytes)",
                    self.config.max_response_bytes
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CallError::Unavailable(format!("the answer is not JSON: {e}")))
    }
}

/// Counts one call in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_connect() {
        "cannot connect to the backend".into()
    } else if error.is_timeout() {
        "the backend timed out".into()
    } else {
        format!("request failed: {error}")
    }
}
