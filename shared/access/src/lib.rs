//! `hopgate-access`: per-domain access control, sans-IO. The control-plane keeps a
//! domain's [`AccessPolicy`] (Basic users with salted password hashes, allowed and denied
//! address ranges) and pushes it to every pod in the table; a pod checks every visitor's
//! request against it before the request goes anywhere ([`AccessPolicy::check`]), and an
//! agent checks its own `--basic-auth` users the same way
//! ([`AccessPolicy::check_credentials`]). No passwords are kept: only [`Credential`]s.
//!
//! # Layout
//!
//! | module | concern |
//! | --- | --- |
//! | `cidr` | [`Cidr`]: an address range, parsed strictly, kept canonical |
//! | `credential` | [`Credential`]: a user and a salted SHA-256 of its password, and why that hash |
//! | `basic` | HTTP Basic: the credentials in an `Authorization` header, the challenge |
//! | `policy` | [`AccessPolicy`] and its check, [`Denial`] (the reasons, as metric labels) |

pub mod basic;
mod cidr;
mod credential;
mod policy;

pub use cidr::{Cidr, CidrError};
pub use credential::{Credential, SALT_LEN};
pub use policy::{AccessPolicy, Denial};
