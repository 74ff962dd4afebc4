//! Failures that must say what is wrong and what to do: a pull request without a remote,
//! a merge blocked by a file git does not track. Real repositories, the real `git` CLI.

use crate::common::{git, write, Fixture};
use conductor_core::core::lifecycle::CreateRequest;
use conductor_core::core::review::ShipRequest;
use conductor_core::core::store::Workspace;

fn with_commit(f: &Fixture, name: &str, file: &str) -> Workspace {
    let ws = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some(name.into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    write(&ws.path, file, "from the agent\n");
    git(&ws.path, &["add", "-A"]);
    git(&ws.path, &["commit", "-qm", "agent work"]);
    ws
}

fn ship(name: &str) -> ShipRequest {
    ShipRequest {
        workspace: name.into(),
        title: "A change".into(),
        ..Default::default()
    }
}

#[test]
fn a_pull_request_without_origin_names_the_problem_and_the_fix() {
    let f = Fixture::new();
    with_commit(&f, "pr", "feature.txt");
    let e = f.engine.pull_request(&ship("pr")).unwrap_err().to_string();
    assert!(e.contains("has no remote named origin"), "{e}");
    assert!(e.contains("git remote add origin <url>"), "{e}");
    // With another remote, it is named.
    git(&f.repo, &["remote", "add", "upstream", "/nonexistent"]);
    let e = f.engine.pull_request(&ship("pr")).unwrap_err().to_string();
    assert!(e.contains("it has upstream"), "{e}");
}

#[test]
fn a_merge_blocked_by_an_untracked_file_names_it_and_changes_nothing() {
    let f = Fixture::new();
    with_commit(&f, "adds", "docs/guide.md");
    // The root checkout holds its own, untracked, file at that path.
    write(&f.repo, "docs/guide.md", "the user's draft\n");
    let before = git(&f.repo, &["rev-parse", "main"]);
    let e = f.engine.merge(&ship("adds")).unwrap_err().to_string();
    assert!(e.contains("docs/guide.md"), "{e}");
    assert!(
        e.contains("does not track") && e.contains("move it away"),
        "{e}"
    );
    assert_eq!(git(&f.repo, &["rev-parse", "main"]), before);
    assert_eq!(
        std::fs::read_to_string(f.repo.join("docs/guide.md")).unwrap(),
        "the user's draft\n"
    );
    assert!(git(&f.repo, &["for-each-ref", "refs/conductor/backup"]).is_empty());
}
