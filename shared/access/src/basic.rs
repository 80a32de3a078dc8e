//! HTTP Basic authentication (RFC 7617) as far as a gateway needs it: the user and
//! password an `Authorization: Basic …` header carries, and the `WWW-Authenticate`
//! challenge that asks a browser for them.

use base64::{Engine as _, engine::general_purpose::STANDARD};

/// A user and password from an `Authorization` header.
pub struct BasicCredentials {
    pub user: String,
    pub password: Vec<u8>,
}

/// Why an `Authorization` header gave no Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPresented {
    /// Another scheme (`Bearer …`): no Basic credentials were offered.
    OtherScheme,
    /// `Basic` with something that is not base64 of `user:password` in UTF-8.
    Malformed,
}

/// The user and password of an `Authorization` header's value: `Basic` (any case), then
/// base64 (with padding) of `user:password`, the user in UTF-8 and without `:`.
pub fn parse(value: &[u8]) -> Result<BasicCredentials, NotPresented> {
    let text = std::str::from_utf8(value).map_err(|_| NotPresented::OtherScheme)?;
    let (scheme, token) = text
        .trim()
        .split_once(' ')
        .ok_or(NotPresented::OtherScheme)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(NotPresented::OtherScheme);
    }
    let decoded = STANDARD
        .decode(token.trim_start())
        .map_err(|_| NotPresented::Malformed)?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(NotPresented::Malformed)?;
    let (user, password) = decoded.split_at(colon);
    let user = String::from_utf8(user.to_vec()).map_err(|_| NotPresented::Malformed)?;
    Ok(BasicCredentials {
        user,
        password: password[1..].to_vec(),
    })
}

/// The `WWW-Authenticate` value that asks for credentials for `realm` (the domain):
/// `Basic realm="app.example.com", charset="UTF-8"`.
pub fn challenge(realm: &str) -> String {
    let quoted = realm.replace('\\', "\\\\").replace('"', "\\\"");
    format!("Basic realm=\"{quoted}\", charset=\"UTF-8\"")
}

/// The `Authorization` header value a client sends for `user` and `password`.
pub fn authorization(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_the_header() {
        let header = authorization("alice", "pa:ss wörd");
        let got = parse(header.as_bytes()).unwrap_or_else(|_| panic!("{header}"));
        assert_eq!(got.user, "alice");
        assert_eq!(got.password, "pa:ss wörd".as_bytes());
        let lower = header.replacen("Basic", "basic", 1);
        assert!(parse(lower.as_bytes()).is_ok());
        // RFC 7617's example.
        let example = parse(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").ok().unwrap();
        assert_eq!(
            (example.user.as_str(), &example.password[..]),
            ("Aladdin", &b"open sesame"[..])
        );
    }

    #[test]
    fn other_schemes_and_garbage_are_told_apart() {
        for other in [
            &b"Bearer abc"[..],
            b"Basic",
            b"",
            b"\xff\xfe",
            b"Digest username=x",
        ] {
            assert_eq!(
                parse(other).err(),
                Some(NotPresented::OtherScheme),
                "{other:?}"
            );
        }
        for bad in [
            &b"Basic !!!"[..],
            b"Basic YWxpY2U=",
            b"Basic /w==",
            b"Basic YWxpY2U6cHc",
        ] {
            assert_eq!(parse(bad).err(), Some(NotPresented::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_challenge_names_the_realm() {
        assert_eq!(
            challenge("app.example.com"),
            "Basic realm=\"app.example.com\", charset=\"UTF-8\""
        );
        assert_eq!(
            challenge("a\"b"),
            "Basic realm=\"a\\\"b\", charset=\"UTF-8\""
        );
    }
}
