//! The tunnels' checks: at least one, each with a domain (normalised, distinct), an API
//! key and a local target, how the local service is spoken to, and `user:password` pairs
//! if it asks visitors for them. Errors name the tunnel's field by where it came from
//! (`--domain`, `HOP_CLIENT_API_KEY`, `agent.toml: tunnel[2].local_target`).

use hopgate_settings::{Loaded, Secret, SettingsError};

use super::{
    BasicUser, Config, HostHeader, LocalProtocol, LocalTarget, TunnelSettings, file::Tunnel,
};

/// The array of tables the tunnels are.
const TUNNEL: &str = "tunnel";

/// Checks every tunnel.
pub(super) fn check(loaded: &Loaded<Config>) -> Result<Vec<TunnelSettings>, SettingsError> {
    if loaded.value.tunnel.is_empty() {
        return Err(SettingsError::Invalid {
            setting: TUNNEL.to_owned(),
            reason: "no tunnel to serve; run `hopgate-agent http <TARGET> --domain DOMAIN --key \
                     KEY` or list [[tunnel]] entries in the config file"
                .to_owned(),
        });
    }
    let mut tunnels: Vec<TunnelSettings> = Vec::with_capacity(loaded.value.tunnel.len());
    for (i, tunnel) in loaded.value.tunnel.iter().enumerate() {
        let bad = |field, why| loaded.invalid_entry(TUNNEL, i, field, why);
        let domain = domain(tunnel).map_err(|why| bad("domain", why))?;
        if let Some(j) = tunnels.iter().position(|t| t.domain == domain) {
            let why = format!("{domain} is already served by tunnel[{}]", j + 1);
            return Err(bad("domain", why));
        }
        let api_key = api_key(tunnel, &domain).map_err(|why| bad("api_key", why))?;
        let target = match &tunnel.local_target {
            None => Err(format!(
                "missing for {domain}; give TARGET (`hopgate-agent http 3000`), \
                 HOP_CLIENT_LOCAL_TARGET or local_target in a [[tunnel]] of the config file"
            )),
            Some(text) => LocalTarget::parse(text),
        }
        .map_err(|why| bad("local_target", why))?;
        let host_header = match &tunnel.host_header {
            None => Ok(HostHeader::default()),
            Some(text) => HostHeader::parse(text),
        }
        .map_err(|why| bad("host_header", why))?;
        let local_protocol = match &tunnel.local_protocol {
            None => Ok(LocalProtocol::default()),
            Some(text) => LocalProtocol::parse(text),
        }
        .map_err(|why| bad("local_protocol", why))?;
        let basic_auth = tunnel
            .basic_auth
            .iter()
            .enumerate()
            .map(|(n, pair)| {
                BasicUser::parse(pair).map_err(|why| format!("entry {}: {why}", n + 1))
            })
            .collect::<Result<_, _>>()
            .map_err(|why| bad("basic_auth", why))?;
        tunnels.push(TunnelSettings {
            domain,
            api_key,
            target,
            host_header,
            local_protocol,
            basic_auth,
            pool: tunnel.pool,
        });
    }
    Ok(tunnels)
}

fn domain(tunnel: &Tunnel) -> Result<String, String> {
    match &tunnel.domain {
        None => Err(
            "missing; give --domain, HOP_CLIENT_DOMAIN or domain in a [[tunnel]] of the config \
             file"
                .to_owned(),
        ),
        Some(text) => check_domain(text),
    }
}

fn api_key(tunnel: &Tunnel, domain: &str) -> Result<Secret, String> {
    let Some(key) = &tunnel.api_key else {
        return Err(format!(
            "missing for {domain}; give --key, HOP_CLIENT_API_KEY or api_key in a [[tunnel]] \
             of the config file"
        ));
    };
    let text = key.expose();
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "empty or holds whitespace; paste the key exactly as the gateway's admin gave it"
                .to_owned(),
        );
    }
    Ok(key.clone())
}

/// A domain name as the gateway knows it: lower case, dot-separated labels of letters,
/// digits and hyphens.
pub(super) fn check_domain(text: &str) -> Result<String, String> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.contains("://") {
        return Err(format!(
            "{text:?}: give the bare domain name, without a scheme"
        ));
    }
    if domain.is_empty() || domain.len() > 253 {
        return Err(format!(
            "{text:?} is not a domain name (1 to 253 characters)"
        ));
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !domain.split('.').all(label_ok) {
        return Err(format!(
            "{text:?} is not a domain name (labels of letters, digits and '-', e.g. app.example.com)"
        ));
    }
    Ok(domain)
}
