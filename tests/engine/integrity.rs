//! Work that must not be lost or changed at the edges, on real repositories: submodules,
//! detached HEADs and paused rebases, checkout filters, hooks, sparse checkouts, ignored
//! files, and the order of archive's destructive steps (issue 10, items 4–9).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{git, read, write, Fixture};
use conductor_core::core::engine::Event;
use conductor_core::core::lifecycle::{CreateRequest, WorkspaceRequest};
use conductor_core::core::store::{Workspace, WorkspaceState};

fn create(f: &Fixture, name: &str) -> conductor_core::core::error::Result<Workspace> {
    f.engine.create(
        CreateRequest {
            path: f.repo.clone(),
            name: Some(name.into()),
            ..Default::default()
        },
        Some(1),
    )
}

fn req(name: &str) -> WorkspaceRequest {
    WorkspaceRequest {
        workspace: name.into(),
        ..Default::default()
    }
}

fn warnings(f: &Fixture) -> Vec<String> {
    f.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Warning { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

/// Runs git without the test identity (for commands whose output is compared).
fn bytes(p: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(p.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Nothing unreachable survives: what is not kept by a ref is gone after this.
fn gc(repo: &Path) {
    git(repo, &["reflog", "expire", "--expire=now", "--all"]);
    git(repo, &["gc", "-q", "--prune=now"]);
}

fn executable(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A repository `sub-origin` next to the fixture's, added to it as submodule `vendor/lib`.
fn add_submodule(f: &Fixture) -> std::path::PathBuf {
    let origin = f.base().join("sub-origin");
    std::fs::create_dir(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "main"]);
    write(&origin, "lib.txt", "library\n");
    git(&origin, &["add", "."]);
    git(&origin, &["commit", "-qm", "lib"]);
    add_submodule_at(f, &origin, "vendor/lib");
    origin
}

/// `origin` added to the fixture's repository as a submodule at `path`, committed.
fn add_submodule_at(f: &Fixture, origin: &Path, path: &str) {
    let url = origin.to_str().unwrap();
    let args = [
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        url,
        path,
    ];
    git(&f.repo, &args);
    git(
        &f.repo,
        &["commit", "-qm", &format!("add submodule {path}")],
    );
}

// Item 4 ------------------------------------------------------------------------------

#[test]
fn submodule_keeps_its_gitlink_and_is_checked_out_from_the_root_clone() {
    let f = Fixture::new();
    let origin = add_submodule(&f);
    let gitlink = git(&f.repo, &["ls-files", "-s", "vendor/lib"]);
    // Its upstream is gone: the checkout must come from the root's own clone.
    std::fs::rename(&origin, f.base().join("sub-origin-moved")).unwrap();
    let root_config = git(&f.repo, &["config", "--local", "--list"]);

    let ws = create(&f, "with-sub").unwrap();
    let p = &ws.path;
    assert_eq!(
        git(p, &["ls-files", "-s", "vendor/lib"]),
        gitlink,
        "gitlink kept"
    );
    assert_eq!(git(p, &["status", "--porcelain"]), "", "status clean");
    assert_eq!(
        read(p, "vendor/lib/lib.txt"),
        "library\n",
        "submodule checked out"
    );
    assert_eq!(
        git(&p.join("vendor/lib"), &["remote", "get-url", "origin"]),
        origin.display().to_string(),
        "its origin is the submodule's upstream, as after git submodule update"
    );
    assert!(
        !warnings(&f).iter().any(|w| w.contains("submodule")),
        "{:?}",
        warnings(&f)
    );
    assert_eq!(
        git(&f.repo, &["config", "--local", "--list"]),
        root_config,
        "the root's configuration is untouched"
    );

    // A commit with `git commit -a` keeps the submodule.
    write(p, "README.md", "changed\n");
    git(p, &["commit", "-qam", "agent work"]);
    assert_eq!(git(p, &["ls-files", "-s", "vendor/lib"]), gitlink);

    f.engine.archive(req("with-sub")).unwrap();
    f.engine.restore(req("with-sub"), None).unwrap();
    assert_eq!(
        git(p, &["status", "--porcelain"]),
        "",
        "clean after restore"
    );
    assert_eq!(read(p, "vendor/lib/lib.txt"), "library\n");
}

#[test]
fn submodule_work_is_kept_across_archive_or_archive_refuses() {
    let f = Fixture::new();
    add_submodule(&f);
    let ws = create(&f, "sub-work").unwrap();
    let sub = ws.path.join("vendor/lib");
    write(&sub, "lib.txt", "changed in the workspace\n");
    let e = f.engine.archive(req("sub-work")).unwrap_err().to_string();
    assert!(
        e.contains("nothing was stopped or removed")
            && e.contains("submodule vendor/lib has uncommitted changes"),
        "{e}"
    );
    assert_eq!(read(&sub, "lib.txt"), "changed in the workspace\n");

    git(&sub, &["commit", "-qam", "work in the submodule"]);
    let commit = git(&sub, &["rev-parse", "HEAD"]);
    let status = git(&ws.path, &["status", "--porcelain"]);
    assert_eq!(status, " M vendor/lib");
    f.engine.archive(req("sub-work")).unwrap();
    gc(&f.repo);
    gc(&f.repo.join(".git/modules/vendor/lib"));
    f.engine.restore(req("sub-work"), None).unwrap();
    assert_eq!(
        git(&sub, &["rev-parse", "HEAD"]),
        commit,
        "the submodule commit is back"
    );
    assert_eq!(read(&sub, "lib.txt"), "changed in the workspace\n");
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), status);
}

#[test]
fn submodule_the_root_has_not_initialised_is_left_so_with_a_line() {
    let f = Fixture::new();
    add_submodule(&f);
    git(&f.repo, &["submodule", "deinit", "-q", "-f", "vendor/lib"]);
    std::fs::remove_dir_all(f.repo.join(".git/modules/vendor/lib")).unwrap();

    let ws = create(&f, "bare-sub").unwrap();
    let p = &ws.path;
    assert!(git(p, &["ls-files", "-s", "vendor/lib"]).starts_with("160000 "));
    assert_eq!(git(p, &["status", "--porcelain"]), "", "status clean");
    assert!(p.join("vendor/lib").is_dir());
    assert!(!p.join("vendor/lib/lib.txt").exists());
    let said = warnings(&f);
    assert!(
        said.iter()
            .any(|w| w.contains("submodule vendor/lib left uninitialised")
                && w.contains("git submodule update --init vendor/lib")),
        "{said:?}"
    );
}

#[test]
fn many_submodules_the_root_has_not_initialised_are_said_in_one_line() {
    let f = Fixture::new();
    let origin = add_submodule(&f);
    add_submodule_at(&f, &origin, "vendor/other");
    for sub in ["vendor/lib", "vendor/other"] {
        git(&f.repo, &["submodule", "deinit", "-q", "-f", sub]);
        std::fs::remove_dir_all(f.repo.join(".git/modules").join(sub)).unwrap();
    }
    let ws = create(&f, "two-subs").unwrap();
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "");
    let said: Vec<String> = warnings(&f)
        .into_iter()
        .filter(|w| w.contains("submodule"))
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("2 submodules left uninitialised")
            && said[0].contains("vendor/lib, vendor/other"),
        "{said:?}"
    );
}

