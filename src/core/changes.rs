//! What a workspace changed: the files that differ between a base and its working tree
//! (committed, staged, unstaged and untracked-not-ignored work), each with a status and
//! +/- line counts computed with `similar` (Myers, like git). Scopes: the whole branch
//! (since the merge-base with its base branch), uncommitted work only, or one commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use git2::{Delta, DiffFindOptions, DiffOptions, Oid, Repository, Tree};
use serde::{Deserialize, Serialize};
use similar::{Algorithm, DiffOp};

use crate::error::{Context, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Branch,
    Uncommitted,
    Commit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub old_path: Option<String>,
    /// "A", "M", "D", "R" or "T" (type change: file ⇄ symlink, mode of a submodule).
    pub status: String,
    pub binary: bool,
    pub added: usize,
    pub removed: usize,
    pub untracked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub scope: Scope,
    /// The left side: the commit the changes are measured from.
    pub base: String,
    /// The right side's commit, or None for the working tree.
    pub head: Option<String>,
    pub files: Vec<FileChange>,
    pub added: usize,
    pub removed: usize,
}

/// Last computed change list of each workspace (branch scope), by workspace id: listing
/// never waits on git.
#[derive(Default)]
pub struct ChangeCache {
    map: Mutex<HashMap<String, Changes>>,
}

impl ChangeCache {
    pub fn insert(&self, workspace_id: &str, changes: Changes) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(workspace_id.to_string(), changes);
    }

    pub fn get(&self, workspace_id: &str) -> Option<Changes> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(workspace_id)
            .cloned()
    }
}

/// Git's rule: a NUL byte in the first 8000 bytes makes a file binary.
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8000)].contains(&0)
}

/// Lines added and removed between two texts, as `git diff --numstat` counts them.
pub fn line_counts(old: &[u8], new: &[u8]) -> (usize, usize) {
    fn split(b: &[u8]) -> Vec<&[u8]> {
        b.split_inclusive(|c| *c == b'\n').collect()
    }
    let (old, new) = (split(old), split(new));
    let deadline = Instant::now() + Duration::from_secs(2);
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &old, &new, Some(deadline));
    ops.iter().fold((0, 0), |(a, r), op| match *op {
        DiffOp::Equal { .. } => (a, r),
        DiffOp::Delete { old_len, .. } => (a, r + old_len),
        DiffOp::Insert { new_len, .. } => (a + new_len, r),
        DiffOp::Replace {
            old_len, new_len, ..
        } => (a + new_len, r + old_len),
    })
}

/// The commit the branch scope starts from: the merge-base of HEAD and the base branch
/// (its fetched `origin/` tip when there is one).
pub fn merge_base(repo: &Repository, base_branch: &str) -> Result<Oid> {
    let head = repo.head()?.peel_to_commit()?.id();
    let base = [
        format!("refs/remotes/origin/{base_branch}"),
        format!("refs/heads/{base_branch}"),
    ]
    .iter()
    .find_map(|r| repo.refname_to_id(r).ok())
    .ok_or_else(|| Error::new(format!("base branch {base_branch:?} not found")))?;
    repo.merge_base(head, base)
        .with_context(|| format!("no common ancestor with {base_branch}"))
}

pub fn compute(
    worktree: &Path,
    base_branch: &str,
    scope: Scope,
    commit: Option<&str>,
) -> Result<Changes> {
    crate::repo::reading_index(|| compute_once(worktree, base_branch, scope, commit))
}

