//! [`CloseReason`]: why a session ended, named as engine.io names it.

/// Why a session ended (the `reason` strings are engine.io's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client's connection ended (`"transport close"`).
    TransportClose,
    /// The transport failed or the client broke the protocol
    /// (`"transport error"`).
    TransportError,
    /// The heartbeat went unanswered (`"ping timeout"`).
    PingTimeout,
    /// The client sent a close packet (`"forced close"`).
    ForcedClose,
    /// [`Session::close`](crate::Session::close) (`"forced server close"`).
    ServerClose,
    /// The client sent a packet that does not parse (`"parse error"`).
    ParseError,
    /// The client sent more than `max_payload` (`"transport error"`, as Node).
    PayloadTooLarge,
    /// The session's outbound queue filled up (`"slow consumer"`).
    SlowConsumer,
    /// The engine is shutting down (`"server shutting down"`).
    ShuttingDown,
}

impl CloseReason {
    /// engine.io's name for the reason.
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError | CloseReason::PayloadTooLarge => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerClose => "forced server close",
            CloseReason::ParseError => "parse error",
            CloseReason::SlowConsumer => "slow consumer",
            CloseReason::ShuttingDown => "server shutting down",
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        self as u8 + 1
    }

    pub(crate) fn from_u8(n: u8) -> Option<CloseReason> {
        const ALL: [CloseReason; 9] = [
            CloseReason::TransportClose,
            CloseReason::TransportError,
            CloseReason::PingTimeout,
            CloseReason::ForcedClose,
            CloseReason::ServerClose,
            CloseReason::ParseError,
            CloseReason::PayloadTooLarge,
            CloseReason::SlowConsumer,
            CloseReason::ShuttingDown,
        ];
        ALL.get(usize::from(n).checked_sub(1)?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_their_byte() {
        for n in 1..=9 {
            let reason = CloseReason::from_u8(n).unwrap();
            assert_eq!(reason.to_u8(), n);
        }
        assert_eq!(CloseReason::from_u8(0), None);
        assert_eq!(CloseReason::from_u8(10), None);
    }
}
