//! End to end: fanout (a buffer of tasks, GitHub issues through a stub `gh`) and a
//! two-agent comparison with its view and keep, in a real headless Neovim with fake
//! agents on real PTYs (see tests/nvim/cases/fanout.lua).

use std::os::unix::fs::PermissionsExt;

use crate::common::nvim::run_case;
use crate::common::{git, write, Fixture};

/// A stand-in for GitHub's CLI: records its arguments, prints three open issues.
const STUB_GH: &str = r#"#!/bin/sh
echo "$@" > "$(dirname "$0")/gh-args"
cat <<'JSON'
[{"number":12,"title":"Login fails on Safari","body":"Steps: open the page"},
 {"number":15,"title":"Add dark mode","body":""},
 {"number":20,"title":"Unrelated","body":"not chosen"}]
JSON
"#;

#[test]
fn fanout_and_compare_end_to_end() {
    let f = Fixture::new();
    let base = f.base();
    let gh = base.join("bin/gh");
    write(&base, "bin/gh", STUB_GH);
    std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let home = base.join("home");
    let out = run_case(
        "fanout",
        &home,
        &f.repo,
        &[
            ("CONDUCTOR_FAKE_AGENT", fake.display().to_string()),
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
            ("CONDUCTOR_TEST_GH", gh.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);

    // Seen from outside Neovim: the worktrees, the archived one's branch and snapshot,
    // and the groups file.
    let worktrees = git(&f.repo, &["worktree", "list", "--porcelain"]);
    for name in [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "tidy-epsilon",
        "12-login-fails-on-safari",
        "15-add-dark-mode",
        "same-task-fake",
    ] {
        assert!(
            worktrees.contains(&format!("branch refs/heads/conductor/{name}\n"))
                || worktrees.ends_with(&format!("branch refs/heads/conductor/{name}")),
            "{name} in {worktrees}"
        );
    }
    assert!(!worktrees.contains("same-task-fake2"), "{worktrees}");
    assert!(!worktrees.contains("20-unrelated"), "{worktrees}");
    git(
        &f.repo,
        &["rev-parse", "--verify", "conductor/same-task-fake2"],
    );
    let groups =
        std::fs::read_to_string(home.join(".local/state/nvim/conductor/groups.json")).unwrap();
    for group in ["\"fanout\"", "\"issues\"", "\"same-task\"", "\"compare\""] {
        assert!(groups.contains(group), "{group} in {groups}");
    }
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "");
}
