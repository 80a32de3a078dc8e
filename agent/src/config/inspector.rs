//! The request inspector's settings: whether it runs (`inspect`, on by default), where it
//! listens (`inspect_addr`, `127.0.0.1:4040` by default) and its bounds: how many
//! exchanges and bytes it keeps, how much of each body, and what its own listener accepts.

use std::net::SocketAddr;

use hopgate_settings::{Loaded, SettingsError};

use super::Config;

/// Where the inspector listens unless told otherwise.
pub const DEFAULT_INSPECT_ADDR: &str = "127.0.0.1:4040";
/// Exchanges kept, unless configured.
pub(super) const DEFAULT_INSPECT_MAX_EXCHANGES: u64 = 200;
/// Bytes kept of each request and response body, unless configured.
pub(super) const DEFAULT_INSPECT_BODY_PREFIX_BYTES: u64 = 16 * 1024;
/// Bytes kept for all exchanges together, unless configured.
pub(super) const DEFAULT_INSPECT_BUDGET_BYTES: u64 = 8 * 1024 * 1024;
/// Connections the inspector's listener serves at once, unless configured.
pub(super) const DEFAULT_INSPECT_MAX_CONNECTIONS: u64 = 32;
/// The largest request the inspector's listener reads (a replay's edits), unless configured.
pub(super) const DEFAULT_INSPECT_MAX_REQUEST_BYTES: u64 = 1024 * 1024;

/// The inspector, when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectorSettings {
    /// Its web page and API (loopback unless configured otherwise; port 0 picks one).
    pub addr: SocketAddr,
    /// The newest exchanges kept; older ones are evicted.
    pub max_exchanges: usize,
    /// Bytes kept of each body (the rest is counted, not kept).
    pub body_prefix_bytes: usize,
    /// Bytes kept for all exchanges together (heads and body prefixes); the oldest go first.
    pub budget_bytes: usize,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// The largest request body the listener reads (a replay's edits).
    pub max_request_bytes: usize,
}

/// Checks the inspector's settings (all of them, also when it is off); `None` with
/// `inspect = off`.
pub(super) fn check(loaded: &Loaded<Config>) -> Result<Option<InspectorSettings>, SettingsError> {
    let config = &loaded.value;
    let on = on(config.inspect.as_deref()).map_err(|why| loaded.invalid("inspect", why))?;
    let addr = addr(
        config
            .inspect_addr
            .as_deref()
            .unwrap_or(DEFAULT_INSPECT_ADDR),
    )
    .map_err(|why| loaded.invalid("inspect_addr", why))?;
    let bounded = |key: &str, value: u64, range: std::ops::RangeInclusive<u64>| match range
        .contains(&value)
    {
        true => usize::try_from(value).map_err(|e| loaded.invalid(key, e.to_string())),
        false => Err(loaded.invalid(
            key,
            format!("{value} is outside {}..={}", range.start(), range.end()),
        )),
    };
    let settings = InspectorSettings {
        addr,
        max_exchanges: bounded(
            "inspect_max_exchanges",
            config.inspect_max_exchanges,
            1..=100_000,
        )?,
        body_prefix_bytes: bounded(
            "inspect_body_prefix_bytes",
            config.inspect_body_prefix_bytes,
            0..=16 << 20,
        )?,
        budget_bytes: bounded(
            "inspect_budget_bytes",
            config.inspect_budget_bytes,
            64 << 10..=4 << 30,
        )?,
        max_connections: bounded(
            "inspect_max_connections",
            config.inspect_max_connections,
            1..=1024,
        )?,
        max_request_bytes: bounded(
            "inspect_max_request_bytes",
            config.inspect_max_request_bytes,
            1024..=64 << 20,
        )?,
    };
    Ok(on.then_some(settings))
}

/// `on` (the default) or `off`.
fn on(value: Option<&str>) -> Result<bool, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(_) => Err(format!(
            "{:?} is neither on nor off",
            value.unwrap_or_default()
        )),
    }
}

