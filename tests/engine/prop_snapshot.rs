//! Property tests for archive/restore ("never lose work"): a random committed tree, then a
//! random set of edits in a workspace (modify, delete, add in new nested directories,
//! rename, chmod, file <-> symlink, file <-> directory), some staged and some not. Archive
//! and restore must bring back exactly the same worktree: every path's type, bytes, exec
//! bit and symlink target, the index (`git ls-files -s`) and `git status`.
//!
//! Empty directories are out of scope: git records none, so a snapshot cannot either.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::common::{git, Fixture};
use conductor_core::core::lifecycle::{CreateRequest, WorkspaceRequest};
use conductor_core::core::snapshot;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

// ---------------------------------------------------------------------------------------
// What a tree looks like on disk.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File { bytes: Vec<u8>, exec: bool },
    Link(PathBuf),
}

/// Every file and symlink under `root` (not `.git`), by relative path.
fn tree_on_disk(root: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == ".git" {
                continue;
            }
            let meta = path.symlink_metadata().unwrap();
            let ft = meta.file_type();
            if ft.is_symlink() {
                out.insert(rel, Entry::Link(std::fs::read_link(&path).unwrap()));
            } else if ft.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    rel,
                    Entry::File {
                        bytes: std::fs::read(&path).unwrap(),
                        exec: meta.permissions().mode() & 0o100 != 0,
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Directories under `root` (not `.git`), deepest first.
fn dirs_on_disk(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel != ".git" && path.symlink_metadata().unwrap().is_dir() {
                walk(root, &path, out);
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// Removes directories left empty by the edits (git cannot record them).
fn prune_empty_dirs(root: &Path) {
    for d in dirs_on_disk(root) {
        let _ = std::fs::remove_dir(root.join(d));
    }
}

/// Everything that must survive an archive/restore round trip. `git status` runs without
/// optional locks, so that observing does not refresh the index (and hide stale stat data).
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    head: String,
    files: BTreeMap<String, Entry>,
    index: String,
    status: String,
    status_all: String,
}

fn observe(dir: &Path) -> Observed {
    Observed {
        head: git(dir, &["rev-parse", "HEAD"]),
        files: tree_on_disk(dir),
        index: git(dir, &["ls-files", "-s"]),
        status: git(dir, &["--no-optional-locks", "status", "--porcelain=v1"]),
        status_all: git(
            dir,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain=v1",
                "--untracked-files=all",
            ],
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Strategies.

/// File contents: text, binary with NULs, empty, or a few KB.
fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-z \r\n]{0,40}".prop_map(String::into_bytes),
        3 => prop::collection::vec(any::<u8>(), 0..48),
        1 => Just(Vec::new()),
        1 => (any::<u8>(), 1000usize..6000).prop_map(|(b, n)| (0..n).map(|i| b ^ (i as u8)).collect()),
    ]
}

/// One path component of a directory: few choices, so that paths share directories.
fn dir_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "src", "dir x", "é", "deep"]).prop_map(str::to_string)
}

fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z]{1,4}(\\.(txt|rs|bin|sh))?",
        1 => prop::sample::select(vec![
            "with space.txt",
            "ünï.txt",
            "-dash",
            "new\nline",
            "tab\there",
            "q\"uote",
            "a",
            "src",
        ])
            .prop_map(str::to_string),
    ]
}

fn rel_path() -> impl Strategy<Value = String> {
    (prop::collection::vec(dir_name(), 0..4), file_name()).prop_map(|(mut dirs, f)| {
        dirs.push(f);
        dirs.join("/")
    })
}

/// Where a symlink points: at another entry (relative), at a directory, or nowhere.
#[derive(Debug, Clone)]
enum Target {
    Entry(Index),
    Dir(Index),
    Dangling(String),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => any::<Index>().prop_map(Target::Entry),
        1 => any::<Index>().prop_map(Target::Dir),
        1 => "(\\.\\./)?[a-z]{1,5}(/[a-z]{1,3})?".prop_map(Target::Dangling),
    ]
}

#[derive(Debug, Clone)]
enum Node {
    File { bytes: Vec<u8>, exec: bool },
    Link(Target),
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        5 => (contents(), prop::bool::weighted(0.25))
            .prop_map(|(bytes, exec)| Node::File { bytes, exec }),
        1 => target().prop_map(Node::Link),
    ]
}

/// The committed tree (paths that collide with another's directory are dropped on write).
fn committed_tree() -> impl Strategy<Value = Vec<(String, Node)>> {
    prop::collection::vec((rel_path(), node()), 1..14)
}

