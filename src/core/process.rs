//! Stopping what a workspace runs. Every script and agent runs as the leader of its own
//! process group, so the whole tree it started (dev servers, watchers) stops with it:
//! SIGHUP to the group, a short grace, then SIGKILL for whatever is left. Also where a
//! program is found on PATH (agents, `gh`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Process groups started for each workspace, by workspace id.
#[derive(Default)]
pub struct ProcessTable {
    groups: Mutex<HashMap<String, Vec<i32>>>,
    /// Groups stopped on purpose (archive, delete, rerun), so their end is not a failure.
    stopped: Mutex<HashSet<i32>>,
}

impl ProcessTable {
    pub fn add(&self, workspace: &str, pgid: i32) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.entry(workspace.to_string()).or_default().push(pgid);
    }

    pub fn remove(&self, workspace: &str, pgid: i32) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = groups.get_mut(workspace) {
            list.retain(|p| *p != pgid);
        }
    }

    /// Whether `pgid` ended because `stop_all` stopped it (asked once).
    pub fn take_stopped(&self, pgid: i32) -> bool {
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pgid)
    }

    /// Stops every process group of `workspace`; returns how many were running.
    pub fn stop_all(&self, workspace: &str, grace: Duration) -> usize {
        let list = {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            groups.remove(workspace).unwrap_or_default()
        };
        self.stop_groups(list, grace)
    }

    /// Stops the process groups of every workspace (Neovim is exiting: no script it
    /// started may outlive it). Returns how many were running.
    pub fn stop_every(&self, grace: Duration) -> usize {
        let list: Vec<i32> = {
            let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
            groups.drain().flat_map(|(_, l)| l).collect()
        };
        self.stop_groups(list, grace)
    }

    /// How many process groups (scripts) still run.
    pub fn running(&self) -> usize {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups
            .values()
            .flatten()
            .filter(|p| group_alive(**p))
            .count()
    }

    fn stop_groups(&self, list: Vec<i32>, grace: Duration) -> usize {
        let running: Vec<i32> = list.into_iter().filter(|p| group_alive(*p)).collect();
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(running.iter().copied());
        for pgid in &running {
            signal_group(*pgid, libc::SIGHUP);
        }
        let deadline = Instant::now() + grace;
        while running.iter().any(|p| group_alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pgid in &running {
            if group_alive(*pgid) {
                signal_group(*pgid, libc::SIGKILL);
            }
        }
        running.len()
    }
}

pub use crate::platform::groups::{group_alive, signal_group};

/// SIGHUP to one process group, `grace`, then SIGKILL. Blocks up to `grace`.
pub fn stop_group(pgid: i32, grace: Duration) {
    if !group_alive(pgid) {
        return;
    }
    signal_group(pgid, libc::SIGHUP);
    let deadline = std::time::Instant::now() + grace;
    while group_alive(pgid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if group_alive(pgid) {
        signal_group(pgid, libc::SIGKILL);
    }
}

/// `program` as found on PATH (or as given, when it has a slash).
pub fn find_program(program: &str, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
