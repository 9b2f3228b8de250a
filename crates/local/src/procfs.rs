//! Reading process groups from Linux's `/proc`, to tell live processes from zombies.

use std::fs;

/// The pids of the live (non-zombie) processes whose process group is `pgid`.
///
/// Empty where `/proc` is not available.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut members = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // The process may vanish between listing and reading; that just means it is gone.
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = parse_stat(&stat)
            && pgrp == pgid
            && state != 'Z'
            && state != 'X'
        {
            members.push(pid);
        }
    }
    members
}

/// Returns (state, process group) from a `/proc/<pid>/stat` line. The command name is in
/// parentheses and may itself contain spaces and parentheses, so parse after the last `)`.
fn parse_stat(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::parse_stat;

    #[test]
    fn parses_names_with_parentheses_and_spaces() {
        let stat = "123 (my (odd) name) S 1 456 456 0 -1 4194560";
        assert_eq!(parse_stat(stat), Some(('S', 456)));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_stat("garbage"), None);
    }
}