#[derive(Debug, Clone)]
enum Change {
    /// Same length, different bytes: stat data alone may not show it.
    SameSize,
    Append(Vec<u8>),
    Replace(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Edit {
    Modify(Index, Change),
    Delete(Index),
    /// A new file in new nested directories.
    Add {
        dirs: Vec<String>,
        name: String,
        bytes: Vec<u8>,
        exec: bool,
    },
    AddLink {
        path: String,
        target: Target,
    },
    /// Delete + add elsewhere, same contents.
    Rename(Index, String),
    ToggleExec(Index),
    ToSymlink(Index, Target),
    /// A symlink (or anything) becomes a regular file.
    ToFile(Index, Vec<u8>),
    /// A file becomes a directory holding a file.
    FileToDir(Index, String, Vec<u8>),
    /// A directory becomes a file.
    DirToFile(Index, Vec<u8>),
    /// A new file recorded with `git add -N` (intent to add).
    IntentToAdd(String, Vec<u8>),
    /// `git rm --cached`: deletion staged, the file left untracked.
    RmCached(Index),
    /// `git reset`: whatever was staged for a path is unstaged.
    Unstage(Index),
    /// The agent commits what is staged: HEAD moves off the base.
    Commit,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => Just(Change::SameSize),
        1 => prop::collection::vec(any::<u8>(), 1..20).prop_map(Change::Append),
        2 => contents().prop_map(Change::Replace),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), change()).prop_map(|(i, c)| Edit::Modify(i, c)),
        2 => any::<Index>().prop_map(Edit::Delete),
        3 => (
            prop::collection::vec("new|n[0-9]|é|dir x|[a-z]{1,3}", 1..4),
            file_name(),
            contents(),
            prop::bool::weighted(0.2)
        )
            .prop_map(|(dirs, name, bytes, exec)| Edit::Add { dirs, name, bytes, exec }),
        1 => (rel_path(), target()).prop_map(|(path, target)| Edit::AddLink { path, target }),
        2 => (any::<Index>(), rel_path()).prop_map(|(i, p)| Edit::Rename(i, p)),
        2 => any::<Index>().prop_map(Edit::ToggleExec),
        2 => (any::<Index>(), target()).prop_map(|(i, t)| Edit::ToSymlink(i, t)),
        1 => (any::<Index>(), contents()).prop_map(|(i, c)| Edit::ToFile(i, c)),
        1 => (any::<Index>(), file_name(), contents()).prop_map(|(i, n, c)| Edit::FileToDir(i, n, c)),
        1 => (any::<Index>(), contents()).prop_map(|(i, c)| Edit::DirToFile(i, c)),
        1 => (rel_path(), contents()).prop_map(|(p, c)| Edit::IntentToAdd(p, c)),
        1 => any::<Index>().prop_map(Edit::RmCached),
        1 => any::<Index>().prop_map(Edit::Unstage),
        1 => Just(Edit::Commit),
    ]
}

/// An edit, and whether its paths are staged (`git add -A`) right after.
fn steps() -> impl Strategy<Value = Vec<(Edit, bool)>> {
    prop::collection::vec((edit(), prop::bool::weighted(0.4)), 1..12)
}

// ---------------------------------------------------------------------------------------
// Applying a tree and edits to a directory.

/// Files and symlinks the edits may pick (not `.gitignore`: editing it would make files
/// ignored, which a snapshot leaves out by design).
fn pickable(root: &Path) -> Vec<String> {
    tree_on_disk(root)
        .into_keys()
        .filter(|p| p != ".gitignore")
        .collect()
}

/// `target` (relative to `root`) as seen from the directory holding `link`.
fn relative_to(link: &str, target: &str) -> PathBuf {
    let depth = link.matches('/').count();
    let mut p = PathBuf::new();
    for _ in 0..depth {
        p.push("..");
    }
    p.push(target);
    p
}

fn resolve(root: &Path, link: &str, t: &Target) -> PathBuf {
    let fallback = || PathBuf::from("nowhere");
    match t {
        Target::Entry(i) => {
            let all = pickable(root);
            if all.is_empty() {
                return fallback();
            }
            relative_to(link, &all[i.index(all.len())])
        }
        Target::Dir(i) => {
            let dirs = dirs_on_disk(root);
            if dirs.is_empty() {
                return PathBuf::from(".");
            }
            relative_to(link, &dirs[i.index(dirs.len())])
        }
        Target::Dangling(s) => PathBuf::from(format!("missing-{s}")),
    }
}

