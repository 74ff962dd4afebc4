//! Submodules of a workspace. A new worktree gets them as `git submodule update --init`
//! would check them out, from the root checkout's own clones (`.git/modules/<name>`), not
//! the network; one the root has not initialised is left so, with a line saying so, and
//! the tree is clean either way. Archive removes a worktree's own submodule clones
//! (`.git/worktrees/<wt>/modules`), so before it does, commits made in a submodule are
//! fetched into the root's clone and kept by a ref, and uncommitted work in one (which a
//! snapshot cannot hold) makes archive refuse before anything is stopped.

use std::path::Path;

use git2::{Repository, StatusOptions};

use crate::checkout::{git, run_git};
use crate::error::{Error, Result};

/// Checks out the submodules of a new worktree the way `git submodule update --init`
/// would, cloning from the root checkout's own clone (`.git/modules/<name>`) instead of
/// the network. A submodule the root has not initialised, or whose recorded commit its
/// clone lacks, is left uninitialised (an empty directory, as git leaves it). Returns the
/// lines that say which were left so and how to initialise them.
pub fn init(main: &Repository, worktree: &Path) -> Result<Vec<String>> {
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
    let mut not_in_root = Vec::new();
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
            not_in_root.push(path);
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
    // One line for all of these: a repository may have dozens the user never uses.
    match not_in_root.as_slice() {
        [] => {}
        [path] => left.push(format!(
            "submodule {path} left uninitialised (the root checkout has not initialised it): \
             run `git submodule update --init {path}` in the workspace"
        )),
        paths => left.push(format!(
            "{} submodules left uninitialised (the root checkout has not initialised them): \
             {}{}: run `git submodule update --init` in the workspace",
            paths.len(),
            paths[..paths.len().min(5)].join(", "),
            if paths.len() > 5 { ", …" } else { "" }
        )),
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

/// The submodules checked out in a worktree: (path, name, its repository).
fn checked_out(worktree: &Path) -> Result<Vec<(String, String, Repository)>> {
    let wt = Repository::open(worktree)?;
    let names: Vec<(String, String)> = wt
        .submodules()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| Some((s.path().to_str()?.to_string(), s.name()?.to_string())))
        .collect();
    let mut out = Vec::new();
    for e in wt.index()?.iter().filter(|e| e.mode == 0o160000) {
        let path = String::from_utf8_lossy(&e.path).into_owned();
        if !worktree.join(&path).join(".git").exists() {
            continue;
        }
        let name = names
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(path.clone(), |(_, n)| n.clone());
        if let Ok(sub) = Repository::open(worktree.join(&path)) {
            out.push((path, name, sub));
        }
    }
    Ok(out)
}

/// Whether `commit` is already kept elsewhere: in the root's clone, or on a branch of
/// the submodule's remote.
fn kept_elsewhere(sub: &Repository, root_clone: Option<&Repository>, commit: git2::Oid) -> bool {
    if root_clone.is_some_and(|c| c.find_commit(commit).is_ok()) {
        return true;
    }
    let Ok(refs) = sub.references_glob("refs/remotes/*") else {
        return false;
    };
    refs.flatten()
        .filter_map(|r| r.target())
        .any(|tip| tip == commit || sub.graph_descendant_of(tip, commit).unwrap_or(false))
}

/// Refuses (before anything is stopped) when archive would lose submodule work: changes
/// not committed in a submodule, or commits that have nowhere to be kept (no root clone,
/// not pushed).
pub fn check_archivable(main: &Repository, worktree: &Path) -> Result<()> {
    for (path, name, sub) in checked_out(worktree)? {
        let mut opts = StatusOptions::new();
        opts.include_untracked(true).include_ignored(false);
        if !sub.statuses(Some(&mut opts))?.is_empty() {
            return Err(Error::new(format!(
                "submodule {path} has uncommitted changes, which a snapshot cannot hold: \
                 commit them in the submodule (or discard them), then try again"
            )));
        }
        let Ok(head) = sub.head().and_then(|h| h.peel_to_commit()) else {
            continue;
        };
        let root_clone = Repository::open(main.path().join("modules").join(&name)).ok();
        if root_clone.is_none() && !kept_elsewhere(&sub, None, head.id()) {
            return Err(Error::new(format!(
                "submodule {path} has commits that are neither pushed nor in a clone of the \
                 root checkout: push them, or run `git submodule update --init {path}` in \
                 the root checkout, then try again"
            )));
        }
    }
    Ok(())
}

/// Before archive removes the worktree (and its submodule clones): fetches each
/// submodule commit kept nowhere else into the root's clone, on
/// `refs/conductor/<id>/submodules/<name>`, from where restore checks it out again.
pub fn keep_commits(main: &Repository, worktree: &Path, id: &str) -> Result<()> {
    for (path, name, sub) in checked_out(worktree)? {
        let Ok(head) = sub.head().and_then(|h| h.peel_to_commit()) else {
            continue;
        };
        let clone_dir = main.path().join("modules").join(&name);
        let root_clone = Repository::open(&clone_dir).ok();
        if kept_elsewhere(&sub, root_clone.as_ref(), head.id()) || root_clone.is_none() {
            continue;
        }
        run_git(
            git(&clone_dir)
                .args([
                    "-c",
                    "protocol.file.allow=always",
                    "fetch",
                    "--quiet",
                    "--no-tags",
                ])
                .arg(worktree.join(&path))
                .arg(format!(
                    "+{}:refs/conductor/{id}/submodules/{name}",
                    head.id()
                )),
            &format!("keeping the commits of submodule {path}"),
        )?;
    }
    Ok(())
}

/// After restore applied a snapshot: moves each checked-out submodule to the commit the
/// recorded work has for it (kept by `keep_commits`). Returns a line for each it could not.
pub fn follow_snapshot(
    main: &Repository,
    worktree: &Path,
    id: &str,
    work: &git2::Tree,
) -> Vec<String> {
    let mut left = Vec::new();
    let Ok(subs) = checked_out(worktree) else {
        return left;
    };
    for (path, name, sub) in subs {
        let Ok(entry) = work.get_path(Path::new(&path)) else {
            continue;
        };
        let want = entry.id();
        if entry.filemode() != 0o160000 || sub.head().ok().and_then(|h| h.target()) == Some(want) {
            continue;
        }
        let sub_dir = worktree.join(&path);
        let moved = (|| -> Result<()> {
            if sub.find_commit(want).is_err() {
                let clone_dir = main.path().join("modules").join(&name);
                run_git(
                    git(&sub_dir)
                        .args([
                            "-c",
                            "protocol.file.allow=always",
                            "fetch",
                            "--quiet",
                            "--no-tags",
                        ])
                        .arg(&clone_dir)
                        .arg(format!("refs/conductor/{id}/submodules/{name}")),
                    &format!("fetching the kept commits of submodule {path}"),
                )?;
            }
            run_git(
                git(&sub_dir).args(["checkout", "--quiet", "--detach", &want.to_string()]),
                &format!("checking out submodule {path}"),
            )
            .map(|_| ())
        })();
        if let Err(e) = moved {
            left.push(format!(
                "submodule {path} is not at {want:.10}, where it was when archived ({})",
                e.message()
            ));
        }
    }
    left
}
