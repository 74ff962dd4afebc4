//! Several Neovim instances share one state file: workspaces created at the same moment
//! from several processes (and threads) never share a name, branch, directory or port.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use crate::common::{git, Fixture};
use conductor_core::core::engine::Engine;
use conductor_core::core::lifecycle::CreateRequest;
use conductor_core::core::store::{State, Workspace};

const PER_WORKER: usize = 4;

fn create_many(engine: &Arc<Engine>, repo: &std::path::Path) {
    for _ in 0..PER_WORKER {
        engine
            .create(
                CreateRequest {
                    path: repo.to_path_buf(),
                    task: Some("same task".into()),
                    ..Default::default()
                },
                None,
            )
            .unwrap();
    }
}

/// Run by `concurrent_creates_never_clash` in child processes; does nothing otherwise.
#[test]
#[ignore = "helper: run as a child process by concurrent_creates_never_clash"]
fn child_creates_workspaces() {
    let (Some(base), Some(repo)) = (
        std::env::var_os("CONDUCTOR_TEST_BASE"),
        std::env::var_os("CONDUCTOR_TEST_REPO"),
    ) else {
        return;
    };
    let engine = Engine::new(
        crate::common::options(&PathBuf::from(base)),
        Arc::new(|_| {}),
    );
    if std::env::var("CONDUCTOR_TEST_MODE").as_deref() == Ok("ten-archive-half") {
        let made: Vec<_> = (0..10)
            .map(|_| {
                engine
                    .create(
                        CreateRequest {
                            path: PathBuf::from(&repo),
                            task: Some("same task".into()),
                            ..Default::default()
                        },
                        None,
                    )
                    .unwrap()
            })
            .collect();
        for ws in made.iter().step_by(2) {
            engine
                .archive(conductor_core::core::lifecycle::WorkspaceRequest {
                    workspace: ws.id.clone(),
                    ..Default::default()
                })
                .unwrap();
        }
        return;
    }
    create_many(&engine, &PathBuf::from(repo));
}

/// Another process (another Neovim's engine) running `child_creates_workspaces`.
fn spawn_child(f: &Fixture, mode: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "concurrency::child_creates_workspaces",
            "--quiet",
            "--nocapture",
        ])
        .env("CONDUCTOR_TEST_BASE", f.base())
        .env("CONDUCTOR_TEST_REPO", &f.repo)
        .env("CONDUCTOR_TEST_MODE", mode)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Two instances on one repository each create 10 workspaces at once and archive half.
#[test]
fn two_instances_create_ten_and_archive_half() {
    let f = Fixture::new();
    let children: Vec<_> = (0..2)
        .map(|_| spawn_child(&f, "ten-archive-half"))
        .collect();
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(status.success(), "child: {status:?}");
    }
    let text = std::fs::read_to_string(f.base().join("state/state.json")).unwrap();
    let state: State = serde_json::from_str(&text).expect("state stays valid JSON");
    assert_eq!(state.workspaces.len(), 20);
    let unique = |key: fn(&Workspace) -> String| {
        state
            .workspaces
            .iter()
            .map(key)
            .collect::<HashSet<_>>()
            .len()
    };
    assert_eq!(unique(|w| w.name.clone()), 20);
    assert_eq!(unique(|w| w.branch.clone()), 20);
    assert_eq!(unique(|w| w.path.display().to_string()), 20);
    let active: Vec<&Workspace> = state
        .workspaces
        .iter()
        .filter(|w| w.port.is_some())
        .collect();
    assert_eq!(active.len(), 10, "half archived, their ports released");
    let mut ports: Vec<u16> = active.iter().map(|w| w.port.unwrap()).collect();
    ports.sort();
    assert!(
        ports.windows(2).all(|p| p[1] - p[0] >= 10),
        "blocks overlap: {ports:?}"
    );
    assert_eq!(git(&f.repo, &["worktree", "list"]).lines().count(), 11);
    // Any instance's view agrees with any other's.
    let other = Engine::new(crate::common::options(&f.base()), Arc::new(|_| {}));
    let names = |e: &Engine| {
        e.list(None, true)
            .unwrap()
            .into_iter()
            .map(|w| {
                (
                    w.name,
                    w.state == conductor_core::core::store::WorkspaceState::Active,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&f.engine), names(&other));
}

#[test]
fn concurrent_creates_never_clash() {
    let f = Fixture::new();
    let children: Vec<_> = (0..3).map(|_| spawn_child(&f, "")).collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let engine = Arc::clone(&f.engine);
            let repo = f.repo.clone();
            std::thread::spawn(move || create_many(&engine, &repo))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(status.success(), "child: {status:?}");
    }

    let text = std::fs::read_to_string(f.base().join("state/state.json")).unwrap();
    let state: State = serde_json::from_str(&text).expect("state stays valid JSON");
    let all: Vec<&Workspace> = state.workspaces.iter().collect();
    assert_eq!(all.len(), 5 * PER_WORKER);
    let unique =
        |key: fn(&Workspace) -> String| all.iter().map(|w| key(w)).collect::<HashSet<_>>().len();
    assert_eq!(unique(|w| w.name.clone()), all.len());
    assert_eq!(unique(|w| w.branch.clone()), all.len());
    assert_eq!(unique(|w| w.path.display().to_string()), all.len());
    let mut ports: Vec<u16> = all.iter().map(|w| w.port.unwrap()).collect();
    ports.sort();
    assert!(
        ports.windows(2).all(|p| p[1] - p[0] >= 10),
        "blocks overlap: {ports:?}"
    );
    assert_eq!(
        git(&f.repo, &["worktree", "list"]).lines().count(),
        1 + all.len()
    );
    for w in &all {
        assert!(w.path.join("README.md").exists(), "{}", w.name);
    }
}
