//! What git does after a new worktree's files are written, so that a workspace is what
//! `git worktree add` would have made: the repository's `post-checkout` hook runs
//! (husky, lefthook). It never fails the workspace: a failing hook is said in one line.
//! (Submodules come next: `submodules.rs`.)

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use git2::Repository;

use crate::checkout::{git, run_git};
use crate::error::{Context, Result};

/// What running the `post-checkout` hook gave.
pub struct HookRun {
    pub hook: PathBuf,
    pub ok: bool,
    /// Its standard output and error, for the workspace log.
    pub output: String,
}

/// The repository's `post-checkout` hook for `worktree`, when there is an executable one
/// (git ignores one that is not executable).
pub fn post_checkout_hook(worktree: &Path) -> Result<Option<PathBuf>> {
    // `--git-path` honours core.hooksPath (a relative one is relative to the worktree).
    let path = run_git(
        git(worktree).args(["rev-parse", "--git-path", "hooks/post-checkout"]),
        "finding the post-checkout hook",
    )?;
    let hook = worktree.join(path.trim());
    let executable = hook
        .metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    Ok(executable.then_some(hook))
}

/// Runs `hook` in `worktree` as `git worktree add` does: in the worktree, with arguments
/// `<null sha> <new HEAD> 1`, without the caller's `GIT_DIR`/`GIT_WORK_TREE`.
pub fn run_post_checkout_hook(worktree: &Path, hook: PathBuf) -> Result<HookRun> {
    let head = Repository::open(worktree)?
        .head()?
        .peel_to_commit()?
        .id()
        .to_string();
    let mut cmd = std::process::Command::new(&hook);
    cmd.args(["0000000000000000000000000000000000000000", &head, "1"])
        .current_dir(worktree)
        .stdin(std::process::Stdio::null());
    for var in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"] {
        cmd.env_remove(var);
    }
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", hook.display()))?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(HookRun {
        hook,
        ok: out.status.success(),
        output,
    })
}
