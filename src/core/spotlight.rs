//! Spotlight (Conductor's "spotlight testing"): a workspace's changes — its commits since
//! the merge-base with the root's HEAD and its uncommitted work — put into the root
//! checkout, for projects that only run from there, and kept in sync while it is on.
//!
//! The root's HEAD and index never move: only its working files change, by the diff
//! between trees this module knows exactly (what it found, what it wrote). Turning it
//! on first saves the root's own uncommitted work on `refs/conductor/spotlight/root`;
//! turning it off writes the files back to exactly that. When the root's files were
//! edited while spotlighted, sync pauses and never overwrites them, and turning it off
//! first keeps those edits on a ref of their own.
//! Not here: when to sync (Lua: agent turn ends, writes), the statusline.

use std::path::Path;

use git2::{Delta, Oid, Repository, Tree};
use serde::{Deserialize, Serialize};

use crate::checkpoints::worktree_trees;
use crate::engine::Engine;
use crate::error::{Context, Error, Result};
use crate::snapshot;
use crate::store::Workspace;

/// A spotlight that is on, as kept in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spotlight {
    pub repo_root: std::path::PathBuf,
    pub workspace_id: String,
    pub workspace: String,
    /// The root's files before: a tree holding its uncommitted and untracked work.
    pub root_tree: String,
    /// The files last written into the root.
    pub written_tree: String,
    /// Set when sync stopped (the root was edited, or the changes conflict), with why.
    #[serde(default)]
    pub paused: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpotlightRequest {
    pub workspace: Option<String>,
    pub repo: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpotlightOff {
    pub workspace: String,
    pub workspace_id: String,
    /// Where edits made in the root while spotlighted were kept, if there were any.
    pub edits_ref: Option<String>,
}

const SAVED_REF: &str = "refs/conductor/spotlight/root";
const WRITTEN_REF: &str = "refs/conductor/spotlight/written";

/// Refuses roots whose files git converts on checkout: the files written would not be
/// byte for byte what they were.
fn check_no_filters(root: &Repository, dir: &Path) -> Result<()> {
    let cfg = root.config()?;
    let autocrlf = cfg.get_bool("core.autocrlf").unwrap_or(false)
        || cfg.get_string("core.autocrlf").is_ok_and(|v| v == "input");
    let attributes_in_tree = root
        .head()
        .and_then(|h| h.peel_to_tree())
        .map(|t| {
            let mut found = false;
            let _ = t.walk(git2::TreeWalkMode::PreOrder, |_, e| {
                if e.name() == Some(".gitattributes") {
                    found = true;
                    return git2::TreeWalkResult::Abort;
                }
                git2::TreeWalkResult::Ok
            });
            found
        })
        .unwrap_or(false);
    let attributes = attributes_in_tree
        || dir.join(".gitattributes").exists()
        || root.path().join("info/attributes").exists()
        || cfg.get_path("core.attributesFile").is_ok();
    if autocrlf || attributes {
        return Err(Error::new(
            "spotlight needs a root checkout without line-ending or filter conversion (core.autocrlf, .gitattributes, core.attributesFile); run the workspace from its own worktree instead",
        ));
    }
    Ok(())
}

/// The workspace's changes over `root_tree`: a three-way merge from the merge-base of the
/// workspace's HEAD and the root's HEAD. Conflicting paths are an error naming them.
fn merged(root: &Repository, ws: &Workspace, root_tree: Oid) -> Result<Oid> {
    let wrepo =
        Repository::open(&ws.path).with_context(|| format!("cannot open {}", ws.path.display()))?;
    let (ws_tree, _) = worktree_trees(&wrepo, &ws.path, &format!("{}/spotlight", ws.id))?;
    let ws_head = wrepo.head()?.peel_to_commit()?.id();
    let root_head = root.head()?.peel_to_commit()?.id();
    let base = root.merge_base(ws_head, root_head)?;
    let ancestor = root.find_commit(base)?.tree()?;
    let mut index = root.merge_trees(
        &ancestor,
        &root.find_tree(root_tree)?,
        &root.find_tree(ws_tree)?,
        None,
    )?;
    if index.has_conflicts() {
        let mut paths: Vec<String> = index
            .conflicts()?
            .filter_map(|c| c.ok())
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        return Err(Error::new(format!(
            "the root checkout's own changes conflict with {}'s in {}; commit or stash them in the root first",
            ws.name,
            paths.join(", ")
        )));
    }
    Ok(index.write_tree_to(root)?)
}

/// One file change between two trees: the path, and what to write there (None: remove).
struct Change {
    path: std::path::PathBuf,
    write: Option<(Oid, u32)>,
    /// Whether the path is new in the target (nothing of the source tree is there).
    added: bool,
}

/// The file changes from tree `from` to tree `to`, limited to `only` when given.
fn changes(
    repo: &Repository,
    from: &Tree,
    to: &Tree,
    only: Option<&std::collections::HashSet<std::path::PathBuf>>,
) -> Result<Vec<Change>> {
    let diff = repo.diff_tree_to_tree(Some(from), Some(to), None)?;
    let mut out = Vec::new();
    for delta in diff.deltas() {
        let (old, new) = (delta.old_file(), delta.new_file());
        let keep = |p: &Path| only.is_none_or(|o| o.contains(p));
        if matches!(delta.status(), Delta::Deleted | Delta::Typechange) {
            if let Some(p) = old.path().filter(|p| keep(p)) {
                out.push(Change {
                    path: p.to_path_buf(),
                    write: None,
                    added: false,
                });
            }
        }
        if matches!(
            delta.status(),
            Delta::Added | Delta::Modified | Delta::Typechange
        ) {
            let mode = u32::from(new.mode());
            if mode == 0o160000 {
                continue; // a submodule: not files of this checkout
            }
            if let Some(p) = new.path().filter(|p| keep(p)) {
                out.push(Change {
                    path: p.to_path_buf(),
                    write: Some((new.id(), mode)),
                    added: delta.status() == Delta::Added,
                });
            }
        }
    }
    Ok(out)
}

/// What on disk the changes would overwrite without it being in the tree they start
/// from (an ignored `.env`, a file the user made) or reach through a symlinked
/// directory: writing would lose or escape, so nothing is written.
fn unsafe_paths(dir: &Path, changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes {
        let through_link = c.path.ancestors().skip(1).any(|a| {
            !a.as_os_str().is_empty()
                && std::fs::symlink_metadata(dir.join(a)).is_ok_and(|m| m.file_type().is_symlink())
        });
        let occupied =
            c.added && c.write.is_some() && std::fs::symlink_metadata(dir.join(&c.path)).is_ok();
        if through_link || occupied {
            out.push(c.path.display().to_string());
        }
    }
    out
}

/// Applies `changes` to the files of `dir`: every removal first (deepest first), then
/// every write, so a path that turns from a directory into a file (or back) works.
fn apply(repo: &Repository, dir: &Path, mut changes: Vec<Change>) -> Result<()> {
    changes.sort_by_key(|c| {
        (
            c.write.is_some(),
            std::cmp::Reverse(c.path.components().count()),
        )
    });
    for c in &changes {
        let full = dir.join(&c.path);
        match c.write {
            None => {
                let _ = std::fs::remove_file(&full);
                // Leave no empty directories behind (as git does).
                let mut parent = full.parent();
                while let Some(d) = parent {
                    if d == dir || std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    parent = d.parent();
                }
            }
            Some((id, mode)) => {
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let blob = repo.find_blob(id)?;
                let _ = std::fs::remove_file(&full);
                if mode == 0o120000 {
                    let target = String::from_utf8_lossy(blob.content()).into_owned();
                    std::os::unix::fs::symlink(target, &full)?;
                } else {
                    std::fs::write(&full, blob.content())?;
                    use std::os::unix::fs::PermissionsExt;
                    let perm = if mode == 0o100755 { 0o755 } else { 0o644 };
                    std::fs::set_permissions(&full, std::fs::Permissions::from_mode(perm))?;
                }
            }
        }
    }
    Ok(())
}

/// Changes the files of `dir` from tree `from` (what they are) to tree `to`, refusing,
/// before writing anything, what would overwrite a file the trees do not know.
fn write_diff(repo: &Repository, dir: &Path, from: Oid, to: Oid) -> Result<()> {
    let list = changes(repo, &repo.find_tree(from)?, &repo.find_tree(to)?, None)?;
    let blocked = unsafe_paths(dir, &list);
    if !blocked.is_empty() {
        return Err(Error::new(format!(
            "spotlight would overwrite files of the root that git does not track or that lie behind a symlink: {}; move them away first",
            blocked.join(", ")
        )));
    }
    apply(repo, dir, list)
}

fn pin(repo: &Repository, name: &str, tree: Oid) -> Result<()> {
    // A ref may not point at a tree in every tool's eyes, but git keeps what refs reach:
    // a commit holding the tree keeps it from being collected.
    let sig = git2::Signature::now("conductor.nvim", "conductor@localhost")?;
    let commit = repo.commit(None, &sig, &sig, "spotlight", &repo.find_tree(tree)?, &[])?;
    repo.reference(name, commit, true, "spotlight")?;
    Ok(())
}

/// One spotlight operation at a time in this process: a sync must not write after an
/// off, nor two syncs interleave.
static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Engine {
    /// The spotlight of a repository, if one is on.
    pub fn spotlight_of(&self, root: &Path) -> Result<Option<Spotlight>> {
        let root = crate::repo::canonical(root);
        Ok(self
            .store()?
            .read()?
            .spotlights
            .into_iter()
            .find(|s| s.repo_root == root))
    }

    fn save_spotlight(&self, spot: &Spotlight) -> Result<()> {
        let saved = spot.clone();
        self.store()?.update(move |s| {
            s.spotlights.retain(|x| x.repo_root != saved.repo_root);
            s.spotlights.push(saved);
            Ok(())
        })
    }

    /// Puts a workspace's changes into its repository's root checkout.
    pub fn spotlight_on(&self, req: &SpotlightRequest) -> Result<Spotlight> {
        let name = req
            .workspace
            .as_deref()
            .ok_or_else(|| Error::new("name a workspace: :ConductorSpotlight {ws}"))?;
        let ws = self.active_workspace(name, req.repo.as_deref())?;
        if let Some(on) = self.spotlight_of(&ws.repo_root)? {
            // A second spotlight replaces the first: the root goes back before.
            self.spotlight_off(&SpotlightRequest {
                workspace: Some(on.workspace_id),
                repo: Some(on.repo_root),
            })?;
        }
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let root = Repository::open(&ws.repo_root)?;
        check_no_filters(&root, &ws.repo_root)?;
        let (root_tree, _) = worktree_trees(&root, &ws.repo_root, "spotlight")?;
        let target = merged(&root, &ws, root_tree)?;
        let list = changes(
            &root,
            &root.find_tree(root_tree)?,
            &root.find_tree(target)?,
            None,
        )?;
        let blocked = unsafe_paths(&ws.repo_root, &list);
        if !blocked.is_empty() {
            return Err(Error::new(format!(
                "the root checkout has files git does not track (or reaches through a symlink) where {} would write: {}; move them away first",
                ws.name,
                blocked.join(", ")
            )));
        }
        pin(&root, SAVED_REF, root_tree)?;
        // The saved work also as a stash-shaped commit, the form `git stash apply` takes.
        let _ = snapshot::record(
            &ws.repo_root,
            &format!("{SAVED_REF}-stash"),
            "conductor: the root's work before spotlight",
        );
        // Recorded before any file is written, so an off after a failure puts it back.
        let mut spot = Spotlight {
            repo_root: ws.repo_root.clone(),
            workspace_id: ws.id.clone(),
            workspace: ws.name.clone(),
            root_tree: root_tree.to_string(),
            written_tree: root_tree.to_string(),
            paused: None,
        };
        self.save_spotlight(&spot)?;
        apply(&root, &ws.repo_root, list).map_err(|e| {
            e.context(format!(
                "spotlight of {} stopped halfway; :ConductorSpotlight! puts the root back",
                ws.name
            ))
        })?;
        pin(&root, WRITTEN_REF, target)?;
        spot.written_tree = target.to_string();
        self.save_spotlight(&spot)?;
        Ok(spot)
    }

    /// Brings the root up to date with the spotlighted workspace (after an agent turn or a
    /// write). Pauses, touching nothing, when the root's files were edited meanwhile or
    /// the changes now conflict. Returns the spotlight, or None when none is on for it.
    pub fn spotlight_sync(&self, req: &SpotlightRequest) -> Result<Option<Spotlight>> {
        let name = req.workspace.as_deref().unwrap_or_default();
        let ws = self.get(name, req.repo.as_deref())?;
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        // Read again under the lock: an off may have come first.
        let Some(mut spot) = self.spotlight_of(&ws.repo_root)? else {
            return Ok(None);
        };
        if spot.workspace_id != ws.id || spot.paused.is_some() {
            return Ok(Some(spot));
        }
        let root = Repository::open(&ws.repo_root)?;
        let (now, _) = worktree_trees(&root, &ws.repo_root, "spotlight")?;
        let written = Oid::from_str(&spot.written_tree)?;
        let outcome = if now != written {
            Err("the root's files were edited while spotlighted".to_string())
        } else {
            merged(&root, &ws, Oid::from_str(&spot.root_tree)?)
                .and_then(|target| {
                    if target != written {
                        write_diff(&root, &ws.repo_root, written, target)?;
                    }
                    Ok(target)
                })
                .map_err(|e| e.to_string())
        };
        match outcome {
            Ok(target) if target == written => return Ok(Some(spot)),
            Ok(target) => {
                pin(&root, WRITTEN_REF, target)?;
                spot.written_tree = target.to_string();
            }
            Err(why) => spot.paused = Some(format!("{why}; sync paused, nothing overwritten")),
        }
        self.save_spotlight(&spot)?;
        Ok(Some(spot))
    }

    /// Turns the spotlight of the workspace's repository (or `repo`'s) off and puts back
    /// the root's files that spotlight changed exactly as they were. Files the user
    /// edited in the root meanwhile are kept on a ref first, and those spotlight never
    /// touched are left as the user made them.
    pub fn spotlight_off(&self, req: &SpotlightRequest) -> Result<SpotlightOff> {
        let root_path = match (&req.workspace, &req.repo) {
            (Some(w), repo) => self.get(w, repo.as_deref())?.repo_root,
            (None, Some(repo)) => crate::repo::resolve(repo)?.root,
            (None, None) => return Err(Error::new("name a workspace: :ConductorSpotlight! {ws}")),
        };
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let spot = self
            .spotlight_of(&root_path)?
            .ok_or_else(|| Error::new(format!("no spotlight is on in {}", root_path.display())))?;
        let root = Repository::open(&spot.repo_root)?;
        let (now, _) = worktree_trees(&root, &spot.repo_root, "spotlight")?;
        let written = Oid::from_str(&spot.written_tree)?;
        let before = Oid::from_str(&spot.root_tree)?;
        let mut edits_ref = None;
        if now != written {
            let name = format!(
                "refs/conductor/spotlight/edits-{}",
                crate::scripts::now_secs()
            );
            if snapshot::record(
                &spot.repo_root,
                &name,
                "conductor: edits made in the root while spotlighted",
            )?
            .is_some()
            {
                edits_ref = Some(name);
            }
        }
        // The paths spotlight changed, back to what they were.
        let touched: std::collections::HashSet<std::path::PathBuf> = changes(
            &root,
            &root.find_tree(before)?,
            &root.find_tree(written)?,
            None,
        )?
        .into_iter()
        .map(|c| c.path)
        .collect();
        let list = changes(
            &root,
            &root.find_tree(now)?,
            &root.find_tree(before)?,
            Some(&touched),
        )?;
        apply(&root, &spot.repo_root, list)?;
        for name in [SAVED_REF, WRITTEN_REF, &format!("{SAVED_REF}-stash")] {
            if let Ok(mut r) = root.find_reference(name) {
                let _ = r.delete();
            }
        }
        let gone = spot.repo_root.clone();
        self.store()?.update(move |s| {
            s.spotlights.retain(|x| x.repo_root != gone);
            Ok(())
        })?;
        Ok(SpotlightOff {
            workspace: spot.workspace,
            workspace_id: spot.workspace_id,
            edits_ref,
        })
    }
}
