//! The workspace lifecycle on real repositories: create, archive, restore, delete, and
//! every error case leaving nothing half-made.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::common::{git, read, write, Fixture};
use conductor_core::core::engine::Event;
use conductor_core::core::lifecycle::{CreateRequest, WorkspaceRequest};
use conductor_core::core::store::{SetupState, WorkspaceState};

fn create(
    f: &Fixture,
    name: Option<&str>,
    task: Option<&str>,
) -> conductor_core::core::error::Result<conductor_core::core::store::Workspace> {
    f.engine.create(
        CreateRequest {
            path: f.repo.clone(),
            name: name.map(str::to_string),
            task: task.map(str::to_string),
            ..Default::default()
        },
        Some(1),
    )
}

fn ws_req(name: &str) -> WorkspaceRequest {
    WorkspaceRequest {
        workspace: name.into(),
        ..Default::default()
    }
}

fn branches(f: &Fixture) -> String {
    git(&f.repo, &["branch", "--list", "--format=%(refname:short)"])
}

#[test]
fn create_makes_worktree_branch_and_copies_only_ignored_env_files() {
    let f = Fixture::new();
    write(&f.repo, ".env", "SECRET=1\n");
    write(&f.repo, ".env.local", "LOCAL=1\n");
    write(&f.repo, "notes.txt", "untracked, not ignored\n");
    write(
        &f.repo,
        "README.md",
        "root checkout has uncommitted edits\n",
    );
    let ws = create(&f, None, Some("Fix the flaky login test")).unwrap();

    assert_eq!(ws.name, "fix-the-flaky-login-test");
    assert_eq!(ws.branch, "conductor/fix-the-flaky-login-test");
    assert_eq!(ws.path, f.base().join("ws/repo/fix-the-flaky-login-test"));
    assert_eq!(ws.state, WorkspaceState::Active);
    assert_eq!(
        git(&ws.path, &["rev-parse", "--abbrev-ref", "HEAD"]),
        ws.branch
    );
    assert_eq!(
        git(&ws.path, &["rev-parse", "HEAD"]),
        git(&f.repo, &["rev-parse", "main"])
    );
    assert_eq!(read(&ws.path, ".env"), "SECRET=1\n");
    assert_eq!(read(&ws.path, ".env.local"), "LOCAL=1\n");
    assert!(
        !ws.path.join("notes.txt").exists(),
        "untracked work must not be copied"
    );
    assert_eq!(read(&ws.path, "README.md"), "hello\n");
    // The root checkout is untouched.
    assert_eq!(
        read(&f.repo, "README.md"),
        "root checkout has uncommitted edits\n"
    );
    assert_eq!(
        git(&f.repo, &["status", "--porcelain"]),
        " M README.md\n?? notes.txt"
    );
    let port = ws.port.unwrap();
    assert_eq!(port % 10, 0);
    // Listed, and a second task with the same text gets -v2.
    let again = create(&f, None, Some("fix the flaky login test")).unwrap();
    assert_eq!(again.name, "fix-the-flaky-login-test-v2");
    assert_ne!(again.port, ws.port);
    let names: Vec<String> = f
        .engine
        .list(Some(&f.repo), false)
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(
        names,
        ["fix-the-flaky-login-test", "fix-the-flaky-login-test-v2"]
    );
}

#[test]
fn names_come_from_flag_task_or_a_city() {
    let f = Fixture::new();
    let named = create(&f, Some("login"), Some("whatever text")).unwrap();
    assert_eq!(named.name, "login");
    let city = create(&f, None, None).unwrap();
    conductor_core::core::names::validate(&city.name).unwrap();
    assert!(city
        .name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()));
    let hostile = create(&f, None, Some("$(touch /tmp/pwned); `id` \n rm -rf /")).unwrap();
    assert_eq!(hostile.name, "touch-tmp-pwned-id-rm");
    assert!(hostile.path.starts_with(f.base().join("ws")));
}

