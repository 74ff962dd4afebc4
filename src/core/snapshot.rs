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
//!
//! What a tree of the work cannot say exactly goes into a third parent, the "extras"
//! commit, whose tree holds:
//! - `bytes/<path>`: the exact bytes of files that checkout filters (`core.autocrlf`,
//!   `eol`/`text` attributes) would not give back, so restore is byte-exact;
//! - `ignored/<path>`: ignored files kept on purpose (those matching the files-to-copy
//!   rules, such as an edited `.env.local`), and `ignored-modes`, their permissions;
//! - `git/<name>`: the state of an operation in progress in the worktree (a paused
//!   rebase, a merge, a cherry-pick), so that it can be continued after restore.
//!
//! Its parents keep every commit that state names reachable.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{
    IndexAddOption, IndexEntry, IndexEntryExtendedFlag, IndexTime, ObjectType, Oid, Repository,
    Signature, TreeWalkMode, TreeWalkResult,
};

use crate::checkout;
use crate::error::{Context, Error, Result};

fn signature() -> Result<Signature<'static>> {
    Ok(Signature::now("conductor.nvim", "conductor@localhost")?)
}

/// Records the uncommitted work of the checkout at `worktree` on `refname`.
/// Returns None (and writes no ref) when there is nothing uncommitted.
pub fn record(worktree: &Path, refname: &str, message: &str) -> Result<Option<Oid>> {
    record_keeping(worktree, refname, message, &[])
}

/// As `record`, also keeping the ignored files `keep_ignored` (relative paths).
pub fn record_keeping(
    worktree: &Path,
    refname: &str,
    message: &str,
    keep_ignored: &[PathBuf],
) -> Result<Option<Oid>> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    let Some(snapshot) = build(&repo, worktree, message, keep_ignored)? else {
        return Ok(None);
    };
    repo.reference(refname, snapshot, true, message)?;
    Ok(Some(snapshot))
}

/// Everything `record_keeping` does but writing the ref: whether the work of `worktree`
/// can be recorded at all. Its objects are left for git's garbage collection.
pub fn check(worktree: &Path, keep_ignored: &[PathBuf]) -> Result<()> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    build(&repo, worktree, "conductor: archive check", keep_ignored).map(|_| ())
}

/// Entries marked `assume-unchanged` or `skip-worktree` (`git update-index`) are never
/// compared with their files, so an edit kept that way would be neither recorded nor
/// seen. In the scratch index, every such entry whose file is there is unmarked; files a
/// sparse checkout left out (not on disk) stay marked.
fn see_hidden_changes(index: &mut git2::Index, worktree: &Path) -> Result<()> {
    let valid = git2::IndexEntryFlag::VALID.bits();
    let skip = IndexEntryExtendedFlag::SKIP_WORKTREE.bits();
    let hidden: Vec<IndexEntry> = index
        .iter()
        .filter(|e| e.flags & valid != 0 || e.flags_extended & skip != 0)
        .filter(|e| {
            let path = Path::new(std::str::from_utf8(&e.path).unwrap_or(""));
            std::fs::symlink_metadata(worktree.join(path)).is_ok()
        })
        .collect();
    for mut e in hidden {
        e.flags &= !valid;
        e.flags_extended &= !skip;
        // Zero stat data: the file is read and hashed, whatever its times say.
        e.mtime = IndexTime::new(0, 0);
        e.file_size = 0;
        index.add(&e)?;
    }
    Ok(())
}

