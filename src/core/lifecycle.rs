//! A workspace's life: create (reserve name, branch, directory and ports; add the
//! worktree; copy ignored files; start setup), archive (stop, archive script, snapshot,
//! remove the directory), restore (worktree back, snapshot back, setup again) and delete
//! (the one path that deletes a branch, keeping a backup ref).

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use crate::config::{self, Base, RepoConfig, Script};
use crate::engine::{workspace_env, Engine, Event};
use crate::error::{Error, Result};
use crate::faults::pause_point;
use crate::scripts::{self, now_secs, ScriptKind, ScriptSpec};
use crate::store::{ArchivedHead, SetupState, Workspace, WorkspaceState};
use crate::{after_checkout, checkpoints, include, names, ports, repo, snapshot, submodules};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreateRequest {
    /// Any path inside the repository (or one of its worktrees).
    pub path: PathBuf,
    pub task: Option<String>,
    pub name: Option<String>,
    pub base: Option<String>,
    pub agent: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceRequest {
    pub workspace: String,
    pub repo: Option<PathBuf>,
    /// Archive: the agents running in the editor, to start again on restore.
    #[serde(deserialize_with = "crate::protocol::list_or_empty_table")]
    pub agents: Vec<String>,
    /// `log_read`: which log ("scripts", the default, or "checks") and from which byte.
    pub log: Option<String>,
    pub offset: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub dirty: bool,
    pub changes: usize,
    /// Commits on the branch that its base does not have (0: nothing to merge yet); none
    /// when either branch cannot be read (archive does not need it).
    pub ahead: Option<usize>,
}

/// What archiving a workspace will do, for the confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct ArchivePreview {
    pub dirty: bool,
    /// Uncommitted changes (tracked and untracked), kept in the snapshot.
    pub changes: usize,
    /// Ignored content that archive deletes, largest first: (path, bytes). A directory
    /// (`node_modules/`) is one item.
    pub ignored: Vec<IgnoredItem>,
    pub ignored_bytes: u64,
    /// Ignored files matching the files-to-copy rules: kept in the snapshot and restored.
    pub kept: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IgnoredItem {
    pub path: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    pub branch: String,
    pub backup_ref: Option<String>,
}

pub fn snapshot_ref(id: &str) -> String {
    format!("refs/conductor/{id}/snapshot")
}

/// Keeps the commit HEAD was at when archived (detached, or on another branch) reachable.
pub fn head_ref(id: &str) -> String {
    format!("refs/conductor/{id}/head")
}

fn new_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

impl Engine {
    pub fn create(self: &Arc<Self>, req: CreateRequest, request: Option<u64>) -> Result<Workspace> {
        let opts = self.options();
        let git = repo::open_main(&req.path)?;
        let info = repo::resolve(&req.path)?;
        if let Some(name) = &req.name {
            names::validate(name)?;
        }
        let task = req.task.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let base = req
            .base
            .clone()
            .unwrap_or_else(|| info.default_branch.clone());
        let label = req
            .name
            .clone()
            .or_else(|| task.and_then(names::slug))
            .unwrap_or_default();
        let progress = |message: String| self.progress(request, &label, message);

        if opts.fetch && repo::has_origin(&git) {
            progress(format!("fetching origin/{base}"));
            let timeout = Duration::from_millis(opts.fetch_timeout_ms);
            if let Err(e) = repo::fetch(&info.root, &base, timeout) {
                self.emit(Event::Warning {
                    request,
                    workspace: Some(label.clone()),
                    message: format!("{e}; starting from the local {base}"),
                });
            }
        }
        let start = repo::base_commit(&git, &base)?;
        // The settings the new worktree checks out, not the root's working tree.
        let config = self.repo_config(&info.root, Base::Commit(start))?;

        let id = new_id();
        let repo_dir = opts.workspaces_root.join(&info.name);
        let log = self.store()?.dir().join("logs").join(format!("{id}.log"));
        let ws = self.store()?.update(|state| {
            // Taken: the name in this repository, or the directory by any workspace (two
            // repositories with the same folder name share a workspaces folder, and an
            // archived workspace's directory comes back on restore).
            let ours = |n: &str| {
                state.workspaces.iter().any(|w| {
                    (w.repo_root == info.root && w.name == n) || w.path == repo_dir.join(n)
                })
            };
            let branch_of = |n: &str| format!("{}{n}", opts.branch_prefix);
            let name = match &req.name {
                Some(explicit) => {
                    let name = names::first_free(explicit, ours);
                    if repo::branch_exists(&git, &branch_of(&name)) {
                        return Err(Error::new(format!(
                            "branch {} already exists and is not a conductor workspace: pick another --name or delete the branch",
                            branch_of(&name)
                        )));
                    }
                    if repo_dir.join(&name).exists() {
                        return Err(Error::new(format!(
                            "target directory {} already exists: move it away or pick another --name",
                            repo_dir.join(&name).display()
                        )));
                    }
                    name
                }
                None => {
                    let base_name = task
                        .and_then(names::slug)
                        .unwrap_or_else(|| names::city(u64::from_str_radix(&id, 16).unwrap_or(0)).to_string());
                    names::first_free(&base_name, |n| {
                        ours(n) || repo::branch_exists(&git, &branch_of(n)) || repo_dir.join(n).exists()
                    })
                }
            };
            let port = ports::allocate(state, opts.port_first, opts.port_last)?;
            let ws = Workspace {
                id: id.clone(),
                branch: branch_of(&name),
                path: repo_dir.join(&name),
                worktree: repo::free_worktree_name(&git, &name, &id),
                name,
                repo_root: info.root.clone(),
                repo_name: info.name.clone(),
                base_branch: base.clone(),
                base_commit: start.to_string(),
                task: task.map(str::to_string),
                agent: req.agent.clone(),
                port: Some(port),
                state: WorkspaceState::Creating,
                created_at: now_secs(),
                archived_at: None,
                snapshot_ref: None,
                log: log.clone(),
                setup: SetupState::None,
                viewed: Vec::new(),
                pr_url: None,
                checks: None,
                owner_pid: Some(std::process::id()),
                setup_pid: None,
                head: None,
                agents: Vec::new(),
            };
            state.workspaces.push(ws.clone());
            Ok(ws)
        })?;

        // Remembered apart from the state file, for the doctor to rebuild from git.
        let _ = crate::records::remember_repository(self.store()?.dir(), &info.root);
        pause_point("create:reserved");
        let progress = |message: String| self.progress(request, &ws.name, message);
        // What was there before (made meanwhile by someone else): a failed create removes
        // only what it made itself.
        let dir_was_there = ws.path.exists();
        let branch_was_there = repo::branch_exists(&git, &ws.branch);
        let built = (|| {
            progress(format!(
                "creating worktree {} on {}",
                ws.path.display(),
                ws.branch
            ));
            repo::add_worktree(&git, &ws.worktree, &ws.branch, &ws.path, start)?;
            self.after_checkout(&git, &ws, request, &progress);
            self.copy_included(&info.root, &ws.path, &config, false, &progress)
        })();
        if let Err(e) = built {
            // Nothing half-made: no directory, no branch, no store entry.
            if dir_was_there {
                repo::prune_admin(&git, &ws.worktree);
            } else {
                let _ = repo::remove_worktree(&git, &ws.worktree, &ws.path);
            }
            if !branch_was_there {
                if let Ok(mut b) = git.find_branch(&ws.branch, git2::BranchType::Local) {
                    let _ = b.delete();
                }
            }
            let _ = self.store()?.update(|s| {
                s.workspaces.retain(|w| w.id != ws.id);
                Ok(())
            });
            return Err(e);
        }
        pause_point("create:worktree");
        let ws = self.set_state(&ws.id, |w| {
            w.state = WorkspaceState::Active;
            w.owner_pid = None;
        })?;
        self.start_setup(&ws, &config);
        self.get(&ws.id, None)
    }

    fn progress(&self, request: Option<u64>, workspace: &str, message: String) {
        self.emit(Event::Progress {
            request,
            workspace: workspace.to_string(),
            message,
        });
    }

    /// Copies the root's ignored files chosen by the files-to-copy rules. With
    /// `keep_existing` (restore), files already there (kept in the snapshot, so newer
    /// than the root's) are left as they are.
    fn copy_included(
        &self,
        root: &Path,
        dest: &Path,
        config: &RepoConfig,
        keep_existing: bool,
        progress: &dyn Fn(String),
    ) -> Result<()> {
        let mut files = include::files_to_copy(root, config.file_include_globs.as_deref())?;
        if keep_existing {
            files.retain(|f| dest.join(f).symlink_metadata().is_err());
        }
        copy_listed(root, dest, &files, progress)
    }

    /// What `git worktree add` and `git submodule update --init` do after the files are
    /// written: the post-checkout hook, then submodules. Never fails the workspace; what
    /// went wrong is said in one line each.
    fn after_checkout(
        &self,
        git: &Repository,
        ws: &Workspace,
        request: Option<u64>,
        progress: &dyn Fn(String),
    ) {
        let warn = |message: String| {
            self.emit(Event::Warning {
                request,
                workspace: Some(ws.name.clone()),
                message,
            })
        };
        let hook = after_checkout::post_checkout_hook(&ws.path).and_then(|found| {
            found
                .map(|hook| {
                    progress(format!("running the post-checkout hook {}", hook.display()));
                    after_checkout::run_post_checkout_hook(&ws.path, hook)
                })
                .transpose()
        });
        match hook {
            Ok(None) => {}
            Ok(Some(run)) => {
                append_log(
                    &ws.log,
                    &format!(
                        "$ {} (post-checkout hook)\n{}",
                        run.hook.display(),
                        run.output
                    ),
                );
                if !run.ok {
                    warn(format!(
                        "the post-checkout hook {} failed (see :ConductorLog {}); the workspace is ready anyway",
                        run.hook.display(),
                        ws.name
                    ));
                }
            }
            Err(e) => warn(format!("post-checkout hook not run: {e}")),
        }
        match submodules::init(git, &ws.path) {
            Ok(lines) => lines.into_iter().for_each(warn),
            Err(e) => warn(format!("submodules not checked out: {e}")),
        }
    }

    pub(crate) fn set_state(
        &self,
        id: &str,
        change: impl FnOnce(&mut Workspace),
    ) -> Result<Workspace> {
        self.store()?.update(|s| {
            let w = s.find_mut(id).ok_or_else(|| {
                Error::new(format!("workspace {id} disappeared from the state file"))
            })?;
            change(w);
            Ok(w.clone())
        })
    }

    /// Starts the setup script in the background when there is one, honouring trust.
    fn start_setup(self: &Arc<Self>, ws: &Workspace, config: &RepoConfig) {
        let Some(script) = config.setup.clone() else {
            if let Some(file) = config.untrusted_script("setup") {
                let _ = self.set_state(&ws.id, |w| w.setup = SetupState::Untrusted);
                self.emit(Event::ScriptSkipped {
                    workspace: ws.name.clone(),
                    workspace_id: ws.id.clone(),
                    kind: "setup".into(),
                    reason: format!(
                        "{} is not trusted, so none of it applies; run :ConductorSetup {} to be asked again",
                        config::describe(file),
                        ws.name
                    ),
                });
            }
            return;
        };
        let _ = self.set_state(&ws.id, |w| {
            w.setup = SetupState::Running;
            w.setup_pid = Some(std::process::id());
        });
        let engine = Arc::clone(self);
        let ws = ws.clone();
        let config = config.clone();
        // run_script records the outcome (unless the script was stopped on purpose).
        std::thread::spawn(move || {
            pause_point("setup:running");
            engine.run_script(&ws, &config, &script, ScriptKind::Setup)
        });
    }

    /// Runs a script to its end (or its timeout), reporting through events. Returns how
    /// it ended, None when it could not start.
    fn run_script(
        &self,
        ws: &Workspace,
        config: &RepoConfig,
        script: &Script,
        kind: ScriptKind,
    ) -> Option<scripts::Finished> {
        let opts = self.options();
        let env = workspace_env(ws, config);
        let timeout_ms = match kind {
            ScriptKind::Archive => opts.archive_timeout_ms,
            ScriptKind::Setup => opts.setup_timeout_ms,
            ScriptKind::Check => 0,
        };
        let spec = ScriptSpec {
            kind,
            shell: &opts.shell,
            command: &script.command,
            cwd: &ws.path,
            env: &env,
            log: &ws.log,
            timeout: (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
            grace: self.grace(),
        };
        let kind_name = kind.as_str().to_string();
        self.emit(Event::ScriptStarted {
            workspace: ws.name.clone(),
            workspace_id: ws.id.clone(),
            kind: kind_name.clone(),
            log: ws.log.clone(),
        });
        let mut pgid = 0;
        let result = scripts::run(
            &spec,
            |p| {
                pgid = p;
                self.record_group(&ws.id, p);
            },
            |line, elapsed_ms| {
                self.emit(Event::ScriptOutput {
                    workspace: ws.name.clone(),
                    workspace_id: ws.id.clone(),
                    kind: kind_name.clone(),
                    line: line.to_string(),
                    elapsed_ms,
                })
            },
        );
        self.forget_group(&ws.id, pgid);
        let stopped = self.processes.take_stopped(pgid);
        let ok = result.as_ref().is_ok_and(|d| d.ok);
        let timed_out = result.as_ref().is_ok_and(|d| d.timed_out);
        if kind == ScriptKind::Setup && !stopped {
            // Recorded before the event, so listeners that look the workspace up see it.
            let state = if ok {
                SetupState::Ok
            } else {
                SetupState::Failed
            };
            let _ = self.set_state(&ws.id, |w| {
                w.setup = state;
                w.setup_pid = None;
            });
        }
        match result {
            Ok(done) => {
                self.emit(Event::ScriptFinished {
                    workspace: ws.name.clone(),
                    workspace_id: ws.id.clone(),
                    kind: kind_name,
                    ok: done.ok,
                    code: done.code,
                    signal: done.signal,
                    stopped,
                    timed_out,
                    log: done.log.clone(),
                    elapsed_ms: done.elapsed_ms,
                });
                Some(done)
            }
            Err(e) => {
                self.emit(Event::ScriptFinished {
                    workspace: ws.name.clone(),
                    workspace_id: ws.id.clone(),
                    kind: kind_name,
                    ok: false,
                    code: None,
                    signal: None,
                    stopped,
                    timed_out: false,
                    log: ws.log.clone(),
                    elapsed_ms: 0,
                });
                self.emit(Event::Warning {
                    request: None,
                    workspace: Some(ws.name.clone()),
                    message: e.to_string(),
                });
                None
            }
        }
    }

    pub fn run_setup(self: &Arc<Self>, req: WorkspaceRequest) -> Result<Workspace> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        let config = self.workspace_config(&ws)?;
        if config.setup.is_none() && config.untrusted_script("setup").is_none() {
            return Err(Error::new(format!(
                "{} has no setup script configured",
                ws.repo_name
            )));
        }
        self.processes.stop_all(&ws.id, self.grace());
        self.start_setup(&ws, &config);
        self.get(&ws.id, None)
    }

    /// Stops scripts, agents and run scripts of a workspace, all within one grace period,
    /// then whatever they left (daemons, groups of a Neovim that was killed, agents another
    /// Neovim runs for it).
    fn stop_everything(&self, id: &str) {
        // Stopped by us: not something another Neovim did (see `watch`).
        self.watch.forget(id);
        let sessions = self.sessions.matching(Some(id), None);
        std::thread::scope(|s| {
            s.spawn(|| self.sessions.stop_many(&sessions, self.grace()));
            self.processes.stop_all(id, self.grace());
        });
        self.stop_leftovers(id);
    }

    /// Stops every agent, terminal and script this engine started, within one grace
    /// period (Neovim is exiting: nothing it started may outlive it).
    pub fn stop_all_processes(&self, grace: Duration) {
        let sessions = self.sessions.matching(None, None);
        std::thread::scope(|s| {
            s.spawn(|| self.sessions.stop_many(&sessions, grace));
            self.processes.stop_every(grace);
        });
    }

    pub fn status(&self, req: WorkspaceRequest) -> Result<Status> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        let changes = repo::count_changes(&ws.path)?;
        Ok(Status {
            dirty: changes > 0,
            changes,
            ahead: crate::ship::commits_ahead(&ws).ok(),
        })
    }

    /// What archive would delete and keep: the confirmation's text comes from here.
    pub fn archive_preview(&self, req: WorkspaceRequest) -> Result<ArchivePreview> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        let config = self.workspace_config(&ws)?;
        let changes = repo::count_changes(&ws.path)?;
        let kept = kept_ignored(&ws, &config)?;
        let ignored: Vec<IgnoredItem> = include::ignored_content(&ws.path, &kept)?
            .into_iter()
            .map(|(path, bytes)| IgnoredItem { path, bytes })
            .collect();
        Ok(ArchivePreview {
            dirty: changes > 0,
            changes,
            ignored_bytes: ignored.iter().map(|i| i.bytes).sum(),
            ignored,
            kept,
        })
    }

    /// Everything that can make an archive fail, checked before anything is stopped,
    /// run or removed: the state file can be written, and the work can be recorded.
    fn archive_preflight(&self, ws: &Workspace, keep: &[PathBuf]) -> Result<()> {
        let refuse = |e: Error| {
            e.context(format!(
                "cannot archive {}; nothing was stopped or removed",
                ws.name
            ))
        };
        // The same locked read-and-replace the archive ends with.
        self.store()
            .and_then(|s| s.update(|_| Ok(())))
            .map_err(refuse)?;
        if ws.path.is_dir() {
            match snapshot::check(&ws.path, keep) {
                // Agents still run: a file that vanished while being read is no reason to
                // refuse (the recording that counts is made once they are stopped).
                Err(e) if e.message().contains("No such file or directory") => {}
                checked => checked.map_err(refuse)?,
            }
            let git = repo::open_main(&ws.repo_root)?;
            submodules::check_archivable(&git, &ws.path).map_err(refuse)?;
        }
        Ok(())
    }

    pub fn archive(self: &Arc<Self>, req: WorkspaceRequest) -> Result<Workspace> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        let git = repo::open_main(&ws.repo_root)?;
        let config = self.workspace_config(&ws)?;
        let keep = kept_ignored(&ws, &config)?;
        self.archive_preflight(&ws, &keep)?;
        self.stop_everything(&ws.id);
        if let Some(script) = config.archive.clone() {
            if !ws.path.is_dir() {
                // Nothing to run it in; the directory is already gone.
            } else {
                let done = self.run_script(&ws, &config, &script, ScriptKind::Archive);
                let message = match done {
                    Some(d) if d.timed_out => Some(format!(
                        "archive script of {} ran longer than {:?} (scripts.archive_timeout) and was stopped (see :ConductorLog {}); archiving anyway",
                        ws.name,
                        Duration::from_millis(self.options().archive_timeout_ms),
                        ws.name
                    )),
                    Some(d) if d.ok => None,
                    _ => Some(format!(
                        "archive script of {} failed (see :ConductorLog {}); archiving anyway",
                        ws.name, ws.name
                    )),
                };
                if let Some(message) = message {
                    self.emit(Event::Warning {
                        request: None,
                        workspace: Some(ws.name.clone()),
                        message,
                    });
                }
            }
        } else if let Some(file) = config.untrusted_script("archive") {
            self.emit(Event::ScriptSkipped {
                workspace: ws.name.clone(),
                workspace_id: ws.id.clone(),
                kind: "archive".into(),
                reason: format!("{} is not trusted", config::describe(file)),
            });
        }
        // What the archive script started in the background.
        self.stop_leftovers(&ws.id);
        let cannot_record = |e: Error| {
            e.context(format!(
                "cannot record the uncommitted work of {}; nothing was removed",
                ws.name
            ))
        };
        let (snapshot, head) = if ws.path.is_dir() {
            // The archive script may have changed which ignored files there are.
            let keep = kept_ignored(&ws, &config)?;
            let head = record_head(&git, &ws).map_err(cannot_record)?;
            submodules::keep_commits(&git, &ws.path, &ws.id).map_err(cannot_record)?;
            let refname = snapshot_ref(&ws.id);
            let recorded = snapshot::record_keeping(
                &ws.path,
                &refname,
                &format!("conductor: uncommitted work of {}", ws.name),
                &keep,
            )
            .map_err(cannot_record)?;
            (recorded.map(|_| refname), head)
        } else {
            (None, None)
        };
        pause_point("archive:snapshot");
        // The directory leaves its path in one rename; the archive is recorded; only then
        // are its files deleted. A deletion that fails halfway (files of another owner, a
        // read-only cache) leaves an archived workspace and a folder to delete by hand,
        // never an active workspace with half its files (review finding).
        let aside = repo::move_aside(&ws.path)?;
        pause_point("archive:removed");
        let archived = self.set_state(&ws.id, |w| {
            w.state = WorkspaceState::Archived;
            w.archived_at = Some(now_secs());
            w.port = None;
            w.snapshot_ref = snapshot;
            w.setup = SetupState::None;
            w.head = head;
            w.agents = req.agents.clone();
        });
        let archived = match archived {
            Ok(w) => w,
            Err(e) => {
                if let Some(aside) = &aside {
                    let _ = std::fs::rename(aside, &ws.path);
                }
                return Err(e);
            }
        };
        repo::prune_admin(&git, &ws.worktree);
        // The snapshot keeps the final state; the turns before it go.
        checkpoints::drop_all(&git, &ws.id);
        if let Some(aside) = aside {
            if let Err(e) = std::fs::remove_dir_all(&aside) {
                self.emit(Event::Warning {
                    request: None,
                    workspace: Some(ws.name.clone()),
                    message: format!(
                        "archived {}, but not all of its files could be deleted ({e}): delete {} by hand",
                        ws.name,
                        aside.display()
                    ),
                });
            }
        }
        Ok(archived)
    }

    pub fn restore(
        self: &Arc<Self>,
        req: WorkspaceRequest,
        request: Option<u64>,
    ) -> Result<Workspace> {
        let ws = self.get(&req.workspace, req.repo.as_deref())?;
        if ws.state != WorkspaceState::Archived {
            return Err(Error::new(format!("workspace {} is not archived", ws.name)));
        }
        let git = repo::open_main(&ws.repo_root)?;
        let config = self.workspace_config(&ws)?;
        let opts = self.options();
        if ws.path.exists() {
            self.move_late_files_aside(&git, &ws, request)?;
        }
        let worktree = repo::free_worktree_name(&git, &ws.name, &ws.id);
        self.store()?.update(|s| {
            let port = ports::allocate(s, opts.port_first, opts.port_last)?;
            let w = s
                .find_mut(&ws.id)
                .ok_or_else(|| Error::new("workspace disappeared"))?;
            w.port = Some(port);
            w.state = WorkspaceState::Creating;
            w.owner_pid = Some(std::process::id());
            w.worktree = worktree.clone();
            Ok(())
        })?;
        let progress = |message: String| self.progress(request, &ws.name, message);
        let restored = (|| {
            progress(format!("recreating worktree {}", ws.path.display()));
            self.attach_as_archived(&git, &ws, &worktree, request)?;
            pause_point("restore:worktree");
            self.after_checkout(&git, &ws, request, &progress);
            if let Some(refname) = &ws.snapshot_ref {
                let oid = git.refname_to_id(refname)?;
                let applied = snapshot::apply(&ws.path, oid)?;
                let work = git.find_commit(oid)?.tree()?;
                for line in submodules::follow_snapshot(&git, &ws.path, &ws.id, &work) {
                    self.emit(Event::Warning {
                        request,
                        workspace: Some(ws.name.clone()),
                        message: line,
                    });
                }
                if applied == snapshot::Applied::Merged {
                    self.emit(Event::Warning {
                        request,
                        workspace: Some(ws.name.clone()),
                        message: format!(
                            "{} moved since archive; uncommitted work was merged onto its tip",
                            ws.branch
                        ),
                    });
                }
            }
            self.copy_included(&ws.repo_root, &ws.path, &config, true, &progress)
        })();
        if let Err(e) = restored {
            let _ = repo::remove_worktree(&git, &worktree, &ws.path);
            let _ = self.set_state(&ws.id, |w| {
                w.state = WorkspaceState::Archived;
                w.port = None;
                w.owner_pid = None;
            });
            return Err(e);
        }
        pause_point("restore:applied");
        let ws = self.set_state(&ws.id, |w| {
            w.state = WorkspaceState::Active;
            w.archived_at = None;
            w.owner_pid = None;
            w.head = None;
        })?;
        self.start_setup(&ws, &config);
        self.get(&ws.id, None)
    }

    /// The directory of an archived workspace exists again (an agent that kept running
    /// elsewhere wrote into it): keeps what it holds on a ref and clears the way, or
    /// fails when it holds anything from before the archive.
    fn move_late_files_aside(
        &self,
        git: &Repository,
        ws: &Workspace,
        request: Option<u64>,
    ) -> Result<()> {
        let refname = format!("refs/conductor/{}/after-archive-{}", ws.id, now_secs());
        let parent = ws
            .snapshot_ref
            .as_deref()
            .and_then(|r| git.refname_to_id(r).ok())
            .or_else(|| {
                git.find_branch(&ws.branch, git2::BranchType::Local)
                    .ok()
                    .and_then(|b| b.get().target())
            });
        let since = ws.archived_at.unwrap_or(u64::MAX);
        let kept = crate::aside::keep_late_files(git, &ws.path, since, &refname, parent)?;
        if kept > 0 {
            self.emit(Event::Warning {
                request,
                workspace: Some(ws.name.clone()),
                message: format!(
                    "{kept} file(s) written in {} after {} was archived are kept on {refname} (`git checkout {refname} -- .` in the workspace brings them back)",
                    ws.path.display(),
                    ws.name
                ),
            });
        }
        Ok(())
    }

    /// Recreates the worktree with HEAD where it was at archive time: on the workspace's
    /// branch, on another branch, or detached (a paused rebase is detached).
    fn attach_as_archived(
        &self,
        git: &Repository,
        ws: &Workspace,
        worktree: &str,
        request: Option<u64>,
    ) -> Result<()> {
        let Some(head) = &ws.head else {
            return repo::add_worktree_for_branch(git, worktree, &ws.branch, &ws.path, None);
        };
        let commit = Oid::from_str(&head.commit)
            .map_err(|_| Error::new(format!("bad recorded HEAD {:?}", head.commit)))?;
        if let Some(other) = head
            .branch
            .as_deref()
            .filter(|b| repo::branch_exists(git, b))
        {
            match repo::add_worktree_for_branch(git, worktree, other, &ws.path, None) {
                Ok(()) => return Ok(()),
                Err(e) => self.emit(Event::Warning {
                    request,
                    workspace: Some(ws.name.clone()),
                    message: format!(
                        "was on branch {other} when archived, which cannot be checked out here ({}); HEAD is left detached at {:.10}",
                        e.message(),
                        head.commit
                    ),
                }),
            }
        }
        repo::add_worktree_for_branch(git, worktree, &ws.branch, &ws.path, Some(commit))
    }

    /// Deletes a workspace and its branch. What it held stays reachable from
    /// `refs/conductor/deleted/<id>` (its uncommitted work if any, else the branch tip).
    pub fn delete(self: &Arc<Self>, req: WorkspaceRequest) -> Result<Deleted> {
        let ws = self.get(&req.workspace, req.repo.as_deref())?;
        let git = repo::open_main(&ws.repo_root)?;
        self.stop_everything(&ws.id);
        let mut keep: Option<Oid> = None;
        if ws.path.is_dir() && ws.state != WorkspaceState::Archived {
            // Commits on a detached HEAD are on no branch: refs/conductor/<id>/head keeps them.
            record_head(&git, &ws)?;
            keep = snapshot::record(
                &ws.path,
                &snapshot_ref(&ws.id),
                &format!("conductor: work of deleted {}", ws.name),
            )?;
        }
        if keep.is_none() {
            keep = ws
                .snapshot_ref
                .as_deref()
                .and_then(|r| git.refname_to_id(r).ok());
        }
        if keep.is_none() {
            keep = git
                .find_branch(&ws.branch, git2::BranchType::Local)
                .ok()
                .and_then(|b| b.get().target());
        }
        let backup_ref = match keep {
            Some(oid) => {
                let name = format!("refs/conductor/deleted/{}", ws.id);
                git.reference(
                    &name,
                    oid,
                    true,
                    &format!("conductor: backup of deleted {}", ws.name),
                )?;
                Some(name)
            }
            None => None,
        };
        repo::remove_worktree(&git, &ws.worktree, &ws.path)?;
        if let Ok(mut b) = git.find_branch(&ws.branch, git2::BranchType::Local) {
            b.delete()?;
        }
        let _ = git
            .find_reference(&snapshot_ref(&ws.id))
            .and_then(|mut r| r.delete());
        self.store()?.update(|s| {
            s.workspaces.retain(|w| w.id != ws.id);
            Ok(())
        })?;
        Ok(Deleted {
            branch: ws.branch,
            backup_ref,
        })
    }
}

