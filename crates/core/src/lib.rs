//! The vocabulary every sockgate front shares: connection ids, room names and
//! room policy, the message envelope (serialised once, shared by reference),
//! and the bus's faces: [`ClientBus`] for the protocol fronts, [`ServerBus`]
//! for the server's API, [`Recovery`] for resuming after a drop.
//!
//! Nothing here does I/O; the in-process bus lives in `sockgate-bus`, the
//! protocol fronts in `sockgate-ws` and `sockgate-sio`.

mod args;
mod auth;
mod bus;
mod directory;
mod envelope;
mod error;
mod events;
mod limiter;
mod payload;
mod query;
mod rate;
mod recovery;
mod room;
mod sid;

pub use args::{given, Args, DataAndArgs};
pub use auth::{AuthError, AuthFuture, Authenticator, ConnectAuth, ConnectRequest, Identity, Welcome};
pub use bus::{
    user_room, Added, Bus, BusFuture, ClientBus, ConnMeta, ConnSnapshot, Heard, Joined, Offer, Protocol,
    Recipient, ServerBus, Target, Who, USER_ROOM_PREFIX,
};
pub use directory::{ClusterStatus, ConnRecord, Directory, DirectoryFuture, ShardStatus};
pub use envelope::{is_reserved_event, Encoding, Envelope, EventName, RESERVED_EVENT_NAMES};
pub use error::{BusError, ErrorCode, Result};
pub use events::{ClientEvent, EventError, EventFuture, EventHandler};
pub use limiter::{ConnectionLimiter, ConnectionPermit, LimitError};
pub use payload::{
    binary_bytes, check_payload, count_binary, may_carry_binary, nesting_depth, PayloadError, PayloadLimits,
    MAX_PAYLOAD_DEPTH_LIMIT,
};
pub use query::query_param;
pub use rate::{RateVerdict, TokenBucket};
pub use recovery::{
    new_resume_token, resume, ClientPosition, DepartedSession, GapReason, Position, Recovery, Rejoined,
    ResumeReport, ResumeRequest, Resumed,
};
pub use room::{RoomName, RoomPolicy, RoomPolicyError};
pub use sid::Sid;
