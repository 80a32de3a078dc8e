//! `hopgate-control-plane admin …`: the operator's command line over the admin API of a
//! running control-plane (domains add / list / show / rotate-key / remove / set-auth).
//!
//! - `settings`: the command line of each action, the API's URL and the admin key
//!   (`HOP_ADMIN_KEY`, or a `0600` file named by `--admin-key-file`).
//! - `access`: `set-auth`'s policy, its password (read from stdin or a `0600` file).
//! - `client`: the HTTP calls, and failures as `SOURCE: reason`.
//! - `output`: text for people, or the API's JSON with `--json`.
//!
//! Exit codes: 0 done; 1 the call failed (the API is unreachable or refused it: 401, 404,
//! 409, …); 2 a wrong command line or setting (an invalid domain, no key, a key file others
//! can read), as for the servers' settings.

mod access;
mod client;
mod output;
mod settings;

use std::{ffi::OsString, process::ExitCode};

use clap::Command;
use hopgate_settings::{Env, ProcessEnv, SettingsError, exit_code};

use self::settings::{Action, PROGRAM, Parsed};

/// Whether `args` (program name first) ask for the admin CLI rather than the server.
pub(crate) fn is_admin(args: &[OsString]) -> bool {
    args.get(1).is_some_and(|arg| arg == "admin")
}

/// Runs the admin CLI on `args` (program name first, then `admin`).
pub(crate) fn main(args: Vec<OsString>) -> ExitCode {
    let (action, program, parsed) = match parse(args, &ProcessEnv) {
        Ok(parsed) => parsed,
        Err((program, err)) => return exit_code(program, &err),
    };
    let mut invocation = match parsed {
        Parsed::Call(invocation) => invocation,
        Parsed::Print(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
    };
    if let Some(change) = invocation.access.as_mut()
        && let Err(err) = change.read_password(&mut std::io::stdin().lock())
    {
        return exit_code(program, &err);
    }
    let answer = actix_web::rt::System::new().block_on(client::call(&invocation));
    match answer {
        Ok(answer) => {
            print!("{}", output::render(action, invocation.json, &answer));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{program}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The action and its resolved command line; an error with the program name to print.
fn parse(
    args: Vec<OsString>,
    env: &dyn Env,
) -> Result<(Action, &'static str, Parsed), (&'static str, SettingsError)> {
    let matches = commands()
        .try_get_matches_from(args.iter().skip(1))
        .map_err(|e| (PROGRAM, SettingsError::from(e)))?;
    let chosen = matches
        .subcommand()
        .and_then(|(_, domains)| domains.subcommand_name());
    let Some(action) = Action::ALL.into_iter().find(|a| Some(a.name()) == chosen) else {
        let usage = commands().error(clap::error::ErrorKind::MissingSubcommand, "no action");
        return Err((PROGRAM, usage.into()));
    };
    // `PROGRAM admin domains ACTION …`: clap has checked that the action is the fourth.
    let program = action.spec().program;
    let parsed = settings::load(action, args.into_iter().skip(4), env).map_err(|e| (program, e))?;
    Ok((action, program, parsed))
}

/// `admin` → `domains` → one subcommand per action, each the action's own command line;
/// for `--help` at every level and to find the action.
fn commands() -> Command {
    let domains = Action::ALL.into_iter().fold(
        Command::new("domains")
            .about(
                "Register, list, show, rotate the key of, and remove domains, and set who may \
                 reach them",
            )
            .subcommand_required(true),
        |domains, action| {
            let spec = action.spec();
            domains.subcommand(spec.command().name(action.name()).about(spec.about))
        },
    );
    Command::new(PROGRAM)
        .bin_name(PROGRAM)
        .about(
            "Manage a running control-plane through its admin API (key from HOP_ADMIN_KEY or \
             --admin-key-file)",
        )
        .subcommand_required(true)
        .subcommand(domains)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn admin_is_recognised_only_as_the_first_argument() {
        assert!(is_admin(&args("hopgate-control-plane admin domains list")));
        assert!(!is_admin(&args("hopgate-control-plane --print-config")));
        assert!(!is_admin(&args("hopgate-control-plane")));
    }

    #[test]
    fn each_action_is_found_with_its_arguments() {
        let env = HashMap::from([("HOP_ADMIN_KEY", "k")]);
        for (line, want, domain) in [
            (
                "p admin domains add Bücher.Example --memo m",
                Action::Add,
                Some("xn--bcher-kva.example"),
            ),
            ("p admin domains list --json", Action::List, None),
            (
                "p admin domains show a.example.com",
                Action::Show,
                Some("a.example.com"),
            ),
            (
                "p admin domains rotate-key a.example.com",
                Action::RotateKey,
                Some("a.example.com"),
            ),
            (
                "p admin domains remove --json a.example.com.",
                Action::Remove,
                Some("a.example.com"),
            ),
        ] {
            let Ok((action, _, Parsed::Call(call))) = parse(args(line), &env) else {
                panic!("{line}: not parsed");
            };
            assert_eq!(action, want, "{line}");
            assert_eq!(call.domain.as_deref(), domain, "{line}");
        }
    }

    #[test]
    fn a_missing_action_or_domain_is_a_usage_error() {
        let env = HashMap::from([("HOP_ADMIN_KEY", "k")]);
        for line in [
            "p admin",
            "p admin domains",
            "p admin domains frobnicate",
            "p admin domains show",
            "p admin domains --json list",
        ] {
            let Err((_, SettingsError::Cli(err))) = parse(args(line), &env) else {
                panic!("{line}: parsed");
            };
            assert_eq!(err.exit_code(), 2, "{line}: {err}");
        }
    }
}