/// Whether `rel` can be created without replacing anything: no existing entry on the way
/// or at the path itself.
fn free(root: &Path, rel: &str) -> bool {
    let mut p = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        p.push(part);
        match p.symlink_metadata() {
            Err(_) => return true,
            Ok(m) if i + 1 < parts.len() && m.is_dir() => continue,
            Ok(_) => return false,
        }
    }
    false
}

fn write_file(root: &Path, rel: &str, bytes: &[u8], exec: bool) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    set_exec(&p, exec);
}

fn set_exec(p: &Path, exec: bool) {
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn make_link(root: &Path, rel: &str, target: &Path) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

fn remove(root: &Path, rel: &str) {
    let p = root.join(rel);
    if p.symlink_metadata().unwrap().is_dir() {
        std::fs::remove_dir_all(p).unwrap();
    } else {
        std::fs::remove_file(p).unwrap();
    }
}

fn write_tree(root: &Path, nodes: &[(String, Node)]) {
    for (path, node) in nodes {
        if !free(root, path) {
            continue;
        }
        match node {
            Node::File { bytes, exec } => write_file(root, path, bytes, *exec),
            Node::Link(t) => {
                let target = resolve(root, path, t);
                make_link(root, path, &target);
            }
        }
    }
}

/// Applies one edit; returns the paths it touched (for staging).
fn apply_edit(root: &Path, edit: &Edit) -> Vec<String> {
    let all = pickable(root);
    let pick = |i: &Index| (!all.is_empty()).then(|| all[i.index(all.len())].clone());
    let is_file = |rel: &str| root.join(rel).symlink_metadata().unwrap().is_file();
    match edit {
        Edit::Modify(i, change) => {
            let Some(rel) = pick(i) else { return vec![] };
            if !is_file(&rel) {
                return vec![];
            }
            let p = root.join(&rel);
            let mut bytes = std::fs::read(&p).unwrap();
            match change {
                Change::SameSize if bytes.is_empty() => bytes.push(b'x'),
                Change::SameSize => bytes.iter_mut().for_each(|b| *b = b.wrapping_add(1)),
                Change::Append(more) => bytes.extend_from_slice(more),
                Change::Replace(new) => bytes = new.clone(),
            }
            // In place, as editors and agents do: same inode.
            std::fs::write(&p, bytes).unwrap();
            vec![rel]
        }
        Edit::Delete(i) => {
            let Some(rel) = pick(i) else { return vec![] };
            remove(root, &rel);
            vec![rel]
        }
        Edit::Add {
            dirs,
            name,
            bytes,
            exec,
        } => {
            let rel = format!("{}/{name}", dirs.join("/"));
            if !free(root, &rel) {
                return vec![];
            }
            write_file(root, &rel, bytes, *exec);
            vec![rel]
        }
        Edit::AddLink { path, target } => {
            if !free(root, path) {
                return vec![];
            }
            let t = resolve(root, path, target);
            make_link(root, path, &t);
            vec![path.clone()]
        }
        Edit::Rename(i, to) => {
            let Some(from) = pick(i) else { return vec![] };
            if !free(root, to) {
                return vec![];
            }
            let dest = root.join(to);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::rename(root.join(&from), dest).unwrap();
            vec![from, to.clone()]
        }
        Edit::ToggleExec(i) => {
            let Some(rel) = pick(i) else { return vec![] };
            if !is_file(&rel) {
                return vec![];
            }
            let p = root.join(&rel);
            let exec = p.metadata().unwrap().permissions().mode() & 0o100 != 0;
            set_exec(&p, !exec);
            vec![rel]
        }
        Edit::ToSymlink(i, t) => {
            let Some(rel) = pick(i) else { return vec![] };
            let target = resolve(root, &rel, t);
            remove(root, &rel);
            make_link(root, &rel, &target);
            vec![rel]
        }
        Edit::ToFile(i, bytes) => {
            // A symlink when there is one, else anything.
            let links: Vec<&String> = all.iter().filter(|p| !is_file(p)).collect();
            let rel = match (links.is_empty(), pick(i)) {
                (false, _) => links[i.index(links.len())].clone(),
                (true, Some(r)) => r,
                (true, None) => return vec![],
            };
            remove(root, &rel);
            write_file(root, &rel, bytes, false);
            vec![rel]
        }
        Edit::FileToDir(i, name, bytes) => {
            let Some(rel) = pick(i) else { return vec![] };
            remove(root, &rel);
            write_file(root, &format!("{rel}/{name}"), bytes, false);
            vec![rel]
        }
        Edit::DirToFile(i, bytes) => {
            let dirs = dirs_on_disk(root);
            if dirs.is_empty() {
                return vec![];
            }
            let rel = dirs[i.index(dirs.len())].clone();
            remove(root, &rel);
            write_file(root, &rel, bytes, false);
            vec![rel]
        }
        Edit::IntentToAdd(rel, bytes) => {
            if !free(root, rel) {
                return vec![];
            }
            write_file(root, rel, bytes, false);
            try_git(root, &["add", "-N", "--", rel]).unwrap();
            vec![rel.clone()]
        }
        Edit::RmCached(i) => {
            let Some(rel) = pick(i) else { return vec![] };
            let _ = try_git(root, &["rm", "-q", "--cached", "--", &rel]);
            vec![]
        }
        Edit::Unstage(i) => {
            let Some(rel) = pick(i) else { return vec![] };
            let _ = try_git(root, &["reset", "-q", "--", &rel]);
            vec![]
        }
        Edit::Commit => {
            try_git(root, &["commit", "-q", "--allow-empty", "-m", "agent"]).unwrap();
            vec![]
        }
    }
}

/// Runs git on literal pathspecs; the error text when it fails.
fn try_git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `git add -A -- path`, tolerating paths that are neither on disk nor in the index.
fn stage(dir: &Path, rel: &str) {
    if let Err(e) = try_git(dir, &["add", "-A", "--", rel]) {
        assert!(e.contains("did not match any files"), "git add {rel}: {e}");
    }
}

fn ws_req(name: &str) -> WorkspaceRequest {
    WorkspaceRequest {
        workspace: name.into(),
        ..Default::default()
    }
}

/// The whole round trip on a fresh repository; returns what differed, if anything.
fn round_trip(tree: &[(String, Node)], steps: &[(Edit, bool)]) -> Result<(), TestCaseError> {
    round_trip_with(tree, steps, &[])
}

/// The round trip in a repository with `config` set before anything is committed.
fn round_trip_with(
    tree: &[(String, Node)],
    steps: &[(Edit, bool)],
    config: &[(&str, &str)],
) -> Result<(), TestCaseError> {
    let f = Fixture::new();
    for (key, value) in config {
        git(&f.repo, &["config", key, value]);
    }
    write_tree(&f.repo, tree);
    f.commit_all("random tree");
    let ws = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("prop".into()),
                ..Default::default()
            },
            None,
        )
        .map_err(|e| TestCaseError::fail(format!("create: {e}")))?;
    let p = ws.path.clone();
    for (edit, staged) in steps {
        let touched = apply_edit(&p, edit);
        if *staged {
            for rel in &touched {
                stage(&p, rel);
            }
        }
    }
    prune_empty_dirs(&p);
    let before = observe(&p);

    // Recording alone changes nothing: not the files, not the index.
    let index_file = PathBuf::from(git(&p, &["rev-parse", "--git-path", "index"]));
    let index_file = if index_file.is_absolute() {
        index_file
    } else {
        p.join(index_file)
    };
    let index_bytes = std::fs::read(&index_file).unwrap();
    snapshot::record(&p, "refs/conductor/prop-probe", "probe")
        .map_err(|e| TestCaseError::fail(format!("record: {e}")))?;
    prop_assert_eq!(&tree_on_disk(&p), &before.files, "record changed the files");
    prop_assert!(
        std::fs::read(&index_file).unwrap() == index_bytes,
        "record changed the index file"
    );

    f.engine
        .archive(ws_req("prop"))
        .map_err(|e| TestCaseError::fail(format!("archive: {e}")))?;
    prop_assert!(!p.exists());
    f.engine
        .restore(ws_req("prop"), None)
        .map_err(|e| TestCaseError::fail(format!("restore: {e}")))?;
    let after = observe(&p);
    prop_assert_eq!(&after.head, &before.head);
    prop_assert_eq!(&after.files, &before.files);
    prop_assert_eq!(&after.index, &before.index);
    prop_assert_eq!(&after.status, &before.status);
    prop_assert_eq!(&after.status_all, &before.status_all);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROP_SNAPSHOT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

