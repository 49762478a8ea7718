//! [`Api`]: routing and handlers of the server HTTP API (`docs/api.md`).

use std::fmt::Display;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use sockgate_core::{ConnRecord, Directory, ServerBus, Sid};
use tracing::debug;

use crate::activity::Activity;
use crate::auth::authorized;
use crate::requests::{parse_sid, DisconnectRequest, EmitRequest, EmitTarget, MembershipRequest, WhoTarget};
use crate::ApiError;

/// Settings of the HTTP API (`[api]`).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Mount path, without a trailing slash (`api.path`, default `/api`).
    pub path: String,
    /// Accepted bearer keys; the API is off when empty (`api.keys`).
    pub keys: Vec<String>,
    /// Largest accepted request body (`api.max_body_bytes`).
    pub max_body_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            path: "/api".into(),
            keys: Vec::new(),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// The server HTTP API over a bus.
#[derive(Clone)]
pub struct Api {
    bus: Arc<dyn ServerBus>,
    directory: Arc<dyn Directory>,
    config: Arc<ApiConfig>,
    activity: Option<Arc<dyn Activity>>,
}

impl Api {
    /// An API acting on `bus` and reporting from `directory` (the bus
    /// itself on one node; the cluster-wide state in a cluster).
    pub fn new(bus: Arc<dyn ServerBus>, directory: Arc<dyn Directory>, config: ApiConfig) -> Self {
        Api {
            bus,
            directory,
            config: Arc::new(config),
            activity: None,
        }
    }

    /// Serves `GET /api/stats` and `GET /api/connections` from `activity`.
    pub fn with_activity(mut self, activity: Arc<dyn Activity>) -> Self {
        self.activity = Some(activity);
        self
    }

    /// Whether the API is on (some key is configured).
    pub fn enabled(&self) -> bool {
        !self.config.keys.is_empty()
    }

    /// Whether `path` is one of the API's.
    pub fn owns(&self, path: &str) -> bool {
        self.enabled()
            && path
                .strip_prefix(self.config.path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Answers one request; never fails (errors become JSON responses).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Bytes>
    where
        B: Body<Data = Bytes>,
        B::Error: Display + Send + Sync + std::error::Error + 'static,
    {
        match self.route(req).await {
            Ok(response) => response,
            Err(error) => {
                debug!(%error, "api request refused");
                error.into_response()
            }
        }
    }

    async fn route<B>(&self, req: Request<B>) -> Result<Response<Bytes>, ApiError>
    where
        B: Body<Data = Bytes>,
        B::Error: Display + Send + Sync + std::error::Error + 'static,
    {
        // Authenticate first, so that unauthenticated callers learn nothing.
        if !authorized(req.headers(), &self.config.keys) {
            return Err(ApiError::Unauthorized);
        }
        let path = req.uri().path().to_owned();
        let rest = path.strip_prefix(self.config.path.as_str()).unwrap_or_default();
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let method = req.method().clone();
        let result = match segments.as_slice() {
            ["emit"] => {
                self.emit(post(&method, req, self.config.max_body_bytes).await?)
                    .await
            }
            ["join"] => {
                self.membership(post(&method, req, self.config.max_body_bytes).await?, true)
                    .await
            }
            ["leave"] => {
                self.membership(post(&method, req, self.config.max_body_bytes).await?, false)
                    .await
            }
            ["disconnect"] => {
                self.disconnect(post(&method, req, self.config.max_body_bytes).await?)
                    .await
            }
            ["rooms"] => match get(&method) {
                Ok(()) => Ok(self.list_rooms().await),
                Err(error) => Err(error),
            },
            ["rooms", room] => match get(&method) {
                Ok(()) => self.room(&decode(room)?).await,
                Err(error) => Err(error),
            },
            ["cluster"] => get(&method).map(|()| self.cluster()),
            ["stats"] => get(&method).and_then(|()| self.stats()),
            ["connections"] => get(&method).and_then(|()| self.newest_connections(req.uri().query())),
            ["connections", sid] => match get(&method) {
                Ok(()) => self.connection(&decode(sid)?).await,
                Err(error) => Err(error),
            },
            _ => Err(ApiError::NoEndpoint(path.clone())),
        }?;
        Ok(json_response(StatusCode::OK, &json!({ "result": result })))
    }

    /// Fails with "not found" unless `sid` is connected somewhere.
    async fn ensure_connected(&self, sid: Sid) -> Result<(), ApiError> {
        match self.directory.find_connection(sid).await {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(format!("no connection \"{sid}\""))),
        }
    }

    async fn emit(&self, mut request: EmitRequest) -> Result<Value, ApiError> {
        if request.take_sender() {
            return Err(ApiError::BadRequest(
                "\"sender\" is for webhook answers; name a target here".into(),
            ));
        }
        let target = request.target()?;
        if let EmitTarget::Sid(sid) = &target {
            self.ensure_connected(*sid).await?;
        }
        let except = request.except();
        let args = request.take_args()?;
        self.bus.emit(target.as_target(), &except, &request.event, args)?;
        Ok(json!({}))
    }

    async fn membership(&self, mut request: MembershipRequest, join: bool) -> Result<Value, ApiError> {
        let rooms = request.rooms()?;
        let who = request.who()?;
        if let WhoTarget::Sid(sid) = &who {
            self.ensure_connected(*sid).await?;
        }
        let connections = match join {
            true => {
                // Answered once the rooms' events from any node reach them.
                let added = self.bus.add_rooms(who.as_who(), &rooms)?;
                added.heard.await;
                added.connections
            }
            false => self.bus.remove_rooms(who.as_who(), &rooms)?,
        };
        Ok(json!({ "connections": connections }))
    }

    async fn disconnect(&self, request: DisconnectRequest) -> Result<Value, ApiError> {
        let who = request.who()?;
        if let WhoTarget::Sid(sid) = &who {
            self.ensure_connected(*sid).await?;
        }
        let connections = self.bus.kick(who.as_who());
        Ok(json!({ "connections": connections }))
    }

    fn cluster(&self) -> Value {
        match self.directory.cluster_status() {
            Some(status) => json!({ "clustered": true, "status": status }),
            None => json!({ "clustered": false }),
        }
    }

    async fn list_rooms(&self) -> Value {
        let rooms: Vec<Value> = self
            .directory
            .room_counts()
            .await
            .into_iter()
            .map(|(room, members)| json!({ "room": room, "members": members }))
            .collect();
        json!({ "rooms": rooms })
    }

    async fn room(&self, room: &str) -> Result<Value, ApiError> {
        let members = self.directory.room_members(room).await;
        if members.is_empty() {
            return Err(ApiError::NotFound(format!(
                "no room {room:?} (rooms exist while they have members)"
            )));
        }
        let sids: Vec<String> = members.iter().map(ToString::to_string).collect();
        Ok(json!({ "room": room, "count": sids.len(), "members": sids }))
    }

    async fn connection(&self, sid: &str) -> Result<Value, ApiError> {
        let record = self
            .directory
            .find_connection(parse_sid(sid)?)
            .await
            .ok_or_else(|| ApiError::NotFound(format!("no connection {sid:?}")))?;
        Ok(connection_json(&record))
    }
}

impl Api {
    fn activity(&self) -> Result<&dyn Activity, ApiError> {
        self.activity
            .as_deref()
            .ok_or_else(|| ApiError::NoEndpoint("activity is not reported by this gateway".into()))
    }

