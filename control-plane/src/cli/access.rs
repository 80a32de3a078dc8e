//! `admin domains set-auth DOMAIN`: the access policy it sets, from its command line
//! (`--user` with `--password-stdin` or `--password-file`, `--allow-cidr`, `--deny-cidr`,
//! or `--clear`), checked before any call (exit 2), and the `PUT …/access` body it sends.
//! The password is read once, just before the call, and never printed.

use std::{io::BufRead, path::PathBuf};

use hopgate_settings::{Loaded, Secret, SettingsError};
use hopgate_table::access::Cidr;
use serde_json::{Value, json};

use super::settings::{
    ALLOW_CIDR, CLEAR, CliSettings, DENY_CIDR, PASSWORD_FILE, PASSWORD_STDIN, USER,
    read_private_file,
};

/// Where `--user`'s password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PasswordFrom {
    Stdin,
    File(PathBuf),
}

/// The policy `set-auth` sets: the whole policy (what it doesn't name is cleared).
#[derive(Debug)]
pub(crate) struct AccessChange {
    pub(crate) user: Option<String>,
    pub(crate) password_from: Option<PasswordFrom>,
    /// Read by [`AccessChange::read_password`] just before the call.
    pub(crate) password: Option<Secret>,
    pub(crate) allow_cidrs: Vec<String>,
    pub(crate) deny_cidrs: Vec<String>,
    pub(crate) clear: bool,
}

/// `set-auth`'s options, checked: a user comes with one password source and a source with
/// a user, `--clear` with nothing else, something is asked for, and every range parses.
pub(super) fn change(loaded: &Loaded<CliSettings>) -> Result<AccessChange, SettingsError> {
    let given = &loaded.value;
    let invalid = |setting: &hopgate_settings::Setting, why: &str| loaded.invalid(setting.env, why);
    let password_from = match (given.password_stdin, &given.password_file) {
        (true, Some(_)) => {
            return Err(invalid(
                &PASSWORD_FILE,
                "give --password-stdin or --password-file, not both",
            ));
        }
        (true, None) => Some(PasswordFrom::Stdin),
        (false, Some(path)) => Some(PasswordFrom::File(path.clone())),
        (false, None) => None,
    };
    match (&given.user, &password_from) {
        (Some(_), None) => {
            return Err(invalid(
                &USER,
                "needs its password: --password-stdin or --password-file",
            ));
        }
        (None, Some(from)) => {
            let setting = match from {
                PasswordFrom::Stdin => &PASSWORD_STDIN,
                PasswordFrom::File(_) => &PASSWORD_FILE,
            };
            return Err(invalid(setting, "a password needs --user"));
        }
        _ => {}
    }
    let restricts =
        given.user.is_some() || !given.allow_cidr.is_empty() || !given.deny_cidr.is_empty();
    if given.clear && restricts {
        return Err(invalid(
            &CLEAR,
            "clears the whole policy: give no --user or ranges with it",
        ));
    }
    if !given.clear && !restricts {
        return Err(SettingsError::Invalid {
            setting: "set-auth".to_owned(),
            reason: "nothing to set: give --user, --allow-cidr or --deny-cidr, or --clear"
                .to_owned(),
        });
    }
    Ok(AccessChange {
        user: given.user.clone(),
        password_from,
        password: None,
        allow_cidrs: ranges(loaded, &ALLOW_CIDR, &given.allow_cidr)?,
        deny_cidrs: ranges(loaded, &DENY_CIDR, &given.deny_cidr)?,
        clear: given.clear,
    })
}

/// The ranges as given, each checked.
fn ranges(
    loaded: &Loaded<CliSettings>,
    setting: &hopgate_settings::Setting,
    given: &[String],
) -> Result<Vec<String>, SettingsError> {
    for text in given {
        text.parse::<Cidr>()
            .map_err(|why| loaded.invalid(setting.env, format!("'{text}' {why}")))?;
    }
    Ok(given.to_vec())
}

impl AccessChange {
    /// Reads the password from its source (`stdin` for `--password-stdin`): the first
    /// line, without its line ending.
    pub(crate) fn read_password(&mut self, stdin: &mut dyn BufRead) -> Result<(), SettingsError> {
        let invalid =
            |setting: &hopgate_settings::Setting, reason: String| SettingsError::Invalid {
                setting: setting.flag_name(),
                reason,
            };
        let text = match &self.password_from {
            None => return Ok(()),
            Some(PasswordFrom::Stdin) => {
                let mut line = String::new();
                stdin.read_line(&mut line).map_err(|e| {
                    invalid(&PASSWORD_STDIN, format!("cannot read standard input: {e}"))
                })?;
                line
            }
            Some(PasswordFrom::File(path)) => {
                read_private_file(path).map_err(|why| invalid(&PASSWORD_FILE, why))?
            }
        };
        let first = text.lines().next().unwrap_or_default();
        if first.is_empty() {
            let from = match &self.password_from {
                Some(PasswordFrom::File(_)) => &PASSWORD_FILE,
                _ => &PASSWORD_STDIN,
            };
            return Err(invalid(from, "the password is empty".to_owned()));
        }
        self.password = Some(Secret::new(first));
        Ok(())
    }

    /// The `PUT …/access` body.
    pub(crate) fn body(&self) -> Value {
        if self.clear {
            return json!({});
        }
        let users: Vec<Value> = match (&self.user, &self.password) {
            (Some(user), Some(password)) => {
                vec![json!({ "user": user, "password": password.expose() })]
            }
            _ => Vec::new(),
        };
        json!({
            "basic_auth": users,
            "allow_cidrs": self.allow_cidrs,
            "deny_cidrs": self.deny_cidrs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change_from(user: Option<&str>, from: Option<PasswordFrom>) -> AccessChange {
        AccessChange {
            user: user.map(str::to_owned),
            password_from: from,
            password: None,
            allow_cidrs: vec!["10.0.0.0/8".into()],
            deny_cidrs: Vec::new(),
            clear: false,
        }
    }

    #[test]
    fn the_password_is_the_first_line_of_stdin() {
        let mut change = change_from(Some("alice"), Some(PasswordFrom::Stdin));
        change
            .read_password(&mut &b"pass word\r\nnext line\n"[..])
            .unwrap();
        assert_eq!(change.password.as_ref().unwrap().expose(), "pass word");
        let body = change.body();
        assert_eq!(body["basic_auth"][0]["user"], "alice");
        assert_eq!(body["basic_auth"][0]["password"], "pass word");
        assert_eq!(body["allow_cidrs"][0], "10.0.0.0/8");
        let mut empty = change_from(Some("alice"), Some(PasswordFrom::Stdin));
        let err = empty.read_password(&mut &b"\n"[..]).unwrap_err();
        assert_eq!(err.to_string(), "--password-stdin: the password is empty");
    }

    #[test]
    fn clear_sends_an_empty_policy() {
        let mut change = change_from(None, None);
        change.clear = true;
        change.allow_cidrs.clear();
        assert_eq!(change.body(), json!({}));
    }
}
