//! Domain names as the admin API accepts them: an FQDN (a trailing dot is dropped),
//! lowercased and converted to ASCII by IDNA (UTS #46), at most 253 characters, at least
//! two labels of 1 to 63 characters of `[a-z0-9-]` that don't start or end with `-`, no
//! wildcards, and not an IP address.

use idna::AsciiDenyList;

/// The longest name DNS allows (without the trailing dot).
pub(crate) const MAX_LEN: usize = 253;
/// The longest label.
pub(crate) const MAX_LABEL: usize = 63;

/// The normalized (ASCII, lowercase) form of `input`, or why it isn't a domain we serve.
pub(crate) fn normalize(input: &str) -> Result<String, String> {
    if input.is_empty() {
        return Err("is empty".into());
    }
    if input.contains('*') {
        return Err("wildcards are not allowed".into());
    }
    if input.chars().count() > MAX_LEN * 4 {
        return Err(format!("is longer than {MAX_LEN} characters"));
    }
    let fqdn = input.strip_suffix('.').unwrap_or(input);
    let ascii = idna::domain_to_ascii_cow(fqdn.as_bytes(), AsciiDenyList::EMPTY)
        .map_err(|_| "is not a valid internationalized domain name (IDNA)".to_owned())?
        .into_owned();
    if ascii.len() > MAX_LEN {
        return Err(format!("is longer than {MAX_LEN} characters"));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("needs at least two labels (like app.example.com)".into());
    }
    for label in &labels {
        check_label(label)?;
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("ends in a numeric label (an IP address is not a domain)".into());
    }
    Ok(ascii)
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("has an empty label".into());
    }
    if label.len() > MAX_LABEL {
        return Err(format!("has a label longer than {MAX_LABEL} characters"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "label '{label}' has characters other than a-z, 0-9 and '-'"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label '{label}' starts or ends with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_names_are_normalized() {
        assert_eq!(normalize("App.Example.COM").unwrap(), "app.example.com");
        assert_eq!(normalize("app.example.com.").unwrap(), "app.example.com");
        assert_eq!(
            normalize("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(normalize("a-1.b2.io").unwrap(), "a-1.b2.io");
        let long_label = "a".repeat(63);
        assert!(normalize(&format!("{long_label}.com")).is_ok());
    }

    #[test]
    fn rejected_names_say_why() {
        let cases = [
            ("", "empty"),
            ("*.example.com", "wildcard"),
            ("localhost", "two labels"),
            ("a..com", "empty label"),
            ("-a.com", "starts or ends"),
            ("a-.com", "starts or ends"),
            ("a_b.com", "characters other than"),
            ("a b.com", "characters other than"),
            ("1.2.3.4", "IP address"),
            ("example.com/x", "characters other than"),
        ];
        for (input, why) in cases {
            let err = normalize(input).unwrap_err();
            assert!(err.contains(why), "{input:?}: {err}");
        }
        let long_label = "a".repeat(64);
        assert!(
            normalize(&format!("{long_label}.com"))
                .unwrap_err()
                .contains("63")
        );
        let long_name = vec!["abcdefghi"; 26].join(".");
        assert!(normalize(&long_name).unwrap_err().contains("253"));
    }
}
