//! [`Upgrade`]: what an exchange knows of a protocol switch, which decides whether a `101`
//! answer is allowed and what the bytes after it mean.

/// What an exchange knows of a protocol switch (WebSocket).
///
/// A request asks for one with an `upgrade` header naming the protocol (see
/// [`RequestHead::upgrade`](crate::RequestHead::upgrade)). Only such a request may be
/// answered `101 Switching Protocols`, and that answer turns both directions into a raw
/// byte pipe ([`SideState::Pipe`](crate::SideState::Pipe)); any other answer declines the
/// switch and is an ordinary response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upgrade {
    /// The request's head is not known yet: no answer is possible.
    Unknown,
    /// The request asks no switch: a `101` answer is refused.
    NotAsked,
    /// The request asks a switch; the answer is not known yet.
    Asked,
    /// The answer was `101`: both directions are a raw byte pipe.
    Switched,
    /// The answer declined the switch: it is an ordinary response.
    Declined,
}

impl Upgrade {
    /// What a request head says: [`Upgrade::Asked`] or [`Upgrade::NotAsked`].
    pub const fn asked(asks: bool) -> Self {
        match asks {
            true => Self::Asked,
            false => Self::NotAsked,
        }
    }

    /// Whether the request asked a switch (whatever the answer).
    pub const fn was_asked(self) -> bool {
        matches!(self, Self::Asked | Self::Switched | Self::Declined)
    }
}
