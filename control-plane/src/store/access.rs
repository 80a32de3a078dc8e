//! Domains' access policies in the database: the `access_policy` column of `domains`
//! (migration `0003`), JSON with the salt and hash of each credential in hex (never a
//! password), read back into the [`AccessPolicy`] the table carries.

use hopgate_table::access::{AccessPolicy, Cidr, Credential, SALT_LEN};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Store, StoreError};

/// The column's JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPolicy {
    basic_auth: Vec<StoredCredential>,
    allow_cidrs: Vec<Cidr>,
    deny_cidrs: Vec<Cidr>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCredential {
    user: String,
    /// Hex of the salt.
    salt: String,
    /// Hex of SHA-256(salt ‖ password).
    hash: String,
}

/// The column's value for `policy` (`None`: no restriction).
fn to_column(policy: Option<&AccessPolicy>) -> Result<Option<String>, StoreError> {
    let Some(policy) = policy else {
        return Ok(None);
    };
    let stored = StoredPolicy {
        basic_auth: policy
            .basic_auth
            .iter()
            .map(|c| StoredCredential {
                user: c.user.clone(),
                salt: hex::encode(c.salt),
                hash: hex::encode(c.hash),
            })
            .collect(),
        allow_cidrs: policy.allow_cidrs.clone(),
        deny_cidrs: policy.deny_cidrs.clone(),
    };
    serde_json::to_string(&stored)
        .map(Some)
        .map_err(|e| StoreError::other_because("access policy not encodable", e))
}

/// The policy a column holds, for `domain` (named in the error).
pub(super) fn from_column(
    domain: &str,
    column: Option<&str>,
) -> Result<Option<AccessPolicy>, StoreError> {
    let Some(text) = column else {
        return Ok(None);
    };
    let bad = |why: String| StoreError::other(format!("{domain}: access_policy {why}"));
    let stored: StoredPolicy =
        serde_json::from_str(text).map_err(|e| bad(format!("is not valid: {e}")))?;
    let basic_auth = stored
        .basic_auth
        .into_iter()
        .map(|c| {
            let mut salt = [0; SALT_LEN];
            let mut hash = [0; 32];
            hex::decode_to_slice(&c.salt, &mut salt)
                .and_then(|()| hex::decode_to_slice(&c.hash, &mut hash))
                .map_err(|e| bad(format!("has a bad salt or hash for '{}': {e}", c.user)))?;
            Ok(Credential {
                user: c.user,
                salt,
                hash,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(AccessPolicy {
        basic_auth,
        allow_cidrs: stored.allow_cidrs,
        deny_cidrs: stored.deny_cidrs,
    }))
}

impl Store {
    /// Replaces `domain`'s access policy (`None` clears it); returns the new table version.
    pub(crate) async fn set_access(
        &self,
        domain: &str,
        policy: Option<&AccessPolicy>,
    ) -> Result<u64, StoreError> {
        let column = to_column(policy)?;
        self.update_domain(
            domain,
            "access",
            "UPDATE domains SET access_policy = $1, updated_at = $2 WHERE domain = $3",
            column,
        )
        .await
    }

    /// `domain`'s access policy (`Ok(None)`: the domain is not registered; `Some(None)`:
    /// no restriction).
    pub(crate) async fn access(
        &self,
        domain: &str,
    ) -> Result<Option<Option<AccessPolicy>>, StoreError> {
        let row = sqlx::query("SELECT access_policy FROM domains WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let column: Option<String> = row.try_get("access_policy")?;
        from_column(domain, column.as_deref()).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_round_trips_through_its_column_without_the_password() {
        let policy = AccessPolicy {
            basic_auth: vec![Credential::new("alice", "s3cret-password", [9; SALT_LEN])],
            allow_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
            deny_cidrs: vec!["2001:db8::/32".parse().unwrap()],
        };
        let column = to_column(Some(&policy)).unwrap().unwrap();
        assert!(!column.contains("s3cret"), "{column}");
        assert!(column.contains("\"10.0.0.0/8\""), "{column}");
        assert_eq!(from_column("a.test", Some(&column)).unwrap(), Some(policy));
        assert_eq!(to_column(None).unwrap(), None);
        assert_eq!(from_column("a.test", None).unwrap(), None);
        let err = from_column("a.test", Some("{}")).unwrap_err();
        assert!(err.to_string().contains("a.test: access_policy"), "{err}");
    }
}
