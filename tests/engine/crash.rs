//! Crash safety: the engine is killed with SIGKILL at each named step of create, archive,
//! restore and merge (a child process pauses there: CONDUCTOR_PAUSE_AT); then a fresh
//! engine reconciles (`doctor` with repair) and every byte of the user's work — commits,
//! uncommitted and untracked files — is still reachable, and the state is consistent.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{git, read, write, Fixture};
use conductor_core::core::doctor::DoctorRequest;
use conductor_core::core::engine::Engine;
use conductor_core::core::lifecycle::{CreateRequest, WorkspaceRequest};
use conductor_core::core::review::ShipRequest;
use conductor_core::core::store::WorkspaceState;

/// Child side: runs one operation with the pause point set; killed by the parent.
#[test]
#[ignore = "helper: run as a child process by the crash tests"]
fn crash_child() {
    let (Some(base), Some(op)) = (
        std::env::var_os("CONDUCTOR_TEST_BASE"),
        std::env::var("CONDUCTOR_TEST_OP").ok(),
    ) else {
        return;
    };
    let base = PathBuf::from(base);
    let mut opts = crate::common::options(&base);
    // A setup script for the setup crash test, as the user's setup() would give it.
    if let Ok(script) = std::fs::read_to_string(base.join("setup-script")) {
        opts.defaults.scripts =
            Some(serde_json::from_value(serde_json::json!({ "setup": script })).unwrap());
    }
    let engine = Engine::new(opts, Arc::new(|_| {}));
    let ws = |name: &str| WorkspaceRequest {
        workspace: name.into(),
        ..Default::default()
    };
    let result = match op.as_str() {
        "create" => engine
            .create(
                CreateRequest {
                    path: base.join("repo"),
                    name: Some("fresh".into()),
                    ..Default::default()
                },
                None,
            )
            .map(|_| ()),
        "archive" => engine.archive(ws("work")).map(|_| ()),
        "restore" => engine.restore(ws("work"), None).map(|_| ()),
        // The setup thread pauses; this thread waits to be killed with it.
        "setup" => engine
            .create(
                CreateRequest {
                    path: base.join("repo"),
                    name: Some("setting-up".into()),
                    ..Default::default()
                },
                None,
            )
            .map(|_| std::thread::sleep(Duration::from_secs(3600))),
        "merge" => engine
            .merge(&ShipRequest {
                workspace: "work".into(),
                ..Default::default()
            })
            .map(|_| ()),
        other => panic!("unknown op {other}"),
    };
    result.unwrap();
}

fn crash_at(f: &Fixture, op: &str, step: &str) {
    let pause_file = f.base().join("paused");
    let _ = std::fs::remove_file(&pause_file);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash::crash_child",
            "--quiet",
            "--nocapture",
        ])
        .env("CONDUCTOR_TEST_BASE", f.base())
        .env("CONDUCTOR_TEST_OP", op)
        .env("CONDUCTOR_PAUSE_AT", step)
        .env("CONDUCTOR_PAUSE_FILE", &pause_file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pause_file.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{op} ended ({status}) before reaching {step}");
        }
        assert!(Instant::now() < deadline, "{op} never reached {step}");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// A workspace "work" with a commit of its own, a modified file, a new untracked file.
