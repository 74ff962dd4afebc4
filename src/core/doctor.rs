//! Reconciling the state file with git and the disk, after a crash or a hand-made change:
//! workspaces stuck half-made, worktrees whose directory is gone, worktrees under the
//! workspaces root that the state file does not know. Every repair keeps the user's
//! work: nothing holding uncommitted changes is removed, uncommitted work recorded at
//! archive time stays on its ref, orphan worktrees are adopted, not deleted.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use git2::Repository;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::Result;
use crate::leftovers::processes_by_workspace;
use crate::lifecycle::snapshot_ref;
use crate::platform::groups;
use crate::records::{self, Groups, PROCESS_GROUPS};
use crate::scripts::now_secs;
use crate::store::{SetupState, State, Workspace, WorkspaceState};
use crate::{names, ports, repo, snapshot};

/// What kind of disagreement a finding is; Lua reads it as "missing-directory" etc.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A workspace stuck half-created or half-restored by a Neovim that stopped.
    Unfinished,
    MissingDirectory,
    InterruptedSetup,
    MissingBranch,
    OrphanWorktree,
    StaleWorktreeEntry,
    LeftoverProcesses,
    LostRecord,
}

impl FindingKind {
    /// Whether the doctor can repair it (the others it only reports, with what to do).
    pub fn fixable(self) -> bool {
        !matches!(self, FindingKind::MissingBranch)
    }

    /// The name Lua and the tests see ("missing-directory").
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Unfinished => "unfinished",
            FindingKind::MissingDirectory => "missing-directory",
            FindingKind::InterruptedSetup => "interrupted-setup",
            FindingKind::MissingBranch => "missing-branch",
            FindingKind::OrphanWorktree => "orphan-worktree",
            FindingKind::StaleWorktreeEntry => "stale-worktree-entry",
            FindingKind::LeftoverProcesses => "leftover-processes",
            FindingKind::LostRecord => "lost-record",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    /// Whether the repair does something (`kind.fixable()`, sent along for Lua).
    #[serde(default)]
    pub fixable: bool,
    pub workspace: Option<String>,
    pub path: Option<PathBuf>,
    /// What is wrong, in a sentence.
    pub problem: String,
    /// What the repair does (or, when not fixable, "nothing to do automatically: …").
    pub repair: String,
    pub repaired: bool,
}

