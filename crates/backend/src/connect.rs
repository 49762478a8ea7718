//! The connect webhook: the backend decides who may connect (`docs/webhooks.md`).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use sockgate_core::{Args, AuthError, AuthFuture, Authenticator, ConnectRequest, Identity, Welcome};

use crate::webhook::{CallError, WebhookClient};

/// An [`Authenticator`] that asks the backend.
pub struct ConnectWebhook {
    client: Arc<WebhookClient>,
    url: String,
}

/// The backend's answer.
#[derive(Deserialize)]
struct ConnectAnswer {
    allow: bool,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    user: Option<Value>,
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    meta: Option<Value>,
    #[serde(default)]
    emit: Vec<WelcomeAnswer>,
}

/// One welcome event: one argument (`data`) or any number (`args`).
#[derive(Deserialize)]
struct WelcomeAnswer {
    event: String,
    #[serde(default, deserialize_with = "sockgate_core::given")]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    args: Option<Vec<Box<RawValue>>>,
}

impl ConnectWebhook {
    pub(crate) fn new(client: Arc<WebhookClient>, url: String) -> Self {
        ConnectWebhook { client, url }
    }

    async fn ask(&self, request: &ConnectRequest) -> Result<Identity, AuthError> {
        let headers: Map<String, Value> = request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        let body = json!({
            "type": "connect",
            "protocol": request.protocol.as_str(),
            "namespace": request.namespace,
            "peer": request.peer.map(|peer| peer.to_string()),
            "headers": headers,
            "query": request.query,
            "token": request.token,
            "auth": request.auth,
        });
        let answer = self
            .client
            .post(&self.url, &body)
            .await
            .map_err(|error| match error {
                CallError::Timeout => AuthError::Unavailable("the backend did not answer in time".into()),
                CallError::Unavailable(reason) => AuthError::Unavailable(reason),
            })?;
        let answer: ConnectAnswer = serde_json::from_value(answer)
            .map_err(|e| AuthError::Unavailable(format!("unusable connect answer: {e}")))?;
        if !answer.allow {
            return Err(AuthError::Denied(
                answer.reason.unwrap_or_else(|| "denied by the backend".into()),
            ));
        }
        let user = match answer.user {
            None | Some(Value::Null) => None,
            Some(Value::String(user)) => Some(user),
            Some(other) => Some(other.to_string()),
        };
        let welcome = answer
            .emit
            .into_iter()
            .map(|w| {
                Args::from_data_or_args(w.data, w.args)
                    .map(|args| Welcome { event: w.event, args })
                    .map_err(|e| AuthError::Unavailable(format!("unusable connect answer: in \"emit\": {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Identity {
            user,
            rooms: answer.rooms,
            metadata: answer.meta,
            welcome,
        })
    }
}

impl Authenticator for ConnectWebhook {
    fn authenticate<'a>(&'a self, request: &'a ConnectRequest) -> AuthFuture<'a> {
        Box::pin(self.ask(request))
    }

    /// The backend sees headers, cookies and the query too.
    fn needs_token(&self) -> bool {
        false
    }
}
