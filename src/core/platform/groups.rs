//! Process groups and sessions. Every script and agent leads its own process group
//! (scripts: `setpgid` through `Command::process_group(0)`; agents: portable-pty makes
//! each a session leader with `setsid`, which also leads a group), so stopping a group
//! stops the tree it started. These are POSIX calls with the same meaning on Linux and
//! macOS (kill(2) with a negative pid, getpgid(2)); no variant per OS is needed.

use std::time::{Duration, Instant};

use super::procs;

pub fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory involved.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pgid > 1 && unsafe { libc::kill(-pgid, 0) } == 0
}

/// The process group of `pid`, None when it is gone.
pub fn group_of(pid: i32) -> Option<i32> {
    // SAFETY: getpgid only reads.
    let g = unsafe { libc::getpgid(pid) };
    (g > 0).then_some(g)
}

/// The processes of group `pgid`.
pub fn members(pgid: i32) -> Vec<i32> {
    procs::pids()
        .into_iter()
        .filter(|p| group_of(*p) == Some(pgid))
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn running(pid: i32) -> bool {
    alive(pid)
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid)
}

/// A zombie still answers signal 0 until its parent reaps it; it runs nothing.
fn is_zombie(pid: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let after = s.rfind(')').map(|i| s[i + 1..].to_string())?;
                after.split_whitespace().next().map(|st| st == "Z")
            })
            .unwrap_or(false)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        false
    }
}

/// Stops single processes (not their groups): SIGHUP, `grace` for them to end, SIGKILL
/// for what is left. Returns how many were running.
pub fn stop_pids(pids: &[i32], grace: Duration) -> usize {
    let running: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    // Who each one is (its group and session, which outlive a parent that dies in the
    // grace period), so that SIGKILL never reaches a process that took a freed pid.
    // SAFETY: getsid(2) on a pid; no memory involved.
    let identity = |p: i32| (group_of(p), unsafe { libc::getsid(p) });
    let known: Vec<_> = running.iter().map(|p| identity(*p)).collect();
    for pid in &running {
        // SAFETY: kill(2) on a pid; no memory involved.
        unsafe {
            libc::kill(*pid, libc::SIGHUP);
        }
    }
    let deadline = Instant::now() + grace;
    while running.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (pid, was) in running.iter().zip(&known) {
        if alive(*pid) && identity(*pid) == *was {
            // SAFETY: as above.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
    }
    running.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn a_group_is_found_signalled_and_stopped() {
        // A shell that ignores SIGHUP and its child, in a group of their own.
        let mut child = Command::new("/bin/sh")
            .args(["-c", "trap '' HUP; sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        assert_eq!(group_of(pgid), Some(pgid));
        assert!(group_alive(pgid));
        let deadline = Instant::now() + Duration::from_secs(5);
        while members(pgid).len() < 2 {
            assert!(Instant::now() < deadline, "sleep never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        let shell_only = [pgid];
        assert_eq!(stop_pids(&shell_only, Duration::from_millis(100)), 1);
        child.wait().unwrap();
        // The shell is gone, its child is not: a group outlives its leader.
        assert!(group_alive(pgid));
        signal_group(pgid, libc::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_alive(pgid) {
            assert!(Instant::now() < deadline, "group survived SIGKILL");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(members(pgid).is_empty());
    }
}
