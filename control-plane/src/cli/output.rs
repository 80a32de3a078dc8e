//! What the admin CLI prints on success: the API's JSON answer as it came (`--json`, the
//! shapes of the OpenAPI document), or a few lines for people. Keys appear only in the
//! answers of `add` and `rotate-key`, the one time the API shows them.

use std::fmt::Write as _;

use serde_json::Value;

use super::settings::Action;

/// The text to print for `action`'s `answer`.
pub(crate) fn render(action: Action, json: bool, answer: &Value) -> String {
    if json {
        return format!("{answer:#}\n");
    }
    match action {
        Action::Add => added(answer),
        Action::List => list(answer),
        Action::Show => show(answer),
        Action::RotateKey => rotated(answer),
        Action::Remove => format!("unregistered {}\n", text(answer, "domain")),
        Action::SetAuth => access_policy(answer),
    }
}

/// A domain's access policy (users only, never passwords).
fn access_policy(answer: &Value) -> String {
    let strings = |field: &str, of: &str| -> Vec<String> {
        answer[field]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| {
                        if of.is_empty() {
                            v.as_str()
                        } else {
                            v[of].as_str()
                        }
                    })
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let users = strings("basic_auth", "user");
    let allowed = strings("allow_cidrs", "");
    let denied = strings("deny_cidrs", "");
    let domain = text(answer, "domain");
    if users.is_empty() && allowed.is_empty() && denied.is_empty() {
        return format!("access to {domain}: open to everyone (no policy)\n");
    }
    let listed = |items: &[String], none: &str| {
        if items.is_empty() {
            none.to_owned()
        } else {
            items.join(", ")
        }
    };
    format!(
        "access to {domain}:\nusers:       {}\nallowed:     {}\ndenied:      {}\n",
        listed(&users, "(no password asked)"),
        listed(&allowed, "any address"),
        listed(&denied, "none"),
    )
}

/// A string field, or `""`.
fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

fn added(answer: &Value) -> String {
    format!(
        "registered {}\nclient API key: {}\n  (shown this once: the agent needs it as \
         HOP_CLIENT_API_KEY or --key)\ncertificate: {}\n",
        text(answer, "domain"),
        text(answer, "client_api_key"),
        certificate(&answer["certificate"]),
    )
}

fn rotated(answer: &Value) -> String {
    format!(
        "new client API key for {}: {}\n  (shown this once; the old key stopped working and \
         agents using it are disconnected)\n",
        text(answer, "domain"),
        text(answer, "client_api_key"),
    )
}

/// `pending`, `valid until …`, `failed: …` or `disabled`.
fn certificate(value: &Value) -> String {
    let status = text(value, "status");
    match (status, value["not_after"].as_str(), value["error"].as_str()) {
        ("failed", Some(until), Some(error)) => format!("failed: {error} (served until {until})"),
        ("failed", None, Some(error)) => format!("failed: {error}"),
        (_, Some(until), _) => format!("{status} until {until}"),
        _ => status.to_owned(),
    }
}

