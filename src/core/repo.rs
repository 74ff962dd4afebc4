//! The repository side of a workspace: finding the main repository from any path inside it
//! (or inside one of its worktrees), the default branch, the base commit, and creating and
//! removing worktrees with git2. `fetch` is the one call that goes through the `git` CLI,
//! so that the user's own credentials and hooks apply.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::{BranchType, Oid, Repository, StatusOptions, WorktreePruneOptions};
use serde::Serialize;

use crate::checkout;
use crate::error::{Context, Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct RepoInfo {
    /// Working directory of the main checkout (never a linked worktree).
    pub root: PathBuf,
    /// Last component of `root`; names the workspaces folder of this repository.
    pub name: String,
    pub default_branch: String,
}

/// Finds the main repository that `path` belongs to.
pub fn resolve(path: &Path) -> Result<RepoInfo> {
    let repo = open_main(path)?;
    let root = workdir(&repo)?;
    if let Err(e) = repo.head() {
        if e.code() == git2::ErrorCode::UnbornBranch {
            return Err(Error::new(format!(
                "repository {} has no commits yet: make a first commit, then try again",
                root.display()
            )));
        }
        return Err(e.into());
    }
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    Ok(RepoInfo {
        default_branch: default_branch(&repo),
        root,
        name,
    })
}

/// Opens the main repository of `path`, following a linked worktree back to its parent.
pub fn open_main(path: &Path) -> Result<Repository> {
    let repo = Repository::discover(path).map_err(|_| {
        Error::new(format!(
            "not a git repository: {}; open a file inside a repository or :cd into one",
            path.display()
        ))
    })?;
    let repo = if repo.is_worktree() {
        Repository::open(repo.commondir())?
    } else {
        repo
    };
    if repo.is_bare() {
        return Err(Error::new(format!(
            "{} is a bare repository: conductor needs a repository with a checkout",
            repo.path().display()
        )));
    }
    Ok(repo)
}

pub fn workdir(repo: &Repository) -> Result<PathBuf> {
    let dir = repo
        .workdir()
        .ok_or_else(|| Error::new("repository has no working directory"))?;
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    Ok(dir)
}

/// `origin/HEAD`, else `init.defaultBranch` when it exists, else `main`, `master`, else the
/// current branch.
pub fn default_branch(repo: &Repository) -> String {
    if let Ok(r) = repo.find_reference("refs/remotes/origin/HEAD") {
        if let Some(target) = r.symbolic_target() {
            if let Some(b) = target.strip_prefix("refs/remotes/origin/") {
                return b.to_string();
            }
        }
    }
    let exists = |b: &str| repo.find_branch(b, BranchType::Local).is_ok();
    if let Ok(b) = repo
        .config()
        .and_then(|c| c.get_string("init.defaultBranch"))
    {
        if exists(&b) {
            return b;
        }
    }
    for b in ["main", "master"] {
        if exists(b) {
            return b.to_string();
        }
    }
    repo.head()
        .ok()
        .and_then(|h| h.shorthand().map(str::to_string))
        .filter(|h| h != "HEAD")
        .unwrap_or_else(|| "main".into())
}

pub fn has_origin(repo: &Repository) -> bool {
    repo.find_remote("origin").is_ok()
}

/// Fetches `branch` from origin with the user's git, without ever prompting.
pub fn fetch(root: &Path, branch: &str, timeout: Duration) -> Result<()> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["fetch", "--quiet", "--no-write-fetch-head", "origin", "--"])
        .arg(branch)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run git fetch")?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            let line = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("failed");
            return Err(Error::new(format!(
                "git fetch origin {branch}: {}",
                line.trim()
            )));
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::new(format!(
                "git fetch origin {branch} took longer than {}s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The commit a new workspace starts from: the fetched `origin/<base>` when there is one,
/// else the local branch, else any revision git understands.
pub fn base_commit(repo: &Repository, base: &str) -> Result<Oid> {
    let candidates = [
        format!("refs/remotes/origin/{base}"),
        format!("refs/heads/{base}"),
    ];
    for name in &candidates {
        if let Ok(r) = repo.find_reference(name) {
            return Ok(r.peel_to_commit()?.id());
        }
    }
    repo.revparse_single(base)
        .and_then(|o| o.peel_to_commit())
        .map(|c| c.id())
        .map_err(|_| {
            Error::new(format!(
                "base branch {base:?} not found: check `git branch -a` and pass --base=BRANCH"
            ))
        })
}

pub fn branch_exists(repo: &Repository, branch: &str) -> bool {
    repo.find_branch(branch, BranchType::Local).is_ok()
}

/// Creates `branch` at `start` and a worktree for it at `path`. On failure nothing is left:
/// neither the branch, nor the directory, nor the worktree's administrative files.
pub fn add_worktree(
    repo: &Repository,
    worktree_name: &str,
    branch: &str,
    path: &Path,
    start: Oid,
) -> Result<()> {
    let commit = repo.find_commit(start)?;
    let created = repo
        .branch(branch, &commit, false)
        .with_context(|| format!("cannot create branch {branch}"))?;
    let result = attach_worktree(repo, worktree_name, created.get(), path, None);
    if result.is_err() {
        let _ = repo
            .find_branch(branch, BranchType::Local)
            .and_then(|mut b| b.delete());
    }
    result
}

/// A worktree for an existing branch (restore); with `detach_at`, its HEAD is left
/// detached at that commit instead, as it was when archived.
pub fn add_worktree_for_branch(
    repo: &Repository,
    worktree_name: &str,
    branch: &str,
    path: &Path,
    detach_at: Option<Oid>,
) -> Result<()> {
    let b = repo.find_branch(branch, BranchType::Local).map_err(|_| {
        Error::new(format!(
            "branch {branch} no longer exists; it cannot be restored"
        ))
    })?;
    attach_worktree(repo, worktree_name, b.get(), path, detach_at)
}

fn attach_worktree(
    repo: &Repository,
    worktree_name: &str,
    reference: &git2::Reference,
    path: &Path,
    detach_at: Option<Oid>,
) -> Result<()> {
    if path.exists() {
        return Err(Error::new(format!(
            "target directory {} already exists: move it away or pick another --name",
            path.display()
        )));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // libgit2 makes `.git/worktrees` with O_EXCL when it is missing: two instances adding
    // their first worktrees at once would make one of them fail.
    std::fs::create_dir_all(repo.path().join("worktrees"))?;
    let add = || checkout::add_worktree_without_files(repo.path(), worktree_name, path, reference);
    // libgit2 checks that no checkout has the branch by reading every worktree's HEAD;
    // while another instance is adding a worktree at the same moment, that check can
    // fail spuriously ("already checked out") before anything was made. The branch is
    // one we reserved, so the answer is known to be no: try again shortly.
    let mut added = add();
    for delay_ms in [20, 60, 150, 400] {
        match &added {
            Err(e) if e.message().contains("already checked out") && !path.exists() => {
                std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                added = add();
            }
            _ => break,
        }
    }
    let added = added.and_then(|()| checkout::populate(repo, path, detach_at));
    if let Err(e) = added {
        let _ = std::fs::remove_dir_all(path);
        prune_admin(repo, worktree_name);
        return Err(e.context(format!("cannot create worktree {}", path.display())));
    }
    Ok(())
}

/// A name for `.git/worktrees/<name>` that is not used yet.
pub fn free_worktree_name(repo: &Repository, wanted: &str, id: &str) -> String {
    let admin = repo.path().join("worktrees");
    if admin.join(wanted).exists() {
        format!("{wanted}-{id}")
    } else {
        wanted.to_string()
    }
}

/// Removes a worktree's directory and its administrative files; its branch stays.
pub fn remove_worktree(repo: &Repository, worktree_name: &str, path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .with_context(|| format!("cannot remove {}", path.display()))?;
    }
    prune_admin(repo, worktree_name);
    Ok(())
}

/// Moves a worktree's directory out of the way in one rename (same folder, a hidden name),
/// so that it is gone from its path at once, whole, whatever deleting it takes later.
/// None when there was no directory.
pub fn move_aside(path: &Path) -> Result<Option<PathBuf>> {
    if !path.exists() {
        return Ok(None);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = path.with_file_name(format!(".{name}.removing-{}", std::process::id()));
    std::fs::rename(path, &aside)
        .with_context(|| format!("cannot move {} out of the way", path.display()))?;
    Ok(Some(aside))
}

pub(crate) fn prune_admin(repo: &Repository, worktree_name: &str) {
    if let Ok(wt) = repo.find_worktree(worktree_name) {
        let _ = wt.prune(Some(
            WorktreePruneOptions::new().valid(true).working_tree(false),
        ));
    }
}

/// Number of changed, staged and untracked (not ignored) paths in a checkout.
pub fn count_changes(path: &Path) -> Result<usize> {
    reading_index(|| {
        let repo =
            Repository::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut opts = StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true);
        let n = repo.statuses(Some(&mut opts))?.len();
        Ok(n)
    })
}

/// Runs a read-only look at a checkout whose index another git (an agent's) may be
/// replacing at that moment: libgit2 can then report the index invalid. Such a read is
/// tried again shortly instead of failing the user's command.
pub fn reading_index<T>(mut read: impl FnMut() -> Result<T>) -> Result<T> {
    for delay_ms in [10, 40, 150] {
        match read() {
            Err(e) if e.message().contains("index") => {
                std::thread::sleep(Duration::from_millis(delay_ms));
            }
            done => return done,
        }
    }
    read()
}

/// Canonical form of a path for comparisons (symlinked temp dirs on macOS).
pub fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