// Item 5 ------------------------------------------------------------------------------

#[test]
fn detached_head_commits_survive_two_archive_cycles() {
    let f = Fixture::new();
    let ws = create(&f, "detached").unwrap();
    let p = &ws.path;
    git(p, &["checkout", "-q", "--detach"]);
    write(p, "one.txt", "first detached commit\n");
    git(p, &["add", "one.txt"]);
    git(p, &["commit", "-qm", "detached one"]);
    let first = git(p, &["rev-parse", "HEAD"]);

    f.engine.archive(req("detached")).unwrap();
    gc(&f.repo);
    f.engine.restore(req("detached"), None).unwrap();
    assert_eq!(
        git(p, &["rev-parse", "HEAD"]),
        first,
        "HEAD back where it was"
    );
    assert_eq!(
        git(p, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "HEAD",
        "still detached"
    );

    write(p, "two.txt", "second detached commit\n");
    git(p, &["add", "two.txt"]);
    git(p, &["commit", "-qm", "detached two"]);
    let second = git(p, &["rev-parse", "HEAD"]);
    write(p, "wip.txt", "uncommitted on top\n");
    f.engine.archive(req("detached")).unwrap();
    gc(&f.repo);
    f.engine.restore(req("detached"), None).unwrap();
    assert_eq!(git(p, &["rev-parse", "HEAD"]), second);
    assert_eq!(git(p, &["rev-parse", "HEAD~1"]), first);
    assert_eq!(read(p, "wip.txt"), "uncommitted on top\n");
    assert_eq!(git(p, &["status", "--porcelain"]), "?? wip.txt");
    assert_eq!(
        git(&f.repo, &["rev-parse", "conductor/detached"]),
        ws.base_commit,
        "the branch did not move"
    );

    // Delete keeps them too (the backup ref holds the branch tip, or the work on top).
    git(p, &["add", "wip.txt"]);
    git(p, &["commit", "-qm", "detached three"]);
    let third = git(p, &["rev-parse", "HEAD"]);
    f.engine.delete(req("detached")).unwrap();
    gc(&f.repo);
    assert_eq!(
        git(
            &f.repo,
            &["rev-parse", &format!("refs/conductor/{}/head", ws.id)]
        ),
        third
    );
}

#[test]
fn head_on_another_branch_comes_back_on_it() {
    let f = Fixture::new();
    let ws = create(&f, "switched").unwrap();
    let p = &ws.path;
    git(p, &["checkout", "-q", "-b", "experiment"]);
    write(p, "idea.txt", "on another branch\n");
    git(p, &["add", "idea.txt"]);
    git(p, &["commit", "-qm", "experiment"]);
    let tip = git(p, &["rev-parse", "HEAD"]);
    write(p, "idea.txt", "and uncommitted on top\n");

    f.engine.archive(req("switched")).unwrap();
    f.engine.restore(req("switched"), None).unwrap();
    assert_eq!(git(p, &["rev-parse", "--abbrev-ref", "HEAD"]), "experiment");
    assert_eq!(git(p, &["rev-parse", "HEAD"]), tip);
    assert_eq!(read(p, "idea.txt"), "and uncommitted on top\n");
    assert_eq!(git(p, &["status", "--porcelain"]), " M idea.txt");
}

#[test]
fn head_on_a_branch_checked_out_elsewhere_comes_back_detached_there() {
    let f = Fixture::new();
    let ws = create(&f, "taken").unwrap();
    let p = &ws.path;
    git(p, &["checkout", "-q", "-b", "shared"]);
    git(p, &["commit", "-q", "--allow-empty", "-m", "on shared"]);
    let tip = git(p, &["rev-parse", "HEAD"]);
    f.engine.archive(req("taken")).unwrap();
    // Meanwhile the root checkout takes the branch.
    git(&f.repo, &["checkout", "-q", "shared"]);

    f.engine.restore(req("taken"), None).unwrap();
    assert_eq!(git(p, &["rev-parse", "HEAD"]), tip);
    assert_eq!(git(p, &["rev-parse", "--abbrev-ref", "HEAD"]), "HEAD");
    assert!(
        warnings(&f)
            .iter()
            .any(|w| w.contains("was on branch shared") && w.contains("left detached")),
        "{:?}",
        warnings(&f)
    );
}

#[test]
fn paused_rebase_is_archived_and_restored_and_can_continue() {
    let f = Fixture::new();
    let ws = create(&f, "rebasing").unwrap();
    let p = &ws.path;
    for n in ["a", "b"] {
        write(p, &format!("{n}.txt"), &format!("{n}\n"));
        git(p, &["add", "."]);
        git(p, &["commit", "-qm", n]);
    }
    // Stop at the first commit to edit it, and amend it.
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(p)
        .args(["rebase", "-i", "HEAD~2"])
        .env("GIT_SEQUENCE_EDITOR", "sed -i 1s/^pick/edit/")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write(p, "a.txt", "a, amended\n");
    git(p, &["commit", "-qa", "--amend", "-m", "a amended"]);
    let amended = git(p, &["rev-parse", "HEAD"]);

    f.engine.archive(req("rebasing")).unwrap();
    gc(&f.repo);
    f.engine.restore(req("rebasing"), None).unwrap();
    assert_eq!(git(p, &["rev-parse", "HEAD"]), amended);
    assert!(
        git(p, &["status"]).contains("interactive rebase in progress"),
        "{}",
        git(p, &["status"])
    );
    git(p, &["-c", "core.editor=true", "rebase", "--continue"]);
    assert_eq!(
        git(p, &["log", "--format=%s", "conductor/rebasing"]),
        "b\na amended\ninitial"
    );
    assert_eq!(read(p, "a.txt"), "a, amended\n");
}

// Item 6 ------------------------------------------------------------------------------

#[test]
fn restore_gives_back_exact_bytes_whatever_the_filters() {
    let f = Fixture::new();
    git(&f.repo, &["config", "core.autocrlf", "true"]);
    write(&f.repo, ".gitattributes", "*.crlf text eol=crlf\n");
    write(&f.repo, "tracked.txt", "one\ntwo\n");
    write(&f.repo, "same.txt", "same\n");
    write(&f.repo, "notes.crlf", "x\ny\n");
    f.commit_all("text files");

    let ws = create(&f, "eol").unwrap();
    let p = &ws.path;
    assert_eq!(
        bytes(p, "tracked.txt"),
        b"one\r\ntwo\r\n",
        "checked out by git's rules"
    );
    std::fs::write(p.join("tracked.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(p.join("same.txt"), "same\n").unwrap();
    std::fs::write(p.join("notes.crlf"), "x\ny\nz\n").unwrap();
    std::fs::write(p.join("new-lf.txt"), "lf\nonly\n").unwrap();
    std::fs::write(p.join("new-mixed.txt"), "crlf\r\nlf\n").unwrap();
    let files = [
        "tracked.txt",
        "same.txt",
        "notes.crlf",
        "new-lf.txt",
        "new-mixed.txt",
        "README.md",
    ];
    let before: Vec<Vec<u8>> = files.iter().map(|r| bytes(p, r)).collect();
    // same.txt's content is unchanged once normalised, but git reads its new size as
    // "modified" until its stat data is refreshed; restore compares contents.
    git(p, &["add", "same.txt"]);
    let status = git(p, &["status", "--porcelain"]);
    assert!(!status.contains("same.txt"), "{status}");

    f.engine.archive(req("eol")).unwrap();
    f.engine.restore(req("eol"), None).unwrap();
    for (rel, want) in files.iter().zip(&before) {
        assert_eq!(
            &bytes(p, rel),
            want,
            "{rel}: {:?}",
            String::from_utf8_lossy(&bytes(p, rel))
        );
    }
    assert_eq!(git(p, &["status", "--porcelain"]), status);
}

/// Found by the autocrlf property test: restore rewrote the file's exact bytes after the
/// checkout, but the index kept the stat data of what the checkout wrote (CRLF, 2 bytes);
/// git reads a size change as "modified" without comparing, so a staged file came back
/// as "AM".
#[test]
fn exact_bytes_leave_the_status_as_it_was() {
    let f = Fixture::new();
    git(&f.repo, &["config", "core.autocrlf", "true"]);
    let ws = create(&f, "status").unwrap();
    let p = &ws.path;
    write(p, "x/f", "\n");
    git(p, &["add", "x/f"]);
    let before = git(p, &["status", "--porcelain"]);
    assert_eq!(before, "A  x/f");
    f.engine.archive(req("status")).unwrap();
    f.engine.restore(req("status"), None).unwrap();
    assert_eq!(bytes(p, "x/f"), b"\n");
    assert_eq!(git(p, &["status", "--porcelain"]), before);
}

// Item 7 ------------------------------------------------------------------------------

#[test]
fn post_checkout_hook_runs_as_git_worktree_add_runs_it() {
    let f = Fixture::new();
    let seen = f.base().join("hook-calls.txt");
    executable(
        &f.repo.join(".git/hooks/post-checkout"),
        &format!(
            "#!/bin/sh\necho \"$1 $2 $3 $(pwd) GIT_DIR=${{GIT_DIR:-unset}}\" >> {}\necho hook says hi\n",
            seen.display()
        ),
    );
    let ws = create(&f, "hooked").unwrap();
    let head = git(&ws.path, &["rev-parse", "HEAD"]);
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!(
            "{} {head} 1 {} GIT_DIR=unset\n",
            "0".repeat(40),
            ws.path.display()
        )
    );
    assert!(std::fs::read_to_string(&ws.log)
        .unwrap()
        .contains("hook says hi"));
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "");

    // Restore adds the worktree again: the hook runs again.
    f.engine.archive(req("hooked")).unwrap();
    f.engine.restore(req("hooked"), None).unwrap();
    assert_eq!(std::fs::read_to_string(&seen).unwrap().lines().count(), 2);

    // A failing hook leaves a usable workspace and says so.
    executable(
        &f.repo.join(".git/hooks/post-checkout"),
        "#!/bin/sh\nexit 3\n",
    );
    let ws = create(&f, "hook-fails").unwrap();
    assert_eq!(ws.state, WorkspaceState::Active);
    assert!(
        warnings(&f)
            .iter()
            .any(|w| w.contains("post-checkout hook") && w.contains("failed")),
        "{:?}",
        warnings(&f)
    );
}

#[test]
fn sparse_checkout_of_the_root_is_copied_as_git_worktree_add_does() {
    let f = Fixture::new();
    write(&f.repo, "app/main.rs", "fn main() {}\n");
    write(&f.repo, "docs/big.md", "docs\n");
    f.commit_all("two areas");
    git(&f.repo, &["sparse-checkout", "set", "app"]);
    assert!(!f.repo.join("docs").exists());

    let ws = create(&f, "sparse").unwrap();
    let cli = f.base().join("cli-sparse");
    git(
        &f.repo,
        &["worktree", "add", "-q", "--detach", cli.to_str().unwrap()],
    );
    let listing = |p: &Path| {
        let mut v: Vec<String> = walkdir(p);
        v.sort();
        v
    };
    assert_eq!(listing(&ws.path), listing(&cli));
    assert!(ws.path.join("app/main.rs").exists());
    assert!(!ws.path.join("docs").exists());
    assert_eq!(git(&ws.path, &["sparse-checkout", "list"]), "app");
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "");
}

