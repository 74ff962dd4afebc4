//! Shipping a workspace's branch: merging it into its base branch in the root repository
//! (fast-forward, squash or merge commit; never on a dirty checkout; a backup ref before
//! the base moves; nothing changed on conflict), drafting a message from its commits, and
//! opening a pull request (push with the user's git, `gh pr create`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use git2::{BranchType, Oid, Repository, Signature};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::repo;
use crate::scripts::now_secs;
use crate::store::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Fast-forward when possible, else a merge commit.
    #[default]
    Auto,
    Ff,
    Squash,
    Merge,
}

#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    pub strategy: Strategy,
    pub commit: String,
    pub backup_ref: String,
    /// Uncommitted files left in the workspace (not part of the merge).
    pub uncommitted: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub title: String,
    pub body: String,
}

fn commits_on_branch(repo: &Repository, tip: Oid, base: Oid) -> Result<Vec<git2::Commit<'_>>> {
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.hide(base)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    walk.map(|id| Ok(repo.find_commit(id?)?)).collect()
}

fn branch_tip(repo: &Repository, branch: &str) -> Result<Oid> {
    repo.find_branch(branch, BranchType::Local)
        .map_err(|_| Error::new(format!("branch {branch} does not exist")))?
        .get()
        .target()
        .ok_or_else(|| Error::new(format!("branch {branch} points nowhere")))
}

/// How many commits the workspace's branch has that its base branch has not: none means
/// there is nothing to merge or propose, whatever the worktree holds uncommitted.
pub fn commits_ahead(ws: &Workspace) -> Result<usize> {
    let repo = repo::open_main(&ws.repo_root)?;
    let tip = branch_tip(&repo, &ws.branch)?;
    let base = branch_tip(&repo, &ws.base_branch).unwrap_or(Oid::from_str(&ws.base_commit)?);
    let commits = commits_on_branch(&repo, tip, base)?;
    Ok(commits.len())
}

/// A commit message from the branch's commits: one commit gives its own message; several
/// give the task (or the workspace name) as title and their subjects as a list.
pub fn draft(ws: &Workspace) -> Result<Draft> {
    let repo = repo::open_main(&ws.repo_root)?;
    let tip = branch_tip(&repo, &ws.branch)?;
    let base = branch_tip(&repo, &ws.base_branch).unwrap_or(Oid::from_str(&ws.base_commit)?);
    let commits = commits_on_branch(&repo, tip, base)?;
    if let [one] = commits.as_slice() {
        let msg = one.message().unwrap_or("").trim();
        let (title, body) = msg.split_once('\n').unwrap_or((msg, ""));
        return Ok(Draft {
            title: title.trim().to_string(),
            body: body.trim().to_string(),
        });
    }
    let title = ws
        .task
        .clone()
        .map(|t| t.lines().next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| ws.name.clone());
    let body = commits
        .iter()
        .map(|c| format!("- {}", c.summary().unwrap_or("").trim()))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Draft { title, body })
}

/// Checkouts (root and linked worktrees) that have `branch` checked out.
fn checkouts_of(repo: &Repository, branch: &str) -> Vec<PathBuf> {
    let full = format!("refs/heads/{branch}");
    let mut out = Vec::new();
    let head_is = |r: &Repository| {
        r.head().ok().and_then(|h| h.name().map(str::to_string)) == Some(full.clone())
    };
    if head_is(repo) {
        if let Some(w) = repo.workdir() {
            out.push(w.to_path_buf());
        }
    }
    if let Ok(names) = repo.worktrees() {
        for name in names.iter().flatten() {
            if let Ok(wt) = repo.find_worktree(name) {
                if let Ok(r) = Repository::open_from_worktree(&wt) {
                    if head_is(&r) {
                        out.push(wt.path().to_path_buf());
                    }
                }
            }
        }
    }
    out
}

/// Staged or unstaged changes to tracked files (untracked files do not block a merge).
fn tracked_changes(path: &Path) -> Result<usize> {
    let r = Repository::open(path)?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let n = r.statuses(Some(&mut opts))?.len();
    Ok(n)
}

fn signature(repo: &Repository) -> Result<Signature<'static>> {
    match repo.signature() {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Ok(Signature::now("conductor.nvim", "conductor@localhost")?),
    }
}