proptest! {
    #![proptest_config(Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 400,
        ..Config::default()
    })]

    #[test]
    fn archive_restore_round_trips_any_tree_and_edits(
        tree in committed_tree(),
        steps in steps(),
    ) {
        round_trip(&tree, &steps)?;
    }

    /// The same with end-of-line conversion on: restore must give back the bytes that
    /// were there, not what the filters would write (issue 10, item 6).
    #[test]
    fn archive_restore_round_trips_with_autocrlf(
        tree in committed_tree(),
        steps in steps(),
    ) {
        round_trip_with(&tree, &steps, &[("core.autocrlf", "true")])?;
    }
}

// ---------------------------------------------------------------------------------------
// Regression tests for what the properties found.

// ---------------------------------------------------------------------------------------
// Regression tests for what this campaign found.

fn create(f: &Fixture, name: &str) -> conductor_core::core::store::Workspace {
    f.engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some(name.into()),
                ..Default::default()
            },
            None,
        )
        .unwrap()
}

fn set_mtime(p: &Path, when: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// A file rewritten with the same size in the same clock tick as its `git add` (and the
/// index write) has the stat data of the staged version; only "racy git" detection (the
/// entry is not older than the index file) makes git and libgit2 read it again. The
/// snapshot used a copy of the index stamped with the time of the copy, so the entry no
/// longer looked racy and the rewrite was lost on archive.
#[test]
fn same_size_rewrite_in_the_tick_of_git_add_survives_archive() {
    let f = Fixture::new();
    // ctime cannot be set back, so the test makes git ignore it, as `core.trustctime =
    // false` users (and the coarse clock of older kernels) do.
    git(&f.repo, &["config", "core.trustctime", "false"]);
    let ws = create(&f, "racy");
    let p = &ws.path;
    let tick = SystemTime::now() - Duration::from_secs(100);
    let file = p.join("racy.txt");
    std::fs::write(&file, "aaaa\n").unwrap();
    set_mtime(&file, tick);
    git(p, &["add", "racy.txt"]);
    let index = PathBuf::from(git(
        p,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    ));
    set_mtime(&index, tick);
    std::fs::write(&file, "bbbb\n").unwrap();
    set_mtime(&file, tick);
    // Nothing refreshes the index before archive (`git status` would smudge the entry).
    let status = git(p, &["--no-optional-locks", "status", "--porcelain=v1"]);
    assert_eq!(status, "AM racy.txt");

    f.engine.archive(ws_req("racy")).unwrap();
    f.engine.restore(ws_req("racy"), None).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "bbbb\n");
    assert_eq!(git(p, &["show", ":racy.txt"]), "aaaa");
    assert_eq!(git(p, &["status", "--porcelain=v1"]), "AM racy.txt");
}

