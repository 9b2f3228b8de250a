//! What the whole-binary benchmarks share: reading a process's memory from /proc.
#![allow(dead_code, reason = "each bench uses a different subset")]

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`); `None` once the process is gone.
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The process's resident memory in kB (0 once it is gone).
pub fn vm_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:").unwrap_or(0)
}
