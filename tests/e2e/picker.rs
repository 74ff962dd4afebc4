//! End to end: the picker's rows and actions, the statusline, highlight groups,
//! `:checkhealth conductor` and the help tags in a real headless Neovim (see
//! tests/nvim/cases/picker.lua for the steps and assertions made inside Neovim).

use std::path::Path;

use crate::common::nvim::run_case;
use crate::common::{git, write, Fixture};

/// Copies `from` into `to` recursively (plain files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn picker_statusline_health_end_to_end() {
    let f = Fixture::new();
    let base = f.base();

    // A second repository, so the picker has workspaces of two.
    let api = base.join("api");
    std::fs::create_dir(&api).unwrap();
    git(&api, &["init", "-q", "-b", "main"]);
    write(&api, "README.md", "the api\n");
    git(&api, &["add", "."]);
    git(&api, &["commit", "-qm", "initial"]);

    // The plugin as lazy.nvim installs it: its own git checkout (at another commit than
    // the one the library under test was built from, so the library is stale for it).
    let home = base.join("home");
    let lazy = home.join(".local/share/nvim/lazy/conductor.nvim");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["lua", "plugin", "doc"] {
        copy_tree(&root.join(dir), &lazy.join(dir));
    }
    let _ = std::fs::remove_file(lazy.join("doc/tags"));
    git(&lazy, &["init", "-q", "-b", "main"]);
    git(&lazy, &["add", "-A"]);
    git(&lazy, &["commit", "-qm", "installed by lazy.nvim"]);

    let out = run_case(
        "picker",
        &home,
        &f.repo,
        &[
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
            ("CONDUCTOR_TEST_REPO2", api.display().to_string()),
            ("CONDUCTOR_TEST_LAZY", lazy.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);

    // Seen from outside Neovim: three workspaces in the shared state, all active again
    // (signup was archived and restored through the picker).
    let state =
        std::fs::read_to_string(home.join(".local/state/nvim/conductor/state.json")).unwrap();
    for name in ["login", "signup", "api-docs"] {
        assert!(
            state.contains(&format!("\"name\": \"{name}\"")),
            "{name} in {state}"
        );
    }
    assert!(!state.contains("\"state\": \"archived\""), "{state}");
    assert!(
        lazy.join("doc/tags").exists(),
        ":helptags wrote the tags file"
    );
}
