//! [`AccessPolicy`]: who may reach a domain, and [`AccessPolicy::check`], run on every
//! request before it goes any further: addresses first (the denied ranges, then the
//! allowed ones), then Basic credentials.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{
    basic::{self, NotPresented},
    cidr::Cidr,
    credential::{Credential, SALT_LEN},
};

/// A domain's access policy; an empty list restricts nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPolicy {
    /// A request must carry the Basic credentials of one of these (any of them; one user
    /// may be listed with several passwords, e.g. while changing it).
    #[serde(default)]
    pub basic_auth: Vec<Credential>,
    /// If not empty, the visitor's address must be in one of these ranges.
    #[serde(default)]
    pub allow_cidrs: Vec<Cidr>,
    /// A visitor whose address is in one of these ranges is refused, whatever else.
    #[serde(default)]
    pub deny_cidrs: Vec<Cidr>,
}

/// Why a request was refused; each is a value of `hopgate_access_denied_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The visitor's address is in a denied range (403).
    #[error("the visitor's address is denied")]
    CidrDenied,
    /// The visitor's address is in none of the allowed ranges (403).
    #[error("the visitor's address is not allowed")]
    CidrNotAllowed,
    /// No Basic credentials were sent (401).
    #[error("no credentials")]
    AuthMissing,
    /// Basic credentials were sent but are wrong or malformed (401).
    #[error("wrong credentials")]
    AuthWrong,
}

impl Denial {
    pub const ALL: [Self; 4] = [
        Self::CidrDenied,
        Self::CidrNotAllowed,
        Self::AuthMissing,
        Self::AuthWrong,
    ];

    /// The metric label: `cidr_denied`, `cidr_not_allowed`, `auth_missing`, `auth_wrong`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::CidrDenied => "cidr_denied",
            Self::CidrNotAllowed => "cidr_not_allowed",
            Self::AuthMissing => "auth_missing",
            Self::AuthWrong => "auth_wrong",
        }
    }

    /// Whether the answer asks for credentials (401 with `WWW-Authenticate`) rather than
    /// refusing the address (403).
    pub fn asks_for_credentials(self) -> bool {
        matches!(self, Self::AuthMissing | Self::AuthWrong)
    }
}

/// Compared against when no credential has the presented user, so that an unknown user
/// costs as much as a wrong password.
const NOBODY: Credential = Credential {
    user: String::new(),
    salt: [0; SALT_LEN],
    hash: [0; 32],
};

impl AccessPolicy {
    /// Whether the policy restricts nothing.
    pub fn is_open(&self) -> bool {
        self.basic_auth.is_empty() && self.allow_cidrs.is_empty() && self.deny_cidrs.is_empty()
    }

    /// Whether requests must carry Basic credentials (which the gateway then removes).
    pub fn requires_credentials(&self) -> bool {
        !self.basic_auth.is_empty()
    }

    /// Checks a request from `visitor` (the TCP peer) carrying `authorization` (the
    /// `Authorization` header's value, if any).
    pub fn check(&self, visitor: IpAddr, authorization: Option<&[u8]>) -> Result<(), Denial> {
        self.check_address(visitor)?;
        self.check_credentials(authorization)
    }

    /// The address rules alone: denied ranges first, then the allowed ones.
    pub fn check_address(&self, visitor: IpAddr) -> Result<(), Denial> {
        if self.deny_cidrs.iter().any(|range| range.contains(visitor)) {
            return Err(Denial::CidrDenied);
        }
        let allowed = self.allow_cidrs.is_empty()
            || self.allow_cidrs.iter().any(|range| range.contains(visitor));
        if allowed {
            Ok(())
        } else {
            Err(Denial::CidrNotAllowed)
        }
    }

