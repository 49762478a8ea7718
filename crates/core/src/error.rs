//! Errors the bus reports to a client, each with a stable wire code.

/// A stable, documented error code sent to clients in acks and error frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request was malformed or broke a naming rule.
    BadRequest,
    /// Room policy does not allow this operation on this room.
    Forbidden,
    /// The operation is valid but this gateway does not support it.
    Unsupported,
    /// The connection or room addressed does not exist.
    NotFound,
    /// A limit was reached (rooms per connection, payload depth, attachments).
    LimitExceeded,
    /// The connection sends faster than `limits.messages_per_second`.
    RateLimited,
}

impl ErrorCode {
    /// The code as it appears on the wire (`"bad_request"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::NotFound => "not_found",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::RateLimited => "rate_limited",
        }
    }
}

/// Why the bus refused a join, leave or publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The room name broke the naming rule.
    #[error("{0}")]
    InvalidRoom(#[from] crate::RoomPolicyError),
    /// `rooms.allow_join` does not match this room.
    #[error("joining room {0:?} is not allowed")]
    JoinForbidden(String),
    /// `rooms.allow_publish` does not match this room.
    #[error("publishing to room {0:?} is not allowed")]
    PublishForbidden(String),
    /// The event name is empty, too long, or holds a control character.
    #[error("event name must be 1..={max} bytes without control characters")]
    InvalidEvent {
        /// The longest allowed event name.
        max: usize,
    },
    /// The event name is one socket.io clients reserve.
    #[error("event name {0:?} is reserved by socket.io")]
    ReservedEvent(String),
    /// The connection is not registered with the bus (already gone).
    #[error("connection is not registered")]
    UnknownConnection,
    /// The connection is in `limits.max_rooms_per_connection` rooms already.
    #[error("already in {0} rooms (limits.max_rooms_per_connection)")]
    TooManyRooms(usize),
    /// The payload broke `limits.max_payload_depth` or `limits.max_binary_attachments`.
    #[error(transparent)]
    Payload(#[from] crate::PayloadError),
    /// Clients cannot join, leave or publish to gateway-managed rooms.
    #[error("room {0:?} is managed by the gateway")]
    ReservedRoom(String),
}

impl BusError {
    /// The wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            BusError::InvalidRoom(_) | BusError::InvalidEvent { .. } | BusError::ReservedEvent(_) => {
                ErrorCode::BadRequest
            }
            BusError::JoinForbidden(_) | BusError::PublishForbidden(_) | BusError::ReservedRoom(_) => {
                ErrorCode::Forbidden
            }
            BusError::UnknownConnection => ErrorCode::NotFound,
            BusError::TooManyRooms(_) | BusError::Payload(_) => ErrorCode::LimitExceeded,
        }
    }
}

/// Result type of bus operations.
pub type Result<T, E = BusError> = std::result::Result<T, E>;
