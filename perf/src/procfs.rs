//! Process statistics from Linux's /proc: resident memory and CPU time per thread. Elsewhere
//! they read as zero, and the report says so.

/// Resident set size in bytes (0 where /proc is missing).
pub fn rss_bytes() -> u64 {
    rss_of("/proc/self/statm")
}

/// Resident set size of process `pid` in bytes (0 where /proc is missing or it is gone).
pub fn rss_bytes_of(pid: u32) -> u64 {
    rss_of(&format!("/proc/{pid}/statm"))
}

fn rss_of(statm: &str) -> u64 {
    std::fs::read_to_string(statm)
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `(thread name, CPU seconds)` from one `stat` file of /proc.
fn parse_stat(stat: &str) -> Option<(String, f64)> {
    // `pid (comm) state ...`: comm may hold spaces, so split at the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state is field 3, utime 14 and stime 15 (1-based) of the whole line.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((name, ticks as f64 / 100.0))
}

/// `(thread name, CPU seconds)` for every thread of this process.
pub fn thread_cpu_seconds() -> Vec<(String, f64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| parse_stat(&std::fs::read_to_string(e.ok()?.path().join("stat")).ok()?))
        .collect()
}

/// CPU seconds of the calling thread (0 where /proc is missing).
pub fn own_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| parse_stat(&stat))
        .map_or(0.0, |(_, secs)| secs)
}
