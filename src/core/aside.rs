//! A restore that finds its directory already there: an agent another Neovim still ran
//! after the archive wrote into it again (recreating the directory). When everything in it
//! was written after the archive, it is recorded on a private ref (a commit whose tree is
//! the directory) and the directory removed, so the restore can proceed and nothing is
//! lost. A directory holding anything older is someone else's: left alone, with an error.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use git2::{Oid, Repository, Signature};

use crate::error::{Context, Error, Result};

/// Seconds since the epoch of the newest and oldest file (not directory) under `dir`.
fn file_times(dir: &Path, oldest: &mut u64, count: &mut usize) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.path().symlink_metadata()?;
        if meta.is_dir() {
            file_times(&entry.path(), oldest, count)?;
        } else {
            let secs = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            *oldest = (*oldest).min(secs);
            *count += 1;
        }
    }
    Ok(())
}

/// The tree of `dir` as it is on disk (files, executables, symlinks); None when empty.
fn write_tree(repo: &Repository, dir: &Path) -> Result<Option<Oid>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    let mut tree = repo.treebuilder(None)?;
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().as_bytes().to_vec();
        let meta = path.symlink_metadata()?;
        if meta.is_dir() {
            if let Some(oid) = write_tree(repo, &path)? {
                tree.insert(name, oid, 0o040000)?;
            }
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            let oid = repo.blob(target.as_os_str().as_bytes())?;
            tree.insert(name, oid, 0o120000)?;
        } else if meta.is_file() {
            let oid = repo.blob_path(&path)?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o100755
            } else {
                0o100644
            };
            tree.insert(name, oid, mode)?;
        }
    }
    if tree.is_empty() {
        return Ok(None);
    }
    Ok(Some(tree.write()?))
}

/// Moves what was written into `dir` after `since` (seconds since the epoch) onto
/// `refname` (a commit on top of `parent`) and removes `dir`. Returns how many files it
/// kept. Fails, touching nothing, when `dir` holds a file from before `since`.
pub fn keep_late_files(
    repo: &Repository,
    dir: &Path,
    since: u64,
    refname: &str,
    parent: Option<Oid>,
) -> Result<usize> {
    let mut oldest = u64::MAX;
    let mut count = 0;
    file_times(dir, &mut oldest, &mut count)?;
    if count > 0 && oldest < since {
        return Err(Error::new(format!(
            "target directory {} already exists and holds files from before the archive: move it away and restore again",
            dir.display()
        )));
    }
    if let Some(tree) = write_tree(repo, dir)? {
        let sig = Signature::now("conductor.nvim", "conductor@localhost")?;
        let parents: Vec<git2::Commit> = parent
            .and_then(|p| repo.find_commit(p).ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        let commit = repo.commit(
            None,
            &sig,
            &sig,
            &format!(
                "conductor: files written in {} after its archive",
                dir.display()
            ),
            &repo.find_tree(tree)?,
            &parents,
        )?;
        repo.reference(
            refname,
            commit,
            true,
            "conductor: files written after archive",
        )?;
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot move {} aside", dir.display()))?;
    Ok(count)
}