fn walkdir(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    out
}

#[test]
fn filter_drivers_smudge_as_git_does_or_refuse_cleanly() {
    let f = Fixture::new();
    git(&f.repo, &["config", "filter.upper.smudge", "tr a-z A-Z"]);
    git(&f.repo, &["config", "filter.upper.clean", "tr A-Z a-z"]);
    git(&f.repo, &["config", "filter.upper.required", "true"]);
    write(&f.repo, ".gitattributes", "*.up filter=upper\n");
    write(&f.repo, "shout.up", "hello\n");
    f.commit_all("filtered file");
    assert_eq!(git(&f.repo, &["show", "HEAD:shout.up"]), "hello");

    let ws = create(&f, "smudged").unwrap();
    assert_eq!(read(&ws.path, "shout.up"), "HELLO\n", "smudged as git does");
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "");

    // A required filter that fails: one clear error, nothing made.
    git(&f.repo, &["config", "filter.upper.smudge", "false"]);
    let e = create(&f, "broken-filter").unwrap_err().to_string();
    assert!(
        e.contains("cannot create worktree") && e.contains("shout.up"),
        "{e}"
    );
    assert!(!f.base().join("ws/repo/broken-filter").exists());
    assert_eq!(
        git(&f.repo, &["branch", "--list", "conductor/broken-filter"]),
        ""
    );
    assert!(f.engine.get("broken-filter", None).is_err());
}

