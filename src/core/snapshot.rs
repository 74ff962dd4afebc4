//! Recording a checkout's uncommitted work in a private ref and putting it back exactly.
//!
//! A snapshot is a commit shaped like `git stash`: its tree is the working tree (tracked
//! changes and untracked files that are not ignored), its first parent is HEAD, its second
//! parent holds the index (what was staged). The branch never moves; the worktree's real
//! index is never written while recording.

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{IndexAddOption, Oid, Repository, Signature};

use crate::core::error::{Context, Error, Result};

fn signature() -> Result<Signature<'static>> {
    Ok(Signature::now("conductor.nvim", "conductor@localhost")?)
}

/// Records the uncommitted work of the checkout at `worktree` on `refname`.
/// Returns None (and writes no ref) when there is nothing uncommitted.
pub fn record(worktree: &Path, refname: &str, message: &str) -> Result<Option<Oid>> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    let head = repo.head()?.peel_to_commit()?;
    let index_tree = repo
        .index()?
        .write_tree()
        .context("cannot read the staged changes")?;

    // A private copy of the index, so that adding everything does not touch the user's.
    let scratch = tempfile::tempdir()?;
    let scratch_index = scratch.path().join("index");
    let real_index = repo.path().join("index");
    if real_index.exists() {
        std::fs::copy(&real_index, &scratch_index)?;
    }
    let mut index = git2::Index::open(&scratch_index)?;
    repo.set_index(&mut index)?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.update_all(["*"], None)?;
    let work_tree = index.write_tree()?;

    let head_tree = head.tree_id();
    if work_tree == head_tree && index_tree == head_tree {
        return Ok(None);
    }
    let sig = signature()?;
    let index_commit = repo.commit(
        None,
        &sig,
        &sig,
        &format!("index of {message}"),
        &repo.find_tree(index_tree)?,
        &[&head],
    )?;
    let snapshot = repo.commit(
        None,
        &sig,
        &sig,
        message,
        &repo.find_tree(work_tree)?,
        &[&head, &repo.find_commit(index_commit)?],
    )?;
    repo.reference(refname, snapshot, true, message)?;
    Ok(Some(snapshot))
}

/// What `apply` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The working tree and index are exactly as recorded.
    Exact,
    /// The branch moved since the snapshot; the changes were merged onto its new tip.
    Merged,
}

/// Puts a snapshot's work back into the (clean) checkout at `worktree`.
pub fn apply(worktree: &Path, snapshot: Oid) -> Result<Applied> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    let snap = repo.find_commit(snapshot)?;
    let base = snap.parent(0)?;
    let staged = snap.parent(1)?.tree()?;
    let head = repo.head()?.peel_to_commit()?;

    if head.id() == base.id() {
        let mut co = CheckoutBuilder::new();
        co.force();
        repo.checkout_tree(snap.as_object(), Some(&mut co))?;
        let mut index = repo.index()?;
        index.read_tree(&staged)?;
        index.write()?;
        return Ok(Applied::Exact);
    }

    let mut merged = repo.merge_trees(&base.tree()?, &head.tree()?, &snap.tree()?, None)?;
    if merged.has_conflicts() {
        return Err(Error::new(format!(
            "the branch moved since this workspace was archived and its uncommitted work \
             conflicts with the new commits; the work is kept in commit {snapshot} \
             (see it with `git show {snapshot}`)"
        )));
    }
    let mut co = CheckoutBuilder::new();
    co.force();
    repo.checkout_index(Some(&mut merged), Some(&mut co))?;
    // Leave the merged changes unstaged, as after `git stash apply`.
    let mut index = repo.index()?;
    index.read_tree(&head.tree()?)?;
    index.write()?;
    Ok(Applied::Merged)
}