    fn stats(&self) -> Result<Value, ApiError> {
        Ok(json!(self.activity()?.stats()))
    }

    /// `GET /api/connections?limit=N`: this node's newest connections.
    fn newest_connections(&self, query: Option<&str>) -> Result<Value, ApiError> {
        let limit = match query_value(query, "limit") {
            None => DEFAULT_CONNECTIONS_LISTED,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_CONNECTIONS_LISTED).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "limit must be a number from 1 to {MAX_CONNECTIONS_LISTED}"
                    ))
                })?,
        };
        let connections: Vec<Value> = self
            .activity()?
            .newest_connections(limit)
            .iter()
            .map(|(record, transport)| {
                let mut json = connection_json(record);
                json["transport"] = json!(transport);
                json
            })
            .collect();
        Ok(json!({ "connections": connections }))
    }
}

/// Connections `GET /api/connections` lists without a `limit`.
const DEFAULT_CONNECTIONS_LISTED: usize = 20;
/// Most connections one `GET /api/connections` lists.
const MAX_CONNECTIONS_LISTED: usize = 1000;

/// The value of `key` in a URL query string, if present.
fn query_value<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

/// One connection as the API shows it.
fn connection_json(record: &ConnRecord) -> Value {
    let since = std::time::UNIX_EPOCH + std::time::Duration::from_millis(record.connected_at_ms);
    json!({
        "sid": record.sid,
        "protocol": record.protocol,
        "namespace": record.namespace,
        "user": record.user,
        "peer": record.peer,
        "connected_since": humantime::format_rfc3339_millis(since).to_string(),
        "rooms": record.rooms,
        "node": record.node,
    })
}

fn get(method: &Method) -> Result<(), ApiError> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    Err(ApiError::MethodNotAllowed {
        method: method.to_string(),
        allowed: "GET",
    })
}

/// Reads a POST body of at most `limit` bytes as `T`.
async fn post<T, B>(method: &Method, req: Request<B>, limit: usize) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    B: Body<Data = Bytes>,
    B::Error: Display + Send + Sync + std::error::Error + 'static,
{
    if method != Method::POST {
        return Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            allowed: "POST",
        });
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let body = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|error| match error.downcast_ref::<LengthLimitError>() {
            Some(_) => ApiError::TooLarge(limit),
            None => ApiError::Body(error.to_string()),
        })?
        .to_bytes();
    serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("invalid request body: {error}")))
}

fn decode(segment: &str) -> Result<String, ApiError> {
    percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::BadRequest("path segments must be UTF-8 once percent-decoded".into()))
}

/// A JSON response with the given status.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Bytes> {
    let body = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
