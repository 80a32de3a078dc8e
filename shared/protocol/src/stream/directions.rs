//! The two directions of a stream: [`RequestSide`] (gateway to agent) and
//! [`ResponseSide`] (agent to gateway), and how each starts.

use crate::http::{RequestHead, ResponseHead};
use crate::stream::side::Side;
use crate::stream::upgrade::Upgrade;

/// The gateway-to-agent direction: [`RequestHead`], the visitor's body (or, after a
/// `101`, the visitor's bytes), `EndOfBody`, FIN.
pub type RequestSide = Side<RequestHead>;

/// The agent-to-gateway direction: [`ResponseHead`], the answer's body (or, after a
/// `101`, the local service's bytes), `EndOfBody`, FIN.
pub type ResponseSide = Side<ResponseHead>;

impl Side<RequestHead> {
    /// A request direction awaiting its head.
    pub const fn new() -> Self {
        Self::with_upgrade(Upgrade::Unknown)
    }

    /// Whether the request asked a protocol switch (known once its head was fed).
    pub const fn asks_upgrade(&self) -> bool {
        self.upgrade().was_asked()
    }
}

impl Default for Side<RequestHead> {
    fn default() -> Self {
        Self::new()
    }
}

impl Side<ResponseHead> {
    /// A response direction whose request is not known yet: only a `Reset` is possible
    /// until [`learn_upgrade`](Self::learn_upgrade) says what the request asked.
    pub const fn new() -> Self {
        Self::with_upgrade(Upgrade::Unknown)
    }

    /// The response direction answering `request`: a `101` is allowed if it asks a
    /// protocol switch.
    pub fn answering(request: &RequestHead) -> Self {
        let mut side = Self::new();
        side.learn_request(request);
        side
    }

    /// The request this direction answers, once its head is known: a `101` is allowed
    /// if it asks a protocol switch.
    pub fn learn_request(&mut self, request: &RequestHead) {
        self.learn_upgrade(Upgrade::asked(request.upgrade().is_some()));
    }
}

impl Default for Side<ResponseHead> {
    fn default() -> Self {
        Self::new()
    }
}