#[test]
fn include_precedence_worktreeinclude_then_globs_then_env() {
    let f = Fixture::new();
    write(
        &f.repo,
        ".gitignore",
        ".env*\nconfig/*.local\nnode_modules/\n*.log\n",
    );
    f.commit_all("ignore more");
    write(&f.repo, ".env", "E\n");
    write(&f.repo, "config/app.local", "L\n");
    write(&f.repo, "node_modules/pkg/index.js", "N\n");
    write(&f.repo, "debug.log", "D\n");

    // Globs from setup(): only config/*.local.
    let mut opts = crate::common::options(&f.base());
    opts.defaults.file_include_globs = Some(conductor_core::core::config::Globs::List(vec![
        "config/*.local".into(),
    ]));
    f.engine.set_options(opts.clone());
    let a = create(&f, Some("globs"), None).unwrap();
    assert!(a.path.join("config/app.local").exists());
    assert!(!a.path.join(".env").exists());

    // .worktreeinclude wins over the globs; it may name a whole ignored directory.
    write(&f.repo, ".worktreeinclude", "node_modules/\n*.log\n");
    let b = create(&f, Some("include-file"), None).unwrap();
    assert_eq!(read(&b.path, "node_modules/pkg/index.js"), "N\n");
    assert_eq!(read(&b.path, "debug.log"), "D\n");
    assert!(!b.path.join("config/app.local").exists());
    assert!(!b.path.join(".env").exists());

    // Nothing configured: .env* only.
    std::fs::remove_file(f.repo.join(".worktreeinclude")).unwrap();
    opts.defaults.file_include_globs = None;
    f.engine.set_options(opts);
    let c = create(&f, Some("defaults"), None).unwrap();
    assert!(c.path.join(".env").exists());
    assert!(!c.path.join("debug.log").exists() && !c.path.join("node_modules").exists());
}

#[test]
fn tracked_files_matching_include_patterns_are_not_copied_over() {
    let f = Fixture::new();
    write(&f.repo, ".env.example", "TRACKED=1\n");
    git(&f.repo, &["add", "-f", ".env.example"]);
    git(&f.repo, &["commit", "-qm", "example"]);
    write(&f.repo, ".env.example", "LOCAL EDIT\n");
    let ws = create(&f, Some("t"), None).unwrap();
    assert_eq!(read(&ws.path, ".env.example"), "TRACKED=1\n");
}

#[test]
fn setup_script_sees_conductor_environment_and_logs() {
    let f = Fixture::new();
    write(&f.repo, ".conductor/settings.toml", concat!(
        "[scripts]\n",
        "setup = \"env | grep -E '^(CONDUCTOR_|GREETING)' | sort > setup-env.txt; echo done-setup\"\n",
        "[environment_variables]\nGREETING = \"hi\"\n",
    ));
    f.commit_all("config");
    f.trust(".conductor/settings.toml");
    let req = CreateRequest {
        path: f.repo.clone(),
        name: Some("env".into()),
        ..Default::default()
    };
    let ws = f.engine.create(req, None).unwrap();
    let done = f.wait_event("script_finished", |e| {
        matches!(e, Event::ScriptFinished { .. })
    });
    let Event::ScriptFinished { ok, code, .. } = done else {
        unreachable!()
    };
    assert!(ok && code == Some(0));
    let env = read(&ws.path, "setup-env.txt");
    let port = ws.port.unwrap();
    for line in [
        "CONDUCTOR_DEFAULT_BRANCH=main".to_string(),
        "CONDUCTOR_IS_LOCAL=1".to_string(),
        format!("CONDUCTOR_PORT={port}"),
        format!("CONDUCTOR_ROOT_PATH={}", f.repo.display()),
        format!("CONDUCTOR_WORKSPACE_ID={}", ws.id),
        "CONDUCTOR_WORKSPACE_NAME=env".to_string(),
        format!("CONDUCTOR_WORKSPACE_PATH={}", ws.path.display()),
        "GREETING=hi".to_string(),
    ] {
        assert!(env.lines().any(|l| l == line), "missing {line} in\n{env}");
    }
    let log = std::fs::read_to_string(&ws.log).unwrap();
    assert!(
        log.contains("done-setup") && log.contains("setup finished: exit 0"),
        "{log}"
    );
    assert_eq!(f.engine.get("env", None).unwrap().setup, SetupState::Ok);
}

