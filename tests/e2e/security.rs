//! End to end: security in a real headless Neovim (see tests/nvim/cases/security.lua).
//! Task text, prompts and names never reach a shell; names never lead outside the
//! workspaces root; a repository's scripts run only once the user trusts their file, and
//! not after it changed until trusted again. Then bad agent input (unknown, missing,
//! mistyped): one clear error, nothing made.

use crate::common::nvim::run_case;
use crate::common::{write, Fixture};

#[test]
fn hostile_text_names_and_untrusted_scripts() {
    let f = Fixture::new();
    let markers = f.base().join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    let m = markers.display();
    // Each script appends the workspace's name to its own marker file.
    write(
        &f.repo,
        ".conductor/settings.toml",
        &format!(
            "[scripts]\n\
             setup = \"echo \\\"$CONDUCTOR_WORKSPACE_NAME\\\" >> '{m}/setup'\"\n\
             run = \"echo \\\"$CONDUCTOR_WORKSPACE_NAME\\\" >> '{m}/run'; sleep 30\"\n\
             archive = \"echo \\\"$CONDUCTOR_WORKSPACE_NAME\\\" >> '{m}/archive'\"\n"
        ),
    );
    f.commit_all("conductor settings with scripts");
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let unique = format!(
        "{}-{}",
        std::process::id(),
        f.base().file_name().unwrap().to_string_lossy()
    );
    let out = run_case(
        "security",
        &f.base().join("home"),
        &f.repo,
        &[
            ("CONDUCTOR_FAKE_AGENT", fake.display().to_string()),
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
            ("CONDUCTOR_TEST_MARKERS", markers.display().to_string()),
            ("CONDUCTOR_TEST_UNIQUE", unique.clone()),
        ],
    );
    // Whatever happened inside, nothing may have been created by a shell.
    let pwned: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("pwned-{unique}")))
        .collect();
    // The errors the user saw, for the record (`cargo test -- --nocapture`).
    for line in out.stderr.lines() {
        if let Some(i) = line.find("[notify 4] ") {
            eprintln!("error shown: {}", &line[i + 11..]);
        }
    }
    assert!(out.success, "case failed:\n{}", out.stderr);
    assert!(pwned.is_empty(), "a shell ran hostile text: /tmp/{pwned:?}");
}
