//! Writing a new worktree's files. Creating files dominates worktree creation (about 1 ms
//! per file on slow disks) and libgit2, like git, writes them one at a time; several
//! writers overlap the waits. The parallel writer is used only where nothing git does
//! during a checkout can apply: no checkout filter (no attributes, no `core.autocrlf`,
//! so no end-of-line conversion and no LFS smudge) and no sparse checkout. Blobs are then
//! written byte for byte, exactly as a checkout would, and the index is built with each
//! file's stat data, so the first `git status` in the worktree does not have to read every
//! file again. Everywhere else git itself checks the files out, the way
//! `git worktree add` does (`git reset --hard`), so the tree is never silently different.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use git2::{IndexEntry, IndexTime, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::error::{Context, Error, Result};

struct Entry {
    path: String,
    id: Oid,
    mode: i32,
}

const GITLINK: i32 = 0o160000;

/// Why git itself must write the files of `tree` (None: the parallel writer may).
pub fn needs_git_checkout(main: &Repository, tree: &git2::Tree) -> Option<&'static str> {
    let config = main.config().ok();
    let get = |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok());
    if get("core.autocrlf").is_some_and(|v| v != "false") {
        return Some("core.autocrlf");
    }
    if main.path().join("info/attributes").exists() {
        return Some("info/attributes");
    }
    if global_attributes_file(get("core.attributesFile")).is_some_and(|f| f.is_file()) {
        return Some("the global attributes file");
    }
    if sparse_checkout(main) {
        return Some("sparse checkout");
    }
    let mut has_attributes = false;
    let _ = tree.walk(TreeWalkMode::PreOrder, |_, entry| {
        if entry.name() == Some(".gitattributes") {
            has_attributes = true;
            return TreeWalkResult::Abort;
        }
        TreeWalkResult::Ok
    });
    has_attributes.then_some(".gitattributes")
}

/// Whether filters can change bytes between the repository and the files through
/// configuration alone (`.gitattributes` files in the tree are the caller's to look for).
pub fn filters_configured(repo: &Repository) -> bool {
    let config = repo.config().ok();
    let get = |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok());
    get("core.autocrlf").is_some_and(|v| v != "false")
        || repo.path().join("info/attributes").exists()
        || Path::new(repo.commondir()).join("info/attributes").exists()
        || global_attributes_file(get("core.attributesFile")).is_some_and(|f| f.is_file())
}

/// What a libgit2 checkout of a worktree writes for a blob: its smudge filters
/// (end-of-line conversion, `ident`), which git2 does not expose. Restore checks files out
/// with libgit2, so this is exactly what it would write.
pub struct Smudge {
    repo: *mut libgit2_sys::git_repository,
}

#[repr(C)]
struct FilterList {
    _opaque: [u8; 0],
}

extern "C" {
    fn git_filter_list_load(
        filters: *mut *mut FilterList,
        repo: *mut libgit2_sys::git_repository,
        blob: *mut libgit2_sys::git_blob,
        path: *const std::ffi::c_char,
        mode: std::ffi::c_int,
        flags: u32,
    ) -> std::ffi::c_int;
    fn git_filter_list_apply_to_buffer(
        out: *mut libgit2_sys::git_buf,
        filters: *mut FilterList,
        input: *const std::ffi::c_char,
        len: libc::size_t,
    ) -> std::ffi::c_int;
    fn git_filter_list_free(filters: *mut FilterList);
}

const GIT_FILTER_TO_WORKTREE: std::ffi::c_int = 0;

impl Smudge {
    /// For the checkout at `worktree` (the caller holds an open git2 Repository, so
    /// libgit2 is initialised).
    pub fn open(worktree: &Path) -> Result<Smudge> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(worktree.as_os_str().as_bytes())
            .map_err(|_| Error::new("path with a NUL byte"))?;
        let mut repo = std::ptr::null_mut();
        // SAFETY: valid out pointer and C string; the handle is freed in Drop.
        let rc = unsafe { libgit2_sys::git_repository_open(&mut repo, path.as_ptr()) };
        if rc < 0 {
            return Err(Error::from(git2::Error::last_error(rc)));
        }
        Ok(Smudge { repo })
    }

    /// The bytes a checkout writes at `path` for `content`; None when no filter applies
    /// to that path (the bytes are the blob's).
    pub fn apply(&self, path: &str, content: &[u8]) -> Result<Option<Vec<u8>>> {
        let c_path =
            std::ffi::CString::new(path).map_err(|_| Error::new("path with a NUL byte"))?;
        let mut filters: *mut FilterList = std::ptr::null_mut();
        // SAFETY: the repository handle lives as long as self; the filter list is freed
        // below, the buffer disposed of after its bytes are copied.
        unsafe {
            let rc = git_filter_list_load(
                &mut filters,
                self.repo,
                std::ptr::null_mut(),
                c_path.as_ptr(),
                GIT_FILTER_TO_WORKTREE,
                0,
            );
            if rc < 0 {
                return Err(Error::from(git2::Error::last_error(rc)));
            }
            if filters.is_null() {
                return Ok(None);
            }
            let mut out = libgit2_sys::git_buf {
                ptr: std::ptr::null_mut(),
                reserved: 0,
                size: 0,
            };
            let rc = git_filter_list_apply_to_buffer(
                &mut out,
                filters,
                content.as_ptr().cast(),
                content.len(),
            );
            git_filter_list_free(filters);
            if rc < 0 {
                libgit2_sys::git_buf_dispose(&mut out);
                return Err(Error::from(git2::Error::last_error(rc)));
            }
            let bytes = if out.ptr.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(out.ptr as *const u8, out.size).to_vec()
            };
            libgit2_sys::git_buf_dispose(&mut out);
            Ok(Some(bytes))
        }
    }
}