fn addr(given: &str) -> Result<SocketAddr, String> {
    given.trim().parse().map_err(|_| {
        format!("{given:?} is not an IP address and port, e.g. {DEFAULT_INSPECT_ADDR}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;

    const TUNNEL: [(&str, &str); 6] = [
        ("HOP_CLIENT_SERVER_ADDR", "127.0.0.1:4433"),
        (
            "HOP_CLIENT_SERVER_FINGERPRINT",
            "abababababababababababababababababababababababababababababababab",
        ),
        ("HOP_CLIENT_DEBUG", "true"),
        ("HOP_CLIENT_DOMAIN", "app.example.com"),
        ("HOP_CLIENT_API_KEY", "k-123"),
        ("HOP_CLIENT_LOCAL_TARGET", "3000"),
    ];

    fn inspector(args: &[&str], env: &[(&str, &str)]) -> Result<Option<InspectorSettings>, String> {
        let argv = std::iter::once("hopgate-agent").chain(args.iter().copied());
        let env: Vec<_> = TUNNEL.iter().chain(env).copied().collect();
        load(argv, &env.as_slice())
            .map(|s| s.settings.inspector)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn on_at_4040_by_default_off_when_asked() {
        let on = inspector(&[], &[]).unwrap().unwrap();
        assert_eq!(on.addr.to_string(), DEFAULT_INSPECT_ADDR);
        assert_eq!(on.max_exchanges, 200);
        assert_eq!(on.body_prefix_bytes, 16 * 1024);
        assert_eq!(inspector(&["--inspect", "off"], &[]).unwrap(), None);
        assert_eq!(
            inspector(&[], &[("HOP_CLIENT_INSPECT", "off")]).unwrap(),
            None
        );
        let flag_wins = inspector(&["--inspect", "on"], &[("HOP_CLIENT_INSPECT", "off")]);
        assert!(flag_wins.unwrap().is_some());
        let moved = inspector(&[], &[("HOP_CLIENT_INSPECT_ADDR", "127.0.0.1:0")]).unwrap();
        assert_eq!(moved.unwrap().addr.port(), 0);
        let bounded = inspector(
            &[
                "--inspect-max-exchanges",
                "5",
                "--inspect-budget-bytes",
                "65536",
            ],
            &[],
        );
        let bounded = bounded.unwrap().unwrap();
        assert_eq!((bounded.max_exchanges, bounded.budget_bytes), (5, 65536));
    }

    #[test]
    fn bad_values_are_named_by_their_source() {
        let bad = inspector(&["--inspect-addr", "4040"], &[]).unwrap_err();
        assert!(
            bad.contains("--inspect-addr") && bad.contains("not an IP address"),
            "{bad}"
        );
        let bad = inspector(&[], &[("HOP_CLIENT_INSPECT", "maybe")]).unwrap_err();
        assert!(
            bad.contains("HOP_CLIENT_INSPECT") && bad.contains("neither on nor off"),
            "{bad}"
        );
        let bad = inspector(&["--inspect-max-exchanges", "0"], &[]).unwrap_err();
        assert!(
            bad.contains("--inspect-max-exchanges") && bad.contains("outside"),
            "{bad}"
        );
        let bad = inspector(&["--inspect-budget-bytes", "10"], &[]).unwrap_err();
        assert!(bad.contains("outside 65536"), "{bad}");
        let off = inspector(&["--inspect", "off", "--inspect-addr", "nonsense"], &[]);
        assert!(
            off.unwrap_err().contains("--inspect-addr"),
            "checked also when off"
        );
    }

    #[test]
    fn on_unless_off() {
        assert!(on(None).unwrap());
        assert!(on(Some("ON")).unwrap());
        assert!(!on(Some("off")).unwrap());
        assert!(
            on(Some("maybe"))
                .unwrap_err()
                .contains("neither on nor off")
        );
        assert!(
            addr("4040")
                .unwrap_err()
                .contains("not an IP address and port")
        );
        assert_eq!(addr(DEFAULT_INSPECT_ADDR).unwrap().port(), 4040);
    }
}
