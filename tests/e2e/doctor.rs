//! End to end: :ConductorDoctor, and the warning at the engine's start when the state
//! file and git disagree (tests/nvim/cases/doctor*.lua).

use crate::common::nvim::run_case;
use crate::common::{git, Fixture};

#[test]
fn doctor_finds_and_repairs_and_warns_at_start() {
    let f = Fixture::new();
    let home = f.base().join("home");
    let env = [("CONDUCTOR_TEST_REPO", f.repo.display().to_string())];
    let out = run_case("doctor", &home, &f.repo, &env);
    assert!(out.success, "case failed:\n{}", out.stderr);
    // A worktree made by hand under the workspaces root, then a new session.
    let orphan = home.join(".local/share/nvim/conductor/workspaces/repo/by-hand");
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
    let out = run_case("doctor_start", &home, &f.repo, &env);
    assert!(out.success, "case failed:\n{}", out.stderr);
}