/// Git LFS itself, when installed (Debian: `apt-get install git-lfs`): the new worktree
/// gets the file's content, not its pointer, as `git worktree add` gives.
#[test]
fn lfs_files_are_smudged_in_new_worktrees() {
    let installed = std::process::Command::new("git")
        .args(["lfs", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("git-lfs is not installed: skipped");
        return;
    }
    let f = Fixture::new();
    git(&f.repo, &["lfs", "install", "--local"]);
    git(&f.repo, &["lfs", "track", "*.bin"]);
    std::fs::write(f.repo.join("model.bin"), b"\0real binary content\xff\n").unwrap();
    f.commit_all("an lfs file");
    assert!(git(&f.repo, &["show", "HEAD:model.bin"]).starts_with("version https://git-lfs"));

    let ws = create(&f, "lfs").unwrap();
    assert_eq!(bytes(&ws.path, "model.bin"), b"\0real binary content\xff\n");
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "");

    // Archive and restore give the content back too.
    std::fs::write(ws.path.join("model.bin"), b"changed content\n").unwrap();
    f.engine.archive(req("lfs")).unwrap();
    f.engine.restore(req("lfs"), None).unwrap();
    assert_eq!(bytes(&ws.path, "model.bin"), b"changed content\n");
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), " M model.bin");
}

