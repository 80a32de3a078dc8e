//! The entries of `HOP_DEV_DOMAINS`, the fixed development routing table: one `DOMAIN=KEY`
//! each, whose key prints as `***`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One `DOMAIN=KEY` entry of the development table.
#[derive(Clone)]
pub(crate) struct DevDomain {
    pub(crate) domain: String,
    pub(crate) key: String,
}

impl fmt::Debug for DevDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=***", self.domain)
    }
}

impl FromStr for DevDomain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (domain, key) = s.split_once('=').ok_or("expected DOMAIN=KEY")?;
        let domain = crate::host::normalize(domain).map_err(|e| format!("domain: {e}"))?;
        if key.len() < 16 {
            return Err("the key must be at least 16 characters".into());
        }
        Ok(Self {
            domain,
            key: key.to_owned(),
        })
    }
}

impl Serialize for DevDomain {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{self:?}"))
    }
}

impl<'de> Deserialize<'de> for DevDomain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_domain_parses_and_hides_the_key() {
        let d: DevDomain = "App.Example.COM=0123456789abcdef0123".parse().unwrap();
        assert_eq!(d.domain, "app.example.com");
        assert!(!format!("{d:?}").contains("0123456789"));
        assert!("app.example.com".parse::<DevDomain>().is_err());
        assert!("app.example.com=short".parse::<DevDomain>().is_err());
    }
}