fn build(
    repo: &Repository,
    worktree: &Path,
    message: &str,
    keep_ignored: &[PathBuf],
) -> Result<Option<Oid>> {
    refuse_conflicts(repo)?;
    let head = repo.head()?.peel_to_commit()?;
    let (index_tree, intents) = staged_tree(repo).context("cannot read the staged changes")?;

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
    // The real index as it is on disk (once `set_index` runs, `repo.index()` is the copy).
    let real = repo.index()?;
    let mut index = git2::Index::open(&scratch_index)?;
    see_hidden_changes(&mut index, worktree)?;
    repo.set_index(&mut index)?;
    index
        .add_all(["*"], IndexAddOption::DEFAULT, None)
        .map_err(|e| explain_add_failure(repo, e))?;
    index.update_all(["*"], None)?;
    refuse_nested_repositories(&real, &index)?;
    let work_tree = index.write_tree()?;
    let extras = extras(repo, worktree, &index, keep_ignored, &head)?;

    let head_tree = head.tree_id();
    if work_tree == head_tree && index_tree == head_tree && intents.is_empty() && extras.is_none() {
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
    let mut parents = vec![head.clone(), repo.find_commit(index_commit)?];
    if let Some(extras) = extras {
        parents.push(repo.find_commit(extras)?);
    }
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    let snapshot = repo.commit(
        None,
        &sig,
        &sig,
        message,
        &repo.find_tree(work_tree)?,
        &parents,
    )?;
    Ok(Some(snapshot))
}

/// A conflicted index has no tree: the user decides how the conflict ends, not archive.
fn refuse_conflicts(repo: &Repository) -> Result<()> {
    let index = repo.index()?;
    if !index.has_conflicts() {
        return Ok(());
    }
    let mut paths: Vec<String> = index
        .conflicts()?
        .flatten()
        .filter_map(|c| c.our.or(c.their).or(c.ancestor))
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    paths.dedup();
    let more = paths.len().saturating_sub(5);
    paths.truncate(5);
    Err(Error::new(format!(
        "it has unresolved conflicts in {}{}: resolve them (edit, then `git add`) or abort \
         the merge or rebase, then try again",
        paths.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )))
}

/// libgit2 refuses to add a git repository inside the work ("invalid path"): say which
/// and what to do.
fn explain_add_failure(repo: &Repository, e: git2::Error) -> Error {
    let Some(workdir) = repo.workdir() else {
        return e.into();
    };
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .exclude_submodules(true);
    let nested: Vec<String> = repo
        .statuses(Some(&mut opts))
        .map(|list| {
            list.iter()
                .filter(|s| s.status().contains(git2::Status::WT_NEW))
                .filter_map(|s| s.path().map(str::to_string))
                .filter(|p| workdir.join(p).join(".git").exists())
                .map(|p| p.trim_end_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    if nested.is_empty() {
        e.into()
    } else {
        nested_error(&nested)
    }
}

fn nested_error(nested: &[String]) -> Error {
    Error::new(format!(
        "{} {} a git repository of its own that is not a submodule; its files cannot be \
         kept in a snapshot: move it out of the workspace, add it as a submodule, or ignore \
         it in .gitignore, then try again",
        nested.join(", "),
        if nested.len() == 1 { "is" } else { "are" }
    ))
}

/// A git repository inside the work that is not a submodule would be recorded as a bare
/// commit id: its files would not be kept.
fn refuse_nested_repositories(real: &git2::Index, scratch: &git2::Index) -> Result<()> {
    let nested: Vec<String> = scratch
        .iter()
        .filter(|e| e.mode == 0o160000)
        .filter(|e| {
            real.get_path(Path::new(&*String::from_utf8_lossy(&e.path)), 0)
                .is_none_or(|r| r.mode != 0o160000)
        })
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    if nested.is_empty() {
        return Ok(());
    }
    Err(nested_error(&nested))
}

/// Operation state in a worktree's git directory that a restore puts back.
const OPERATION_STATE: &[&str] = &[
    "rebase-merge",
    "rebase-apply",
    "sequencer",
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "SQUASH_MSG",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "REBASE_HEAD",
    "AUTO_MERGE",
];

/// The extras commit (see the module comment), or None when there is nothing extra.
fn extras(
    repo: &Repository,
    worktree: &Path,
    scratch: &git2::Index,
    keep_ignored: &[PathBuf],
    head: &git2::Commit,
) -> Result<Option<Oid>> {
    let mut tree = git2::Index::new()?;
    let add = |tree: &mut git2::Index, prefix: &str, rel: &str, mode: u32, id: Oid| {
        tree.add(&plain_entry(
            format!("{prefix}/{rel}").into_bytes(),
            mode,
            id,
        ))
    };

    // Exact bytes where filters may change them: a file whose bytes are not what
    // restore's checkout would write for its recorded blob (an LF file under
    // `core.autocrlf=true`, a CRLF file that `text` normalises) is kept as it is.
    let attributes_in_tree = scratch.iter().any(|e| {
        let p = &e.path;
        p == b".gitattributes" || p.ends_with(b"/.gitattributes")
    });
    if attributes_in_tree || checkout::filters_configured(repo) {
        let smudge = checkout::Smudge::open(worktree)?;
        for e in scratch.iter() {
            if e.mode != 0o100644 && e.mode != 0o100755 {
                continue;
            }
            let rel = String::from_utf8_lossy(&e.path).into_owned();
            let blob = repo.find_blob(e.id)?;
            let Some(written) = smudge.apply(&rel, blob.content())? else {
                continue;
            };
            // A file that vanished since it was listed is simply not there to keep.
            let Ok(raw) = std::fs::read(worktree.join(&rel)) else {
                continue;
            };
            if written != raw {
                add(&mut tree, "bytes", &rel, e.mode, repo.blob(&raw)?)?;
            }
        }
    }

    // Ignored files kept on purpose, with their permissions (a `.env` may be private).
    let mut modes = String::new();
    for rel in keep_ignored {
        let file = worktree.join(rel);
        let Ok(meta) = file.symlink_metadata() else {
            continue;
        };
        let name = rel.to_string_lossy();
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&file)?;
            let id = repo.blob(target.as_os_str().as_encoded_bytes())?;
            add(&mut tree, "ignored", &name, 0o120000, id)?;
        } else if meta.is_file() {
            let mode = if meta.mode() & 0o111 != 0 {
                0o100755
            } else {
                0o100644
            };
            add(&mut tree, "ignored", &name, mode, raw_blob(repo, &file)?)?;
            modes.push_str(&format!(
                "{:o} {}\n",
                meta.mode() & 0o7777,
                quote_path(name.as_bytes())
            ));
        }
    }
    if !modes.is_empty() {
        tree.add(&plain_entry(
            b"ignored-modes".to_vec(),
            0o100644,
            repo.blob(modes.as_bytes())?,
        ))?;
    }

    // An operation in progress, and the commits it names.
    let gitdir = repo.path();
    let mut named = Vec::new();
    for name in OPERATION_STATE {
        let path = gitdir.join(name);
        if path.is_dir() {
            for file in files_under(&path)? {
                let rel = file.strip_prefix(gitdir).unwrap_or(&file);
                let bytes = std::fs::read(&file)?;
                named.extend(commit_ids(repo, &bytes));
                add(
                    &mut tree,
                    "git",
                    &rel.to_string_lossy(),
                    0o100644,
                    repo.blob(&bytes)?,
                )?;
            }
        } else if path.is_file() {
            let bytes = std::fs::read(&path)?;
            named.extend(commit_ids(repo, &bytes));
            add(&mut tree, "git", name, 0o100644, repo.blob(&bytes)?)?;
        }
    }

    if tree.is_empty() {
        return Ok(None);
    }
    let tree = repo.find_tree(tree.write_tree_to(repo)?)?;
    let mut parents = vec![head.clone()];
    for id in named {
        if !parents.iter().any(|p| p.id() == id) {
            parents.push(repo.find_commit(id)?);
        }
    }
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    let sig = signature()?;
    Ok(Some(repo.commit(
        None,
        &sig,
        &sig,
        "conductor: exact bytes, kept ignored files and git state",
        &tree,
        &parents,
    )?))
}

/// A file's bytes as they are (`blob_path` runs a workdir file through the clean filters).
fn raw_blob(repo: &Repository, file: &Path) -> Result<Oid> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(repo.blob(&bytes)?)
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// The commits a state file names (whole words of 40 hex digits that are commits).
fn commit_ids(repo: &Repository, bytes: &[u8]) -> Vec<Oid> {
    String::from_utf8_lossy(bytes)
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 40)
        .filter_map(|w| Oid::from_str(w).ok())
        .filter(|id| repo.find_commit(*id).is_ok())
        .collect()
}

fn plain_entry(path: Vec<u8>, mode: u32, id: Oid) -> IndexEntry {
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
        id,
        flags: path.len().min(0xfff) as u16,
        flags_extended: 0,
        path,
    }
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
        restore_extras(&repo, worktree, &snap, true)?;
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
    restore_extras(&repo, worktree, &snap, false)?;
    Ok(Applied::Merged)
}

