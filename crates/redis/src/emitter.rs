//! Decoding what `@socket.io/redis-emitter` publishes, so Node backends
//! that emit through Redis reach sockgate clients of both protocols.

use sockgate_bus::LocalBus;

/// Channel patterns to subscribe to for emitters using `prefix`.
pub(crate) fn patterns(prefix: &str) -> Vec<String> {
    vec![format!("{prefix}#*"), format!("{prefix}-request#*")]
}

/// One emitter operation, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum EmitterCommand {}

/// Why an emitter message could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

/// Decodes a message on an emitter channel; `Ok(None)` for messages that
/// are not for sockgate.
pub fn decode(_prefix: &str, _channel: &str, _bytes: &[u8]) -> Result<Option<EmitterCommand>, DecodeError> {
    Ok(None)
}

/// Applies a decoded operation to the local bus.
pub fn apply(_bus: &LocalBus, command: EmitterCommand) {
    match command {}
}
