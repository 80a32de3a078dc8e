//! One ACME order for one name, HTTP-01: each pending authorization's answer goes into
//! the pushed table (through [`ChallengeBoard`]) *before* the server is told the challenge
//! is ready; then a fresh ECDSA P-256 key and CSR finalize the order and the chain is
//! downloaded. Removing the answers afterwards is the caller's job (it also has to do it
//! when an order is cancelled midway).

use std::time::Duration;

use hopgate_table::CertificateRecord;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus, Problem,
    RetryPolicy,
};

use super::cert::{BadChain, validity};
use crate::store::StoreError;

/// How long to wait for validation, and then for the certificate.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(90));

/// Where challenge answers are published (the table, in production).
pub(crate) trait ChallengeBoard: Sync {
    /// Publishes `token` → `key_authorization` and returns once the delta has left for
    /// the pods.
    fn add(
        &self,
        name: &str,
        token: &str,
        key_authorization: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why an order failed; the text becomes the status `failed: …`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OrderError {
    /// The ACME server refused or couldn't be reached.
    #[error("{}", acme_text(.0))]
    Acme(#[from] instant_acme::Error),
    /// Validation failed: the server's reason.
    #[error("{0}")]
    Invalid(String),
    #[error("the server offered no http-01 challenge for {0}")]
    NoHttp01(String),
    #[error("publishing the challenge answer: {0}")]
    Table(#[from] StoreError),
    #[error("making the key or CSR: {0}")]
    Csr(#[from] rcgen::Error),
    #[error(transparent)]
    Chain(#[from] BadChain),
}

/// A problem document as one line: detail and type (and subproblems).
pub(crate) fn problem_text(p: &Problem) -> String {
    let mut text = p.detail.clone().unwrap_or_else(|| "no detail".into());
    if let Some(kind) = &p.r#type {
        text.push_str(&format!(" ({kind})"));
    }
    for sub in &p.subproblems {
        text.push_str(&format!("; {sub}"));
    }
    text
}

fn acme_text(e: &instant_acme::Error) -> String {
    match e {
        instant_acme::Error::Api(problem) => problem_text(problem),
        e => e.to_string(),
    }
}

/// Orders a certificate for `name`; returns the chain, its fresh key and expiry.
pub(crate) async fn issue(
    account: &Account,
    name: &str,
    board: &impl ChallengeBoard,
) -> Result<CertificateRecord, OrderError> {
    let identifiers = [Identifier::Dns(name.to_owned())];
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue, // reused from an earlier order
            other => return Err(OrderError::Invalid(format!("authorization is {other:?}"))),
        }
        let mut challenge = authorization
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| OrderError::NoHttp01(name.to_owned()))?;
        let key_authorization = challenge.key_authorization();
        board
            .add(name, &challenge.token, key_authorization.as_str())
            .await?;
        challenge.set_ready().await?;
    }
    match order.poll_ready(&POLL).await {
        Ok(OrderStatus::Ready) => {}
        Ok(_) | Err(instant_acme::Error::Api(_)) => {
            return Err(OrderError::Invalid(failure_reason(&mut order).await));
        }
        Err(e) => return Err(e.into()),
    }
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key)?;
    order.finalize_csr(csr.der()).await?;
    let chain_pem = order.poll_certificate(&POLL).await?;
    let not_after_unix = validity(&chain_pem)?.not_after;
    Ok(CertificateRecord {
        chain_pem,
        key_pem: key.serialize_pem(),
        not_after_unix,
    })
}

/// The server's reason for an order that went invalid: the first failed challenge's
/// problem, else the order's own.
async fn failure_reason(order: &mut Order) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let Ok(state) = authorization.refresh().await else {
            continue;
        };
        if let Some(problem) = state.challenges.iter().find_map(|c| c.error.as_ref()) {
            return problem_text(problem);
        }
    }
    match &order.state().error {
        Some(problem) => problem_text(problem),
        None => format!("order is {:?}", order.state().status),
    }
}