/// Writes back what the extras commit holds: kept ignored files always; exact bytes and
/// the operation state only when the tree is exactly the recorded one (`exact`).
fn restore_extras(
    repo: &Repository,
    worktree: &Path,
    snap: &git2::Commit,
    exact: bool,
) -> Result<()> {
    if snap.parent_count() < 3 {
        return Ok(());
    }
    let tree = snap.parent(2)?.tree()?;
    let modes: Vec<(u32, Vec<u8>)> = match tree.get_path(Path::new("ignored-modes")) {
        Ok(e) => String::from_utf8_lossy(repo.find_blob(e.id())?.content())
            .lines()
            .filter_map(mode_and_path)
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut failed: Option<Error> = None;
    let mut rewritten: Vec<String> = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        if entry.kind() != Some(ObjectType::Blob) {
            return TreeWalkResult::Ok;
        }
        let full = format!("{root}{}", entry.name().unwrap_or(""));
        let (kind, rel) = full.split_once('/').unwrap_or(("", &full));
        if kind == "bytes" && exact {
            rewritten.push(rel.to_string());
        }
        let target = match kind {
            "ignored" => worktree.join(rel),
            "bytes" if exact => worktree.join(rel),
            "git" if exact => repo.path().join(rel),
            _ => return TreeWalkResult::Ok,
        };
        let mode = modes
            .iter()
            .find(|(_, p)| p.as_slice() == rel.as_bytes())
            .map(|(m, _)| *m);
        let written = repo
            .find_blob(entry.id())
            .map_err(Error::from)
            .and_then(|blob| write_file(&target, blob.content(), entry.filemode(), mode));
        match written {
            Ok(()) => TreeWalkResult::Ok,
            Err(e) => {
                failed = Some(e.context(format!("cannot restore {rel}")));
                TreeWalkResult::Abort
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    // The index holds the stat data of what the checkout wrote. git takes a different
    // size for "modified" without reading the file, so the entries of rewritten files
    // get no stat data: git then compares their contents, as after `git read-tree`.
    if !rewritten.is_empty() {
        let mut index = repo.index()?;
        for rel in &rewritten {
            if let Some(mut e) = index.get_path(Path::new(rel), 0) {
                let zero = IndexTime::new(0, 0);
                (e.ctime, e.mtime, e.dev, e.ino, e.file_size) = (zero, zero, 0, 0, 0);
                index.add(&e)?;
            }
        }
        index.write()?;
    }
    Ok(())
}

/// Writes `content` at `target`. A file that exists keeps its permissions unless `mode`
/// gives them (checkout already made it as git would).
fn write_file(target: &Path, content: &[u8], filemode: i32, mode: Option<u32>) -> Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let existing = target.symlink_metadata().ok();
    match &existing {
        Some(m) if m.is_dir() => std::fs::remove_dir_all(target)?,
        Some(m) if filemode == 0o120000 || !m.is_file() => std::fs::remove_file(target)?,
        _ => {}
    }
    if filemode == 0o120000 {
        use std::os::unix::ffi::OsStrExt;
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(content), target)?;
        return Ok(());
    }
    std::fs::write(target, content)?;
    if let Some(mode) = mode {
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode))?;
    } else if existing.is_none() && filemode == 0o100755 {
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
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
        .filter_map(|line| mode_and_path(line.strip_prefix(INTENT_TO_ADD)?.trim_start()))
        .collect()
}

/// `<octal mode> <path as JSON>` (see `quote_path`).
fn mode_and_path(line: &str) -> Option<(u32, Vec<u8>)> {
    let (mode, path) = line.split_once(' ')?;
    let mode = u32::from_str_radix(mode, 8).ok()?;
    let path = match serde_json::from_str::<serde_json::Value>(path).ok()? {
        serde_json::Value::String(s) => s.into_bytes(),
        bytes => serde_json::from_value::<Vec<u8>>(bytes).ok()?,
    };
    Some((mode, path))
}

fn intent_to_add(mode: u32, path: Vec<u8>, empty_blob: Oid) -> IndexEntry {
    IndexEntry {
        flags: 0,
        flags_extended: IndexEntryExtendedFlag::INTENT_TO_ADD.bits(),
        ..plain_entry(path, mode, empty_blob)
    }
}
