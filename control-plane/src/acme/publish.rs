//! ACME's writes to the table, each like an admin write: under the writer lock, one
//! transaction (which takes the next version), then the delta published to the pods.

use std::time::Duration;

use hopgate_table::{CertificateRecord, Change, Delta, DomainRecord};

use crate::{
    service::Domains,
    store::{CertOwner, StoreError},
};

/// How long an answer is given to reach the pods before the ACME server is told to look
/// (the push takes a few milliseconds; see docs/benchmarks.md, table propagation).
pub(crate) const CHALLENGE_GRACE: Duration = Duration::from_millis(250);

impl Domains {
    /// Publishes (`Some`) or withdraws (`None`) an HTTP-01 answer; returns once the delta
    /// has left for the pods.
    pub(crate) async fn publish_challenge(
        &self,
        name: &str,
        token: &str,
        key_authorization: Option<&str>,
    ) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let version = self.store.log_challenge(name, token).await?;
        self.hub.publish(Delta {
            version,
            changes: vec![Change::Challenge {
                token: token.to_owned(),
                key_authorization: key_authorization.map(str::to_owned),
            }],
            committed_unix_ms: None,
        });
        Ok(())
    }

    /// Stores an issued certificate and publishes it (an upsert of the domain with its
    /// current key hash, or the gateway's certificate). [`StoreError::NotFound`] if the
    /// domain was unregistered meanwhile: then nothing changes.
    pub(crate) async fn publish_certificate(
        &self,
        owner: &CertOwner,
        certificate: CertificateRecord,
    ) -> Result<u64, StoreError> {
        let _writer = self.writer.lock().await;
        let version = self.store.store_certificate(owner, &certificate).await?;
        let change = match owner {
            CertOwner::Gateway(_) => Change::GatewayCertificate(Some(certificate)),
            CertOwner::Domain(domain) => {
                let record = self.hub.record(domain).ok_or_else(|| {
                    StoreError::other(format!("{domain} is in the database but not the table"))
                })?;
                Change::Upsert(DomainRecord {
                    certificate: Some(certificate),
                    ..record
                })
            }
        };
        self.hub.publish(Delta {
            version,
            changes: vec![change],
            committed_unix_ms: None,
        });
        Ok(version)
    }
}
