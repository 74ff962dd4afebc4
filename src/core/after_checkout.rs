//! What git does after a new worktree's files are written, so that a workspace is what
//! `git worktree add` + `git submodule update --init` would have made: the repository's
//! `post-checkout` hook runs (husky, lefthook), and submodules are checked out from the
//! root checkout's own clones of them. Nothing here fails the workspace: what could not
//! be done is said in one line each, and the tree stays clean either way.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use git2::Repository;

use crate::core::checkout::{git, run_git};
use crate::core::error::{Context, Result};

/// What running the `post-checkout` hook gave.
pub struct HookRun {
    pub hook: PathBuf,
    pub ok: bool,
    /// Its standard output and error, for the workspace log.
    pub output: String,
}

/// Runs the repository's `post-checkout` hook in `worktree` as `git worktree add` does:
/// in the worktree, with arguments `<null sha> <new HEAD> 1`, without the caller's
/// `GIT_DIR`/`GIT_WORK_TREE`. None when there is no executable hook (as for git).
pub fn run_post_checkout_hook(worktree: &Path) -> Result<Option<HookRun>> {
    // `--git-path` honours core.hooksPath (a relative one is relative to the worktree).
    let path = run_git(
        git(worktree).args(["rev-parse", "--git-path", "hooks/post-checkout"]),
        "finding the post-checkout hook",
    )?;
    let hook = worktree.join(path.trim());
    let executable = hook
        .metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if !executable {
        return Ok(None);
    }
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
    Ok(Some(HookRun {
        hook,
        ok: out.status.success(),
        output,
    }))
}

/// Checks out the submodules of a new worktree the way `git submodule update --init`
/// would, cloning from the root checkout's own clone (`.git/modules/<name>`) instead of
/// the network. A submodule the root has not initialised, or whose recorded commit its
/// clone lacks, is left uninitialised (an empty directory, as git leaves it). Returns one
/// line per submodule left so.
pub fn init_submodules(main: &Repository, worktree: &Path) -> Result<Vec<String>> {
    let wt = Repository::open(worktree)?;
    let gitlinks: Vec<String> = wt
        .index()?
        .iter()
        .filter(|e| e.mode == 0o160000)
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    if gitlinks.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<(String, String)> = wt
        .submodules()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| Some((s.path().to_str()?.to_string(), s.name()?.to_string())))
        .collect();
    let root_config = main.config()?;
    let mut left = Vec::new();
    for path in gitlinks {
        let name = names
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(path.clone(), |(_, n)| n.clone());
        let clone = main.path().join("modules").join(&name);
        let initialised = root_config
            .get_string(&format!("submodule.{name}.url"))
            .is_ok();
        let tell_how = format!("run `git submodule update --init {path}` in the workspace");
        if !initialised || !clone.is_dir() {
            left.push(format!(
                "submodule {path} left uninitialised (the root checkout has not initialised it): {tell_how}"
            ));
            continue;
        }
        if let Err(e) = clone_from_root(&wt, worktree, &name, &path, &clone) {
            undo_partial_clone(&wt, worktree, &name, &path);
            left.push(format!(
                "submodule {path} left uninitialised ({}): {tell_how}",
                e.message()
            ));
        }
    }
    Ok(left)
}

fn clone_from_root(
    wt: &Repository,
    worktree: &Path,
    name: &str,
    path: &str,
    clone: &Path,
) -> Result<()> {
    // The clone comes from a local path: git allows that for submodules only when told.
    run_git(
        git(worktree)
            .arg("-c")
            .arg("protocol.file.allow=always")
            .arg("-c")
            .arg(format!("submodule.{name}.url={}", clone.display()))
            .args([
                "submodule",
                "--quiet",
                "update",
                "--init",
                "--no-recommend-shallow",
                "--",
            ])
            .arg(path),
        &format!("checking out submodule {path}"),
    )?;
    // Its origin is where the root's clone came from, as if cloned from there.
    let upstream = Repository::open(clone)
        .ok()
        .and_then(|r| r.find_remote("origin").ok()?.url().map(str::to_string));
    if let Some(url) = upstream {
        let sub = Repository::open(wt.workdir().unwrap_or(worktree).join(path))?;
        sub.remote_set_url("origin", &url)?;
    }
    Ok(())
}

fn undo_partial_clone(wt: &Repository, worktree: &Path, name: &str, path: &str) {
    let dir = worktree.join(path);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
    let _ = std::fs::remove_dir_all(wt.path().join("modules").join(name));
}
