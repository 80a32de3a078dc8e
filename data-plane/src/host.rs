//! Host names as routing keys: lowercase ASCII, no port, no trailing dot.

/// Normalizes a `Host` header value or a configured domain into a routing key.
pub(crate) fn normalize(host: &str) -> Result<String, &'static str> {
    let host = host.trim();
    // Strip a port; IPv6 literals keep their brackets.
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().ok_or("bad IPv6 literal")?
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > 253 {
        return Err("is longer than 253 characters");
    }
    if !name.is_ascii() {
        // Browsers send IDNs as punycode (xn--…); raw Unicode here is not a valid Host.
        return Err("is not ASCII (use the punycode form, xn--...)");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '*')
    {
        return Err("has characters not allowed in a host name");
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn case_port_and_trailing_dot_are_ignored() {
        assert_eq!(
            normalize("App.Example.com:8443").unwrap(),
            "app.example.com"
        );
        assert_eq!(normalize("app.example.com.").unwrap(), "app.example.com");
        assert_eq!(
            normalize("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn junk_is_refused() {
        assert!(normalize("").is_err());
        assert!(normalize("bücher.example").is_err());
        assert!(normalize("a b.example").is_err());
        assert!(normalize(&"a".repeat(300)).is_err());
    }
}
