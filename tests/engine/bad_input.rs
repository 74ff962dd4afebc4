//! Bad input and hostile conditions at the engine: each is one clear error and nothing
//! half-made; concurrent git activity in worktrees never surfaces as a lock error.

use crate::common::{git, write, Fixture};
use conductor_core::core::changes::Scope;
use conductor_core::core::engine::Engine;
use conductor_core::core::lifecycle::{CreateRequest, WorkspaceRequest};
use conductor_core::core::review::ChangesRequest;
use std::sync::Arc;

fn create(
    f: &Fixture,
    name: &str,
) -> conductor_core::core::error::Result<conductor_core::core::store::Workspace> {
    f.engine.create(
        CreateRequest {
            path: f.repo.clone(),
            name: Some(name.into()),
            ..Default::default()
        },
        None,
    )
}

fn nothing_made(f: &Fixture, name: &str) {
    assert!(
        !f.base().join("ws/repo").join(name).exists(),
        "{name}: directory made"
    );
    assert_eq!(
        git(&f.repo, &["branch", "--list", &format!("conductor/{name}")]),
        "",
        "{name}: branch made"
    );
    assert!(f.engine.get(name, None).is_err(), "{name}: recorded");
}

#[test]
fn port_range_exhausted_is_one_clear_error() {
    let f = Fixture::new();
    let mut opts = crate::common::options(&f.base());
    // Room for exactly one block of ten, starting at a free one.
    let first = (40000..60000)
        .step_by(10)
        .find(|p| (*p..p + 10).all(conductor_core::core::ports::is_free))
        .unwrap();
    opts.port_first = first;
    opts.port_last = first + 9;
    f.engine.set_options(opts);
    create(&f, "one").unwrap();
    let e = create(&f, "two").unwrap_err().to_string();
    assert!(
        e.contains("no free block of 10 ports") && e.contains("widen the `ports` option"),
        "{e}"
    );
    nothing_made(&f, "two");
    // Archiving frees the block.
    f.engine
        .archive(WorkspaceRequest {
            workspace: "one".into(),
            ..Default::default()
        })
        .unwrap();
    create(&f, "two").unwrap();
}

#[test]
fn unwritable_state_dir_is_one_clear_error() {
    let f = Fixture::new();
    // Tests run as root, where permissions do not stop writes: a file where the state
    // directory should be does.
    let blocker = f.base().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let mut opts = crate::common::options(&f.base());
    opts.state_dir = blocker.join("state");
    let engine = Engine::new(opts, Arc::new(|_| {}));
    let e = engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("x".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot create the state directory"), "{e}");
    assert!(!f.base().join("ws/repo/x").exists());
    assert_eq!(git(&f.repo, &["branch", "--list", "conductor/x"]), "");
}

#[test]
fn detached_head_root_still_works() {
    let f = Fixture::new();
    write(&f.repo, "second.txt", "2\n");
    f.commit_all("second");
    git(&f.repo, &["checkout", "-q", "--detach", "HEAD~1"]);
    assert_eq!(
        f.engine
            .resolve_repo(&f.repo, None, None)
            .unwrap()
            .default_branch,
        "main"
    );
    let ws = create(&f, "from-detached").unwrap();
    assert_eq!(ws.base_branch, "main");
    assert!(
        ws.path.join("second.txt").exists(),
        "starts from main, not from the detached HEAD"
    );
}

#[test]
fn names_cannot_escape_the_workspaces_root() {
    let f = Fixture::new();
    for bad in ["../escape", "/abs", "a/../../b", "..", ".", "x\0y", "\n"] {
        let e = create(&f, bad).unwrap_err().to_string();
        assert!(e.starts_with("invalid workspace name"), "{bad:?}: {e}");
    }
    assert!(!f.base().join("escape").exists() && !f.base().join("ws/escape").exists());
}

/// Agents commit and run git in their worktrees while the engine lists changes: the
/// engine's reads take no lock, and nothing it does fails because of theirs.
#[test]
fn git_activity_in_worktrees_never_surfaces_lock_errors() {
    let f = Fixture::new();
    let ws = create(&f, "busy").unwrap();
    let path = ws.path.clone();
    let agent = std::thread::spawn(move || {
        for i in 0..40 {
            write(&path, &format!("f{i}.txt"), "x\n");
            git(&path, &["add", "-A"]);
            git(&path, &["commit", "-qm", &format!("c{i}")]);
        }
    });
    let mut reads = 0;
    while !agent.is_finished() {
        for scope in [Scope::Branch, Scope::Uncommitted] {
            f.engine
                .changes(&ChangesRequest {
                    workspace: "busy".into(),
                    scope,
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("read failed while git was busy: {e}"));
            reads += 1;
        }
        f.engine
            .status(WorkspaceRequest {
                workspace: "busy".into(),
                ..Default::default()
            })
            .unwrap();
    }
    agent.join().unwrap();
    assert!(reads > 0);
    assert_eq!(git(&ws.path, &["rev-list", "--count", "main..HEAD"]), "40");
}