// Item 8 ------------------------------------------------------------------------------

/// A workspace whose setup script runs until stopped; returns it once it runs.
fn busy_workspace(f: &Fixture, name: &str) -> Workspace {
    let mut opts = crate::common::options(&f.base());
    opts.defaults.scripts = Some(
        serde_json::from_value(serde_json::json!({ "setup": "echo started; sleep 600" })).unwrap(),
    );
    f.engine.set_options(opts);
    let ws = create(f, name).unwrap();
    f.wait_event(
        "setup output",
        |e| matches!(e, Event::ScriptOutput { workspace, .. } if workspace == name),
    );
    ws
}

fn setup_stopped(f: &Fixture, name: &str) -> bool {
    f.events().iter().any(|e| {
        matches!(e, Event::ScriptFinished { workspace, kind, .. } if workspace == name && kind == "setup")
    })
}

#[test]
fn archive_that_cannot_record_the_state_changes_nothing() {
    let f = Fixture::new();
    let ws = busy_workspace(&f, "stuck");
    write(&ws.path, "work.txt", "unsaved work\n");
    // The state file cannot be replaced (tests run as root, where permissions do not stop
    // writes: a directory where the lock file goes does).
    let lock = f.base().join("state/state.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();

    let e = f.engine.archive(req("stuck")).unwrap_err().to_string();
    assert!(
        e.contains("cannot archive stuck; nothing was stopped or removed"),
        "{e}"
    );
    assert_eq!(read(&ws.path, "work.txt"), "unsaved work\n");
    assert!(!setup_stopped(&f, "stuck"), "the setup script still runs");
    assert_eq!(
        f.engine.get("stuck", None).unwrap().state,
        WorkspaceState::Active
    );

    std::fs::remove_dir(&lock).unwrap();
    f.engine.archive(req("stuck")).unwrap();
    assert!(setup_stopped(&f, "stuck"));
}

#[test]
fn archive_refuses_before_stopping_anything_when_work_cannot_be_recorded() {
    let f = Fixture::new();
    let ws = busy_workspace(&f, "nested");
    let inner = ws.path.join("tools/inner");
    std::fs::create_dir_all(&inner).unwrap();
    git(&inner, &["init", "-q"]);
    write(&inner, "tool.txt", "a repository inside the workspace\n");
    git(&inner, &["add", "."]);
    git(&inner, &["commit", "-qm", "inner"]);
    let e = f.engine.archive(req("nested")).unwrap_err().to_string();
    assert!(
        e.contains("nothing was stopped or removed")
            && e.contains("tools/inner")
            && e.contains("git repository of its own"),
        "{e}"
    );
    assert!(!setup_stopped(&f, "nested"));
    assert_eq!(
        read(&inner, "tool.txt"),
        "a repository inside the workspace\n"
    );
    std::fs::remove_dir_all(ws.path.join("tools")).unwrap();

    // A conflicted index.
    let p = &ws.path;
    write(p, "README.md", "ours\n");
    git(p, &["commit", "-qam", "ours"]);
    git(p, &["checkout", "-q", "-b", "other", "HEAD~1"]);
    write(p, "README.md", "theirs\n");
    git(p, &["commit", "-qam", "theirs"]);
    git(p, &["checkout", "-q", "conductor/nested"]);
    let merge = std::process::Command::new("git")
        .arg("-C")
        .arg(p)
        .args(["merge", "-q", "other"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(!merge.status.success(), "the merge conflicts");
    let e = f.engine.archive(req("nested")).unwrap_err().to_string();
    assert!(
        e.contains("nothing was stopped or removed")
            && e.contains("unresolved conflicts in README.md"),
        "{e}"
    );
    assert!(!setup_stopped(&f, "nested"));
    assert!(p.join("README.md").exists());
    // The setup script still runs (as it must): stop it, so no test leaves it behind.
    f.engine.stop_leftovers(&ws.id);
}

/// A tmpfs mounted at a path, unmounted when dropped (even when the test fails).
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "none"])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

/// Deleting the worktree can fail half-way (here a mount inside it: its files go, the
/// mount point stays). It used to leave a half-deleted worktree in place, still active,
/// and the next archive recorded the deleted files as deleted work. The worktree is now
/// moved aside whole first.
#[test]
fn archive_whose_deletion_fails_half_way_loses_nothing() {
    let f = Fixture::new();
    let ws = create(&f, "mounted").unwrap();
    let p = &ws.path;
    write(p, "a-work.txt", "uncommitted work\n");
    let Some(mut mount) = Mount::tmpfs(&p.join("cache")) else {
        eprintln!("cannot mount a tmpfs here (needs CAP_SYS_ADMIN): skipped");
        return;
    };
    write(p, "cache/data.txt", "in the mount\n");
    write(p, "z-work.txt", "more uncommitted work\n");

    let archived = f.engine.archive(req("mounted"));
    // The mount moved with the worktree: unmount it where it is now.
    let parent = p.parent().unwrap();
    if let Some(aside) = std::fs::read_dir(parent).unwrap().flatten().find(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with(".mounted.removing-")
    }) {
        mount.0 = aside.path().join("cache");
    }
    archived.unwrap();
    assert!(!p.exists(), "the worktree is gone from its place");
    assert!(
        warnings(&f)
            .iter()
            .any(|w| w.contains("could be deleted") && w.contains("by hand")),
        "{:?}",
        warnings(&f)
    );
    drop(mount);

    f.engine.restore(req("mounted"), None).unwrap();
    assert_eq!(read(p, "a-work.txt"), "uncommitted work\n");
    assert_eq!(read(p, "z-work.txt"), "more uncommitted work\n");
    assert_eq!(read(p, "cache/data.txt"), "in the mount\n");
}

