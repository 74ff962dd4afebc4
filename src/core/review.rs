//! Review and ship, as engine operations on a workspace: the change list (cached, so
//! listing never waits on git), viewed marks, reverting a file, the checks, merge and
//! pull request. Not here: computing changes and their cache (`changes.rs`), git's side
//! of merge and pull request (`ship.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::changes::{self, Changes, Scope};
use crate::config;
use crate::engine::{workspace_env, Engine, Event};
use crate::error::{Context, Error, Result};
use crate::scripts::{self, now_secs, ScriptKind, ScriptSpec};
use crate::ship::{self, Draft, Merged, PullRequest, Strategy};
use crate::store::{CheckResult, ChecksRun, Workspace};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ChangesRequest {
    pub workspace: String,
    pub repo: Option<PathBuf>,
    pub scope: Scope,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FileRequest {
    pub workspace: String,
    pub repo: Option<PathBuf>,
    pub path: String,
    pub rev: Option<String>,
    pub viewed: bool,
    /// The new content (`file_write`).
    pub text: Option<String>,
    /// `file_write`: the blob id of the file as it was read ("" when it did not exist);
    /// a file changed since is not written over. None: written whatever it holds.
    pub expect: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ShipRequest {
    pub workspace: String,
    pub repo: Option<PathBuf>,
    pub strategy: Strategy,
    pub message: Option<String>,
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Blob {
    /// Sent as text when it is UTF-8 (almost always), else as numbers: JSON has no bytes.
    #[serde(serialize_with = "text_or_bytes")]
    pub bytes: Vec<u8>,
    pub binary: bool,
    /// `file_read`: git's blob id of the content, for `file_write`'s `expect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
}

/// What `file_write` wrote: the new content's blob id.
#[derive(Debug, Serialize)]
pub struct Written {
    pub sha: String,
}

/// git's id of a blob with `bytes`.
fn blob_id(bytes: &[u8]) -> String {
    git2::Oid::hash_object(git2::ObjectType::Blob, bytes)
        .map(|o| o.to_string())
        .unwrap_or_default()
}

/// Part of a log (`log_read`).
#[derive(Debug, Default, Serialize)]
pub struct LogText {
    pub text: String,
    /// The log's size: where the next read starts.
    pub size: u64,
    /// Where it is, on the engine's machine.
    pub path: PathBuf,
}

/// One commit of a branch (`commits`).
#[derive(Debug, Serialize)]
pub struct CommitLine {
    pub sha: String,
    pub subject: String,
}

fn text_or_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => s.serialize_str(text),
        Err(_) => s.collect_seq(bytes),
    }
}

impl Engine {
    fn workspace_with_tree(
        &self,
        reference: &str,
        repo: Option<&std::path::Path>,
    ) -> Result<Workspace> {
        let ws = self.active_workspace(reference, repo)?;
        if !ws.path.is_dir() {
            return Err(Error::new(format!(
                "the worktree of {} ({}) is gone; :ConductorDoctor sees to it",
                ws.name,
                ws.path.display()
            )));
        }
        Ok(ws)
    }

    pub fn changes(&self, req: &ChangesRequest) -> Result<Changes> {
        let ws = self.workspace_with_tree(&req.workspace, req.repo.as_deref())?;
        let computed =
            changes::compute(&ws.path, &ws.base_branch, req.scope, req.commit.as_deref())?;
        if req.scope == Scope::Branch {
            self.change_cache.insert(&ws.id, computed.clone());
            self.emit(Event::Changes {
                workspace_id: ws.id.clone(),
                changes: computed.clone(),
            });
        }
        Ok(computed)
    }

    /// The last branch-scope list, without touching git.
    pub fn changes_cached(
        &self,
        reference: &str,
        repo: Option<&std::path::Path>,
    ) -> Result<Option<Changes>> {
        let ws = self.get(reference, repo)?;
        Ok(self.change_cache.get(&ws.id))
    }

    /// Recomputes the branch-scope list in the background (e.g. when an agent goes idle).
    pub fn refresh_changes(self: &Arc<Self>, workspace_id: &str) {
        let engine = Arc::clone(self);
        let req = ChangesRequest {
            workspace: workspace_id.to_string(),
            ..Default::default()
        };
        std::thread::spawn(move || {
            let _ = engine.changes(&req);
        });
    }

    pub fn blob(&self, req: &FileRequest) -> Result<Option<Blob>> {
        let ws = self.workspace_with_tree(&req.workspace, req.repo.as_deref())?;
        let rev = req.rev.as_deref().unwrap_or("HEAD");
        Ok(
            changes::blob_at(&ws.path, rev, &req.path)?.map(|bytes| Blob {
                binary: changes::is_binary(&bytes),
                sha: None,
                bytes,
            }),
        )
    }

    /// A file of the worktree as it is on disk (the live side of a review from another
    /// machine); None when it does not exist there.
    pub fn file_read(&self, req: &FileRequest) -> Result<Option<Blob>> {
        let ws = self.workspace_with_tree(&req.workspace, req.repo.as_deref())?;
        let target = changes::inside_worktree(&ws.path, &req.path)?;
        // A symbolic link reads as its target, as the review shows it locally.
        let read = match std::fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::read_link(&target).map(|t| t.to_string_lossy().into_owned().into_bytes())
            }
            _ => std::fs::read(&target),
        };
        match read {
            Ok(bytes) => Ok(Some(Blob {
                binary: changes::is_binary(&bytes),
                sha: Some(blob_id(&bytes)),
                bytes,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::new(format!("cannot read {}: {e}", req.path))),
        }
    }

    /// Writes a file of the worktree (`:w` on the live side of a review from another
    /// machine): whole or not at all, keeping the file's mode.
    pub fn file_write(&self, req: &FileRequest) -> Result<Written> {
        let ws = self.workspace_with_tree(&req.workspace, req.repo.as_deref())?;
        let target = changes::inside_worktree(&ws.path, &req.path)?;
        let text = req.text.as_deref().unwrap_or_default();
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::new(format!(
                "{} is a symbolic link: edit it on the host",
                req.path
            )));
        }
        if let Some(expect) = &req.expect {
            // Someone else (the agent) may have changed it since the editor read it.
            let now = match std::fs::read(&target) {
                Ok(bytes) => blob_id(&bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(Error::new(format!("cannot read {}: {e}", req.path))),
            };
            if &now != expect {
                return Err(Error::new(format!(
                    "{} changed on the host since it was read: :e! reads it again, :w! writes over it",
                    req.path
                )));
            }
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot make the folder of {}", req.path))?;
        }
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tmp = target.with_file_name(format!(
            ".{}.conductor-{}-{}",
            target
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("file"),
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        if let Err(e) = std::fs::write(&tmp, text) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::new(format!("cannot write {}: {e}", req.path)));
        }
        if let Ok(meta) = std::fs::metadata(&target) {
            let _ = std::fs::set_permissions(&tmp, meta.permissions());
        }
        if let Err(e) = std::fs::rename(&tmp, &target) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::new(format!("cannot write {}: {e}", req.path)));
        }
        Ok(Written {
            sha: blob_id(text.as_bytes()),
        })
    }

    /// A workspace's log from byte `offset` on (at most the last MB of it): `text`, and
    /// `size`, the offset to ask from next. A log not written yet is empty.
    pub fn log_read(&self, req: &crate::lifecycle::WorkspaceRequest) -> Result<LogText> {
        use std::io::{Read, Seek, SeekFrom};
        const MAX: u64 = 1024 * 1024;
        let ws = self.get(&req.workspace, req.repo.as_deref())?;
        let path = match req.log.as_deref().unwrap_or("scripts") {
            "scripts" => ws.log.clone(),
            "checks" => ws.log.with_file_name(format!("{}-checks.log", ws.id)),
            other => {
                return Err(Error::new(format!(
                    "no log {other:?}: \"scripts\" or \"checks\""
                )))
            }
        };
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LogText::default());
            }
            Err(e) => return Err(Error::new(format!("cannot read {}: {e}", path.display()))),
        };
        let size = file.metadata()?.len();
        // A log replaced since (a new run of the checks) is read from its start.
        let from = if req.offset > size { 0 } else { req.offset };
        let from = from.max(size.saturating_sub(MAX));
        file.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        file.take(size - from).read_to_end(&mut bytes)?;
        Ok(LogText {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            size,
            path,
        })
    }

    /// The commits of the workspace's branch since its base, newest first.
    pub fn commits(&self, req: &crate::lifecycle::WorkspaceRequest) -> Result<Vec<CommitLine>> {
        let ws = self.workspace_with_tree(&req.workspace, req.repo.as_deref())?;
        let repo = git2::Repository::open(&ws.path)?;
        let base = changes::merge_base(&repo, &ws.base_branch)?;
        let mut walk = repo.revwalk()?;
        walk.push_head()?;
        walk.hide(base)?;
        let mut out = Vec::new();
        for oid in walk {
            let commit = repo.find_commit(oid?)?;
            out.push(CommitLine {
                sha: commit
                    .as_object()
                    .short_id()?
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                subject: commit.summary().unwrap_or("").to_string(),
            });
        }
        Ok(out)
    }

    pub fn set_viewed(&self, req: &FileRequest) -> Result<Workspace> {
        let ws = self.get(&req.workspace, req.repo.as_deref())?;
        self.set_state(&ws.id, |w| {
            w.viewed.retain(|p| p != &req.path);
            if req.viewed {
                w.viewed.push(req.path.clone());
                w.viewed.sort();
            }
        })
    }

    pub fn revert_file(&self, req: &FileRequest) -> Result<bool> {
        let ws = self.workspace_with_tree(&req.workspace, req.repo.as_deref())?;
        let rev = match &req.rev {
            Some(r) => r.clone(),
            None => changes::merge_base(&git2::Repository::open(&ws.path)?, &ws.base_branch)?
                .to_string(),
        };
        changes::revert_file(&ws.path, &rev, &req.path)?;
        Ok(true)
    }

    /// Runs the configured checks one after another in the workspace; their output goes
    /// to `logs/<id>-checks.log`, replaced at each run.
    pub fn run_checks(&self, req: &ShipRequest) -> Result<ChecksRun> {
        let ws = self.workspace_with_tree(&req.workspace, req.repo.as_deref())?;
        let config = self.workspace_config(&ws)?;
        // With a pull request open and gh installed, its CI checks are part of the run.
        let gh = ws.pr_url.as_ref().and_then(|_| {
            crate::process::find_program(&self.options().gh, std::env::var_os("PATH").as_deref())
        });
        if config.checks.is_empty() && gh.is_none() {
            if let Some(f) = config.untrusted_script("checks") {
                return Err(Error::new(format!(
                    "the checks come from {}, which you have not trusted: run :ConductorCheck again to be asked",
                    config::describe(f)
                )));
            }
            return Err(Error::new(format!(
                "no checks configured: set checks = [\"cargo test\"] in {} (or commit them in .conductor/settings.toml, or setup({{ checks = {{...}} }}))",
                ws.repo_root.join(".conductor/settings.local.toml").display()
            )));
        }
        let log = ws.log.with_file_name(format!("{}-checks.log", ws.id));
        let _ = std::fs::remove_file(&log);
        let env = workspace_env(&ws, &config);
        let shell = self.options().shell;
        let mut commands: Vec<String> = config.checks.iter().map(|c| c.command.clone()).collect();
        if let Some(gh) = &gh {
            commands.push(format!(
                "{} pr checks {}",
                shell_quote(&gh.display().to_string()),
                shell_quote(&ws.branch)
            ));
        }
        let mut results = Vec::new();
        for command in &commands {
            self.emit(Event::CheckStarted {
                workspace: ws.name.clone(),
                workspace_id: ws.id.clone(),
                command: command.clone(),
            });
            let spec = ScriptSpec {
                kind: ScriptKind::Check,
                shell: &shell,
                command,
                cwd: &ws.path,
                env: &env,
                log: &log,
                timeout: None,
                grace: self.grace(),
            };
            let mut pgid = 0;
            let done = scripts::run(
                &spec,
                |p| {
                    pgid = p;
                    self.record_group(&ws.id, p)
                },
                |_, _| {},
            );
            self.forget_group(&ws.id, pgid);
            let d = done?;
            let result = CheckResult {
                command: command.clone(),
                ok: d.ok,
                code: d.code,
                elapsed_ms: d.elapsed_ms,
                log: log.clone(),
            };
            self.emit(Event::CheckFinished {
                workspace: ws.name.clone(),
                workspace_id: ws.id.clone(),
                command: result.command.clone(),
                ok: result.ok,
                code: result.code,
                elapsed_ms: result.elapsed_ms,
                log: log.clone(),
            });
            results.push(result);
        }
        let run = ChecksRun {
            ok: results.iter().all(|r| r.ok),
            finished_at: now_secs(),
            results,
        };
        let stored = run.clone();
        self.set_state(&ws.id, move |w| w.checks = Some(stored))?;
        Ok(run)
    }

    pub fn merge(&self, req: &ShipRequest) -> Result<Merged> {
        let ws = self.get(&req.workspace, req.repo.as_deref())?;
        ship::merge(&ws, req.strategy, req.message.as_deref())
    }

    pub fn draft_message(&self, req: &ShipRequest) -> Result<Draft> {
        ship::draft(&self.get(&req.workspace, req.repo.as_deref())?)
    }

    pub fn pull_request(&self, req: &ShipRequest) -> Result<PullRequest> {
        let ws = self.get(&req.workspace, req.repo.as_deref())?;
        if req.title.trim().is_empty() {
            return Err(Error::new("the pull request needs a title"));
        }
        let gh =
            crate::process::find_program(&self.options().gh, std::env::var_os("PATH").as_deref());
        let pr = ship::pull_request(&ws, req.title.trim(), req.body.trim(), gh.as_deref())?;
        if pr.created {
            let url = pr.url.clone();
            self.set_state(&ws.id, move |w| w.pr_url = Some(url))?;
        }
        Ok(pr)
    }
}

/// `'text'` for a POSIX shell, whatever the text holds.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
