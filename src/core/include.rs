//! Files a new worktree gets copied from the root checkout: only files git ignores (a fresh
//! checkout cannot have them: `.env`, local settings), chosen by `.worktreeinclude`
//! (gitignore syntax) when the repository has one, else `file_include_globs`, else `.env*`.
//! Untracked files that are not ignored are never copied: they are the user's unfinished work.

use std::path::{Path, PathBuf};

use git2::{Repository, Status, StatusOptions};
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::error::{Context, Error, Result};

pub const INCLUDE_FILE: &str = ".worktreeinclude";
pub const DEFAULT_GLOBS: &[&str] = &[".env*"];

/// Which files to copy, relative to `root`, sorted.
pub fn files_to_copy(root: &Path, globs: Option<&[String]>) -> Result<Vec<PathBuf>> {
    let matcher = matcher(root, globs)?;
    if matcher.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (rel, _) in ignored_entries(root)? {
        let abs = root.join(&rel);
        let Ok(meta) = abs.symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            let whole_dir = matcher.matched(&rel, true).is_ignore();
            walk(root, &abs, &matcher, whole_dir, &mut out)?;
        } else if matcher.matched_path_or_any_parents(&rel, false).is_ignore() {
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}

/// The ignored entries of the checkout at `root`, relative, each with git's own name for
/// it: an ignored directory is one entry (`node_modules/`; git does not look inside).
fn ignored_entries(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let repo = Repository::open(root)?;
    let mut opts = StatusOptions::new();
    // libgit2 only looks inside untracked directories (where ignored files live) when
    // untracked files are included; they are filtered out below.
    opts.include_ignored(true)
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .recurse_ignored_dirs(false)
        .exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts))?;
    Ok(statuses
        .iter()
        .filter(|e| e.status().contains(Status::IGNORED))
        .filter_map(|e| {
            let name = e.path()?.to_string();
            Some((PathBuf::from(name.trim_end_matches('/')), name))
        })
        .collect())
}

fn matcher(root: &Path, globs: Option<&[String]>) -> Result<Gitignore> {
    let mut builder = GitignoreBuilder::new(root);
    let include_file = root.join(INCLUDE_FILE);
    if include_file.is_file() {
        if let Some(err) = builder.add(&include_file) {
            return Err(Error::new(format!(
                "malformed {}: {err}",
                include_file.display()
            )));
        }
    } else {
        let defaults: Vec<String> = DEFAULT_GLOBS.iter().map(|s| s.to_string()).collect();
        for glob in globs.unwrap_or(&defaults) {
            builder.add_line(None, glob).map_err(|e| {
                Error::new(format!("invalid file_include_globs entry {glob:?}: {e}"))
            })?;
        }
    }
    builder
        .build()
        .map_err(|e| Error::new(format!("invalid include patterns: {e}")))
}

fn walk(
    root: &Path,
    dir: &Path,
    matcher: &Gitignore,
    all: bool,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            let all = all || matcher.matched(&rel, true).is_ignore();
            walk(root, &path, matcher, all, out)?;
        } else if all || matcher.matched_path_or_any_parents(&rel, false).is_ignore() {
            out.push(rel);
        }
    }
    Ok(())
}

/// The ignored content of the checkout at `root` (what removing it deletes), largest first:
/// (path, bytes), an ignored directory as one item (`node_modules/`). Files in `kept` are
/// left out (their size too).
pub fn ignored_content(root: &Path, kept: &[PathBuf]) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for (rel_path, shown) in ignored_entries(root)? {
        if kept.contains(&rel_path) {
            continue;
        }
        let bytes = size_of(&root.join(&rel_path), &rel_path, kept);
        out.push((shown, bytes));
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// Bytes under `path` (not following symlinks), leaving out the `kept` files.
fn size_of(path: &Path, rel: &Path, kept: &[PathBuf]) -> u64 {
    let Ok(meta) = path.symlink_metadata() else {
        return 0;
    };
    if !meta.is_dir() {
        return if kept.iter().any(|k| k == rel) {
            0
        } else {
            meta.len()
        };
    }
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| size_of(&e.path(), &rel.join(e.file_name()), kept))
            .sum()
    })
}

/// Copies `files` (relative) from `from` to `to`, keeping permissions and symlinks.
pub fn copy_files(from: &Path, to: &Path, files: &[PathBuf]) -> Result<()> {
    for rel in files {
        let src = from.join(rel);
        let dst = to.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let meta = src.symlink_metadata()?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&src)?;
            #[cfg(unix)]
            std::os::unix::fs::symlink(target, &dst)
                .with_context(|| format!("cannot copy {}", rel.display()))?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", rel.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_with_slash_matches_nested_ignored_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::process::Command::new("git")
            .arg("init")
            .arg("-q")
            .arg(root)
            .status()
            .unwrap();
        std::fs::write(root.join(".gitignore"), "config/*.local\n").unwrap();
        std::fs::create_dir(root.join("config")).unwrap();
        std::fs::write(root.join("config/app.local"), "x").unwrap();
        let files = files_to_copy(root, Some(&["config/*.local".to_string()])).unwrap();
        assert_eq!(files, [PathBuf::from("config/app.local")]);
    }
}