pub fn merge(ws: &Workspace, strategy: Strategy, message: Option<&str>) -> Result<Merged> {
    let repo = repo::open_main(&ws.repo_root)?;
    let base_ref = format!("refs/heads/{}", ws.base_branch);
    let base_tip = repo.refname_to_id(&base_ref).map_err(|_| {
        Error::new(format!(
            "no local branch {} in {}: create it (git branch {} origin/{}) and merge again",
            ws.base_branch,
            ws.repo_root.display(),
            ws.base_branch,
            ws.base_branch
        ))
    })?;
    let tip = branch_tip(&repo, &ws.branch)?;
    let checkouts = checkouts_of(&repo, &ws.base_branch);
    for dir in &checkouts {
        let n = tracked_changes(dir)?;
        if n > 0 {
            return Err(Error::new(format!(
                "{} is checked out in {} with {n} uncommitted change(s): commit or stash them, then merge again",
                ws.base_branch,
                dir.display()
            )));
        }
    }
    if tip == base_tip || repo.graph_descendant_of(base_tip, tip)? {
        return Err(Error::new(format!(
            "{} has nothing that {} does not have",
            ws.branch, ws.base_branch
        )));
    }
    let can_ff = repo.graph_descendant_of(tip, base_tip)?;
    let strategy = match strategy {
        Strategy::Auto if can_ff => Strategy::Ff,
        Strategy::Auto => Strategy::Merge,
        s => s,
    };
    let sig = signature(&repo)?;
    let new_tip = match strategy {
        Strategy::Ff => {
            if !can_ff {
                return Err(Error::new(format!(
                    "cannot fast-forward {}: it has commits the branch lacks; use --merge or --squash, or ask the agent to rebase on {}",
                    ws.base_branch, ws.base_branch
                )));
            }
            tip
        }
        Strategy::Squash | Strategy::Merge => {
            let ours = repo.find_commit(base_tip)?;
            let theirs = repo.find_commit(tip)?;
            let mut index = repo.merge_commits(&ours, &theirs, None)?;
            if index.has_conflicts() {
                let mut paths: Vec<String> = index
                    .conflicts()?
                    .flatten()
                    .filter_map(|c| {
                        c.our
                            .or(c.their)
                            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                    })
                    .collect();
                paths.dedup();
                return Err(Error::new(format!(
                    "merging {} into {} conflicts in {}; nothing was changed (ask the agent to rebase on {})",
                    ws.branch,
                    ws.base_branch,
                    paths.join(", "),
                    ws.base_branch
                )));
            }
            let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
            let drafted;
            let message = match message {
                Some(m) if !m.trim().is_empty() => m,
                _ => {
                    drafted = if strategy == Strategy::Merge {
                        format!("Merge branch '{}' into {}", ws.branch, ws.base_branch)
                    } else {
                        let d = draft(ws)?;
                        format!("{}\n\n{}", d.title, d.body).trim().to_string()
                    };
                    &drafted
                }
            };
            let parents: Vec<&git2::Commit> = if strategy == Strategy::Merge {
                vec![&ours, &theirs]
            } else {
                vec![&ours]
            };
            repo.commit(None, &sig, &sig, message, &tree, &parents)?
        }
        Strategy::Auto => unreachable!("resolved above"),
    };
    let old_tree = repo.find_commit(base_tip)?.tree()?;
    let merged_tree = repo.find_commit(new_tip)?.tree()?;
    for dir in &checkouts {
        let paths = untracked_in_the_way(dir, &old_tree, &merged_tree)?;
        if !paths.is_empty() {
            return Err(Error::new(format!(
                "merging {} would overwrite {} in {} that git does not track: {}; move it away (or commit it), then merge again; nothing was changed",
                ws.branch,
                if paths.len() == 1 { "a file" } else { "files" },
                dir.display(),
                paths.join(", ")
            )));
        }
    }
    let backup_ref = format!("refs/conductor/backup/{}/{}", ws.base_branch, now_secs());
    repo.reference(&backup_ref, base_tip, true, "conductor: before merge")?;
    crate::faults::pause_point("merge:backup");
    // Checkouts of the base get the new files first, while their HEAD still names the old
    // tree (libgit2 compares against HEAD); they were verified clean above.
    let new_tree = repo.find_commit(new_tip)?.tree()?;
    for dir in &checkouts {
        let r = Repository::open(dir)?;
        let mut co = git2::build::CheckoutBuilder::new();
        co.safe();
        let tree = r.find_tree(new_tree.id())?;
        r.checkout_tree(tree.as_object(), Some(&mut co))
            .with_context(|| format!("updating the checkout in {}", dir.display()))?;
    }
    // Moves the base only if nobody moved it meanwhile.
    if let Err(e) = repo.reference_matching(
        &base_ref,
        new_tip,
        true,
        base_tip,
        &format!("conductor: merge {}", ws.branch),
    ) {
        let old_tree = repo.find_commit(base_tip)?.tree()?;
        for dir in &checkouts {
            if let Ok(r) = Repository::open(dir) {
                let mut co = git2::build::CheckoutBuilder::new();
                co.force();
                if let Ok(tree) = r.find_tree(old_tree.id()) {
                    let _ = r.checkout_tree(tree.as_object(), Some(&mut co));
                }
            }
        }
        return Err(Error::from(e).context(format!(
            "{} moved while merging; nothing was changed",
            ws.base_branch
        )));
    }
    let uncommitted = if ws.path.is_dir() {
        repo::count_changes(&ws.path).unwrap_or(0)
    } else {
        0
    };
    Ok(Merged {
        strategy,
        commit: new_tip.to_string(),
        backup_ref,
        uncommitted,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct PullRequest {
    pub url: String,
    pub created: bool,
}

fn run(cmd: &mut Command, what: &str, timeout: Duration) -> Result<String> {
    let mut child = cmd
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let start = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > timeout {
            let _ = child.kill();
            return Err(Error::new(format!(
                "{what} took longer than {}s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        return Err(Error::new(format!("{what}: {}", line.trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A pull request is pushed to `origin`: without one, say so and how to add it (git's own
/// message, "…and the repository exists.", names neither).
fn no_origin_hint(repo: &Repository, root: &Path) -> Result<()> {
    if repo.find_remote("origin").is_ok() {
        return Ok(());
    }
    let others: Vec<String> = repo
        .remotes()
        .map(|r| r.iter().flatten().map(str::to_string).collect())
        .unwrap_or_default();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(
            " (it has {}; pull requests go to origin)",
            others.join(", ")
        )
    };
    Err(Error::new(format!(
        "{} has no remote named origin{also}: add it with `git remote add origin <url>` in {}, then :ConductorPR again",
        root.display(),
        root.display()
    )))
}

/// Paths the merge would write in `dir` where a file that git does not track (untracked or
/// ignored) already is: a checkout would refuse with only a count of conflicts.
fn untracked_in_the_way(dir: &Path, old: &git2::Tree, new: &git2::Tree) -> Result<Vec<String>> {
    let r = Repository::open(dir)?;
    let index = r.index()?;
    let diff = r.diff_tree_to_tree(Some(old), Some(new), None)?;
    let mut paths = Vec::new();
    for delta in diff.deltas() {
        let Some(path) = delta.new_file().path() else {
            continue;
        };
        if delta.status() == git2::Delta::Deleted || index.get_path(path, 0).is_some() {
            continue;
        }
        if dir.join(path).symlink_metadata().is_ok() {
            paths.push(path.display().to_string());
        }
    }
    Ok(paths)
}

/// `https://host/owner/repo/compare/base...branch` from a GitHub-style remote URL.
pub fn compare_url(remote: &str, base: &str, branch: &str) -> Option<String> {
    let r = remote.trim().trim_end_matches(".git");
    let web = if let Some(rest) = r.strip_prefix("git@") {
        let (host, path) = rest.split_once(':')?;
        format!("https://{host}/{path}")
    } else if let Some(rest) = r.strip_prefix("ssh://git@") {
        format!("https://{rest}")
    } else if r.starts_with("https://") || r.starts_with("http://") {
        r.to_string()
    } else {
        return None;
    };
    Some(format!("{web}/compare/{base}...{branch}?expand=1"))
}

pub fn pull_request(
    ws: &Workspace,
    title: &str,
    body: &str,
    gh: Option<&Path>,
) -> Result<PullRequest> {
    let dir = if ws.path.is_dir() {
        ws.path.clone()
    } else {
        ws.repo_root.clone()
    };
    no_origin_hint(&repo::open_main(&ws.repo_root)?, &ws.repo_root)?;
    run(
        Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["push", "--set-upstream", "origin"])
            .arg(&ws.branch),
        &format!("git push origin {}", ws.branch),
        Duration::from_secs(120),
    )?;
    if let Some(gh) = gh {
        let out = run(
            Command::new(gh).current_dir(&dir).args([
                "pr",
                "create",
                "--title",
                title,
                "--body",
                body,
                "--base",
                &ws.base_branch,
                "--head",
                &ws.branch,
            ]),
            "gh pr create",
            Duration::from_secs(120),
        )?;
        let url = out
            .lines()
            .rev()
            .find(|l| l.contains("://"))
            .unwrap_or("")
            .trim()
            .to_string();
        return Ok(PullRequest { url, created: true });
    }
    let repo = repo::open_main(&ws.repo_root)?;
    let remote = repo.find_remote("origin")?;
    let url = compare_url(remote.url().unwrap_or(""), &ws.base_branch, &ws.branch).ok_or_else(|| {
        Error::new("pushed; gh is not installed and origin is not a GitHub-style URL: open the pull request on your forge")
    })?;
    Ok(PullRequest {
        url,
        created: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_urls() {
        assert_eq!(
            compare_url("git@github.com:me/shop.git", "main", "conductor/x").as_deref(),
            Some("https://github.com/me/shop/compare/main...conductor/x?expand=1")
        );
        assert_eq!(
            compare_url("https://github.com/me/shop", "main", "b").as_deref(),
            Some("https://github.com/me/shop/compare/main...b?expand=1")
        );
        assert_eq!(compare_url("/srv/git/shop.git", "main", "b"), None);
    }
}