impl Drop for Smudge {
    fn drop(&mut self) {
        // SAFETY: opened in `open`, freed once.
        unsafe { libgit2_sys::git_repository_free(self.repo) }
    }
}

/// `core.attributesFile`, else git's default `$XDG_CONFIG_HOME/git/attributes`.
fn global_attributes_file(configured: Option<String>) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(f) = configured {
        return Some(match f.strip_prefix("~/") {
            Some(rest) => home?.join(rest),
            None => PathBuf::from(f),
        });
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")))?;
    Some(xdg.join("git/attributes"))
}

/// Whether the root checkout is sparse. Read with git itself: the setting may live in the
/// root's own `config.worktree`.
fn sparse_checkout(main: &Repository) -> bool {
    if !main.path().join("info/sparse-checkout").exists() {
        return false;
    }
    let Some(root) = main.workdir() else {
        return false;
    };
    git(root)
        .args(["config", "--bool", "core.sparseCheckout"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

/// The git CLI in `dir`, with none of the caller's repository variables (Neovim may have
/// been started by a git hook or `git commit`'s editor).
pub fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).stdin(Stdio::null());
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_PREFIX",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs git, failing with its first error line.
pub fn run_git(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run git for {what}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    // git's last "fatal:" line says what failed (naming the file); else its first line.
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .collect();
    let line = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("fatal: "))
        .or(lines.first().copied())
        .unwrap_or("failed");
    Err(Error::new(format!("{what}: {line}")))
}

/// Fills a worktree made by `add_worktree_without_files` with the files of its HEAD
/// (after moving HEAD to `detach_at` when given), by the parallel writer or, where
/// something git does at checkout applies, by git itself.
pub fn populate(main: &Repository, worktree: &Path, detach_at: Option<Oid>) -> Result<()> {
    let wt = Repository::open(worktree)?;
    if let Some(commit) = detach_at {
        wt.set_head_detached(commit)?;
    }
    let tree = wt.head()?.peel_to_tree()?;
    match needs_git_checkout(main, &tree) {
        None => write_tree(main.path(), worktree, tree.id()),
        Some(_) => {
            copy_sparse_settings(main, &wt)?;
            // What `git worktree add` runs to check a new worktree out.
            run_git(
                git(worktree).args(["reset", "--hard", "--no-recurse-submodules", "--quiet"]),
                "checking out the new worktree with git",
            )
            .map(|_| ())
        }
    }
}

/// As `git worktree add` does from a sparse checkout: the new worktree gets the root's
/// sparse-checkout patterns and its per-worktree config (without `core.bare` and
/// `core.worktree`, which belong to the root alone).
fn copy_sparse_settings(main: &Repository, wt: &Repository) -> Result<()> {
    if !sparse_checkout(main) {
        return Ok(());
    }
    let admin = wt.path();
    std::fs::create_dir_all(admin.join("info"))?;
    std::fs::copy(
        main.path().join("info/sparse-checkout"),
        admin.join("info/sparse-checkout"),
    )
    .context("cannot copy the sparse-checkout patterns")?;
    let config = main.path().join("config.worktree");
    if config.is_file() {
        let copy = admin.join("config.worktree");
        std::fs::copy(&config, &copy).context("cannot copy config.worktree")?;
        for key in ["core.bare", "core.worktree"] {
            // Exit status 5: the key was not there.
            let _ = git(main.path())
                .args(["config", "--file"])
                .arg(&copy)
                .args(["--unset-all", key])
                .output();
        }
    }
    Ok(())
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
            GITLINK => {
                // A submodule: an empty directory, as git leaves an uninitialised one,
                // and its gitlink in the index (without it the submodule reads as
                // staged for deletion).
                dirs.insert(path.clone());
                entries.push(Entry {
                    path,
                    id: entry.id(),
                    mode: GITLINK,
                });
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
    let files: Vec<&Entry> = entries.iter().filter(|e| e.mode != GITLINK).collect();
    let chunk = files.len().div_ceil(writers).max(1);
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = files
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
        if e.mode == GITLINK {
            // git keeps no stat data for a gitlink either.
            let zero = IndexTime::new(0, 0);
            index.add(&IndexEntry {
                ctime: zero,
                mtime: zero,
                dev: 0,
                ino: 0,
                mode: GITLINK as u32,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: e.id,
                flags: e.path.len().min(0xfff) as u16,
                flags_extended: 0,
                path: e.path.clone().into_bytes(),
            })?;
            continue;
        }
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

fn write_files(main: &Path, worktree: &Path, entries: &[&Entry]) -> Result<()> {
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