/// `git add -N` entries (intent to add) came back as staged empty files ("AM" instead of
/// " A"), so the next `git commit` would have committed an empty file.
#[test]
fn intent_to_add_survives_archive() {
    let f = Fixture::new();
    let ws = create(&f, "ita");
    let p = &ws.path;
    crate::common::write(p, "new.txt", "hello\n");
    crate::common::write(p, "bin/run.sh", "#!/bin/sh\n");
    set_exec(&p.join("bin/run.sh"), true);
    crate::common::write(p, "gone.txt", "deleted after add -N\n");
    git(p, &["add", "-N", "new.txt", "bin/run.sh", "gone.txt"]);
    std::fs::remove_file(p.join("gone.txt")).unwrap();
    let before = observe(p);
    assert_eq!(
        before.status, " A bin/run.sh\n D gone.txt\n A new.txt",
        "git's own view before archive"
    );

    f.engine.archive(ws_req("ita")).unwrap();
    f.engine.restore(ws_req("ita"), None).unwrap();
    assert_eq!(observe(p), before);
}

/// Only an intent-to-add entry whose file is gone: nothing else differs from HEAD, but
/// the entry is still work to keep.
#[test]
fn lone_intent_to_add_of_a_deleted_file_survives_archive() {
    let f = Fixture::new();
    let ws = create(&f, "ita-gone");
    let p = &ws.path;
    crate::common::write(p, "gone.txt", "x\n");
    git(p, &["add", "-N", "gone.txt"]);
    std::fs::remove_file(p.join("gone.txt")).unwrap();
    let before = observe(p);
    let archived = f.engine.archive(ws_req("ita-gone")).unwrap();
    assert!(archived.snapshot_ref.is_some());
    f.engine.restore(ws_req("ita-gone"), None).unwrap();
    assert_eq!(observe(p), before);
}
