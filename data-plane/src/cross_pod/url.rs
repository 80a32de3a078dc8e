//! The URL a relayed request goes to: the chosen pod's relay address (scheme, host, port
//! from its reported relay URL) with the visitor's origin-form target set as path and
//! query, never pasted into a string. The built URL is checked to still name that pod, so
//! no request target can send the relay (and the secret it carries) anywhere else.

use reqwest::Url;

/// Why no relay URL was built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum RelayUrlError {
    /// The pod's relay URL isn't an `http(s)://host[:port]` address.
    #[error("the relay URL {0:?} is not an http(s) address of a pod")]
    BadPod(String),
    /// The request target isn't a path (origin-form).
    #[error("the request target is not a path")]
    NotOriginForm,
    /// The built URL names another host or port than the pod's.
    #[error("the relay URL would not name the pod {0}")]
    OtherHost(String),
}

/// `pod`'s relay URL for the origin-form `target` (`/path?query`).
pub(crate) fn build(pod: &str, target: &str) -> Result<Url, RelayUrlError> {
    let base = pod_address(pod)?;
    if !target.starts_with('/') {
        return Err(RelayUrlError::NotOriginForm);
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut url = base.clone();
    // A relay URL with a path prefix keeps it in front of the visitor's path.
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{path}"));
    url.set_query(query);
    if !same_place(&url, &base) {
        return Err(RelayUrlError::OtherHost(pod.to_owned()));
    }
    Ok(url)
}

/// A pod's relay URL: http or https, a host, no credentials, query or fragment.
fn pod_address(pod: &str) -> Result<Url, RelayUrlError> {
    let bad = || RelayUrlError::BadPod(pod.to_owned());
    let url = Url::parse(pod).map_err(|_| bad())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    plain.then_some(url).ok_or_else(bad)
}

/// Whether `url` goes to the same scheme, host and port as `pod`, with no credentials.
fn same_place(url: &Url, pod: &Url) -> bool {
    url.scheme() == pod.scheme()
        && url.host() == pod.host()
        && url.port_or_known_default() == pod.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "http://10.0.0.2:8444";

    #[test]
    fn path_and_query_go_to_the_pod() {
        let url = build(POD, "/a/b?x=1&y=%20").unwrap();
        assert_eq!(url.as_str(), "http://10.0.0.2:8444/a/b?x=1&y=%20");
        assert_eq!(build(POD, "/").unwrap().as_str(), "http://10.0.0.2:8444/");
        let trailing = build("http://10.0.0.2:8444/", "/x").unwrap();
        assert_eq!(trailing.as_str(), "http://10.0.0.2:8444/x");
        let prefixed = build("https://pod-a.relay.svc/relay/", "/x?q").unwrap();
        assert_eq!(prefixed.as_str(), "https://pod-a.relay.svc/relay/x?q");
    }

    #[test]
    fn targets_that_name_a_host_are_refused() {
        for target in [
            "@127.0.0.1:19999/steal",
            "http://127.0.0.1:19999/steal",
            "127.0.0.1:19999",
            "*",
            "",
        ] {
            assert_eq!(
                build(POD, target),
                Err(RelayUrlError::NotOriginForm),
                "{target}"
            );
        }
    }

    #[test]
    fn paths_that_look_like_hosts_stay_paths_on_the_pod() {
        for target in [
            "//127.0.0.1:19999/steal",
            "/@127.0.0.1:19999/steal",
            "/\\\\127.0.0.1:19999/steal",
            "/%2f%2f127.0.0.1:19999",
            "/a?@127.0.0.1:19999/#x",
        ] {
            let url = build(POD, target).unwrap();
            assert_eq!(url.host_str(), Some("10.0.0.2"), "{target}: {url}");
            assert_eq!(url.port(), Some(8444), "{target}: {url}");
            assert!(url.username().is_empty(), "{target}: {url}");
        }
    }

    #[test]
    fn pod_addresses_must_be_plain() {
        for pod in [
            "ftp://10.0.0.2",
            "http://user:pw@10.0.0.2:8444",
            "http://10.0.0.2:8444?x",
            "10.0.0.2:8444",
            "",
        ] {
            assert!(
                matches!(build(pod, "/"), Err(RelayUrlError::BadPod(_))),
                "{pod}"
            );
        }
    }
}
