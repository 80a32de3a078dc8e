//! Domain names as the admin API accepts them, exactly what the OpenAPI document's
//! [`PATTERN`] and `maxLength` describe: at most 253 characters of ASCII, at least two
//! labels of 1 to 63 characters of `[A-Za-z0-9-]` that don't start or end with `-`, the last
//! one (the top-level domain) starting with a letter, and an optional trailing dot, which is
//! dropped; the name is then lowercased. So wildcards and IP addresses are refused.
//!
//! Internationalized names travel as their ASCII (IDNA, `xn--`) form, as browsers send
//! them in `Host`; [`from_unicode`] converts what an operator types (the admin CLI uses it).

use idna::AsciiDenyList;

/// The longest name accepted, a trailing dot included.
pub(crate) const MAX_LEN: usize = 253;
/// The longest label.
pub(crate) const MAX_LABEL: usize = 63;
/// The names accepted, as an ECMA-262 regular expression (the OpenAPI document carries it;
/// a test holds the two together, and Schemathesis the API to both).
#[cfg(test)]
pub(crate) const PATTERN: &str = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$";

/// The normalized (lowercase, no trailing dot) form of `input`, or why the API refuses it.
pub(crate) fn normalize(input: &str) -> Result<String, String> {
    if input.is_empty() {
        return Err("is empty".into());
    }
    if input.contains('*') {
        return Err("wildcards are not allowed".into());
    }
    if !input.is_ascii() {
        return Err(
            "is not ASCII: give its IDNA form (bücher.example is xn--bcher-kva.example)".into(),
        );
    }
    if input.len() > MAX_LEN {
        return Err(format!("is longer than {MAX_LEN} characters"));
    }
    let name = input
        .strip_suffix('.')
        .unwrap_or(input)
        .to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err("needs at least two labels (like app.example.com)".into());
    }
    for label in &labels {
        check_label(label)?;
    }
    if labels
        .last()
        .is_some_and(|l| !l.starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        return Err(
            "has a last label (the top-level domain) that doesn't start with a letter \
             (an IP address is not a domain)"
                .into(),
        );
    }
    Ok(name)
}

/// What an operator typed, Unicode allowed (`Bücher.Example`), converted to ASCII by IDNA
/// (UTS #46) and then [`normalize`]d.
pub(crate) fn from_unicode(input: &str) -> Result<String, String> {
    if input.is_ascii() || input.contains('*') {
        return normalize(input);
    }
    let fqdn = input.strip_suffix('.').unwrap_or(input);
    let ascii = idna::domain_to_ascii_cow(fqdn.as_bytes(), AsciiDenyList::EMPTY)
        .map_err(|_| "is not a valid internationalized domain name (IDNA)".to_owned())?;
    normalize(&ascii)
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
        assert_eq!(normalize("a-1.b2.io").unwrap(), "a-1.b2.io");
        assert_eq!(normalize("1.2.3.a4").unwrap(), "1.2.3.a4");
        let long_label = "a".repeat(63);
        assert!(normalize(&format!("{long_label}.com")).is_ok());
        let longest = format!("{}.com", vec!["abcdefghi"; 24].join("."));
        assert_eq!(longest.len(), 243);
        assert!(normalize(&longest).is_ok());
    }

    #[test]
    fn rejected_names_say_why() {
        let cases = [
            ("", "empty"),
            ("*.example.com", "wildcard"),
            ("localhost", "two labels"),
            ("a..com", "empty label"),
            (".a.com", "empty label"),
            ("a.com..", "empty label"),
            ("-a.com", "starts or ends"),
            ("a-.com", "starts or ends"),
            ("a_b.com", "characters other than"),
            ("a b.com", "characters other than"),
            ("a.com\n", "characters other than"),
            ("1.2.3.4", "IP address"),
            ("a.1com", "start with a letter"),
            ("a.-com", "starts or ends"),
            ("example.com/x", "characters other than"),
            ("bücher.example", "not ASCII"),
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
        // The limit counts the trailing dot, as the document's maxLength does.
        let labels = vec!["a".repeat(62); 4].join(".");
        assert_eq!(labels.len(), 251);
        assert!(normalize(&format!("{labels}.a")).is_ok());
        assert!(
            normalize(&format!("{labels}.a."))
                .unwrap_err()
                .contains("253")
        );
    }

    #[test]
    fn unicode_names_become_their_idna_form() {
        assert_eq!(
            from_unicode("Bücher.Example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            from_unicode("bücher.example.").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(from_unicode("App.Example.com").unwrap(), "app.example.com");
        assert!(from_unicode("*.bücher.example").is_err());
        assert!(from_unicode("bücher").unwrap_err().contains("two labels"));
    }
}
