//! The ACME account: created once per directory, its credentials (which hold the account's
//! private key) stored in the database and reused across restarts. Never logged.

use instant_acme::{Account, AccountBuilder, AccountCredentials, NewAccount};

use super::settings::AcmeSettings;
use crate::store::{Store, StoreError};

/// Why the account can't be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    #[error("ACME directory: {0}")]
    Acme(#[from] instant_acme::Error),
    #[error("stored ACME account is unreadable: {0}")]
    Credentials(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An HTTP client for the directory: the system's roots, or `HOP_ACME_CA_ROOT`.
fn builder(settings: &AcmeSettings) -> Result<AccountBuilder, instant_acme::Error> {
    match &settings.ca_root {
        Some(root) => Account::builder_with_root(root),
        None => Account::builder(),
    }
}

/// Loads the stored account for the directory, or creates one and stores it.
pub(crate) async fn load_or_create(
    settings: &AcmeSettings,
    store: &Store,
) -> Result<(Account, bool), AccountError> {
    if let Some(json) = store.acme_account(&settings.directory).await? {
        let credentials: AccountCredentials = serde_json::from_str(&json)?;
        let account = builder(settings)?.from_credentials(credentials).await?;
        return Ok((account, false));
    }
    let contact = settings.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let new = NewAccount {
        contact: &contacts,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let (account, credentials) = builder(settings)?
        .create(&new, settings.directory.clone(), None)
        .await?;
    let json = serde_json::to_string(&credentials)?;
    let stored = store.save_acme_account(&settings.directory, &json).await?;
    if stored == json {
        return Ok((account, true));
    }
    // Another control-plane stored one first: use that one.
    let credentials: AccountCredentials = serde_json::from_str(&stored)?;
    Ok((
        builder(settings)?.from_credentials(credentials).await?,
        false,
    ))
}