impl Finding {
    pub fn new(
        kind: FindingKind,
        workspace: Option<String>,
        path: Option<PathBuf>,
        problem: String,
        repair: String,
    ) -> Self {
        Finding {
            kind,
            fixable: kind.fixable(),
            workspace,
            path,
            problem,
            repair,
            repaired: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DoctorRequest {
    pub repair: bool,
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only asks whether the process exists.
    pid == std::process::id() || unsafe { libc::kill(pid as i32, 0) } == 0
}

impl Engine {
    /// Finds what disagrees between the state file, git and the disk; with `repair`, fixes
    /// what can be fixed without losing anything.
    pub fn doctor(&self, req: &DoctorRequest) -> Result<Vec<Finding>> {
        let store = self.store()?;
        let opts = self.options();
        let mut findings = Vec::new();
        let state = store.read()?;
        let mut roots: Vec<PathBuf> = state
            .workspaces
            .iter()
            .map(|w| w.repo_root.clone())
            .collect();
        // Every repository a workspace was ever made in (kept apart from the state file,
        // so it survives the state file's loss). Those the state file names are added to
        // that list here too, for workspaces made before it existed.
        for root in &roots {
            let _ = records::remember_repository(store.dir(), root);
        }
        roots.extend(records::read::<Vec<PathBuf>>(
            store.dir(),
            records::REPOSITORIES,
        ));
        roots.sort();
        roots.dedup();

        for ws in &state.workspaces {
            if let Some(f) = self.check_workspace(ws, req.repair)? {
                findings.push(f);
            }
        }

        // Worktrees git knows of, under our root, that the state file does not.
        let known: HashSet<PathBuf> = store
            .read()?
            .workspaces
            .iter()
            .map(|w| repo::canonical(&w.path))
            .collect();
        let ws_root = repo::canonical(&opts.workspaces_root);
        for root in &roots {
            let Ok(git) = Repository::open(root) else {
                continue;
            };
            let Ok(names) = git.worktrees() else { continue };
            for name in names.iter().flatten() {
                let Ok(wt) = git.find_worktree(name) else {
                    continue;
                };
                let path = repo::canonical(wt.path());
                if !path.starts_with(&ws_root) || known.contains(&path) {
                    continue;
                }
                if !path.exists() {
                    let mut f = Finding::new(
                        FindingKind::StaleWorktreeEntry,
                        None,
                        Some(path.clone()),
                        format!(
                            "git lists worktree {name} at {}, which no longer exists",
                            path.display()
                        ),
                        "prune git's record of it (its branch stays)".into(),
                    );
                    if req.repair {
                        let _ = wt.prune(Some(git2::WorktreePruneOptions::new().valid(true)));
                        f.repaired = true;
                    }
                    findings.push(f);
                    continue;
                }
                let mut f = Finding::new(
                    FindingKind::OrphanWorktree,
                    None,
                    Some(path.clone()),
                    format!(
                        "{} is a worktree under the workspaces root that conductor does not know",
                        path.display()
                    ),
                    "adopt it as a workspace (nothing is removed)".into(),
                );
                if req.repair {
                    f.repaired = self.adopt(root, name, &path).is_ok();
                }
                findings.push(f);
            }
        }
        for root in &roots {
            findings.extend(self.lost_records(root, req.repair)?);
        }
        findings.extend(self.leftover_findings(&state, req.repair));
        Ok(findings)
    }

    /// Processes a workspace left running: those of a Neovim that is gone (killed during a
    /// setup, say), and any of an archived workspace (a daemon that survived its archive).
    /// Only workspaces of this state directory: another one's processes are not ours.
    fn leftover_findings(&self, state: &State, repair: bool) -> Vec<Finding> {
        let by_env = processes_by_workspace();
        let recorded: Groups = self
            .store()
            .map(|s| records::read(s.dir(), PROCESS_GROUPS))
            .unwrap_or_default();
        let mut ids: BTreeSet<String> = recorded.keys().cloned().collect();
        ids.extend(by_env.keys().filter(|id| state.find(id).is_some()).cloned());
        let mut findings = Vec::new();
        for id in ids {
            let ws = state.find(&id);
            // A workspace the state file does not know (it was lost and rebuilt, say) may
            // still have agents in a live Neovim: only a dead owner's processes go.
            let archived = ws.is_some_and(|w| w.state == WorkspaceState::Archived);
            let pids = self.leftover_processes(&id, !archived, &by_env);
            if pids.is_empty() {
                continue;
            }
            let name = ws.map_or_else(|| id.clone(), |w| w.name.clone());
            let list = pids
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let mut f = Finding::new(
                FindingKind::LeftoverProcesses,
                Some(name.clone()),
                ws.map(|w| w.path.clone()),
                format!(
                    "{} process(es) of {name} still run (pid {list}) though {}",
                    pids.len(),
                    if archived {
                        "it is archived"
                    } else {
                        "the Neovim that started them is gone"
                    }
                ),
                "stop them (SIGHUP, then SIGKILL)".into(),
            );
            if repair {
                groups::stop_pids(&pids, self.grace());
                if let Ok(store) = self.store() {
                    let _ = records::update(store.dir(), PROCESS_GROUPS, |g: &mut Groups| {
                        if let Some(list) = g.get_mut(&id) {
                            list.retain(|e| groups::group_alive(e.pgid));
                        }
                        g.retain(|_, list| !list.is_empty());
                    });
                }
                f.repaired = true;
            }
            findings.push(f);
        }
        findings
    }

    fn check_workspace(&self, ws: &Workspace, do_repair: bool) -> Result<Option<Finding>> {
        let dir = ws.path.is_dir();
        let git = repo::open_main(&ws.repo_root).ok();
        let branch_exists = git
            .as_ref()
            .is_some_and(|g| repo::branch_exists(g, &ws.branch));
        let finding = |kind: FindingKind, problem: String, repair: String| {
            Finding::new(
                kind,
                Some(ws.name.clone()),
                Some(ws.path.clone()),
                problem,
                repair,
            )
        };
        match ws.state {
            WorkspaceState::Creating => {
                if ws.owner_pid.is_some_and(alive) {
                    return Ok(None); // still being made by a live process
                }
                let restoring = ws.archived_at.is_some();
                let mut f = match (restoring, dir) {
                    (false, true) => finding(FindingKind::Unfinished, format!("{} was being created when its Neovim stopped", ws.name), "finish it: mark it active (its setup did not run: :ConductorSetup)".into()),
                    (false, false) => finding(FindingKind::Unfinished, format!("{} was being created when its Neovim stopped, before its worktree existed", ws.name), "forget it (and its branch when that holds no commit of its own)".into()),
                    (true, true) => finding(FindingKind::Unfinished, format!("{} was being restored when its Neovim stopped", ws.name), "finish the restore: put its recorded work back if not done yet, mark it active".into()),
                    (true, false) => finding(FindingKind::Unfinished, format!("{} was being restored when its Neovim stopped, before its worktree existed", ws.name), "mark it archived again (its branch and recorded work are untouched)".into()),
                };
                if do_repair {
                    self.finish_unfinished(ws, restoring, dir)?;
                    f.repaired = true;
                }
                Ok(Some(f))
            }
            WorkspaceState::Active if !dir => {
                let recorded = git
                    .as_ref()
                    .and_then(|g| g.refname_to_id(&snapshot_ref(&ws.id)).ok());
                let mut f = finding(
                    FindingKind::MissingDirectory,
                    format!("{}'s worktree {} is gone", ws.name, ws.path.display()),
                    format!(
                        "mark it archived{} (branch {} {})",
                        if recorded.is_some() {
                            " with the work recorded on its ref"
                        } else {
                            ""
                        },
                        ws.branch,
                        if branch_exists { "kept" } else { "missing" }
                    ),
                );
                if do_repair {
                    if let Some(g) = &git {
                        repo::remove_worktree(g, &ws.worktree, &ws.path)?;
                    }
                    let refname = recorded.map(|_| snapshot_ref(&ws.id));
                    self.set_state(&ws.id, |w| {
                        w.state = WorkspaceState::Archived;
                        w.archived_at = Some(now_secs());
                        w.port = None;
                        if refname.is_some() {
                            w.snapshot_ref = refname.clone();
                        }
                    })?;
                    f.repaired = true;
                }
                Ok(Some(f))
            }
            WorkspaceState::Active
                if ws.setup == SetupState::Running && !ws.setup_pid.is_some_and(alive) =>
            {
                let mut f = finding(
                    FindingKind::InterruptedSetup,
                    format!(
                        "{}'s setup script was running when its Neovim stopped",
                        ws.name
                    ),
                    format!(
                        "mark the setup failed (rerun it with :ConductorSetup {})",
                        ws.name
                    ),
                );
                if do_repair {
                    self.set_state(&ws.id, |w| {
                        w.setup = SetupState::Failed;
                        w.setup_pid = None;
                    })?;
                    f.repaired = true;
                }
                Ok(Some(f))
            }
            WorkspaceState::Archived if !branch_exists => Ok(Some(finding(
                FindingKind::MissingBranch,
                format!(
                    "{} is archived but its branch {} is gone",
                    ws.name, ws.branch
                ),
                format!(
                    "nothing to do automatically: {}; :ConductorDelete! {} forgets it",
                    ws.snapshot_ref
                        .as_deref()
                        .map(|r| format!("its recorded work is on {r}"))
                        .unwrap_or_else(|| "it cannot be restored".into()),
                    ws.name
                ),
            ))),
            _ => Ok(None),
        }
    }

    fn finish_unfinished(&self, ws: &Workspace, restoring: bool, dir: bool) -> Result<()> {
        let git = repo::open_main(&ws.repo_root)?;
        // A crash while writing files can leave the worktree's index lock behind.
        let _ = std::fs::remove_file(
            git.path()
                .join("worktrees")
                .join(&ws.worktree)
                .join("index.lock"),
        );
        match (restoring, dir) {
            (false, true) | (true, true) => {
                if restoring && repo::count_changes(&ws.path).unwrap_or(1) == 0 {
                    if let Some(oid) = ws
                        .snapshot_ref
                        .as_deref()
                        .and_then(|r| git.refname_to_id(r).ok())
                    {
                        snapshot::apply(&ws.path, oid)?;
                    }
                }
                let opts = self.options();
                self.store()?.update(|s| {
                    let needs_port = s.find(&ws.id).is_some_and(|w| w.port.is_none());
                    let port = if needs_port {
                        Some(ports::allocate(s, opts.port_first, opts.port_last)?)
                    } else {
                        None
                    };
                    if let Some(w) = s.find_mut(&ws.id) {
                        w.state = WorkspaceState::Active;
                        w.archived_at = None;
                        w.owner_pid = None;
                        w.setup = SetupState::None;
                        if port.is_some() {
                            w.port = port;
                        }
                    }
                    Ok(())
                })?;
            }
            (false, false) => {
                // The branch was made by us from the base; delete it only while it holds
                // nothing else (no commit of its own).
                if let Ok(mut b) = git.find_branch(&ws.branch, git2::BranchType::Local) {
                    if b.get().target().map(|t| t.to_string()) == Some(ws.base_commit.clone()) {
                        let _ = b.delete();
                    }
                }
                repo::remove_worktree(&git, &ws.worktree, &ws.path)?;
                self.store()?.update(|s| {
                    s.workspaces.retain(|w| w.id != ws.id);
                    Ok(())
                })?;
            }
            (true, false) => {
                repo::remove_worktree(&git, &ws.worktree, &ws.path)?;
                self.set_state(&ws.id, |w| {
                    w.state = WorkspaceState::Archived;
                    w.port = None;
                    w.owner_pid = None;
                })?;
            }
        }
        Ok(())
    }

    /// Archived workspaces git still holds but the state file does not (it was lost, or
    /// moved away because it was corrupt): a branch under `branch_prefix` checked out
    /// nowhere, with or without uncommitted work on `refs/conductor/<id>/snapshot`.
    fn lost_records(&self, root: &Path, repair: bool) -> Result<Vec<Finding>> {
        let Ok(git) = Repository::open(root) else {
            return Ok(Vec::new());
        };
        let opts = self.options();
        let state = self.store()?.read()?;
        let ours = |f: &dyn Fn(&Workspace) -> bool| {
            state
                .workspaces
                .iter()
                .any(|w| repo::canonical(&w.repo_root) == repo::canonical(root) && f(w))
        };
        // Branches checked out in a worktree are the orphan-worktree check's business.
        let mut checked_out: HashSet<String> = HashSet::new();
        if let Ok(names) = git.worktrees() {
            for name in names.iter().flatten() {
                let branch = git
                    .find_worktree(name)
                    .and_then(|wt| Repository::open_from_worktree(&wt))
                    .ok()
                    .and_then(|r| r.head().ok()?.shorthand().map(str::to_string));
                if let Some(b) = branch {
                    checked_out.insert(b);
                }
            }
        }
        if let Ok(head) = git.head() {
            if let Some(b) = head.shorthand() {
                checked_out.insert(b.to_string());
            }
        }
        // Snapshots by the workspace name their message carries.
        let mut snapshots: Vec<(String, String, String)> = Vec::new(); // (id, refname, name)
        for r in git.references_glob("refs/conductor/*/snapshot")?.flatten() {
            let Some(refname) = r.name().map(str::to_string) else {
                continue;
            };
            let id = refname
                .trim_start_matches("refs/conductor/")
                .trim_end_matches("/snapshot")
                .to_string();
            if id.contains('/') || ours(&|w| w.id == id) {
                continue;
            }
            let name = r
                .peel_to_commit()
                .ok()
                .and_then(|c| {
                    c.summary()
                        .and_then(|m| m.strip_prefix("conductor: uncommitted work of "))
                        .map(str::to_string)
                })
                .unwrap_or_default();
            snapshots.push((id, refname, name));
        }
        let mut findings = Vec::new();
        for b in git.branches(Some(git2::BranchType::Local))?.flatten() {
            let Some(branch) = b.0.name().ok().flatten().map(str::to_string) else {
                continue;
            };
            let Some(name) = branch.strip_prefix(&opts.branch_prefix).map(str::to_string) else {
                continue;
            };
            if name.is_empty() || checked_out.contains(&branch) || ours(&|w| w.branch == branch) {
                continue;
            }
            let snapshot = snapshots.iter().find(|s| s.2 == name).cloned();
            let mut f = Finding::new(
                FindingKind::LostRecord,
                Some(name.clone()),
                None,
                format!(
                    "branch {branch} of {} is a workspace the state file does not know{}",
                    root.display(),
                    snapshot
                        .as_ref()
                        .map(|s| format!(" (its uncommitted work is on {})", s.1))
                        .unwrap_or_default()
                ),
                "record it as an archived workspace (:ConductorRestore brings it back)".into(),
            );
            if repair {
                self.record_archived(root, &git, &branch, &name, snapshot.map(|s| (s.0, s.1)))?;
                f.repaired = true;
            }
            findings.push(f);
        }
        Ok(findings)
    }

    fn record_archived(
        &self,
        root: &Path,
        git: &Repository,
        branch: &str,
        name: &str,
        snapshot: Option<(String, String)>,
    ) -> Result<()> {
        let info = repo::resolve(root)?;
        let opts = self.options();
        let tip = git.refname_to_id(&format!("refs/heads/{branch}"))?;
        let base_commit = git
            .refname_to_id(&format!("refs/heads/{}", info.default_branch))
            .ok()
            .and_then(|base| git.merge_base(base, tip).ok())
            .unwrap_or(tip);
        let log_dir = self.store()?.dir().join("logs");
        let (id, snapshot_ref) = match snapshot {
            Some((id, r)) => (id, Some(r)),
            None => (
                format!(
                    "{:08x}",
                    now_secs() as u32 ^ tip.as_bytes()[0] as u32 ^ std::process::id()
                ),
                None,
            ),
        };
        self.store()?.update(|s: &mut State| {
            let name = names::first_free(name, |n| {
                s.workspaces
                    .iter()
                    .any(|w| w.repo_root == info.root && w.name == n)
            });
            s.workspaces.push(Workspace {
                log: log_dir.join(format!("{id}.log")),
                path: opts.workspaces_root.join(&info.name).join(&name),
                worktree: name.clone(),
                id,
                name,
                repo_root: info.root.clone(),
                repo_name: info.name.clone(),
                branch: branch.to_string(),
                base_branch: info.default_branch.clone(),
                base_commit: base_commit.to_string(),
                task: None,
                agent: None,
                port: None,
                state: WorkspaceState::Archived,
                created_at: now_secs(),
                archived_at: Some(now_secs()),
                snapshot_ref,
                setup: SetupState::None,
                viewed: Vec::new(),
                pr_url: None,
                checks: None,
                owner_pid: None,
                setup_pid: None,
                head: None,
                agents: Vec::new(),
            });
            Ok(())
        })
    }

    /// Records an unknown worktree under the workspaces root as a workspace.
    fn adopt(&self, root: &Path, worktree_name: &str, path: &Path) -> Result<()> {
        let wt_repo = Repository::open(path)?;
        let head = wt_repo.head()?;
        let branch = head.shorthand().unwrap_or("HEAD").to_string();
        let info = repo::resolve(root)?;
        let opts = self.options();
        let name_wanted = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| worktree_name.to_string());
        let log_dir = self.store()?.dir().join("logs");
        self.store()?.update(|s: &mut State| {
            let name = names::first_free(&name_wanted, |n| {
                s.workspaces
                    .iter()
                    .any(|w| w.repo_root == info.root && w.name == n)
            });
            let id = format!("{:08x}", now_secs() as u32 ^ std::process::id());
            let port = ports::allocate(s, opts.port_first, opts.port_last)?;
            s.workspaces.push(Workspace {
                log: log_dir.join(format!("{id}.log")),
                id,
                name,
                repo_root: info.root.clone(),
                repo_name: info.name.clone(),
                path: path.to_path_buf(),
                branch,
                base_branch: info.default_branch.clone(),
                base_commit: head.target().map(|t| t.to_string()).unwrap_or_default(),
                task: None,
                agent: None,
                port: Some(port),
                state: WorkspaceState::Active,
                created_at: now_secs(),
                archived_at: None,
                snapshot_ref: None,
                setup: SetupState::None,
                worktree: worktree_name.to_string(),
                viewed: Vec::new(),
                pr_url: None,
                checks: None,
                owner_pid: None,
                setup_pid: None,
                head: None,
                agents: Vec::new(),
            });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::FindingKind::*;

    #[test]
    fn finding_kinds_serialise_as_their_names() {
        for kind in [
            Unfinished,
            MissingDirectory,
            InterruptedSetup,
            MissingBranch,
            OrphanWorktree,
            StaleWorktreeEntry,
            LeftoverProcesses,
            LostRecord,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