fn connected(domain: &Value) -> String {
    let pods: Vec<&str> = domain["pods"]
        .as_array()
        .map(|pods| pods.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if pods.is_empty() {
        "no".to_owned()
    } else {
        format!("yes ({})", pods.join(", "))
    }
}

fn show(domain: &Value) -> String {
    let rows = [
        ("domain", text(domain, "domain").to_owned()),
        ("memo", text(domain, "memo").to_owned()),
        ("connected", connected(domain)),
        ("certificate", certificate(&domain["certificate"])),
        ("created", text(domain, "created_at").to_owned()),
        ("updated", text(domain, "updated_at").to_owned()),
        ("key rotated", text(domain, "key_rotated_at").to_owned()),
    ];
    let mut out = rows.iter().fold(String::new(), |mut out, (name, value)| {
        let _ = writeln!(out, "{:<12} {value}", format!("{name}:"));
        out
    });
    out.push_str(&sessions(domain));
    out
}

/// The domain's live sessions, one line each: pod, session id, pooled or not, since when,
/// requests in flight at the pod's last report.
fn sessions(domain: &Value) -> String {
    let Some(sessions) = domain["sessions"].as_array().filter(|s| !s.is_empty()) else {
        return String::new();
    };
    let mut out = format!("{:<12} {}\n", "sessions:", sessions.len());
    for session in sessions {
        let pooled = if session["pooled"].as_bool() == Some(true) {
            "pool"
        } else {
            "single"
        };
        let _ = writeln!(
            out,
            "  {} session {} ({pooled}) since {}, {} in flight",
            text(session, "pod"),
            session["session_id"].as_u64().unwrap_or_default(),
            text(session, "since"),
            session["in_flight"].as_u64().unwrap_or_default(),
        );
    }
    out
}

fn list(answer: &Value) -> String {
    let domains = answer["domains"].as_array().cloned().unwrap_or_default();
    if domains.is_empty() {
        return "no domains registered\n".to_owned();
    }
    let header = ["DOMAIN", "CONNECTED", "CERTIFICATE", "CREATED", "MEMO"].map(str::to_owned);
    let rows: Vec<[String; 5]> = std::iter::once(header)
        .chain(domains.iter().map(|d| {
            [
                text(d, "domain").to_owned(),
                connected(d),
                text(&d["certificate"], "status").to_owned(),
                text(d, "created_at").to_owned(),
                text(d, "memo").to_owned(),
            ]
        }))
        .collect();
    table(&rows)
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table(rows: &[[String; 5]]) -> String {
    let mut widths = [0; 5];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn domain(name: &str, pods: &[&str]) -> Value {
        json!({
            "domain": name, "memo": "a note", "created_at": "2026-01-02T03:04:05.678Z",
            "updated_at": "2026-01-02T03:04:05.678Z", "key_rotated_at": "2026-01-02T03:04:05.678Z",
            "connected": !pods.is_empty(), "pods": pods,
            "certificate": {"status": "valid", "not_after": "2026-04-01T00:00:00.000Z", "error": null},
        })
    }

    #[test]
    fn json_is_the_answer_itself() {
        let answer = json!({"domains": [domain("a.example.com", &[])]});
        let printed = render(Action::List, true, &answer);
        assert_eq!(serde_json::from_str::<Value>(&printed).unwrap(), answer);
    }

    #[test]
    fn list_is_a_table_with_a_header() {
        let answer = json!({"domains": [domain("a.example.com", &["pod-1"]), domain("long-name.example.com", &[])]});
        let printed = render(Action::List, false, &answer);
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 3, "{printed}");
        assert!(
            lines[0].starts_with("DOMAIN                 CONNECTED"),
            "{printed}"
        );
        assert!(
            lines[1].starts_with("a.example.com          yes (pod-1)  valid"),
            "{printed}"
        );
        assert!(lines[2].ends_with("a note"), "{printed}");
        let empty = render(Action::List, false, &json!({"domains": []}));
        assert_eq!(empty, "no domains registered\n");
    }

    #[test]
    fn keys_are_printed_by_add_and_rotate_key() {
        let key = "ab".repeat(32);
        let added = json!({"domain": "a.example.com", "client_api_key": key,
            "certificate": {"status": "pending", "not_after": null, "error": null}});
        let printed = render(Action::Add, false, &added);
        assert!(
            printed.contains(&format!("client API key: {key}\n")),
            "{printed}"
        );
        assert!(printed.contains("certificate: pending\n"), "{printed}");
        let rotated = json!({"domain": "a.example.com", "client_api_key": key});
        let printed = render(Action::RotateKey, false, &rotated);
        assert!(printed.starts_with(&format!("new client API key for a.example.com: {key}\n")));
    }

    #[test]
    fn show_names_each_field() {
        let printed = render(Action::Show, false, &domain("a.example.com", &["pod-1"]));
        assert!(
            printed.contains("domain:      a.example.com\n"),
            "{printed}"
        );
        assert!(printed.contains("connected:   yes (pod-1)\n"), "{printed}");
        assert!(
            printed.contains("certificate: valid until 2026-04-01T00:00:00.000Z\n"),
            "{printed}"
        );
        assert!(!printed.contains("sessions:"), "{printed}");
    }

    #[test]
    fn show_lists_the_sessions_of_a_pool() {
        let mut pooled = domain("a.example.com", &["pod-1"]);
        pooled["sessions"] = json!([
            {"pod": "pod-1", "session_id": 3, "pooled": true,
             "since": "2026-01-02T03:04:05.678Z", "in_flight": 2},
            {"pod": "pod-1", "session_id": 7, "pooled": true,
             "since": "2026-01-02T03:04:06.000Z", "in_flight": 0},
        ]);
        let printed = render(Action::Show, false, &pooled);
        assert!(printed.contains("sessions:    2\n"), "{printed}");
        assert!(
            printed
                .contains("  pod-1 session 3 (pool) since 2026-01-02T03:04:05.678Z, 2 in flight\n"),
            "{printed}"
        );
        assert!(printed.contains("  pod-1 session 7 (pool)"), "{printed}");
    }
}
