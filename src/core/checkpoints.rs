//! Checkpoints: the worktree after each agent turn, kept as commits on
//! `refs/conductor/<id>/checkpoints/<n>`, and the way back to any of them.
//!
//! Turn `n` is a commit whose tree is the whole worktree (committed, staged, unstaged and
//! untracked work; not ignored files), whose first parent is turn `n-1` (the workspace's
//! base commit for the first turn), so "what this turn changed" is that commit against its
//! parent, as any commit is reviewed; its second parent is HEAD at that moment and its
//! third a commit of what was staged, so a revert puts back the branch, the index and the
//! files exactly. A turn that changed nothing records nothing.
//! Not here: deciding when a turn ends (the agent states), the list's window (Lua).

use std::path::Path;

use git2::{
    build::CheckoutBuilder, Commit, Oid, Repository, ResetType, Signature, Status, StatusOptions,
};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Context, Error, Result};
use crate::snapshot;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointRequest {
    pub workspace: String,
    pub repo: Option<std::path::PathBuf>,
    /// The agent whose turn ended (for the list).
    pub agent: Option<String>,
    /// The turn to revert to.
    pub turn: Option<u32>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub turn: u32,
    pub commit: String,
    /// Its parent: the turn before (or the base): what `commit` is reviewed against.
    pub parent: String,
    pub time: i64,
    pub agent: String,
    pub insertions: usize,
    pub deletions: usize,
    pub files: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reverted {
    /// The checkpoint now holding the state from before the revert.
    pub saved_as: Option<u32>,
    pub turn: u32,
}

/// Recording and reverting one at a time: two turns ending close together must not both
/// take the same next number.
static TURNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn prefix(id: &str) -> String {
    format!("refs/conductor/{id}/checkpoints/")
}

/// Every checkpoint ref of a workspace, by turn.
fn turns(repo: &Repository, id: &str) -> Result<Vec<(u32, Oid)>> {
    let prefix = prefix(id);
    let mut out: Vec<(u32, Oid)> = repo
        .references_glob(&format!("{prefix}*"))?
        .filter_map(|r| {
            let r = r.ok()?;
            let n = r.name()?.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, r.target()?))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Records the worktree at `worktree` as the next turn, unless it is the same as the last
/// one. Keeps at most `keep` turns. Returns the new turn's number.
pub fn record(
    worktree: &Path,
    id: &str,
    base: Oid,
    agent: &str,
    keep: usize,
) -> Result<Option<u32>> {
    let _one = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    record_locked(worktree, id, base, agent, keep)
}

fn record_locked(
    worktree: &Path,
    id: &str,
    base: Oid,
    agent: &str,
    keep: usize,
) -> Result<Option<u32>> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    let existing = turns(&repo, id)?;
    let head = repo.head()?.peel_to_commit()?;
    let (tree, staged) = worktree_trees(&repo, worktree, id)?;
    let staged = repo.find_commit(staged)?;
    let previous = match existing.last() {
        Some((_, oid)) => repo.find_commit(*oid)?,
        None => repo.find_commit(base)?,
    };
    if let Some((_, last)) = existing.last() {
        let last = repo.find_commit(*last)?;
        let same = last.tree_id() == tree
            && last.parent_id(1).ok() == Some(head.id())
            && last.parent(2).map(|p| p.tree_id()).ok() == Some(staged.tree_id());
        if same {
            return Ok(None);
        }
    } else if previous.tree_id() == tree && head.id() == base {
        return Ok(None);
    }
    let turn = existing.last().map_or(1, |(n, _)| n + 1);
    let sig = Signature::now("conductor.nvim", "conductor@localhost")?;
    // Where HEAD is (a branch, or detached), so a revert puts it back on the same one.
    let on = match repo.head() {
        Ok(h) if h.is_branch() => h.name().unwrap_or("detached").to_string(),
        _ => "detached".to_string(),
    };
    let message = format!("turn {turn}\n\nAgent: {agent}\nHead: {on}\n");
    let commit = repo.commit(
        None,
        &sig,
        &sig,
        &message,
        &repo.find_tree(tree)?,
        &[&previous, &head, &staged],
    )?;
    // Not forced: a checkpoint is never overwritten (another process may record too).
    repo.reference(
        &format!("{}{turn}", prefix(id)),
        commit,
        false,
        "checkpoint",
    )?;
    let all = turns(&repo, id)?;
    if all.len() > keep {
        for (n, _) in &all[..all.len() - keep] {
            if let Ok(mut r) = repo.find_reference(&format!("{}{n}", prefix(id))) {
                let _ = r.delete();
            }
        }
    }
    Ok(Some(turn))
}

/// The tree of everything in a checkout (committed, staged, unstaged, untracked; not
/// ignored) and a commit of what is staged, without touching its index: the trees of a
/// stash-shaped snapshot (HEAD's for a clean checkout). `key` names the scratch ref.
pub(crate) fn worktree_trees(repo: &Repository, worktree: &Path, key: &str) -> Result<(Oid, Oid)> {
    let head = repo.head()?.peel_to_commit()?;
    let scratch = format!("refs/conductor/{key}/scratch");
    Ok(match snapshot::record(worktree, &scratch, "scratch")? {
        Some(oid) => {
            let s = repo.find_commit(oid)?;
            let out = (s.tree_id(), s.parent_id(1)?);
            if let Ok(mut r) = repo.find_reference(&scratch) {
                let _ = r.delete();
            }
            out
        }
        None => (head.tree_id(), head.id()),
    })
}

fn agent_of(c: &Commit) -> String {
    c.message()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Agent: "))
        .unwrap_or("")
        .to_string()
}

pub fn list(worktree: &Path, id: &str) -> Result<Vec<Checkpoint>> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    let mut out = Vec::new();
    for (turn, oid) in turns(&repo, id)? {
        let c = repo.find_commit(oid)?;
        let parent = c.parent(0)?;
        let diff = repo.diff_tree_to_tree(Some(&parent.tree()?), Some(&c.tree()?), None)?;
        let stats = diff.stats()?;
        out.push(Checkpoint {
            turn,
            commit: oid.to_string(),
            parent: parent.id().to_string(),
            time: c.time().seconds(),
            agent: agent_of(&c),
            insertions: stats.insertions(),
            deletions: stats.deletions(),
            files: stats.files_changed(),
        });
    }
    Ok(out)
}

