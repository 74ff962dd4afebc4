//! End to end: the workspace commands in a real headless Neovim (see
//! tests/nvim/cases/workspaces.lua for the steps and assertions made inside Neovim).

use crate::common::nvim::run_case;
use crate::common::{git, write, Fixture};

#[test]
fn workspace_commands_end_to_end() {
    let f = Fixture::new();
    write(&f.repo, ".conductor/settings.toml", concat!(
        "[scripts]\n",
        "setup = \"echo installing deps; env | grep -E '^(CONDUCTOR_|FROM_CONFIG)' > setup-env.txt\"\n",
        "[environment_variables]\nFROM_CONFIG = \"yes\"\n",
    ));
    f.commit_all("conductor settings");
    write(&f.repo, ".env", "API_KEY=secret\n");
    write(&f.repo, "scratch.txt", "mine, untracked\n");
    let home = f.base().join("home");
    let outside = f.base().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let out = run_case(
        "workspaces",
        &home,
        &f.repo,
        &[
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
            ("CONDUCTOR_TEST_OUTSIDE", outside.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);

    // Seen from outside Neovim: git state and the shared state file agree.
    let worktrees = git(&f.repo, &["worktree", "list", "--porcelain"]);
    assert!(
        worktrees.contains("branch refs/heads/conductor/login"),
        "{worktrees}"
    );
    assert!(!worktrees.contains("add-dark-mode"), "{worktrees}");
    let state =
        std::fs::read_to_string(home.join(".local/state/nvim/conductor/state.json")).unwrap();
    assert!(
        state.contains("\"name\": \"login\"") && !state.contains("add-dark-mode"),
        "{state}"
    );
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "?? scratch.txt");
}
