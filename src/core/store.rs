//! The one state file every Neovim instance shares: `state.json` under Neovim's state dir.
//! Writers take an exclusive lock on `state.lock`, read, change and replace the file
//! atomically (write to a temp file, rename), so readers never see half a file and two
//! instances never both take the same name, branch, directory or port.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceState {
    /// Reserved by a create that has not finished (or crashed).
    Creating,
    Active,
    Archived,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SetupState {
    #[default]
    None,
    Running,
    Ok,
    Failed,
    /// The repository's setup script was not run because its file is not trusted.
    Untrusted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub repo_root: PathBuf,
    pub repo_name: String,
    pub path: PathBuf,
    pub branch: String,
    pub base_branch: String,
    pub base_commit: String,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    /// First port of the workspace's block of ten; none while archived.
    #[serde(default)]
    pub port: Option<u16>,
    pub state: WorkspaceState,
    pub created_at: u64,
    #[serde(default)]
    pub archived_at: Option<u64>,
    /// Private ref holding the uncommitted work recorded at archive time.
    #[serde(default)]
    pub snapshot_ref: Option<String>,
    pub log: PathBuf,
    #[serde(default)]
    pub setup: SetupState,
    /// Name of the worktree's administrative folder (`.git/worktrees/<name>`).
    pub worktree: String,
    /// Files marked viewed in the review.
    #[serde(default)]
    pub viewed: Vec<String>,
    #[serde(default)]
    pub pr_url: Option<String>,
    /// The last run of the checks.
    #[serde(default)]
    pub checks: Option<ChecksRun>,
    /// While `Creating`: the process doing it, so a crashed one can be told from one
    /// still at work (`:ConductorDoctor`).
    #[serde(default)]
    pub owner_pid: Option<u32>,
    /// While the setup script runs: the process running it, to tell an interrupted
    /// setup (its Neovim was killed) from a running one.
    #[serde(default)]
    pub setup_pid: Option<u32>,
    /// The agents (names, in start order) that ran when it was archived: restore starts
    /// them again with their resume arguments.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Where HEAD was at archive time when not on the workspace's branch (a detached
    /// HEAD, a paused rebase, another branch); restore puts it back there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<ArchivedHead>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedHead {
    /// The branch HEAD was on, when another than the workspace's; None when detached.
    #[serde(default)]
    pub branch: Option<String>,
    /// The commit HEAD was at (kept reachable by `refs/conductor/<id>/head`).
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksRun {
    pub ok: bool,
    pub finished_at: u64,
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub command: String,
    pub ok: bool,
    pub code: Option<i32>,
    pub elapsed_ms: u64,
    pub log: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub workspaces: Vec<Workspace>,
    /// Spotlights that are on, one per repository at most (`spotlight.rs`).
    #[serde(default)]
    pub spotlights: Vec<crate::spotlight::Spotlight>,
    /// The user's decisions about repository config files (`trust.rs`).
    #[serde(default)]
    pub trust: crate::trust::Decisions,
}

impl State {
    pub fn find(&self, id: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.id == id)
    }

    pub fn find_mut(&mut self, id: &str) -> Option<&mut Workspace> {
        self.workspaces.iter_mut().find(|w| w.id == id)
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "state.lock";
const VERSION: u32 = 1;

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The current state. Needs no lock: the file is only ever replaced whole.
    pub fn read(&self) -> Result<State> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(format!(
                    "the state file {} is corrupt ({e}); move it away, restart Neovim and run :ConductorDoctor to rebuild the workspaces from git",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::new(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Reads, changes and writes the state under the exclusive lock. When `change` fails,
    /// nothing is written.
    pub fn update<T>(&self, change: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        let mut state = self.read()?;
        let out = change(&mut state)?;
        state.version = VERSION;
        self.write(&state)?;
        drop(lock);
        Ok(out)
    }

    fn write(&self, state: &State) -> Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).with_context(|| {
            format!("cannot write to the state directory {}", self.dir.display())
        })?;
        let json = serde_json::to_vec_pretty(state).map_err(|e| Error::new(e.to_string()))?;
        tmp.write_all(&json)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path())
            .map_err(|e| Error::new(format!("cannot replace the state file: {}", e.error)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .update(|s| {
                s.version = 7;
                Ok(())
            })
            .unwrap();
        let before = std::fs::read(store.path()).unwrap();
        let r: Result<()> = store.update(|s| {
            s.workspaces.clear();
            Err(Error::new("no"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::fs::write(store.path(), "{not json").unwrap();
        let e = store.read().unwrap_err().to_string();
        assert!(e.contains("corrupt") && e.contains("move it away"), "{e}");
        assert!(store.update(|_| Ok(())).is_err());
        assert_eq!(std::fs::read_to_string(store.path()).unwrap(), "{not json");
    }
}