// Item 9 ------------------------------------------------------------------------------

#[test]
fn archive_names_ignored_content_and_keeps_files_to_copy() {
    let f = Fixture::new();
    write(&f.repo, ".env.local", "FROM_ROOT=1\n");
    let ws = create(&f, "ignored").unwrap();
    let p = &ws.path;
    assert_eq!(read(p, ".env.local"), "FROM_ROOT=1\n");
    write(p, ".env.local", "EDITED_IN_WORKSPACE=1\n");
    std::fs::set_permissions(p.join(".env.local"), std::fs::Permissions::from_mode(0o600)).unwrap();
    write(p, "node_modules/pkg/index.js", &"x".repeat(10_000));
    write(p, "node_modules/pkg/readme", &"y".repeat(240));
    write(p, "debug.log", &"z".repeat(100));
    write(p, "work.txt", "uncommitted\n");

    let preview = f.engine.archive_preview(req("ignored")).unwrap();
    assert!(preview.dirty);
    assert_eq!(preview.changes, 1);
    let listed: Vec<(String, u64)> = preview
        .ignored
        .iter()
        .map(|i| (i.path.clone(), i.bytes))
        .collect();
    assert_eq!(
        listed,
        [
            ("node_modules/".to_string(), 10_240),
            ("debug.log".to_string(), 100)
        ]
    );
    assert_eq!(preview.ignored_bytes, 10_340);
    assert_eq!(preview.kept, [std::path::PathBuf::from(".env.local")]);

    f.engine.archive(req("ignored")).unwrap();
    write(&f.repo, ".env.local", "ROOT_CHANGED_SINCE=1\n");
    f.engine.restore(req("ignored"), None).unwrap();
    assert_eq!(
        read(p, ".env.local"),
        "EDITED_IN_WORKSPACE=1\n",
        "kept, not recopied"
    );
    assert_eq!(
        std::fs::metadata(p.join(".env.local"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(read(p, "work.txt"), "uncommitted\n");
    assert!(!p.join("node_modules").exists(), "ignored content went");
    assert!(!p.join("debug.log").exists());
    assert_eq!(git(p, &["status", "--porcelain"]), "?? work.txt");
}

// Figures -----------------------------------------------------------------------------

/// Not a check: what the changes cost, printed (`cargo test --test engine_integrity
/// figures -- --ignored --nocapture`). Creation where git itself checks out (attributes)
/// against the parallel writer and `git worktree add`; archive (checks + record) against
/// recording alone.
#[test]
#[ignore]
fn figures_create_and_archive_on_5k_files() {
    use std::time::Instant;
    let files: usize = std::env::var("FIGURE_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let f = Fixture::new();
    for i in 0..files {
        write(
            &f.repo,
            &format!("d{}/f{i}.txt", i % 100),
            &format!("line {i}\n"),
        );
    }
    f.commit_all("many files");
    let secs = |t: Instant| t.elapsed().as_secs_f64();

    let t = Instant::now();
    let cli = f.base().join("cli");
    git(
        &f.repo,
        &["worktree", "add", "-q", "--detach", cli.to_str().unwrap()],
    );
    let baseline = secs(t);
    let t = Instant::now();
    create(&f, "plain").unwrap();
    let parallel = secs(t);
    write(&f.repo, ".gitattributes", "*.md text\n");
    f.commit_all("attributes");
    let t = Instant::now();
    let ws = create(&f, "attrs").unwrap();
    let by_git = secs(t);

    for i in 0..100 {
        write(&ws.path, &format!("d{i}/f{i}.txt"), "changed\n");
    }
    let t = Instant::now();
    conductor_core::core::snapshot::record(&ws.path, "refs/conductor/figure", "figure").unwrap();
    let record_alone = secs(t);
    let t = Instant::now();
    f.engine.archive(req("attrs")).unwrap();
    let archive = secs(t);
    let t = Instant::now();
    f.engine.restore(req("attrs"), None).unwrap();
    let restore = secs(t);
    eprintln!(
        "FIGURES files={files} git_worktree_add={baseline:.3}s create_parallel={parallel:.3}s \
         create_by_git(attributes)={by_git:.3}s record_alone={record_alone:.3}s \
         archive(checks+record+remove)={archive:.3}s restore={restore:.3}s"
    );
}
