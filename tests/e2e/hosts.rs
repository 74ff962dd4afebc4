//! Workspaces on other machines (issue 17), the Neovim side: `hosts` in `setup()`,
//! `:ConductorNew --host`, the picker, statusline and tabs of remote workspaces. Cases in
//! tests/nvim/cases/hosts_*.lua.

use crate::common::nvim::run_case;
use crate::common::{git, Fixture};

/// Without ssh: the option's validation, the origin matching that picks a host's
/// repository, flag parsing and completion, the port forward's command, a remote tab.
#[test]
fn hosts_option_origin_matching_and_remote_tabs_without_ssh() {
    let f = Fixture::new();
    let base = f.base();
    // The repository's origin, a second clone of it, and a repository of another origin.
    let bare = base.join("origin.git");
    git(&base, &["clone", "-q", "--bare", f.repo.to_str().unwrap(), bare.to_str().unwrap()]);
    git(&f.repo, &["remote", "add", "origin", bare.to_str().unwrap()]);
    let other = base.join("other");
    git(&base, &["clone", "-q", bare.to_str().unwrap(), other.to_str().unwrap()]);
    // The same repository reached by another form of its URL.
    git(&other, &["remote", "set-url", "origin", &format!("{}/", bare.display())]);
    let unrelated = base.join("unrelated");
    std::fs::create_dir(&unrelated).unwrap();
    git(&unrelated, &["init", "-q", "-b", "main"]);
    git(&unrelated, &["remote", "add", "origin", "git@example.com:team/unrelated.git"]);
    let home = base.join("home");
    let out = run_case(
        "hosts_local",
        &home,
        &f.repo,
        &[
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
            ("CONDUCTOR_TEST_OTHER", other.display().to_string()),
            ("CONDUCTOR_TEST_UNRELATED", unrelated.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}