/// Puts the worktree back to turn `turn`: the branch (or detached HEAD) where it was, the
/// index as it was, the files as they were; untracked files made since are removed (the
/// state before is recorded as a turn first, so nothing is lost). Ignored files stay.
pub fn revert(worktree: &Path, id: &str, turn: u32) -> Result<()> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    let oid = turns(&repo, id)?
        .into_iter()
        .find(|(n, _)| *n == turn)
        .map(|(_, o)| o)
        .ok_or_else(|| {
            Error::new(format!(
                "no checkpoint {turn}; :ConductorCheckpoints lists them"
            ))
        })?;
    let target = repo.find_commit(oid)?;
    let head = target.parent(1)?;
    let staged = target.parent(2)?.tree()?;
    let tree = target.tree()?;
    // HEAD back on the branch it was on (or detached), then that branch to its commit.
    let on = target
        .message()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Head: "))
        .unwrap_or("")
        .to_string();
    if on == "detached" {
        repo.set_head_detached(head.id())?;
    } else if on.starts_with("refs/heads/") && repo.find_reference(&on).is_ok() {
        repo.set_head(&on)?;
    }
    repo.reset(head.as_object(), ResetType::Hard, None)?;
    // Untracked files the turn did not have.
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts))?;
    for s in statuses.iter() {
        if s.status().contains(Status::WT_NEW) {
            if let Some(path) = s.path() {
                if tree.get_path(Path::new(path)).is_err() {
                    let _ = std::fs::remove_file(worktree.join(path));
                }
            }
        }
    }
    let mut co = CheckoutBuilder::new();
    co.force();
    repo.checkout_tree(tree.as_object(), Some(&mut co))?;
    let mut index = repo.index()?;
    index.read_tree(&staged)?;
    index.write()?;
    Ok(())
}

/// Drops every checkpoint of a workspace (at archive: the snapshot keeps the final state).
pub fn drop_all(repo: &Repository, id: &str) {
    if let Ok(refs) = turns(repo, id) {
        for (n, _) in refs {
            if let Ok(mut r) = repo.find_reference(&format!("{}{n}", prefix(id))) {
                let _ = r.delete();
            }
        }
    }
}

impl Engine {
    pub fn checkpoint(&self, req: &CheckpointRequest) -> Result<Option<u32>> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        let base = Oid::from_str(&ws.base_commit)?;
        let agent = req.agent.as_deref().unwrap_or("");
        record(
            &ws.path,
            &ws.id,
            base,
            agent,
            self.options().checkpoints_keep.max(1),
        )
    }

    pub fn checkpoints(&self, req: &CheckpointRequest) -> Result<Vec<Checkpoint>> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        list(&ws.path, &ws.id)
    }

    pub fn revert_to(&self, req: &CheckpointRequest) -> Result<Reverted> {
        let ws = self.active_workspace(&req.workspace, req.repo.as_deref())?;
        let turn = req
            .turn
            .ok_or_else(|| Error::new("name a checkpoint: :ConductorRevert {n}"))?;
        let known = list(&ws.path, &ws.id)?;
        if !known.iter().any(|c| c.turn == turn) {
            return Err(Error::new(format!(
                "{} has no checkpoint {turn}; :ConductorCheckpoints lists them",
                ws.name
            )));
        }
        let base = Oid::from_str(&ws.base_commit)?;
        let keep = self.options().checkpoints_keep.max(1) + 1;
        let _one = TURNS.lock().unwrap_or_else(|e| e.into_inner());
        let saved_as = record_locked(&ws.path, &ws.id, base, "before revert", keep)?
            .or_else(|| known.last().map(|c| c.turn));
        // The state before the revert also outside the turns, which archive drops: a
        // revert is never a loss, whatever comes after it.
        if let Some(n) = saved_as {
            let repo = Repository::open(&ws.path)?;
            let saved = repo
                .find_reference(&format!("{}{n}", prefix(&ws.id)))
                .ok()
                .and_then(|r| r.target());
            if let Some(oid) = saved {
                repo.reference(
                    &format!("refs/conductor/{}/before-revert/{n}", ws.id),
                    oid,
                    true,
                    "state before a revert",
                )?;
            }
        }
        revert(&ws.path, &ws.id, turn).map_err(|e| {
            e.context(format!(
                "the revert of {} to turn {turn} stopped halfway; the state before is checkpoint {} (:ConductorRevert {})",
                ws.name,
                saved_as.unwrap_or(0),
                saved_as.unwrap_or(0)
            ))
        })?;
        // The reverted state as a turn of its own, so the next turn's diff is the agent's
        // work since the revert, not the revert undone.
        let _ = record_locked(&ws.path, &ws.id, base, &format!("revert to {turn}"), keep);
        Ok(Reverted { saved_as, turn })
    }
}
