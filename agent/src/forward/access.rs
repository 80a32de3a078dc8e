//! The tunnel's own Basic users (`--basic-auth`): a request without the credentials of one
//! of them is answered here with 401 and `WWW-Authenticate`, and the local service never
//! sees it; a request with them goes on without its `Authorization` header (the
//! credentials were the agent's, not the service's). Passwords are kept only as salted
//! hashes and compared in constant time (`hopgate-access`), as the gateway does.

use bytes::Bytes;
use hopgate_access::{AccessPolicy, Credential, Denial, basic};
use hopgate_protocol::{Header, RequestHead, ResponseHead};

use super::{DRAIN_GRACE, ForwardError, Forwarder, Reader, Writer};
use crate::config::BasicUser;

/// The policy that asks for `users`; `None` for none.
pub(super) fn policy(users: &[BasicUser]) -> Option<AccessPolicy> {
    (!users.is_empty()).then(|| AccessPolicy {
        basic_auth: users
            .iter()
            .map(|u| Credential::new(&u.user, u.password.expose(), rand::random()))
            .collect(),
        ..AccessPolicy::default()
    })
}

/// The value of the request's `Authorization` header, if any.
fn authorization(head: &RequestHead) -> Option<&[u8]> {
    head.headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
        .map(|h| &h.value[..])
}

impl Forwarder {
    /// Whether the request may reach the local service.
    pub(super) fn admits(&self, head: &RequestHead) -> Result<(), Denial> {
        match &self.access {
            Some(policy) => policy.check_credentials(authorization(head)),
            None => Ok(()),
        }
    }

    /// Answers a request that didn't pass with 401, then lets the rest of its body go.
    pub(super) async fn refuse(
        &self,
        denial: Denial,
        reader: &mut Reader,
        writer: &mut Writer,
    ) -> Result<u16, ForwardError> {
        self.metrics.access_denied(denial);
        let body = format!(
            "401 Unauthorized: {} asks for a user name and password.\n",
            self.domain
        );
        let head = ResponseHead {
            status: 401,
            headers: vec![
                Header::new(
                    "www-authenticate",
                    Bytes::from(basic::challenge(&self.domain)),
                ),
                Header::new(
                    "content-type",
                    Bytes::from_static(b"text/plain; charset=utf-8"),
                ),
                Header::new("cache-control", Bytes::from_static(b"no-store")),
            ],
        };
        writer.queue_head(head).map_err(ForwardError::from)?;
        writer.queue_body(Bytes::from(body)).await?;
        writer.end(Vec::new()).await?;
        let _ = tokio::time::timeout(DRAIN_GRACE, async {
            while let Ok(Some(_)) = reader.next().await {}
        })
        .await;
        Ok(401)
    }
}

#[cfg(test)]
mod tests {
    use hopgate_settings::Secret;

    use super::*;

    #[test]
    fn no_users_no_policy_and_passwords_are_hashed() {
        assert!(policy(&[]).is_none());
        let users = [BasicUser {
            user: "alice".into(),
            password: Secret::new("pw-of-alice"),
        }];
        let built = policy(&users).unwrap();
        assert!(built.basic_auth[0].accepts(b"pw-of-alice"));
        let header = basic::authorization("alice", "pw-of-alice");
        assert_eq!(built.check_credentials(Some(header.as_bytes())), Ok(()));
        assert_eq!(built.check_credentials(None), Err(Denial::AuthMissing));
    }
}
