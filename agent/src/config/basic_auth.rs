//! [`BasicUser`]: a `user:password` pair a visitor must give before the agent calls the
//! local service (`--basic-auth`, per tunnel, repeatable), for a user who can't set the
//! gateway's own access policy.

use std::fmt;

use hopgate_settings::Secret;

/// One user the agent lets through, and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicUser {
    /// The user name visitors give.
    pub user: String,
    /// Its password (hashed with a random salt when the tunnel starts).
    pub password: Secret,
}

impl fmt::Debug for BasicUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BasicUser({}:***)", self.user)
    }
}

impl BasicUser {
    /// Parses `user:password`: the user non-empty, without control characters (it ends at
    /// the first `:`); the password non-empty.
    pub fn parse(pair: &Secret) -> Result<Self, String> {
        let Some((user, password)) = pair.expose().split_once(':') else {
            return Err("is not user:password (no ':')".to_owned());
        };
        if user.is_empty() || user.chars().any(char::is_control) {
            return Err("has an empty user, or control characters in it".to_owned());
        }
        if password.is_empty() {
            return Err(format!("has an empty password for {user}"));
        }
        Ok(Self {
            user: user.to_owned(),
            password: Secret::new(password),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_the_first_colon() {
        let parsed = BasicUser::parse(&Secret::new("alice:pa:ss")).unwrap();
        assert_eq!(parsed.user, "alice");
        assert_eq!(parsed.password.expose(), "pa:ss");
        assert_eq!(format!("{parsed:?}"), "BasicUser(alice:***)");
        for bad in ["alice", ":pw", "alice:", "a\u{1}:pw"] {
            assert!(BasicUser::parse(&Secret::new(bad)).is_err(), "{bad:?}");
        }
    }
}