fn busy_workspace(f: &Fixture) -> PathBuf {
    let ws = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("work".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    write(&ws.path, "committed.txt", "committed work\n");
    git(&ws.path, &["add", "."]);
    git(&ws.path, &["commit", "-qm", "agent commit"]);
    write(&ws.path, "README.md", "uncommitted edit\n");
    write(&ws.path, "new/untracked.txt", "untracked work\n");
    ws.path
}

/// The work of `busy_workspace` is in its worktree, or recorded on its snapshot ref.
fn work_is_reachable(f: &Fixture, path: &Path) {
    assert_eq!(
        git(&f.repo, &["show", "conductor/work:committed.txt"]),
        "committed work"
    );
    let ws = f.engine.get("work", None).unwrap();
    if ws.state == WorkspaceState::Active {
        assert_eq!(read(path, "README.md"), "uncommitted edit\n");
        assert_eq!(read(path, "new/untracked.txt"), "untracked work\n");
    } else {
        let snap = ws.snapshot_ref.expect("archived with its work recorded");
        assert_eq!(
            git(&f.repo, &["show", &format!("{snap}:README.md")]),
            "uncommitted edit"
        );
        assert_eq!(
            git(&f.repo, &["show", &format!("{snap}:new/untracked.txt")]),
            "untracked work"
        );
    }
}

/// After repair: no half-made entry, every active workspace has its directory and is a
/// worktree git knows, and a second doctor run finds nothing.
fn consistent(f: &Fixture) {
    let state = f.engine.store().unwrap().read().unwrap();
    let worktrees = git(&f.repo, &["worktree", "list", "--porcelain"]);
    for w in &state.workspaces {
        assert_ne!(
            w.state,
            WorkspaceState::Creating,
            "{} left half-made",
            w.name
        );
        if w.state == WorkspaceState::Active {
            assert!(w.path.is_dir(), "{} has no directory", w.name);
            assert!(
                worktrees.contains(&format!("worktree {}", w.path.display())),
                "{} unknown to git",
                w.name
            );
            assert!(w.port.is_some());
        } else {
            assert!(!w.path.exists() && w.port.is_none(), "{}", w.name);
        }
    }
    let again = f.engine.doctor(&DoctorRequest { repair: false }).unwrap();
    assert!(again.is_empty(), "still inconsistent: {again:#?}");
}

fn repair(f: &Fixture) -> Vec<String> {
    let found = f.engine.doctor(&DoctorRequest { repair: true }).unwrap();
    assert!(found.iter().all(|x| x.repaired || !x.fixable), "{found:#?}");
    found
        .into_iter()
        .map(|x| x.kind.as_str().to_string())
        .collect()
}

#[test]
fn crash_during_create() {
    for step in ["create:reserved", "create:worktree"] {
        let f = Fixture::new();
        crash_at(&f, "create", step);
        let kinds = repair(&f);
        assert_eq!(kinds, ["unfinished"], "{step}");
        consistent(&f);
        let list = f.engine.list(None, true).unwrap();
        match step {
            "create:reserved" => {
                assert!(list.is_empty(), "{step}: the reservation is forgotten");
                assert_eq!(git(&f.repo, &["branch", "--list", "conductor/fresh"]), "");
            }
            _ => {
                assert_eq!(list[0].state, WorkspaceState::Active, "{step}: finished");
                assert!(list[0].path.join("README.md").exists());
            }
        }
    }
}

#[test]
fn crash_during_archive_loses_nothing() {
    for step in ["archive:snapshot", "archive:removed"] {
        let f = Fixture::new();
        let path = busy_workspace(&f);
        crash_at(&f, "archive", step);
        let kinds = repair(&f);
        let expected: &[&str] = if step == "archive:removed" {
            &["missing-directory"]
        } else {
            &[]
        };
        assert_eq!(kinds, expected, "{step}");
        consistent(&f);
        work_is_reachable(&f, &path);
        // And the workspace can be brought back with its work.
        if f.engine.get("work", None).unwrap().state == WorkspaceState::Archived {
            f.engine
                .restore(
                    WorkspaceRequest {
                        workspace: "work".into(),
                        ..Default::default()
                    },
                    None,
                )
                .unwrap();
            work_is_reachable(&f, &path);
        }
    }
}

#[test]
fn crash_during_restore_loses_nothing() {
    for step in ["restore:worktree", "restore:applied"] {
        let f = Fixture::new();
        let path = busy_workspace(&f);
        f.engine
            .archive(WorkspaceRequest {
                workspace: "work".into(),
                ..Default::default()
            })
            .unwrap();
        crash_at(&f, "restore", step);
        assert_eq!(repair(&f), ["unfinished"], "{step}");
        consistent(&f);
        assert_eq!(
            f.engine.get("work", None).unwrap().state,
            WorkspaceState::Active,
            "{step}"
        );
        work_is_reachable(&f, &path);
    }
}

#[test]
fn crash_during_merge_leaves_base_or_backup() {
    let f = Fixture::new();
    let path = busy_workspace(&f);
    let main_before = git(&f.repo, &["rev-parse", "main"]);
    crash_at(&f, "merge", "merge:backup");
    repair(&f);
    consistent(&f);
    assert_eq!(
        git(&f.repo, &["rev-parse", "main"]),
        main_before,
        "the base did not move"
    );
    assert!(git(&f.repo, &["for-each-ref", "refs/conductor/backup/"]).contains(&main_before));
    work_is_reachable(&f, &path);
}

#[test]
fn orphan_and_missing_worktrees_are_reconciled() {
    let f = Fixture::new();
    let path = busy_workspace(&f);
    // A worktree made by hand under the workspaces root: adopted, not removed.
    let orphan = f.base().join("ws/repo/by-hand");
    git(
        &f.repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "by-hand",
            orphan.to_str().unwrap(),
        ],
    );
    write(&orphan, "mine.txt", "hand work\n");
    // A workspace directory removed by hand: archived with its branch kept.
    let gone = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("gone".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    std::fs::remove_dir_all(&gone.path).unwrap();
    let mut kinds = repair(&f);
    kinds.sort();
    assert_eq!(kinds, ["missing-directory", "orphan-worktree"]);
    consistent(&f);
    let adopted = f.engine.get("by-hand", None).unwrap();
    assert_eq!(adopted.branch, "by-hand");
    assert_eq!(read(&orphan, "mine.txt"), "hand work\n");
    assert_eq!(
        f.engine.get("gone", None).unwrap().state,
        WorkspaceState::Archived
    );
    assert!(git(&f.repo, &["branch", "--list", "conductor/gone"]).contains("gone"));
    work_is_reachable(&f, &path);
}

#[test]
fn crash_during_setup_marks_it_interrupted() {
    let f = Fixture::new();
    let mut opts = crate::common::options(&f.base());
    opts.defaults.scripts =
        Some(serde_json::from_value(serde_json::json!({ "setup": "sleep 600" })).unwrap());
    // The child takes the same setup script (see crash_child).
    std::fs::write(f.base().join("setup-script"), "sleep 600").unwrap();
    f.engine.set_options(opts);
    crash_at(&f, "setup", "setup:running");
    assert_eq!(
        f.engine.get("setting-up", None).unwrap().setup,
        conductor_core::core::store::SetupState::Running
    );
    assert_eq!(repair(&f), ["interrupted-setup"]);
    consistent(&f);
    assert_eq!(
        f.engine.get("setting-up", None).unwrap().setup,
        conductor_core::core::store::SetupState::Failed
    );
}
