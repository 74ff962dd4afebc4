//! The engine: options, the event stream, looking workspaces up, and the one guard
//! before acting in one (`active_workspace`). The lifecycle operations (create, archive,
//! restore, delete) live in `lifecycle.rs`.
//!
//! Every operation is a plain function of plain data; the Neovim adapter calls them on
//! worker threads and forwards `Event`s to the main thread. Nothing here knows Neovim.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{self, Base, ConfigFile, FileKind, Layer, RepoConfig};
use crate::error::{Error, Result};
use crate::process::ProcessTable;
use crate::pty::Sessions;
use crate::repo;
use crate::store::{State, Store, Workspace, WorkspaceState};
use crate::trust::{self, Decision, TrustStatus};

/// Engine options; the Lua side fills them from `setup()` (`config.engine_opts`). A key
/// not listed here is refused by name; `defaults` is a config layer, which ignores
/// unknown keys as the settings files do.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    pub state_dir: PathBuf,
    pub workspaces_root: PathBuf,
    pub branch_prefix: String,
    pub port_first: u16,
    pub port_last: u16,
    pub stop_grace_ms: u64,
    /// How long an archive script may run before it is stopped (0: no limit).
    pub archive_timeout_ms: u64,
    /// The same for setup scripts; they run in the background, so none by default.
    pub setup_timeout_ms: u64,
    pub fetch: bool,
    pub fetch_timeout_ms: u64,
    pub shell: String,
    /// GitHub's CLI for pull requests: a name looked up on PATH, or a path.
    pub gh: String,
    pub defaults: Layer,
    /// How many agent turns a workspace keeps as checkpoints.
    pub checkpoints_keep: usize,
    /// The user's `~/.conductor/settings.toml` (trusted, below the repository's).
    pub user_settings: Option<PathBuf>,
    /// Neovim's `:trust` database, honoured for regular files (`trust.rs`).
    pub nvim_trust_db: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        Options {
            state_dir: home.join(".local/state/nvim/conductor"),
            workspaces_root: home.join(".local/share/nvim/conductor/workspaces"),
            branch_prefix: "conductor/".into(),
            port_first: 55000,
            port_last: 64999,
            stop_grace_ms: 2000,
            archive_timeout_ms: 120_000,
            setup_timeout_ms: 0,
            fetch: true,
            fetch_timeout_ms: 30_000,
            shell: "/bin/sh".into(),
            gh: "gh".into(),
            defaults: Layer::default(),
            checkpoints_keep: 100,
            user_settings: Some(home.join(".conductor/settings.toml")),
            nvim_trust_db: None,
        }
    }
}

/// Something the user should see while or after an operation runs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum Event {
    Progress {
        request: Option<u64>,
        workspace: String,
        message: String,
    },
    Warning {
        request: Option<u64>,
        workspace: Option<String>,
        message: String,
    },
    ScriptStarted {
        workspace: String,
        workspace_id: String,
        kind: String,
        log: PathBuf,
    },
    ScriptOutput {
        workspace: String,
        workspace_id: String,
        kind: String,
        line: String,
        elapsed_ms: u64,
    },
    ScriptFinished {
        workspace: String,
        workspace_id: String,
        kind: String,
        ok: bool,
        code: Option<i32>,
        signal: Option<i32>,
        /// Ended because conductor stopped it (archive, delete, rerun), not by itself.
        stopped: bool,
        /// Stopped because it ran longer than its timeout.
        timed_out: bool,
        log: PathBuf,
        elapsed_ms: u64,
    },
    ScriptSkipped {
        workspace: String,
        workspace_id: String,
        kind: String,
        reason: String,
    },
    /// A workspace's branch-scope change list was recomputed.
    Changes {
        workspace_id: String,
        changes: crate::changes::Changes,
    },
    CheckStarted {
        workspace: String,
        workspace_id: String,
        command: String,
    },
    CheckFinished {
        workspace: String,
        workspace_id: String,
        command: String,
        ok: bool,
        code: Option<i32>,
        elapsed_ms: u64,
        log: PathBuf,
    },
}

pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// What `resolve_repo` tells the UI: enough to ask for trust before creating.
#[derive(Debug, Clone, Serialize)]
pub struct RepoView {
    pub root: PathBuf,
    pub name: String,
    pub default_branch: String,
    /// The URL of the `origin` remote: how the same repository is recognised on another
    /// machine (`:ConductorNew --host` without `--repo`).
    pub origin: Option<String>,
    pub config_files: Vec<ConfigFile>,
    /// Names of the run scripts (`:ConductorRun` completes them).
    pub run_scripts: Vec<String>,
    /// `[prompts]` of the trusted files.
    pub prompts: std::collections::BTreeMap<String, String>,
}

pub struct Engine {
    options: RwLock<Options>,
    pub(crate) events: EventSink,
    pub(crate) processes: ProcessTable,
    pub sessions: Sessions,
    pub(crate) change_cache: crate::changes::ChangeCache,
    pub(crate) watch: crate::watch::Watch,
}

