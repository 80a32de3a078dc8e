//! `hopgate-control-plane`: owns the database, the admin API and ACME, and pushes the
//! routing table to every data-plane pod (issues 4 and 5). Not implemented yet; the binary
//! says so instead of pretending to run.

fn main() -> std::process::ExitCode {
    eprintln!(
        "hopgate-control-plane {}: not implemented yet (lands with issue 4)",
        env!("CARGO_PKG_VERSION"),
    );
    std::process::ExitCode::from(2)
}
