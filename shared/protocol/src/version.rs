//! Protocol versioning: which versions this build speaks, and the check the gateway runs
//! on a [`Hello`](crate::Hello).
//!
//! The version is bumped only for changes an older peer would misread (a new frame type
//! it must understand, a changed meaning). Adding a field does not need a bump: payloads
//! are MessagePack maps with named fields, unknown fields are ignored, and a new field is
//! declared `#[serde(default)]` so frames from older peers still decode.

use crate::error::VersionError;

/// The protocol version this build speaks (and sends in its [`Hello`](crate::Hello)).
pub const PROTOCOL_VERSION: u16 = 1;

/// The oldest agent protocol version this build still accepts.
pub const MIN_PROTOCOL_VERSION: u16 = 1;

/// Checks an agent's protocol version (from its [`Hello`](crate::Hello)) against the
/// range this build speaks, `MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION`.
///
/// Returns the version the session will use (the agent's own, when accepted). On error,
/// the error's `Display` is meant to be sent as [`HelloAck::message`](crate::HelloAck)
/// with code [`HelloCode::UnsupportedVersion`](crate::HelloCode::UnsupportedVersion).
pub fn check_version(agent_version: u16) -> Result<u16, VersionError> {
    if agent_version < MIN_PROTOCOL_VERSION {
        Err(VersionError::TooOld {
            agent: agent_version,
            min: MIN_PROTOCOL_VERSION,
            max: PROTOCOL_VERSION,
        })
    } else if agent_version > PROTOCOL_VERSION {
        Err(VersionError::TooNew {
            agent: agent_version,
            min: MIN_PROTOCOL_VERSION,
            max: PROTOCOL_VERSION,
        })
    } else {
        Ok(agent_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HelloCode;

    #[test]
    fn current_version_is_accepted() {
        assert_eq!(check_version(PROTOCOL_VERSION), Ok(PROTOCOL_VERSION));
        assert_eq!(
            check_version(MIN_PROTOCOL_VERSION),
            Ok(MIN_PROTOCOL_VERSION)
        );
    }

    #[test]
    fn too_old_says_please_upgrade() {
        let err = check_version(0).unwrap_err();
        assert_eq!(
            err,
            VersionError::TooOld {
                agent: 0,
                min: MIN_PROTOCOL_VERSION,
                max: PROTOCOL_VERSION
            }
        );
        assert_eq!(
            err.to_string(),
            "agent protocol 0 is too old; please upgrade the agent to a version that speaks protocol 1..=1"
        );
        assert_eq!(err.hello_code(), HelloCode::UnsupportedVersion);
    }

    #[test]
    fn too_new_says_the_gateway_is_older() {
        let err = check_version(PROTOCOL_VERSION + 1).unwrap_err();
        assert!(
            matches!(err, VersionError::TooNew { agent: 2, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert_eq!(
            msg,
            "agent protocol 2 is newer than this gateway, which speaks protocol 1..=1; \
             upgrade the gateway or use an older agent"
        );
        assert!(!msg.contains("please upgrade the agent"), "{msg}");
        assert_eq!(
            check_version(u16::MAX).unwrap_err().hello_code(),
            HelloCode::UnsupportedVersion
        );
    }
}
