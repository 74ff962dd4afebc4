//! Recording a checkout's uncommitted work in a private ref and putting it back exactly.
//!
//! A snapshot is a commit shaped like `git stash`: its tree is the working tree (tracked
//! changes and untracked files that are not ignored), its first parent is HEAD, its second
//! parent holds the index (what was staged). The branch never moves; the worktree's real
//! index is never written while recording.
//!
//! A tree cannot say "intent to add" (`git add -N`): such entries are left out of the
//! index commit's tree (as `git write-tree` does) and listed in its message instead, one
//! `Intent-to-add: <mode> <path as JSON>` line each, so that restoring does not turn them
//! into staged empty files.

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{
    IndexAddOption, IndexEntry, IndexEntryExtendedFlag, IndexTime, Oid, Repository, Signature,
};

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
    let (index_tree, intents) = staged_tree(&repo).context("cannot read the staged changes")?;

    // A private copy of the index, so that adding everything does not touch the user's.
    let scratch = tempfile::tempdir()?;
    let scratch_index = scratch.path().join("index");
    let real_index = repo.path().join("index");
    if real_index.exists() {
        // The copy keeps the index's mtime. Like git, libgit2 re-reads a file whose stat
        // data is not older than the index ("racy git"); stamped with the time of the copy,
        // a same-size rewrite made in the same clock tick as its `git add` would look
        // unchanged and be left out. Read before copying: a newer index only makes more
        // entries racy, which is safe.
        let stamp = std::fs::metadata(&real_index)?.modified()?;
        std::fs::copy(&real_index, &scratch_index)?;
        std::fs::File::options()
            .write(true)
            .open(&scratch_index)?
            .set_modified(stamp)?;
    }
    let mut index = git2::Index::open(&scratch_index)?;
    repo.set_index(&mut index)?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.update_all(["*"], None)?;
    let work_tree = index.write_tree()?;

    let head_tree = head.tree_id();
    if work_tree == head_tree && index_tree == head_tree && intents.is_empty() {
        return Ok(None);
    }
    let sig = signature()?;
    let mut index_message = format!("index of {message}");
    if !intents.is_empty() {
        index_message.push('\n');
        for e in &intents {
            index_message.push_str(&format!(
                "\n{INTENT_TO_ADD} {:o} {}",
                e.mode,
                quote_path(&e.path)
            ));
        }
    }
    let index_commit = repo.commit(
        None,
        &sig,
        &sig,
        &index_message,
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
        let intents = intents_of(snap.parent(1)?.message_raw_bytes());
        if !intents.is_empty() {
            let empty = repo.blob(b"")?;
            for (mode, path) in intents {
                index.add(&intent_to_add(mode, path, empty))?;
            }
        }
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

const INTENT_TO_ADD: &str = "Intent-to-add:";

fn is_intent_to_add(e: &IndexEntry) -> bool {
    e.flags_extended & IndexEntryExtendedFlag::INTENT_TO_ADD.bits() != 0
}

/// The tree of what is staged, and the intent-to-add entries it leaves out.
fn staged_tree(repo: &Repository) -> Result<(Oid, Vec<IndexEntry>)> {
    let mut real = repo.index()?;
    let (intents, staged): (Vec<IndexEntry>, Vec<IndexEntry>) =
        real.iter().partition(is_intent_to_add);
    if intents.is_empty() {
        return Ok((real.write_tree()?, intents));
    }
    let mut index = git2::Index::new()?;
    for e in &staged {
        index.add(e)?;
    }
    Ok((index.write_tree_to(repo)?, intents))
}

/// A path as a JSON string when it is UTF-8, else as a JSON array of its bytes.
fn quote_path(path: &[u8]) -> String {
    match std::str::from_utf8(path) {
        Ok(s) => serde_json::to_string(s),
        Err(_) => serde_json::to_string(path),
    }
    .unwrap_or_default()
}

/// The intent-to-add entries listed in an index commit's message: (mode, path).
fn intents_of(message: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let message = String::from_utf8_lossy(message);
    message
        .lines()
        .skip(1)
        .filter_map(|line| {
            let rest = line.strip_prefix(INTENT_TO_ADD)?.trim_start();
            let (mode, path) = rest.split_once(' ')?;
            let mode = u32::from_str_radix(mode, 8).ok()?;
            let path = match serde_json::from_str::<serde_json::Value>(path).ok()? {
                serde_json::Value::String(s) => s.into_bytes(),
                bytes => serde_json::from_value::<Vec<u8>>(bytes).ok()?,
            };
            Some((mode, path))
        })
        .collect()
}

fn intent_to_add(mode: u32, path: Vec<u8>, empty_blob: Oid) -> IndexEntry {
    let zero = IndexTime::new(0, 0);
    IndexEntry {
        ctime: zero,
        mtime: zero,
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: 0,
        id: empty_blob,
        flags: 0,
        flags_extended: IndexEntryExtendedFlag::INTENT_TO_ADD.bits(),
        path,
    }
}