#[test]
fn untrusted_or_changed_config_scripts_do_not_run() {
    let f = Fixture::new();
    write(
        &f.repo,
        "conductor.json",
        r#"{"scripts":{"setup":"touch ran.txt"}}"#,
    );
    f.commit_all("config");
    let ws = create(&f, Some("untrusted"), None).unwrap();
    let e = f.wait_event("script_skipped", |e| {
        matches!(e, Event::ScriptSkipped { .. })
    });
    assert!(format!("{e:?}").contains("not trusted"));
    assert!(!ws.path.join("ran.txt").exists());
    assert_eq!(
        f.engine.get("untrusted", None).unwrap().setup,
        SetupState::Untrusted
    );

    // Trust given to other contents of the file does not trust these.
    write(&f.repo, "conductor.json", r#"{"scripts":{"setup":"true"}}"#);
    f.trust("conductor.json");
    git(&f.repo, &["checkout", "--", "conductor.json"]);
    let ws = create(&f, Some("changed"), None).unwrap();
    let skipped = f.wait_event(
        "second script_skipped",
        |e| matches!(e, Event::ScriptSkipped { workspace, .. } if workspace == "changed"),
    );
    assert!(format!("{skipped:?}").contains("not trusted"));
    assert!(!ws.path.join("ran.txt").exists());
}

#[test]
fn failing_setup_leaves_a_usable_workspace_and_can_rerun() {
    let f = Fixture::new();
    let mut opts = crate::common::options(&f.base());
    opts.defaults.scripts = Some(serde_json::from_value(serde_json::json!({
        "setup": "echo attempt >> attempts.txt; test -f fixed.txt || { echo 'npm ERR! boom' >&2; exit 3; }"
    })).unwrap());
    f.engine.set_options(opts);
    let ws = create(&f, Some("flaky"), None).unwrap();
    let done = f.wait_event("script_finished", |e| {
        matches!(e, Event::ScriptFinished { .. })
    });
    assert!(
        matches!(
            done,
            Event::ScriptFinished {
                ok: false,
                code: Some(3),
                ..
            }
        ),
        "{done:?}"
    );
    assert!(ws.path.join("README.md").exists());
    assert_eq!(
        f.engine.get("flaky", None).unwrap().setup,
        SetupState::Failed
    );
    assert!(std::fs::read_to_string(&ws.log)
        .unwrap()
        .contains("npm ERR! boom"));

    write(&ws.path, "fixed.txt", "");
    f.events.lock().unwrap().clear();
    f.engine.run_setup(ws_req("flaky")).unwrap();
    let done = f.wait_event("script_finished", |e| {
        matches!(e, Event::ScriptFinished { .. })
    });
    assert!(
        matches!(done, Event::ScriptFinished { ok: true, .. }),
        "{done:?}"
    );
    assert_eq!(read(&ws.path, "attempts.txt"), "attempt\nattempt\n");
}

#[test]
fn archive_and_restore_bring_back_every_kind_of_change() {
    let f = Fixture::new();
    write(&f.repo, "src/keep.rs", "fn keep() {}\n");
    write(&f.repo, "src/modify.rs", "old\n");
    write(&f.repo, "src/delete.rs", "gone soon\n");
    write(&f.repo, "src/staged.rs", "v1\n");
    write(&f.repo, "bin/tool.sh", "#!/bin/sh\necho tool\n");
    f.commit_all("tree");
    write(&f.repo, "README.md", "dirty root\n");

    let ws = create(&f, Some("roundtrip"), None).unwrap();
    let p = &ws.path;
    git(p, &["commit", "-q", "--allow-empty", "-m", "agent commit"]);
    let tip = git(p, &["rev-parse", "HEAD"]);
    write(p, "src/modify.rs", "new\n");
    std::fs::remove_file(p.join("src/delete.rs")).unwrap();
    write(p, "src/staged.rs", "v2 staged\n");
    git(p, &["add", "src/staged.rs"]);
    write(p, "src/staged.rs", "v3 unstaged on top\n");
    write(p, "new/dir/deep.txt", "new file in new dir\n");
    std::fs::write(p.join("blob.bin"), [0u8, 159, 146, 150, 255, 0, 1]).unwrap();
    std::fs::set_permissions(
        p.join("bin/tool.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(p, ".env", "ignored, not part of the snapshot\n");
    let status_before = git(p, &["status", "--porcelain=v1"]);

    assert!(f.engine.status(ws_req("roundtrip")).unwrap().dirty);
    let archived = f.engine.archive(ws_req("roundtrip")).unwrap();
    assert_eq!(archived.state, WorkspaceState::Archived);
    assert_eq!(archived.port, None);
    assert!(!p.exists(), "worktree directory removed");
    assert!(branches(&f).contains("conductor/roundtrip"), "branch kept");
    assert_eq!(
        git(&f.repo, &["rev-parse", "conductor/roundtrip"]),
        tip,
        "branch not moved"
    );
    let snap = archived.snapshot_ref.clone().unwrap();
    assert!(git(&f.repo, &["show", "--stat", &snap]).contains("deep.txt"));
    assert!(!git(&f.repo, &["worktree", "list"]).contains("roundtrip"));
    assert_eq!(
        read(&f.repo, "README.md"),
        "dirty root\n",
        "root untouched by archive"
    );

    let restored = f.engine.restore(ws_req("roundtrip"), None).unwrap();
    assert_eq!(restored.state, WorkspaceState::Active);
    assert!(restored.port.is_some());
    assert_eq!(git(p, &["rev-parse", "HEAD"]), tip);
    assert_eq!(git(p, &["status", "--porcelain=v1"]), status_before);
    assert_eq!(read(p, "src/modify.rs"), "new\n");
    assert!(!p.join("src/delete.rs").exists());
    assert_eq!(read(p, "src/staged.rs"), "v3 unstaged on top\n");
    assert_eq!(git(p, &["show", ":src/staged.rs"]), "v2 staged");
    assert_eq!(read(p, "new/dir/deep.txt"), "new file in new dir\n");
    assert_eq!(
        std::fs::read(p.join("blob.bin")).unwrap(),
        [0u8, 159, 146, 150, 255, 0, 1]
    );
    assert_eq!(
        std::fs::metadata(p.join("bin/tool.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o111,
        0o111
    );
    assert_eq!(read(p, "src/keep.rs"), "fn keep() {}\n");
}

#[test]
fn clean_workspace_archives_without_snapshot() {
    let f = Fixture::new();
    let ws = create(&f, Some("clean"), None).unwrap();
    assert!(!f.engine.status(ws_req("clean")).unwrap().dirty);
    let archived = f.engine.archive(ws_req("clean")).unwrap();
    assert_eq!(archived.snapshot_ref, None);
    let restored = f.engine.restore(ws_req("clean"), None).unwrap();
    assert!(ws.path.join("README.md").exists());
    assert_eq!(restored.branch, ws.branch);
}

#[test]
fn archive_stops_running_setup_and_runs_archive_script() {
    let f = Fixture::new();
    let marker = f.base().join("archive-ran.txt");
    let mut opts = crate::common::options(&f.base());
    opts.defaults.scripts = Some(
        serde_json::from_value(serde_json::json!({
            "setup": "echo started; trap '' TERM; sleep 600",
            "archive": format!("echo \"$CONDUCTOR_WORKSPACE_NAME\" > {}", marker.display()),
        }))
        .unwrap(),
    );
    f.engine.set_options(opts);
    create(&f, Some("busy"), None).unwrap();
    f.wait_event("setup output", |e| matches!(e, Event::ScriptOutput { .. }));
    let t = std::time::Instant::now();
    f.engine.archive(ws_req("busy")).unwrap();
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    let done = f.wait_event(
        "setup end",
        |e| matches!(e, Event::ScriptFinished { kind, .. } if kind == "setup"),
    );
    assert!(
        matches!(
            done,
            Event::ScriptFinished {
                ok: false,
                signal: Some(_),
                stopped: true,
                ..
            }
        ),
        "{done:?}"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "busy\n");
}

#[test]
fn delete_removes_branch_but_keeps_a_backup_ref() {
    let f = Fixture::new();
    let ws = create(&f, Some("doomed"), None).unwrap();
    write(&ws.path, "unsaved.txt", "precious\n");
    let gone = f.engine.delete(ws_req("doomed")).unwrap();
    assert_eq!(gone.branch, "conductor/doomed");
    assert!(!branches(&f).contains("doomed"));
    assert!(!ws.path.exists());
    let backup = gone.backup_ref.unwrap();
    assert_eq!(
        git(&f.repo, &["show", &format!("{backup}:unsaved.txt")]),
        "precious"
    );
    assert!(f.engine.get("doomed", None).is_err());
}

#[test]
fn errors_are_clear_and_leave_nothing_behind() {
    let f = Fixture::new();
    let state_before =
        || std::fs::read_to_string(f.base().join("state/state.json")).unwrap_or_default();

    let not_repo = f.base().join("plain");
    std::fs::create_dir(&not_repo).unwrap();
    let e = f
        .engine
        .create(
            CreateRequest {
                path: not_repo,
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("not a git repository"), "{e}");

    let empty = f.base().join("empty");
    std::fs::create_dir(&empty).unwrap();
    git(&empty, &["init", "-q"]);
    let e = f
        .engine
        .create(
            CreateRequest {
                path: empty,
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
    assert!(e.to_string().contains("has no commits yet"), "{e}");

    let bare = f.base().join("bare.git");
    git(&f.base(), &["init", "-q", "--bare", bare.to_str().unwrap()]);
    let e = f
        .engine
        .create(
            CreateRequest {
                path: bare,
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
    assert!(e.to_string().contains("bare repository"), "{e}");

    let e = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                base: Some("nope".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("base branch \"nope\" not found"),
        "{e}"
    );

    for bad in ["a/b", "../x", "has space", "ünï", &"x".repeat(300)] {
        let e = create(&f, Some(bad), None).unwrap_err();
        assert!(e.to_string().starts_with("invalid workspace name"), "{e}");
    }

    git(&f.repo, &["branch", "conductor/mine"]);
    let e = create(&f, Some("mine"), None).unwrap_err();
    assert!(
        e.to_string()
            .contains("branch conductor/mine already exists and is not a conductor workspace"),
        "{e}"
    );

    std::fs::create_dir_all(f.base().join("ws/repo/occupied")).unwrap();
    let e = create(&f, Some("occupied"), None).unwrap_err();
    assert!(
        e.to_string().contains("target directory") && e.to_string().contains("already exists"),
        "{e}"
    );

    // (The root's uncommitted settings.toml is not what a workspace reads; its
    // settings.local.toml is.)
    write(
        &f.repo,
        ".conductor/settings.local.toml",
        "[scripts\nsetup = 1",
    );
    let e = create(&f, Some("cfg"), None).unwrap_err();
    assert!(e.to_string().contains("settings.local.toml:1:"), "{e}");

    // Nothing half-made: no workspace recorded, no stray branch, no directories.
    assert!(!state_before().contains("\"name\""), "{}", state_before());
    assert_eq!(branches(&f), "conductor/mine\nmain");
    let made: Vec<PathBuf> = std::fs::read_dir(f.base().join("ws/repo"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert_eq!(made, [f.base().join("ws/repo/occupied")]);
    assert_eq!(git(&f.repo, &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn worktree_of_the_repo_resolves_to_the_main_repository() {
    let f = Fixture::new();
    let ws = create(&f, Some("first"), None).unwrap();
    let from_inside = f
        .engine
        .create(
            CreateRequest {
                path: ws.path.join("."),
                name: Some("second".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert_eq!(from_inside.repo_root, f.repo);
    assert_eq!(from_inside.path, f.base().join("ws/repo/second"));
}

#[test]
fn default_branch_and_fetch_follow_origin() {
    let f = Fixture::new();
    let origin = f.base().join("origin.git");
    git(
        &f.base(),
        &[
            "clone",
            "-q",
            "--bare",
            f.repo.to_str().unwrap(),
            origin.to_str().unwrap(),
        ],
    );
    git(&origin, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    // A clone whose origin has moved on since: the workspace starts from the fetched tip.
    let clone = f.base().join("clone");
    git(
        &f.base(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let upstream = f.base().join("upstream");
    git(
        &f.base(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            upstream.to_str().unwrap(),
        ],
    );
    write(&upstream, "later.txt", "pushed later\n");
    git(&upstream, &["add", "."]);
    git(&upstream, &["commit", "-qm", "later"]);
    git(&upstream, &["push", "-q", "origin", "main"]);
    let tip = git(&upstream, &["rev-parse", "HEAD"]);

    let view = f.engine.resolve_repo(&clone, None, None).unwrap();
    assert_eq!(view.default_branch, "main");
    let ws = f
        .engine
        .create(
            CreateRequest {
                path: clone.clone(),
                name: Some("fresh".into()),
                ..Default::default()
            },
            Some(9),
        )
        .unwrap();
    assert_eq!(ws.base_commit, tip);
    assert_eq!(read(&ws.path, "later.txt"), "pushed later\n");

    // Unreachable origin: a warning, and the workspace starts from what is there.
    git(
        &clone,
        &[
            "remote",
            "set-url",
            "origin",
            f.base().join("missing.git").to_str().unwrap(),
        ],
    );
    let ws2 = f
        .engine
        .create(
            CreateRequest {
                path: clone.clone(),
                name: Some("offline".into()),
                ..Default::default()
            },
            Some(10),
        )
        .unwrap();
    assert_eq!(ws2.base_commit, tip);
    assert!(f.events().iter().any(|e| matches!(e, Event::Warning { request: Some(10), message, .. } if message.contains("git fetch origin main"))));

    // No remote: init.defaultBranch when it exists, else main/master.
    let other = f.base().join("other");
    std::fs::create_dir(&other).unwrap();
    git(&other, &["init", "-q", "-b", "trunk"]);
    write(&other, "a", "a");
    git(&other, &["add", "."]);
    git(&other, &["commit", "-qm", "a"]);
    git(&other, &["branch", "master"]);
    assert_eq!(
        f.engine
            .resolve_repo(&other, None, None)
            .unwrap()
            .default_branch,
        "master"
    );
    git(&other, &["config", "init.defaultBranch", "trunk"]);
    assert_eq!(
        f.engine
            .resolve_repo(&other, None, None)
            .unwrap()
            .default_branch,
        "trunk"
    );
}

/// The parallel writer must leave exactly what a git checkout leaves: same files, modes,
/// symlinks, and an index whose stat data makes the tree clean at once.
#[test]
fn new_worktree_matches_a_git_checkout() {
    let f = Fixture::new();
    write(&f.repo, "bin/run", "#!/bin/sh\necho run\n");
    std::fs::set_permissions(
        f.repo.join("bin/run"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("bin/run", f.repo.join("run-link")).unwrap();
    write(&f.repo, "deep/er/still/file.txt", "deep\n");
    write(&f.repo, "empty", "");
    std::fs::write(f.repo.join("blob.bin"), [0u8, 1, 2, 255]).unwrap();
    f.commit_all("shapes");
    let ws = create(&f, Some("shapes"), None).unwrap();
    let cli = f.base().join("cli-checkout");
    git(
        &f.repo,
        &["worktree", "add", "-q", "--detach", cli.to_str().unwrap()],
    );
    assert_eq!(
        git(&ws.path, &["status", "--porcelain"]),
        "",
        "clean right away"
    );
    assert_eq!(
        git(&ws.path, &["diff-files", "--name-only"]),
        "",
        "index stat data is right"
    );
    assert_eq!(
        git(&ws.path, &["ls-files", "-s"]),
        git(&cli, &["ls-files", "-s"])
    );
    for file in [
        "bin/run",
        "deep/er/still/file.txt",
        "empty",
        "blob.bin",
        "README.md",
        ".gitignore",
    ] {
        assert_eq!(
            std::fs::read(ws.path.join(file)).unwrap(),
            std::fs::read(cli.join(file)).unwrap(),
            "{file}"
        );
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p.join(file))
                .unwrap()
                .permissions()
                .mode()
                & 0o111
        };
        assert_eq!(mode(&ws.path), mode(&cli), "{file} mode");
    }
    assert_eq!(
        std::fs::read_link(ws.path.join("run-link")).unwrap(),
        PathBuf::from("bin/run")
    );
}

/// Where a checkout filter can apply (.gitattributes), libgit2's own checkout writes the
/// files, so end-of-line conversion happens as git would do it.
#[test]
fn gitattributes_filters_apply_in_new_worktrees() {
    let f = Fixture::new();
    write(&f.repo, ".gitattributes", "*.txt text eol=crlf\n");
    write(&f.repo, "notes.txt", "one\ntwo\n");
    f.commit_all("attributes");
    let ws = create(&f, Some("eol"), None).unwrap();
    assert_eq!(
        std::fs::read(ws.path.join("notes.txt")).unwrap(),
        b"one\r\ntwo\r\n"
    );
    assert_eq!(git(&ws.path, &["status", "--porcelain"]), "");
}

/// Two repositories with the same folder name share `workspaces_root/<name>`: a workspace
/// of the second never takes the directory of the first's archived one, so restoring
/// the first cannot touch the second's live worktree.
#[test]
fn same_named_repositories_never_share_a_workspace_directory() {
    let f = Fixture::new();
    let other_parent = f.base().join("elsewhere");
    std::fs::create_dir_all(&other_parent).unwrap();
    let other = other_parent.join("repo"); // the same folder name as f.repo
    std::fs::create_dir(&other).unwrap();
    git(&other, &["init", "-q", "-b", "main"]);
    write(&other, "README.md", "other\n");
    git(&other, &["add", "."]);
    git(&other, &["commit", "-qm", "other"]);

    let a = f.create("fix");
    write(&a.path, "work.txt", "a's work\n");
    f.engine.archive(ws_req("fix")).unwrap();
    let b = f
        .engine
        .create(
            CreateRequest {
                path: other.clone(),
                name: Some("fix".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert_ne!(
        b.path, a.path,
        "the archived workspace's directory is taken"
    );
    write(&b.path, "live.txt", "b's live work\n");
    f.engine
        .restore(
            WorkspaceRequest {
                workspace: a.id.clone(),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert_eq!(read(&a.path, "work.txt"), "a's work\n");
    assert_eq!(
        read(&b.path, "live.txt"),
        "b's live work\n",
        "the other repository's workspace is untouched"
    );
}

/// An edit to a tracked file kept hidden with `git update-index --skip-worktree` (or
/// `--assume-unchanged`), a common way to keep local config: archive records it and
/// restore gives it back (review finding).
#[test]
fn edits_hidden_by_skip_worktree_or_assume_unchanged_survive_archive() {
    let f = Fixture::new();
    write(&f.repo, "config.yml", "shared: true\n");
    write(&f.repo, "local.yml", "shared: true\n");
    f.commit_all("config");
    let ws = f.create("hidden");
    write(&ws.path, "config.yml", "mine: local\n");
    write(&ws.path, "local.yml", "also mine\n");
    git(&ws.path, &["update-index", "--skip-worktree", "config.yml"]);
    git(
        &ws.path,
        &["update-index", "--assume-unchanged", "local.yml"],
    );
    f.engine.archive(ws_req("hidden")).unwrap();
    f.engine.restore(ws_req("hidden"), None).unwrap();
    assert_eq!(read(&ws.path, "config.yml"), "mine: local\n");
    assert_eq!(read(&ws.path, "local.yml"), "also mine\n");
}
