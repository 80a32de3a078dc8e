//! What the benches read about another process from /proc.

use anyhow::Context;

/// A field of /proc/PID/status, in KiB.
pub(crate) fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// User + system CPU time of the whole process, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    ticks_of(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// User + system CPU time from a `/proc/.../stat` line, in clock ticks.
pub(crate) fn ticks_of(stat: &str) -> anyhow::Result<u64> {
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let after_name = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}
