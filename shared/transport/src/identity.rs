//! Certificates: the gateway's identity, how an agent pins or verifies it.
//!
//! One certificate (ECDSA P-256 or Ed25519: what DTLS 1.2 here can sign with) serves both
//! layers: the DTLS handshake presents it, and the stream layer's own handshake inside DTLS
//! presents it again, so the agent can check that both layers end at the same gateway.

use std::{fmt, sync::Arc};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};
use sha2::{Digest, Sha256};

use crate::error::IdentityError;

/// The gateway's certificate chain and private key.
#[derive(Clone)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key_pkcs8: Arc<Vec<u8>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .field("chain_len", &self.chain.len())
            .field("key", &"***")
            .finish()
    }
}

impl Identity {
    /// A fresh self-signed ECDSA P-256 certificate for `names` (debug mode: agents pin it).
    pub fn self_signed(names: &[String]) -> Result<Self, IdentityError> {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(names.to_vec()).map_err(IdentityError::Generate)?;
        Ok(Self {
            chain: vec![cert.der().clone()],
            key_pkcs8: Arc::new(signing_key.serialize_der()),
        })
    }

    /// Parses a PEM certificate chain (leaf first) and a PEM PKCS#8 private key.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, IdentityError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| IdentityError::NoCertificate)?;
        if chain.is_empty() {
            return Err(IdentityError::NoCertificate);
        }
        let key = match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(PrivateKeyDer::Pkcs8(key)) => key.secret_pkcs8_der().to_vec(),
            Ok(_) => return Err(IdentityError::NotPkcs8),
            Err(_) => return Err(IdentityError::NoKey),
        };
        let identity = Self {
            chain,
            key_pkcs8: Arc::new(key),
        };
        identity.key_pair()?;
        Ok(identity)
    }

    /// The leaf certificate's SHA-256 fingerprint, what a debug-mode agent pins.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.chain[0])
    }

    /// The chain as PEM (leaf first), e.g. to hand a test client as its CA file.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|der| pem_block("CERTIFICATE", der))
            .collect()
    }

    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    pub(crate) fn rustls_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.as_ref().clone()))
    }

    fn key_pair(&self) -> Result<rcgen::KeyPair, IdentityError> {
        let der = PrivatePkcs8KeyDer::from(self.key_pkcs8.as_slice());
        rcgen::KeyPair::try_from(&der).map_err(IdentityError::UnsupportedKey)
    }

    pub(crate) fn dtls_certificate(
        &self,
        crypto: &dyn rtc_dtls::crypto_provider::RTCCrypto,
    ) -> Result<rtc_dtls::crypto::Certificate, IdentityError> {
        let key_pair = self.key_pair()?;
        let private_key = rtc_dtls::crypto::CryptoPrivateKey::from_key_pair(&key_pair, crypto)
            .map_err(IdentityError::UnusableForDtls)?;
        Ok(rtc_dtls::crypto::Certificate {
            certificate: self.chain.clone(),
            private_key,
        })
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(label, der))
}

/// A certificate's SHA-256 fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Hashes a DER certificate.
    pub(crate) fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Parses 64 hex digits, with or without colons, any case.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let digits: String = text.chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(digits.trim())
            .map_err(|_| IdentityError::BadFingerprint(text.to_owned()))?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::BadFingerprint(text.to_owned()))?;
        Ok(Self(array))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_round_trips_with_and_without_colons() {
        let id = Identity::self_signed(&["gw.test".into()]).unwrap();
        let fp = id.fingerprint();
        let hex = fp.to_string();
        assert_eq!(Fingerprint::parse(&hex).unwrap(), fp);
        let colons: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8(c.to_vec()).unwrap().to_uppercase())
            .collect();
        assert_eq!(Fingerprint::parse(&colons.join(":")).unwrap(), fp);
        assert!(Fingerprint::parse("abcd").is_err());
    }

    #[test]
    fn pem_round_trip_keeps_the_certificate() {
        let id = Identity::self_signed(&["gw.test".into()]).unwrap();
        let key_pem = pem_block("PRIVATE KEY", &id.key_pkcs8);
        let again = Identity::from_pem(id.chain_pem().as_bytes(), key_pem.as_bytes()).unwrap();
        assert_eq!(again.fingerprint(), id.fingerprint());
    }

    #[test]
    fn debug_never_prints_the_key() {
        let id = Identity::self_signed(&["gw.test".into()]).unwrap();
        let text = format!("{id:?}");
        assert!(text.contains("***"));
        assert!(!text.contains(&hex::encode(id.key_pkcs8.as_slice())));
    }

    #[test]
    fn garbage_pem_is_a_clear_error() {
        assert!(matches!(
            Identity::from_pem(b"nope", b"nope"),
            Err(IdentityError::NoCertificate)
        ));
    }
}
