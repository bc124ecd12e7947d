//! Helpers shared by the bench binaries.

/// Peak resident memory of this process so far (VmHWM), in MB.
pub fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time this process has used so far (user + system, all threads), from `/proc/self/stat`
/// (10 ms resolution). On a machine shared with other work, CPU time says what a run costs when
/// its wall time mostly says how long it waited for a core.
#[allow(dead_code)] // not every bench binary reports it
pub fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    std::time::Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
