//! The event and disconnect webhooks (`docs/webhooks.md`): client events
//! go to the backend route matching their name; the backend's answer
//! becomes the client's ack, and its joins, leaves and emits are applied.

use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use serde_json::{json, Value};
use sockgate_core::{
    ClientEvent, ConnSnapshot, EventError, EventFuture, EventHandler, Heard, ServerBus, Sid, Target, Who,
};
use tracing::warn;

use crate::requests::{EmitRequest, EmitTarget};
use crate::webhook::{CallError, WebhookClient};

/// One `[[webhooks.routes]]` entry.
#[derive(Debug, Clone)]
pub struct EventRoute {
    /// Glob patterns of event names.
    pub events: Vec<String>,
    /// Where matching events are posted.
    pub url: String,
}

impl EventRoute {
    /// The route's patterns compiled, or the first that is not a valid glob.
    pub fn patterns(&self) -> Result<GlobSet, RouteError> {
        let mut set = GlobSetBuilder::new();
        for pattern in &self.events {
            let glob = Glob::new(pattern).map_err(|e| RouteError {
                pattern: pattern.clone(),
                reason: e.kind().to_string(),
            })?;
            set.add(glob);
        }
        set.build().map_err(|e| RouteError {
            pattern: self.events.join(", "),
            reason: e.to_string(),
        })
    }
}

/// A route pattern that is not a valid glob.
#[derive(Debug, thiserror::Error)]
#[error("invalid event pattern {pattern:?}: {reason}")]
pub struct RouteError {
    /// The pattern.
    pub pattern: String,
    /// What the glob parser said.
    pub reason: String,
}

/// Sends client events and disconnects to the backend.
pub struct EventWebhooks {
    client: Arc<WebhookClient>,
    routes: Vec<(GlobSet, String)>,
    disconnect_url: Option<String>,
    bus: Arc<dyn ServerBus>,
}

/// The backend's answer to an event.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventAnswer {
    #[serde(default)]
    ack: Option<Value>,
    #[serde(default)]
    error: Option<AnswerError>,
    #[serde(default)]
    emit: Vec<EmitRequest>,
    #[serde(default)]
    join: Vec<String>,
    #[serde(default)]
    leave: Vec<String>,
}

#[derive(Deserialize)]
struct AnswerError {
    code: String,
    #[serde(default)]
    message: String,
}

impl EventWebhooks {
    pub(crate) fn new(
        client: Arc<WebhookClient>,
        routes: &[EventRoute],
        disconnect_url: Option<String>,
        bus: Arc<dyn ServerBus>,
    ) -> Result<Self, RouteError> {
        let routes = routes
            .iter()
            .map(|route| Ok((route.patterns()?, route.url.clone())))
            .collect::<Result<_, RouteError>>()?;
        Ok(EventWebhooks {
            client,
            routes,
            disconnect_url,
            bus,
        })
    }

    fn route(&self, event: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(patterns, _)| patterns.is_match(event))
            .map(|(_, url)| url.as_str())
    }
}

/// What the webhook body says about the emitting connection.
fn connection_fields(snapshot: Option<&ConnSnapshot>) -> Value {
    let Some(snapshot) = snapshot else {
        return json!({"user": null, "protocol": null, "namespace": null, "rooms": [], "meta": null});
    };
    json!({
        "user": snapshot.meta.user,
        "protocol": snapshot.meta.protocol.as_str(),
        "namespace": snapshot.meta.namespace,
        "rooms": snapshot.rooms.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "meta": snapshot.meta.metadata.as_deref(),
    })
}

impl EventHandler for EventWebhooks {
    fn on_event(&self, event: ClientEvent) -> EventFuture {
        let Some(url) = self.route(&event.event).map(str::to_owned) else {
            return Box::pin(std::future::ready(Err(EventError::NoHandler(event.event))));
        };
        let mut body = connection_fields(self.bus.connection(event.sid).as_ref());
        body["type"] = json!("event");
        body["event"] = json!(event.event);
        body["args"] = Value::Array(event.args);
        body["sid"] = json!(event.sid.to_string());
        let (client, bus, sid) = (self.client.clone(), self.bus.clone(), event.sid);
        Box::pin(async move {
            let answer = client.post(&url, &body).await.map_err(|error| match error {
                CallError::Timeout => EventError::Timeout,
                CallError::Unavailable(reason) => EventError::Unavailable(reason),
            })?;
            let answer: EventAnswer = serde_json::from_value(answer)
                .map_err(|e| EventError::Unavailable(format!("unusable event answer: {e}")))?;
            let (ack, heard) = apply(bus.as_ref(), sid, answer)?;
            // The ack tells the client it is in the rooms: once they are heard.
            heard.await;
            Ok(ack)
        })
    }

    fn on_disconnect(&self, connection: ConnSnapshot, reason: &str) {
        let Some(url) = &self.disconnect_url else {
            return;
        };
        let mut body = connection_fields(Some(&connection));
        body["type"] = json!("disconnect");
        body["sid"] = json!(connection.sid.to_string());
        body["reason"] = json!(reason);
        if !self.client.notify(url, body) {
            warn!(sid = %connection.sid, "disconnect webhook dropped: every slot is busy (webhooks.max_concurrency)");
        }
    }
}

/// Applies the backend's joins, leaves and emits, then returns the ack and
/// when the rooms joined are heard.
fn apply(bus: &dyn ServerBus, sid: Sid, answer: EventAnswer) -> Result<(Vec<Value>, Heard), EventError> {
    if let Some(error) = answer.error {
        return Err(EventError::Refused {
            code: error.code,
            message: error.message,
        });
    }
    let mut heard = Heard::now();
    if !answer.join.is_empty() {
        heard = bus.add_rooms(Who::Sid(sid), &answer.join).map_err(invalid)?.heard;
    }
    if !answer.leave.is_empty() {
        bus.remove_rooms(Who::Sid(sid), &answer.leave).map_err(invalid)?;
    }
    for mut emit in answer.emit {
        let target = match emit.take_sender() {
            true => EmitTarget::Sid(sid),
            false => emit
                .target()
                .map_err(|e| EventError::Invalid(format!("in \"emit\": {e}")))?,
        };
        let except = emit.except();
        let args = emit
            .take_args()
            .map_err(|e| EventError::Invalid(format!("in \"emit\": {e}")))?;
        match bus.emit(target.as_target(), &except, &emit.event, args) {
            Ok(()) => {}
            // The target left meanwhile: nothing to deliver, not an error.
            Err(sockgate_core::BusError::UnknownConnection)
                if matches!(target.as_target(), Target::Sid(_)) => {}
            Err(error) => return Err(invalid(error)),
        }
    }
    let ack = match answer.ack {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(args)) => args,
        Some(single) => vec![single],
    };
    Ok((ack, heard))
}

fn invalid(error: sockgate_core::BusError) -> EventError {
    warn!(%error, "the backend's webhook answer asked for something invalid");
    EventError::Invalid(format!("the backend asked for something invalid: {error}"))
}

#[cfg(test)]
mod proptests;
