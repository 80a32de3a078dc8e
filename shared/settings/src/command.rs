//! The clap command built from a [`Spec`], and what a command line gives.

use std::ffi::OsString;

use clap::{Arg, ArgAction, ArgMatches, Command, parser::ValueSource};

use crate::{Kind, Setting, SettingsError, Spec};

const CONFIG: &str = "config";
const PRINT: &str = "print_config";

/// What the command line gave: the file, `--print-config`, and each setting's values.
pub(crate) struct Given {
    pub(crate) file: Option<String>,
    pub(crate) print_config: bool,
    pub(crate) flags: Vec<(Setting, Vec<String>)>,
}

/// The command: `--config FILE`, `--print-config`, one flag per setting, and the
/// subcommand (if any) with the positional settings.
pub(crate) fn build(spec: &Spec) -> Command {
    let global = spec.subcommand.is_some();
    let mut command = Command::new(spec.program)
        .about(spec.about)
        .version(env!("CARGO_PKG_VERSION"))
        .arg(
            Arg::new(CONFIG)
                .long("config")
                .value_name("FILE")
                .global(global)
                .help(format!(
                    "A TOML file of settings (`--print-config` shows the form) [env: {}]",
                    spec.config_env
                )),
        )
        .arg(
            Arg::new(PRINT)
                .long("print-config")
                .action(ArgAction::SetTrue)
                .global(global)
                .help("Print the effective settings as TOML (secrets as ***) and exit"),
        );
    let mut positionals = Vec::new();
    for setting in spec.settings {
        let help = format!("{} [env: {}]", setting.help, setting.env);
        if let Some(name) = setting.positional {
            positionals.push(
                Arg::new(setting.key)
                    .value_name(name)
                    .required(true)
                    .help(help),
            );
            continue;
        }
        let long = setting.flag_name();
        let mut arg = Arg::new(setting.key)
            .long(long.trim_start_matches("--").to_owned())
            .global(global)
            .help(help);
        if let Some(short) = setting.short {
            arg = arg.short(short);
        }
        command = command.arg(with_kind(arg, setting));
    }
    match spec.subcommand {
        Some(sub) => command.subcommand(Command::new(sub.name).about(sub.about).args(positionals)),
        None => command.args(positionals),
    }
}

fn with_kind(arg: Arg, setting: &Setting) -> Arg {
    let value_name = setting.value_name.unwrap_or("VALUE");
    match setting.kind {
        Kind::Value => arg.value_name(value_name),
        Kind::List => arg
            .value_name(value_name)
            .action(ArgAction::Append)
            .value_delimiter(','),
        Kind::Switch => arg
            .value_name("BOOL")
            .num_args(0..=1)
            .default_missing_value("true"),
        Kind::Toggle => arg.action(ArgAction::SetTrue),
    }
}

/// Parses `args` (program name first).
pub(crate) fn parse(
    spec: &Spec,
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<Given, SettingsError> {
    let matches = build(spec).try_get_matches_from(args)?;
    let sub = spec
        .subcommand
        .and_then(|sub| matches.subcommand_matches(sub.name));
    let flags = spec
        .settings
        .iter()
        .filter_map(|setting| {
            let from = match (setting.positional, spec.subcommand) {
                (Some(_), Some(_)) => sub?,
                _ => &matches,
            };
            Some((*setting, given(from, setting.key)?))
        })
        .collect();
    Ok(Given {
        file: matches.get_one::<String>(CONFIG).cloned(),
        print_config: matches.get_flag(PRINT),
        flags,
    })
}

/// The values given on the command line for `id` (not clap's defaults).
fn given(matches: &ArgMatches, id: &str) -> Option<Vec<String>> {
    if matches.value_source(id) != Some(ValueSource::CommandLine) {
        return None;
    }
    let values = matches.get_raw(id)?;
    Some(values.map(|v| v.to_string_lossy().into_owned()).collect())
}