impl Engine {
    pub fn new(options: Options, events: EventSink) -> Arc<Engine> {
        let engine = Arc::new(Engine {
            options: RwLock::new(options),
            events,
            processes: ProcessTable::default(),
            sessions: Sessions::default(),
            change_cache: Default::default(),
            watch: Default::default(),
        });
        crate::watch::start(&engine);
        engine
    }

    pub fn options(&self) -> Options {
        self.options
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// New options; the state directory stays the engine's own (an engine serves one,
    /// found by it): a client that sends none (a remote host's) never moves it.
    pub fn set_options(&self, mut options: Options) {
        let mut current = self.options.write().unwrap_or_else(|e| e.into_inner());
        options.state_dir = current.state_dir.clone();
        *current = options;
    }

    /// The options named in `keys` from `new`; the others keep their values (a Neovim
    /// reaching this engine from another machine sends only its preferences, not the
    /// paths and programs of this machine's own Neovim).
    pub fn update_options(&self, new: Options, keys: &[String]) {
        // Every field named, so that a new option cannot be forgotten here.
        let Options {
            state_dir: _,
            workspaces_root,
            branch_prefix,
            port_first,
            port_last,
            stop_grace_ms,
            archive_timeout_ms,
            setup_timeout_ms,
            fetch,
            fetch_timeout_ms,
            shell,
            gh,
            defaults,
            checkpoints_keep,
            user_settings,
            nvim_trust_db,
        } = new;
        let mut current = self.options.write().unwrap_or_else(|e| e.into_inner());
        let o = &mut *current;
        for key in keys {
            match key.as_str() {
                "workspaces_root" => o.workspaces_root = workspaces_root.clone(),
                "branch_prefix" => o.branch_prefix = branch_prefix.clone(),
                "port_first" => o.port_first = port_first,
                "port_last" => o.port_last = port_last,
                "stop_grace_ms" => o.stop_grace_ms = stop_grace_ms,
                "archive_timeout_ms" => o.archive_timeout_ms = archive_timeout_ms,
                "setup_timeout_ms" => o.setup_timeout_ms = setup_timeout_ms,
                "fetch" => o.fetch = fetch,
                "fetch_timeout_ms" => o.fetch_timeout_ms = fetch_timeout_ms,
                "shell" => o.shell = shell.clone(),
                "gh" => o.gh = gh.clone(),
                "defaults" => o.defaults = defaults.clone(),
                "checkpoints_keep" => o.checkpoints_keep = checkpoints_keep,
                "user_settings" => o.user_settings = user_settings.clone(),
                "nvim_trust_db" => o.nvim_trust_db = nvim_trust_db.clone(),
                // The state directory is the engine's own (see `set_options`); serde has
                // refused any other name already.
                _ => {}
            }
        }
    }

    /// How many setup, archive and check scripts still run.
    pub fn processes_running(&self) -> usize {
        self.processes.running()
    }

    pub fn store(&self) -> Result<Store> {
        Store::open(&self.options().state_dir)
    }

    pub(crate) fn emit(&self, event: Event) {
        (self.events)(event);
    }

    pub(crate) fn grace(&self) -> Duration {
        Duration::from_millis(self.options().stop_grace_ms)
    }

    /// The repository of `path` and its config files as a workspace would read them: one
    /// made from `base` (default: the default branch), or the existing `workspace`.
    pub fn resolve_repo(
        &self,
        path: &Path,
        base: Option<&str>,
        workspace: Option<&str>,
    ) -> Result<RepoView> {
        let info = repo::resolve(path)?;
        let config = match workspace {
            Some(w) => self.workspace_config(&self.get(w, Some(&info.root))?)?,
            None => {
                let git = repo::open_main(&info.root)?;
                let base = base.unwrap_or(&info.default_branch);
                let from = repo::base_commit(&git, base)
                    .map(Base::Commit)
                    .unwrap_or(Base::WorkingTree);
                self.repo_config(&info.root, from)?
            }
        };
        let origin = repo::open_main(&info.root).ok().and_then(|git| {
            git.find_remote("origin")
                .ok()
                .and_then(|r| r.url().map(str::to_string))
        });
        Ok(RepoView {
            origin,
            root: info.root,
            name: info.name,
            default_branch: info.default_branch,
            config_files: config.files,
            run_scripts: config.run.iter().map(|r| r.id.clone()).collect(),
            prompts: config.prompts,
        })
    }

    /// The configuration of the repository at `root` with its committed files read from
    /// `base`, each file's trust looked up; untrusted files take no part.
    pub fn repo_config(&self, root: &Path, base: Base) -> Result<RepoConfig> {
        let opts = self.options();
        let mut files = config::read(root, &base, opts.user_settings.as_deref())?;
        let decisions = self.store()?.read()?.trust;
        for f in &mut files {
            f.trust = if f.kind == FileKind::User {
                TrustStatus::Trusted
            } else {
                trust::status(
                    &decisions,
                    opts.nvim_trust_db.as_deref(),
                    &f.path,
                    &f.sha256,
                )
            };
        }
        let default_branch = repo::open_main(root)
            .map(|g| repo::default_branch(&g))
            .unwrap_or_else(|_| "main".into());
        config::merge_files(files, &opts.defaults, default_branch)
    }

    /// A workspace's configuration: the repository's committed files as on the commit the
    /// workspace was made from, so what runs there does not change under it (nor by what
    /// an agent writes into its worktree).
    pub fn workspace_config(&self, ws: &Workspace) -> Result<RepoConfig> {
        let base = git2::Oid::from_str(&ws.base_commit)
            .map(Base::Commit)
            .unwrap_or(Base::WorkingTree);
        self.repo_config(&ws.repo_root, base)
    }

    /// Records the user's answer about one config file (its path and the SHA-256 of the
    /// contents they were shown).
    pub fn trust_file(&self, path: &Path, sha256: &str, allow: bool) -> Result<()> {
        let decision = if allow {
            Decision::Allow
        } else {
            Decision::Deny
        };
        trust::record(&self.store()?, path, sha256, decision)
    }

    /// Workspaces, those of `repo` first, then by creation time.
    pub fn list(&self, repo: Option<&Path>, include_archived: bool) -> Result<Vec<Workspace>> {
        let state = self.store()?.read()?;
        let repo = repo.map(repo::canonical);
        let mut list: Vec<Workspace> = state
            .workspaces
            .into_iter()
            .filter(|w| include_archived || w.state != WorkspaceState::Archived)
            .collect();
        list.sort_by_key(|w| (Some(&w.repo_root) != repo.as_ref(), w.created_at));
        Ok(list)
    }

    pub fn get(&self, reference: &str, repo: Option<&Path>) -> Result<Workspace> {
        let state = self.store()?.read()?;
        find(&state, reference, repo).cloned()
    }

    /// The one guard before acting in a workspace (agents, run scripts, setup, archive,
    /// review): it must be active, not archived nor still being created or restored.
    pub(crate) fn active_workspace(
        &self,
        reference: &str,
        repo: Option<&Path>,
    ) -> Result<Workspace> {
        let ws = self.get(reference, repo)?;
        let state = match ws.state {
            WorkspaceState::Active => return Ok(ws),
            WorkspaceState::Archived => "archived",
            WorkspaceState::Creating => "still being created or restored",
        };
        Err(Error::new(format!(
            "workspace {} is {state}; :ConductorRestore {} brings it back",
            ws.name, ws.name
        )))
    }
}

/// Finds a workspace by id, else by name (preferring the given repository's).
pub fn find<'a>(state: &'a State, reference: &str, repo: Option<&Path>) -> Result<&'a Workspace> {
    if let Some(w) = state.workspaces.iter().find(|w| w.id == reference) {
        return Ok(w);
    }
    let named: Vec<&Workspace> = state
        .workspaces
        .iter()
        .filter(|w| w.name == reference)
        .collect();
    let repo = repo.map(repo::canonical);
    if let Some(repo) = &repo {
        if let Some(w) = named.iter().find(|w| &w.repo_root == repo) {
            return Ok(w);
        }
    }
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::new(format!(
            "no workspace named {reference:?}; :Conductor lists them"
        ))),
        many => Err(Error::new(format!(
            "workspace name {reference:?} is used in {} repositories ({}); use its id instead",
            many.len(),
            many.iter()
                .map(|w| format!("{}: {}", w.repo_name, w.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The environment every script, agent and terminal of a workspace gets.
pub fn workspace_env(ws: &Workspace, config: &RepoConfig) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = config
        .environment_variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    set("CONDUCTOR_WORKSPACE_NAME", ws.name.clone());
    set("CONDUCTOR_WORKSPACE_PATH", ws.path.display().to_string());
    set("CONDUCTOR_ROOT_PATH", ws.repo_root.display().to_string());
    set("CONDUCTOR_DEFAULT_BRANCH", config.default_branch.clone());
    set("CONDUCTOR_WORKSPACE_ID", ws.id.clone());
    set("CONDUCTOR_IS_LOCAL", "1".into());
    if let Some(port) = ws.port {
        set("CONDUCTOR_PORT", port.to_string());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::Options;

    #[test]
    fn options_refuse_an_unknown_field_by_name() {
        let e = serde_json::from_value::<Options>(serde_json::json!({ "stop_grace": 1 }))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("unknown field `stop_grace`"), "{e}");
        let ok = serde_json::from_value::<Options>(serde_json::json!({
            "stop_grace_ms": 1,
            "defaults": { "scripts": { "setup": "x" }, "someday": true }
        }));
        assert!(ok.is_ok(), "{ok:?}");
    }
}
