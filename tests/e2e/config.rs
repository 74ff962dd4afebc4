//! End to end: Conductor's files through the user's commands in a real headless Neovim
//! (tests/nvim/cases/config.lua): the precedence of the four files, committed settings
//! read from the base branch while the root is on another branch, the trust question
//! asked once per content and covering every key, `:ConductorRun` completion and the
//! `:checkhealth` report.

use crate::common::nvim::run_case;
use crate::common::{git, write, Fixture};

#[test]
fn conductor_files_read_as_conductor_reads_them() {
    let f = Fixture::new();
    write(
        &f.repo,
        ".conductor/settings.toml",
        concat!(
            "\"$schema\" = \"https://conductor.build/schemas/settings.repo.schema.json\"\n",
            "enterprise_data_privacy = true\n",
            "[scripts.run.web]\ncommand = \"env | sort > run-env.txt; exec sleep 30\"\ndefault = true\n",
            "[scripts.run.api]\ncommand = \"exec sleep 30\"\n",
            "[environment_variables]\nFROM_REPO = \"main\"\nSHADOWED = \"repo\"\n",
            "[environment_variables.local]\nLOCAL_ONE = \"yes\"\n",
            "[environment_variables.cloud]\nCLOUD_ONE = \"no\"\n",
            "[prompts]\ncode_review = \"REPO REVIEW RULES\"\n",
        ),
    );
    f.commit_all("settings on main");
    // The root checkout sits on another branch whose committed settings differ.
    git(&f.repo, &["checkout", "-q", "-b", "other"]);
    write(
        &f.repo,
        ".conductor/settings.toml",
        "[environment_variables]\nFROM_REPO = \"other\"\n",
    );
    f.commit_all("settings on other");
    write(
        &f.repo,
        ".conductor/settings.local.toml",
        "[environment_variables]\nFROM_LOCAL = \"local\"\nSHADOWED = \"local\"\n",
    );
    let home = f.base().join("home");
    write(
        &home,
        ".conductor/settings.toml",
        "[environment_variables]\nFROM_HOME = \"home\"\nFROM_REPO = \"home\"\n",
    );
    let out = run_case(
        "config",
        &home,
        &f.repo,
        &[("CONDUCTOR_TEST_REPO", f.repo.display().to_string())],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}

/// Every Lua module loads on its own and the top-level requires form no loop
/// (tests/nvim/cases/modules.lua names the loop when there is one).
#[test]
fn lua_modules_load_without_dependency_cycles() {
    let f = Fixture::new();
    let home = f.base().join("home");
    let out = run_case("modules", &home, &f.repo, &[]);
    assert!(out.success, "case failed:\n{}", out.stderr);
}

/// Modules loaded early (a config, a completion) never load the library by themselves.
#[test]
fn early_modules_load_no_library() {
    let f = Fixture::new();
    let home = f.base().join("home");
    let out = run_case("no_library", &home, &f.repo, &[]);
    assert!(out.success, "case failed:\n{}", out.stderr);
}