    /// The credentials rule alone: with users listed, `authorization` must be Basic
    /// credentials of one of them (passwords compared by hash, in constant time).
    pub fn check_credentials(&self, authorization: Option<&[u8]>) -> Result<(), Denial> {
        if self.basic_auth.is_empty() {
            return Ok(());
        }
        let presented = match authorization.map(basic::parse) {
            None | Some(Err(NotPresented::OtherScheme)) => return Err(Denial::AuthMissing),
            Some(Err(NotPresented::Malformed)) => return Err(Denial::AuthWrong),
            Some(Ok(presented)) => presented,
        };
        let mut known_user = false;
        let mut accepted = false;
        for credential in self.basic_auth.iter().filter(|c| c.user == presented.user) {
            known_user = true;
            accepted |= credential.accepts(&presented.password);
        }
        if !known_user {
            std::hint::black_box(NOBODY.accepts(&presented.password));
        }
        if accepted {
            Ok(())
        } else {
            Err(Denial::AuthWrong)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::basic::authorization;

    fn policy(users: &[(&str, &str)], allow: &[&str], deny: &[&str]) -> AccessPolicy {
        AccessPolicy {
            basic_auth: users
                .iter()
                .enumerate()
                .map(|(i, (user, password))| Credential::new(user, password, [i as u8; SALT_LEN]))
                .collect(),
            allow_cidrs: allow.iter().map(|c| c.parse().unwrap()).collect(),
            deny_cidrs: deny.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_empty_policy_lets_everyone_in() {
        let open = AccessPolicy::default();
        assert!(open.is_open() && !open.requires_credentials());
        assert_eq!(open.check(ip("203.0.113.9"), None), Ok(()));
        assert_eq!(open.check(ip("::1"), Some(b"Bearer x")), Ok(()));
    }

    #[test]
    fn denied_ranges_win_over_allowed_ones_and_credentials() {
        let rules = policy(&[("alice", "pw-12345")], &["10.0.0.0/8"], &["10.9.0.0/16"]);
        let good = authorization("alice", "pw-12345");
        assert_eq!(
            rules.check(ip("10.9.1.1"), Some(good.as_bytes())),
            Err(Denial::CidrDenied)
        );
        assert_eq!(
            rules.check(ip("192.0.2.1"), Some(good.as_bytes())),
            Err(Denial::CidrNotAllowed)
        );
        assert_eq!(rules.check(ip("10.1.1.1"), None), Err(Denial::AuthMissing));
        assert_eq!(
            rules.check(ip("::ffff:10.1.1.1"), Some(good.as_bytes())),
            Ok(())
        );
    }

    #[test]
    fn credentials_are_missing_wrong_or_right() {
        let rules = policy(
            &[
                ("alice", "old-password"),
                ("alice", "new-password"),
                ("bob", "bobs-password"),
            ],
            &[],
            &[],
        );
        let visitor = ip("198.51.100.1");
        let with = |header: &str| rules.check(visitor, Some(header.as_bytes()));
        assert_eq!(rules.check(visitor, None), Err(Denial::AuthMissing));
        assert_eq!(with("Bearer abc"), Err(Denial::AuthMissing));
        assert_eq!(with("Basic %%%"), Err(Denial::AuthWrong));
        assert_eq!(
            with(&authorization("alice", "bobs-password")),
            Err(Denial::AuthWrong)
        );
        assert_eq!(
            with(&authorization("carol", "new-password")),
            Err(Denial::AuthWrong)
        );
        assert_eq!(with(&authorization("alice", "old-password")), Ok(()));
        assert_eq!(with(&authorization("alice", "new-password")), Ok(()));
        assert_eq!(with(&authorization("bob", "bobs-password")), Ok(()));
    }

    #[test]
    fn reasons_are_the_metric_labels() {
        let labels: Vec<&str> = Denial::ALL.iter().map(|d| d.reason()).collect();
        assert_eq!(
            labels,
            [
                "cidr_denied",
                "cidr_not_allowed",
                "auth_missing",
                "auth_wrong"
            ]
        );
        assert!(Denial::AuthWrong.asks_for_credentials());
        assert!(!Denial::CidrDenied.asks_for_credentials());
    }

    #[test]
    fn a_policy_round_trips_through_messagepack() {
        let rules = policy(
            &[("alice", "pw-12345")],
            &["10.0.0.0/8"],
            &["2001:db8::/32"],
        );
        let bytes = rmp_serde::to_vec_named(&rules).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<AccessPolicy>(&bytes).unwrap(),
            rules
        );
    }
}
