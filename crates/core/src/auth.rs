//! The connect-time authentication boundary shared by both fronts: what a
//! client presents ([`ConnectRequest`]), what it is found to be
//! ([`Identity`]), and the [`Authenticator`] that decides (a JWT verifier, a
//! connect webhook). [`ConnectAuth`] applies `auth.required` on top.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Args, Protocol};

/// What a connecting client presented.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// The client protocol.
    pub protocol: Protocol,
    /// A bearer token: socket.io `auth.token`, raw `?token=` or first frame.
    pub token: Option<String>,
    /// The socket.io handshake `auth` payload, as sent.
    pub auth: Option<serde_json::Value>,
    /// The client's address as the gateway sees it.
    pub peer: Option<SocketAddr>,
    /// The socket.io namespace, for socket.io clients.
    pub namespace: Option<String>,
    /// The handshake request's headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The handshake request's query string.
    pub query: Option<String>,
}

impl ConnectRequest {
    /// A request carrying only a protocol, a token and a peer.
    pub fn new(protocol: Protocol, token: Option<String>, peer: Option<SocketAddr>) -> Self {
        ConnectRequest {
            protocol,
            token,
            auth: None,
            peer,
            namespace: None,
            headers: Vec::new(),
            query: None,
        }
    }
}

/// An event the backend wants a new connection to get before anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The event name.
    pub event: String,
    /// Its arguments.
    pub args: Args,
}

/// Who a connection is, once authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The user id (`sub`); the connection joins `user:<id>`.
    pub user: Option<String>,
    /// Rooms to join at connect, chosen by the backend (not subject to room policy).
    pub rooms: Vec<String>,
    /// Backend data carried into every event webhook of the connection.
    pub metadata: Option<serde_json::Value>,
    /// Events sent to the connection right after it is accepted.
    pub welcome: Vec<Welcome>,
}

impl Identity {
    /// An anonymous identity: no user, no rooms.
    pub fn anonymous() -> Self {
        Identity::default()
    }

    /// Whether the connection starts in rooms: its user's, or the token's.
    pub fn joins_rooms(&self) -> bool {
        self.user.is_some() || !self.rooms.is_empty()
    }
}

/// Why a connection was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials, and `auth.required` is on.
    #[error("authentication required: {0}")]
    Missing(String),
    /// The token is malformed, expired, or not signed by an accepted key.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The backend said no.
    #[error("connection denied: {0}")]
    Denied(String),
    /// The backend could not be asked.
    #[error("authentication unavailable: {0}")]
    Unavailable(String),
}

/// A boxed authentication future.
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<Identity, AuthError>> + Send + 'a>>;

/// Decides who a connecting client is.
pub trait Authenticator: Send + Sync {
    /// Answers [`AuthError::Missing`] when the request carries nothing to check.
    fn authenticate<'a>(&'a self, request: &'a ConnectRequest) -> AuthFuture<'a>;

    /// Whether a token is the only credential this authenticator reads (so
    /// a raw client without one is asked for it in its first frame).
    fn needs_token(&self) -> bool {
        true
    }
}

/// `[auth]`: an optional authenticator and whether anonymous clients may in.
#[derive(Clone, Default)]
pub struct ConnectAuth {
    /// Refuse clients without valid credentials (`auth.required`).
    pub required: bool,
    /// Who checks credentials; `None` lets everyone in anonymously.
    pub authenticator: Option<Arc<dyn Authenticator>>,
}

impl std::fmt::Debug for ConnectAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectAuth")
            .field("required", &self.required)
            .field("authenticator", &self.authenticator.is_some())
            .finish()
    }
}

impl ConnectAuth {
    /// Whether a client without a token must be asked for one.
    pub fn wants_token(&self) -> bool {
        self.required && self.authenticator.as_ref().is_some_and(|a| a.needs_token())
    }

    /// Checks a connecting client. Invalid credentials are refused even when
    /// authentication is optional; missing ones only when it is required.
    pub async fn check(&self, request: &ConnectRequest) -> Result<Identity, AuthError> {
        let Some(authenticator) = &self.authenticator else {
            return match self.required {
                true => Err(AuthError::Missing("no authenticator is configured".into())),
                false => Ok(Identity::anonymous()),
            };
        };
        match authenticator.authenticate(request).await {
            Err(AuthError::Missing(_)) if !self.required => Ok(Identity::anonymous()),
            outcome => outcome,
        }
    }
}