/// Where HEAD is in the workspace, when not on its branch; that commit is kept reachable
/// by `refs/conductor/<id>/head` (a detached HEAD belongs to no branch).
fn record_head(git: &Repository, ws: &Workspace) -> Result<Option<ArchivedHead>> {
    let wt = Repository::open(&ws.path)?;
    let head = wt.head()?;
    let commit = head.peel_to_commit()?.id();
    let branch = if wt.head_detached()? {
        None
    } else {
        match head.shorthand() {
            Some(b) if b == ws.branch => return Ok(None),
            other => other.map(str::to_string),
        }
    };
    git.reference(
        &head_ref(&ws.id),
        commit,
        true,
        &format!("conductor: HEAD of {} at archive", ws.name),
    )?;
    Ok(Some(ArchivedHead {
        branch,
        commit: commit.to_string(),
    }))
}

/// The workspace's ignored files that match the files-to-copy rules (its own
/// `.worktreeinclude`, else `file_include_globs`, else `.env*`): archive keeps them.
fn kept_ignored(ws: &Workspace, config: &RepoConfig) -> Result<Vec<PathBuf>> {
    if !ws.path.is_dir() {
        return Ok(Vec::new());
    }
    include::files_to_copy(&ws.path, config.file_include_globs.as_deref())
}

fn append_log(log: &Path, text: &str) {
    use std::io::Write;
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::File::options().create(true).append(true).open(log) {
        let _ = f.write_all(text.as_bytes());
    }
}

fn copy_listed(
    root: &Path,
    dest: &Path,
    files: &[PathBuf],
    progress: &dyn Fn(String),
) -> Result<()> {
    if !files.is_empty() {
        progress(format!("copying {} ignored file(s)", files.len()));
        include::copy_files(root, dest, files)?;
    }
    Ok(())
}

/// Opens the main repository of a workspace (exposed for tests).
pub fn open_repo(ws: &Workspace) -> Result<Repository> {
    repo::open_main(&ws.repo_root)
}
