//! [`Cidr`]: an address range (`10.0.0.0/8`, `2001:db8::/32`, or one address), parsed
//! strictly and kept in canonical form: host bits cleared, an IPv4-mapped IPv6 range
//! (`::ffff:10.0.0.0/104`) turned into its IPv4 range, since visitors' addresses are
//! compared in their canonical form too ([`IpAddr::to_canonical`]).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// An address range: the network address (host bits zero) and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not an address range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("is not an IP address or ADDRESS/PREFIX range")]
    NotAnAddress,
    #[error("has a prefix length that is not a number from 0 to {max}")]
    BadPrefix { max: u8 },
}

impl Cidr {
    /// The range of `address`'s first `prefix` bits (host bits are cleared), in canonical
    /// form. `None` if `prefix` is longer than the address.
    pub fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        let cidr = match address {
            IpAddr::V4(v4) if prefix <= 32 => Self {
                network: IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & v4_mask(prefix))),
                prefix,
            },
            IpAddr::V6(v6) if prefix <= 128 => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => return Self::new(IpAddr::V4(v4), prefix - 96),
                _ => Self {
                    network: IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & v6_mask(prefix))),
                    prefix,
                },
            },
            _ => return None,
        };
        Some(cidr)
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `address` (in any form: an IPv4-mapped IPv6 address counts as IPv4) is in
    /// the range.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                ip.to_bits() & v4_mask(self.prefix) == net.to_bits()
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                ip.to_bits() & v6_mask(self.prefix) == net.to_bits()
            }
            _ => false,
        }
    }
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `ADDRESS` (one address: `/32` or `/128`) or `ADDRESS/PREFIX`, the prefix in decimal
    /// without leading zeros. No spaces, no zone (`%eth0`).
    fn from_str(text: &str) -> Result<Self, CidrError> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| CidrError::NotAnAddress)?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(digits) => parse_prefix(digits)
                .filter(|p| *p <= max)
                .ok_or(CidrError::BadPrefix { max })?,
        };
        Self::new(address, prefix).ok_or(CidrError::BadPrefix { max })
    }
}

/// A decimal number of at most three digits and no leading zero (`0` itself is fine).
fn parse_prefix(digits: &str) -> Option<u8> {
    let canonical = !digits.is_empty()
        && digits.len() <= 3
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| D::Error::custom(format!("'{text}' {e}")))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_are_kept_in_canonical_form() {
        for (given, kept) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("192.0.2.7", "192.0.2.7/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:DB8::1/32", "2001:db8::/32"),
            ("::1", "::1/128"),
            ("::/0", "::/0"),
            ("::ffff:10.1.0.0/112", "10.1.0.0/16"),
            ("::ffff:0:0/96", "0.0.0.0/0"),
        ] {
            assert_eq!(cidr(given).to_string(), kept, "{given}");
        }
    }

    #[test]
    fn what_is_not_a_range_is_refused_with_the_reason() {
        for bad in [
            "",
            "10.0.0",
            "010.0.0.0/8",
            "fe80::1%eth0",
            " 10.0.0.0/8",
            "x/8",
        ] {
            assert_eq!(bad.parse::<Cidr>(), Err(CidrError::NotAnAddress), "{bad:?}");
        }
        for (bad, max) in [
            ("10.0.0.0/33", 32),
            ("10.0.0.0/08", 32),
            ("10.0.0.0/-1", 32),
            ("10.0.0.0/", 32),
            ("10.0.0.0/8/8", 32),
            ("::/129", 128),
            ("::/1000", 128),
        ] {
            assert_eq!(
                bad.parse::<Cidr>(),
                Err(CidrError::BadPrefix { max }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn membership_compares_canonical_addresses() {
        let net = cidr("10.0.0.0/8");
        assert!(net.contains("10.255.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let v6 = cidr("2001:db8::/32");
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains("203.0.113.9".parse().unwrap()));
        assert!(cidr("127.0.0.2").contains("127.0.0.2".parse().unwrap()));
        assert!(!cidr("127.0.0.2").contains("127.0.0.1".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_range(bits: u128, prefix in 0u8..=128, v4: bool) {
            let address = if v4 {
                IpAddr::V4(Ipv4Addr::from_bits(bits as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from_bits(bits))
            };
            let prefix = if v4 { prefix % 33 } else { prefix };
            // A short range around IPv4-mapped addresses holds IPv6 ones only.
            prop_assume!(v4 || prefix >= 96 || Ipv6Addr::from_bits(bits).to_ipv4_mapped().is_none());
            let range = Cidr::new(address, prefix).unwrap();
            prop_assert_eq!(range.to_string().parse::<Cidr>(), Ok(range));
            prop_assert!(range.contains(address));
        }
    }
}
