//! What a workspace leaves running: process groups it started (recorded beside the state
//! file, so they are known after the Neovim that started them was killed), and any process
//! whose environment carries its `CONDUCTOR_WORKSPACE_ID` (a daemon that left its group with
//! `setsid` keeps its environment). Archive and delete stop them; the doctor finds those
//! whose Neovim is gone.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::engine::Engine;
use crate::platform::{groups, procs};
use crate::records::{self, Group, Groups, PROCESS_GROUPS};

const ID_VAR: &str = "CONDUCTOR_WORKSPACE_ID";

/// This process and its ancestors: a Neovim started inside a workspace's terminal carries
/// that workspace's id (and its shell is in the workspace's group), and must not stop
/// itself.
fn this_and_ancestors() -> HashSet<i32> {
    let mut spared = HashSet::new();
    let mut pid = std::process::id() as i32;
    while pid > 1 && spared.insert(pid) {
        match procs::parent(pid) {
            Some(p) => pid = p,
            None => break,
        }
    }
    spared
}

/// Whether `pid` descends from this process (walking up at most 64 parents).
fn descends_from_us(pid: i32) -> bool {
    let me = std::process::id() as i32;
    let mut p = pid;
    for _ in 0..64 {
        match procs::parent(p) {
            Some(parent) if parent == me => return true,
            Some(parent) if parent > 1 => p = parent,
            _ => return false,
        }
    }
    false
}

/// Processes carrying a workspace id in their environment, by id; this process and its
/// ancestors left out.
pub fn processes_by_workspace() -> HashMap<String, Vec<i32>> {
    let spared = this_and_ancestors();
    let prefix = format!("{ID_VAR}=");
    let mut found: HashMap<String, Vec<i32>> = HashMap::new();
    for pid in procs::pids() {
        if spared.contains(&pid) {
            continue;
        }
        let Some(env) = procs::environ(pid) else {
            continue;
        };
        if let Some(id) = env
            .iter()
            .find_map(|e| e.strip_prefix(prefix.as_bytes()))
            .map(|v| String::from_utf8_lossy(v).into_owned())
        {
            found.entry(id).or_default().push(pid);
        }
    }
    found
}

fn owner_alive(owner: u32) -> bool {
    // SAFETY: signal 0 only asks whether the process exists.
    owner == std::process::id() || unsafe { libc::kill(owner as i32, 0) } == 0
}

impl Engine {
    /// Notes a process group started for workspace `id`, in memory and on disk.
    pub(crate) fn record_group(&self, id: &str, pgid: i32) {
        self.processes.add(id, pgid);
        if let Ok(store) = self.store() {
            let owner = std::process::id();
            let _ = records::update(store.dir(), PROCESS_GROUPS, |g: &mut Groups| {
                // Groups that ended are dropped here, so the file stays small.
                for list in g.values_mut() {
                    list.retain(|e| groups::group_alive(e.pgid));
                }
                g.retain(|_, list| !list.is_empty());
                g.entry(id.to_string())
                    .or_default()
                    .push(Group { pgid, owner });
            });
        }
    }

    /// Records the process group of a session (agent or run terminal) just started. Not
    /// in the in-memory table: sessions are stopped through their own handles.
    pub(crate) fn record_session_group(&self, id: &str, session: u64) {
        self.watch.ran(id);
        let (Some(pgid), Ok(store)) = (self.sessions.pgid(session), self.store()) else {
            return;
        };
        let owner = std::process::id();
        let _ = records::update(store.dir(), PROCESS_GROUPS, |g: &mut Groups| {
            g.entry(id.to_string())
                .or_default()
                .push(Group { pgid, owner })
        });
    }

    /// Forgets a process group that ended.
    pub(crate) fn forget_group(&self, id: &str, pgid: i32) {
        self.processes.remove(id, pgid);
        if let Ok(store) = self.store() {
            let _ = records::update(store.dir(), PROCESS_GROUPS, |g: &mut Groups| {
                if let Some(list) = g.get_mut(id) {
                    list.retain(|e| e.pgid != pgid);
                }
                g.retain(|_, list| !list.is_empty());
            });
        }
    }

    /// Processes of workspace `id` still running: members of its recorded groups (only
    /// those of dead owners when `dead_owners_only`) that are verifiably its own, and every
    /// process carrying its id. A recorded group counts only while one of its members
    /// carries the id, so a group number reused by an unrelated program is never touched.
    pub fn leftover_processes(
        &self,
        id: &str,
        dead_owners_only: bool,
        by_env: &HashMap<String, Vec<i32>>,
    ) -> Vec<i32> {
        let carrying: BTreeSet<i32> = by_env
            .get(id)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let recorded: Vec<Group> = self
            .store()
            .map(|s| records::read::<Groups>(s.dir(), PROCESS_GROUPS))
            .unwrap_or_default()
            .remove(id)
            .unwrap_or_default();
        let live_owner = recorded
            .iter()
            .any(|g| owner_alive(g.owner) && groups::group_alive(g.pgid));
        let mut out: BTreeSet<i32> = BTreeSet::new();
        for g in &recorded {
            if dead_owners_only && owner_alive(g.owner) {
                continue;
            }
            let members = groups::members(g.pgid);
            if members.iter().any(|p| carrying.contains(p)) {
                out.extend(members);
            }
        }
        // Processes found only by their environment: the doctor leaves them to a live
        // Neovim that still runs this workspace's processes.
        // Not our own children outside the recorded groups: a Neovim started in a
        // workspace terminal passes the id on to its language servers and jobs.
        if !(dead_owners_only && live_owner) {
            out.extend(carrying.into_iter().filter(|p| !descends_from_us(*p)));
        }
        let spared = this_and_ancestors();
        out.into_iter().filter(|p| !spared.contains(p)).collect()
    }

    /// Stops whatever workspace `id` left running (see `leftover_processes`); returns how
    /// many processes were running.
    pub fn stop_leftovers(&self, id: &str) -> usize {
        let by_env = processes_by_workspace();
        let pids = self.leftover_processes(id, false, &by_env);
        let n = groups::stop_pids(&pids, self.grace());
        if let Ok(store) = self.store() {
            let _ = records::update(store.dir(), PROCESS_GROUPS, |g: &mut Groups| {
                g.remove(id);
            });
        }
        n
    }
}
