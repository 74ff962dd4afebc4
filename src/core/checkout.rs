//! Writing a new worktree's files in parallel. Creating files dominates worktree creation
//! (about 1 ms per file on slow disks) and libgit2, like git, writes them one at a time;
//! several writers overlap the waits. Used only where no checkout filter can apply (no
//! `.gitattributes`, no `core.autocrlf`): blobs are then written byte for byte, exactly
//! as a checkout would. The index is built with each file's stat data, so the first
//! `git status` in the worktree does not have to read every file again.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use git2::{IndexEntry, IndexTime, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::core::error::{Context, Error, Result};

struct Entry {
    path: String,
    id: Oid,
    mode: i32,
}

/// Whether the files of `tree` can be written without checkout filters.
pub fn filters_cannot_apply(repo: &Repository, tree: &git2::Tree) -> bool {
    let autocrlf = repo
        .config()
        .ok()
        .and_then(|c| c.get_string("core.autocrlf").ok());
    if autocrlf.is_some_and(|v| v != "false") {
        return false;
    }
    if repo.path().join("info/attributes").exists() {
        return false;
    }
    let mut has_attributes = false;
    let _ = tree.walk(TreeWalkMode::PreOrder, |_, entry| {
        if entry.name() == Some(".gitattributes") {
            has_attributes = true;
            return TreeWalkResult::Abort;
        }
        TreeWalkResult::Ok
    });
    !has_attributes
}

/// `git worktree add --no-checkout`: the worktree's administrative files and HEAD on
/// `reference`, no files. git2 does not expose the checkout strategy of
/// `git_worktree_add`, so the call is made with a copy of git2's options changed.
pub fn add_worktree_without_files(
    git_dir: &Path,
    name: &str,
    path: &Path,
    reference: &git2::Reference,
) -> Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(reference));
    // SAFETY: a plain copy of an initialised C struct; the reference it points to outlives
    // the call below.
    let mut raw = unsafe { std::ptr::read(opts.raw()) };
    raw.checkout_options.checkout_strategy = libgit2_sys::GIT_CHECKOUT_NONE;
    let c = |p: &std::ffi::OsStr| {
        CString::new(p.as_bytes()).map_err(|_| Error::new("path with a NUL byte"))
    };
    let (dir, wt_name, wt_path) = (
        c(git_dir.as_os_str())?,
        c(std::ffi::OsStr::new(name))?,
        c(path.as_os_str())?,
    );
    // SAFETY: libgit2 is initialised (the caller holds an open git2 Repository); every
    // pointer passed is valid for the call, and both handles are freed before returning.
    unsafe {
        let mut repo = std::ptr::null_mut();
        let rc = libgit2_sys::git_repository_open(&mut repo, dir.as_ptr());
        if rc < 0 {
            return Err(Error::from(git2::Error::last_error(rc)));
        }
        let mut wt = std::ptr::null_mut();
        let rc =
            libgit2_sys::git_worktree_add(&mut wt, repo, wt_name.as_ptr(), wt_path.as_ptr(), &raw);
        let err = (rc < 0).then(|| git2::Error::last_error(rc));
        if !wt.is_null() {
            libgit2_sys::git_worktree_free(wt);
        }
        libgit2_sys::git_repository_free(repo);
        if let Some(err) = err {
            return Err(Error::from(err));
        }
    }
    Ok(())
}

/// Writes every file of `tree` under `dest` and the matching index of `worktree_repo`.
pub fn write_tree(main: &Path, worktree: &Path, tree_id: Oid) -> Result<()> {
    let repo = Repository::open(worktree)?;
    let tree = repo.find_tree(tree_id)?;
    let mut entries = Vec::new();
    let mut dirs = BTreeSet::new();
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        let path = format!("{root}{}", entry.name().unwrap_or(""));
        match entry.filemode() {
            0o040000 => {
                dirs.insert(path);
            }
            0o160000 => {
                // A submodule: an empty directory, as git leaves an uninitialised one.
                dirs.insert(path);
            }
            mode => entries.push(Entry {
                path,
                id: entry.id(),
                mode,
            }),
        }
        TreeWalkResult::Ok
    })?;
    for dir in &dirs {
        std::fs::create_dir_all(worktree.join(dir))
            .with_context(|| format!("cannot create {dir}"))?;
    }
    let writers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4)
        * 2;
    let chunk = entries.len().div_ceil(writers).max(1);
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| s.spawn(move || write_files(main, worktree, part)))
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| Error::new("a checkout writer panicked"))??;
        }
        Ok(())
    })?;

    let mut index = repo.index()?;
    index.clear()?;
    for e in &entries {
        let meta = std::fs::symlink_metadata(worktree.join(&e.path))?;
        index.add(&IndexEntry {
            ctime: IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32),
            mtime: IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32),
            dev: meta.dev() as u32,
            ino: meta.ino() as u32,
            mode: e.mode as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            file_size: meta.size() as u32,
            id: e.id,
            flags: e.path.len().min(0xfff) as u16,
            flags_extended: 0,
            path: e.path.clone().into_bytes(),
        })?;
    }
    index.write()?;
    Ok(())
}

fn write_files(main: &Path, worktree: &Path, entries: &[Entry]) -> Result<()> {
    // Each writer reads objects through its own handle (a Repository is not Sync).
    let repo = Repository::open(main)?;
    for e in entries {
        let blob = repo.find_blob(e.id)?;
        let target: PathBuf = worktree.join(&e.path);
        if e.mode == 0o120000 {
            let link = String::from_utf8_lossy(blob.content()).into_owned();
            std::os::unix::fs::symlink(link, &target)
                .with_context(|| format!("cannot create {}", e.path))?;
        } else {
            std::fs::write(&target, blob.content())
                .with_context(|| format!("cannot write {}", e.path))?;
            if e.mode == 0o100755 {
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
            }
        }
    }
    Ok(())
}
