//! Several Neovim instances share one state file: workspaces created at the same moment
//! from several processes (and threads) never share a name, branch, directory or port.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use common::{git, Fixture};
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
    let engine = Engine::new(common::options(&PathBuf::from(base)), Arc::new(|_| {}));
    create_many(&engine, &PathBuf::from(repo));
}

#[test]
fn concurrent_creates_never_clash() {
    let f = Fixture::new();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "child_creates_workspaces",
                    "--quiet",
                    "--nocapture",
                ])
                .env("CONDUCTOR_TEST_BASE", f.base())
                .env("CONDUCTOR_TEST_REPO", &f.repo)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
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