fn compute_once(
    worktree: &Path,
    base_branch: &str,
    scope: Scope,
    commit: Option<&str>,
) -> Result<Changes> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    let (left, right): (Oid, Option<Oid>) = match scope {
        Scope::Branch => (merge_base(&repo, base_branch)?, None),
        Scope::Uncommitted => (repo.head()?.peel_to_commit()?.id(), None),
        Scope::Commit => {
            let rev = commit.ok_or_else(|| Error::new("the commit scope needs a commit"))?;
            let c = repo.revparse_single(rev)?.peel_to_commit()?;
            let parent = c
                .parent(0)
                .map(|p| p.id())
                .map_err(|_| Error::new(format!("{rev} has no parent")))?;
            (parent, Some(c.id()))
        }
    };
    let left_tree = repo.find_commit(left)?.tree()?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .include_typechange(true);
    let mut diff = match right {
        Some(r) => repo.diff_tree_to_tree(
            Some(&left_tree),
            Some(&repo.find_commit(r)?.tree()?),
            Some(&mut opts),
        )?,
        None => repo.diff_tree_to_workdir_with_index(Some(&left_tree), Some(&mut opts))?,
    };
    diff.find_similar(Some(
        DiffFindOptions::new().renames(true).for_untracked(true),
    ))?;

    let workdir = repo.workdir().map(Path::to_path_buf);
    let mut files = Vec::new();
    for delta in diff.deltas() {
        let status = match delta.status() {
            Delta::Added | Delta::Untracked => "A",
            Delta::Deleted => "D",
            Delta::Modified => "M",
            Delta::Renamed | Delta::Copied => "R",
            Delta::Typechange => "T",
            _ => continue,
        };
        let new_path = delta
            .new_file()
            .path()
            .map(|p| p.to_string_lossy().into_owned());
        let old_path = delta
            .old_file()
            .path()
            .map(|p| p.to_string_lossy().into_owned());
        let path = new_path.clone().or(old_path.clone()).unwrap_or_default();
        let old = side(&repo, delta.old_file().id(), None)?;
        let new = match (right, status) {
            (_, "D") => Vec::new(),
            (Some(_), _) => side(&repo, delta.new_file().id(), None)?,
            (None, _) => side(
                &repo,
                Oid::zero(),
                workdir.as_ref().map(|w| w.join(&path)).as_deref(),
            )?,
        };
        let binary = is_binary(&old) || is_binary(&new);
        let (added, removed) = if binary {
            (0, 0)
        } else {
            line_counts(&old, &new)
        };
        files.push(FileChange {
            old_path: (status == "R").then(|| old_path.unwrap_or_default()),
            path,
            status: status.into(),
            binary,
            added,
            removed,
            untracked: delta.status() == Delta::Untracked,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Changes {
        scope,
        base: left.to_string(),
        head: right.map(|r| r.to_string()),
        added: files.iter().map(|f| f.added).sum(),
        removed: files.iter().map(|f| f.removed).sum(),
        files,
    })
}

/// One side's bytes: a blob by id, else the working-tree file (a symlink as its target).
fn side(repo: &Repository, id: Oid, file: Option<&Path>) -> Result<Vec<u8>> {
    if !id.is_zero() {
        return Ok(repo
            .find_blob(id)
            .map(|b| b.content().to_vec())
            .unwrap_or_default());
    }
    let Some(file) = file else {
        return Ok(Vec::new());
    };
    match file.symlink_metadata() {
        Ok(m) if m.file_type().is_symlink() => Ok(std::fs::read_link(file)?
            .to_string_lossy()
            .into_owned()
            .into_bytes()),
        Ok(m) if m.is_file() => Ok(std::fs::read(file)?),
        _ => Ok(Vec::new()),
    }
}

/// A file's content at `rev` (None when it does not exist there).
pub fn blob_at(worktree: &Path, rev: &str, path: &str) -> Result<Option<Vec<u8>>> {
    let repo = Repository::open(worktree)?;
    let tree: Tree = repo.revparse_single(rev)?.peel_to_tree()?;
    let Ok(entry) = tree.get_path(Path::new(path)) else {
        return Ok(None);
    };
    let object = entry.to_object(&repo)?;
    Ok(object.as_blob().map(|b| b.content().to_vec()))
}

/// `worktree/path`, refused when `path` leads outside the worktree (`..`, absolute, or
/// through a folder that is a symbolic link to elsewhere).
pub fn inside_worktree(worktree: &Path, path: &str) -> Result<std::path::PathBuf> {
    let refuse = || {
        Error::new(format!(
            "refusing to touch {path:?}: not a path inside the worktree"
        ))
    };
    if path.is_empty() || path.split('/').any(|c| c == "..") || Path::new(path).is_absolute() {
        return Err(refuse());
    }
    let target = worktree.join(path);
    // The deepest folder that exists must resolve inside the worktree.
    let root = worktree.canonicalize()?;
    let mut dir = target.parent();
    while let Some(d) = dir {
        if let Ok(real) = d.canonicalize() {
            if !real.starts_with(&root) {
                return Err(refuse());
            }
            break;
        }
        dir = d.parent();
    }
    Ok(target)
}

/// Puts `path` back to its content at `rev` (removing it when it did not exist there).
pub fn revert_file(worktree: &Path, rev: &str, path: &str) -> Result<()> {
    let target = inside_worktree(worktree, path)?;
    match blob_at(worktree, rev, path)? {
        Some(bytes) => {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&target, bytes).with_context(|| format!("cannot write {path}"))?;
        }
        None => {
            if target.exists() {
                std::fs::remove_file(&target).with_context(|| format!("cannot remove {path}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_numstat() {
        assert_eq!(line_counts(b"a\nb\nc\n", b"a\nB\nc\nd\n"), (2, 1));
        assert_eq!(
            line_counts(b"a", b"a\n"),
            (1, 1),
            "a missing newline at the end is a change"
        );
        assert_eq!(line_counts(b"", b"x\ny\n"), (2, 0));
        assert_eq!(
            line_counts(b"x\r\ny\r\n", b"x\ny\r\n"),
            (1, 1),
            "CRLF is content"
        );
        assert_eq!(
            line_counts(b"\xff\xfe\n", b"\xff\xfe\nmore\n"),
            (1, 0),
            "not UTF-8"
        );
        assert!(is_binary(b"abc\0def") && !is_binary(b"plain"));
    }
}
