//! Programs a workspace runs in terminals: its agents, and its run scripts. Both are
//! PTY sessions in the worktree with the workspace environment; run scripts are the
//! repository's (or the user's) `scripts.run`, so they honour trust and `run_mode`.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::{self, RunMode};
use crate::engine::{workspace_env, Engine};
use crate::error::{Error, Result};
use crate::lifecycle::WorkspaceRequest;
use crate::pty::{SessionKind, SessionSink, SpawnRequest};
use crate::store::Workspace;

/// Unlike the other requests, unknown fields are not refused here: serde cannot refuse
/// them through `flatten`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct AgentStart {
    pub workspace: String,
    pub repo: Option<PathBuf>,
    /// What the user calls this agent in its workspace ("codex-2"); kept by the engine
    /// so that another Neovim shows it under the same name.
    pub label: Option<String>,
    #[serde(flatten)]
    pub spawn: SpawnRequest,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RunStart {
    pub workspace: String,
    pub repo: Option<PathBuf>,
    /// Named run script; the default one when None.
    pub script: Option<String>,
    pub rows: u16,
    pub cols: u16,
    pub nvim: Option<String>,
    /// As for agents: see `SpawnRequest`.
    pub termguicolors: Option<bool>,
    pub background: Option<String>,
    #[serde(skip)]
    pub base_env: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub session: u64,
    pub workspace: Workspace,
    pub name: String,
    pub argv: Vec<String>,
    /// Run sessions of other workspaces stopped first (nonconcurrent mode).
    pub stopped: Vec<u64>,
}

impl Engine {
    pub fn agent_start(&self, req: AgentStart, sink: Arc<dyn SessionSink>) -> Result<Started> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        let config = self.workspace_config(&ws)?;
        let env = workspace_env(&ws, &config);
        let argv = req.spawn.argv.clone();
        let name = req.spawn.name.clone();
        let session =
            self.sessions
                .spawn(&ws.id, SessionKind::Agent, &ws.path, &env, req.spawn, sink)?;
        self.record_session_group(&ws.id, session);
        Ok(Started {
            session,
            workspace: ws,
            name,
            argv,
            stopped: Vec::new(),
        })
    }

    pub fn run_start(&self, req: RunStart, sink: Arc<dyn SessionSink>) -> Result<Started> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        let config = self.workspace_config(&ws)?;
        let script = match &req.script {
            Some(id) => config.run.iter().find(|r| &r.id == id).ok_or_else(|| {
                if let Some(f) = config.untrusted_script("run") {
                    return Error::new(format!(
                        "the run scripts come from {}, which you have not trusted: run :ConductorRun again to be asked",
                        config::describe(f)
                    ));
                }
                let known: Vec<&str> = config.run.iter().map(|r| r.id.as_str()).collect();
                Error::new(format!(
                    "no run script named {id:?} (known: {})",
                    known.join(", ")
                ))
            })?,
            None => config.run.iter().find(|r| r.default).ok_or_else(|| {
                match config.untrusted_script("run") {
                    Some(f) => Error::new(format!(
                        "the run script comes from {}, which you have not trusted: run :ConductorRun again to be asked",
                        config::describe(f)
                    )),
                    None => Error::new(format!(
                        "{} has no run script: set scripts.run in {} (or commit it in .conductor/settings.toml, or setup())",
                        ws.repo_name,
                        ws.repo_root.join(".conductor/settings.local.toml").display()
                    )),
                }
            })?,
        };
        let mut stopped = self.sessions.matching(Some(&ws.id), Some(SessionKind::Run));
        if config.run_mode == RunMode::Nonconcurrent {
            stopped = self.sessions.matching(None, Some(SessionKind::Run));
        }
        self.sessions.stop_many(&stopped, self.grace());
        let env = workspace_env(&ws, &config);
        let argv = vec![self.options().shell, "-c".into(), script.command.clone()];
        let spawn = SpawnRequest {
            argv: argv.clone(),
            rows: req.rows,
            cols: req.cols,
            name: format!("run:{}", script.id),
            install_hint: None,
            patterns: Default::default(),
            idle_after_ms: None,
            nvim: req.nvim,
            env: Default::default(),
            first_input: None,
            termguicolors: req.termguicolors,
            background: req.background,
            base_env: req.base_env,
        };
        let session = self
            .sessions
            .spawn(&ws.id, SessionKind::Run, &ws.path, &env, spawn, sink)?;
        self.record_session_group(&ws.id, session);
        Ok(Started {
            session,
            workspace: ws,
            name: script.id.clone(),
            argv,
            stopped,
        })
    }

    /// The ids of the run scripts the workspace has (its repository's config files, as
    /// :ConductorRun reads them, and the user's setup()), default first; empty when it has
    /// none. A run script in a file not trusted yet counts (as "untrusted"): running it
    /// asks whether to trust the file.
    pub fn run_scripts(
        &self,
        reference: &str,
        repo: Option<&std::path::Path>,
    ) -> Result<Vec<String>> {
        let ws = self.get(reference, repo)?;
        let config = self.workspace_config(&ws)?;
        let mut runs: Vec<&crate::config::RunScript> = config.run.iter().collect();
        runs.sort_by_key(|r| !r.default);
        let mut ids: Vec<String> = runs.into_iter().map(|r| r.id.clone()).collect();
        if ids.is_empty() && config.untrusted_script("run").is_some() {
            ids.push("untrusted".into());
        }
        Ok(ids)
    }

    /// Stops a workspace's sessions of `kind` (its run scripts, say), or all of its
    /// sessions when `kind` is None.
    pub fn stop_sessions(
        &self,
        req: &WorkspaceRequest,
        kind: Option<SessionKind>,
    ) -> Result<usize> {
        let ws = self.get(&req.workspace, req.repo.as_deref())?;
        let ids = self.sessions.matching(Some(&ws.id), kind);
        self.sessions.stop_many(&ids, self.grace());
        Ok(ids.len())
    }
}
