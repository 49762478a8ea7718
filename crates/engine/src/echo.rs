//! [`EchoHandler`]: an [`EngineHandler`] that sends every message back, for
//! `diagnostics.engineio_echo_path`, so that the engine alone can be checked
//! by the official engine.io-protocol suite and by tests.

use std::sync::Arc;

use crate::{CloseReason, EngineHandler, Frame, Message, Session};

/// Echoes every text and binary message to the session that sent it.
#[derive(Debug, Default, Clone, Copy)]
pub struct EchoHandler;

impl EngineHandler for EchoHandler {
    type Data = ();

    fn on_open(&self, _session: &Arc<Session<()>>) {}

    fn on_message(&self, session: &Arc<Session<()>>, message: Message) {
        let frame = match message {
            Message::Text(text) => Frame::text(&text),
            Message::Binary(data) => Frame::binary(data),
        };
        // A full queue closes the session as a slow consumer.
        let _ = session.send(frame);
    }

    fn on_close(&self, _session: &Arc<Session<()>>, _reason: CloseReason) {}
}
