//! The first hour of a new user (issue 13), in a real headless Neovim: see the Lua cases
//! under tests/nvim/cases/ for the steps; what is seen on screen is in e2e_screen.rs.

mod common;

use common::nvim::run_case;
use common::Fixture;

#[test]
fn shell_agent_is_never_typed_into() {
    let f = Fixture::new();
    let home = f.base().join("home");
    let pwned = f.base().join("pwned");
    // Only the system's directories on PATH: no AI CLI, so the fallback is the shell.
    let path = "/usr/bin:/bin".to_string();
    for cli in ["codex", "claude", "gemini", "opencode"] {
        for dir in ["/usr/bin", "/bin"] {
            assert!(
                !std::path::Path::new(dir).join(cli).exists(),
                "{cli} in {dir}: this test needs a PATH without AI CLIs"
            );
        }
    }
    let out = run_case(
        "shell_agent",
        &home,
        &f.repo,
        &[
            ("PATH", path),
            ("SHELL", "/bin/sh".into()),
            ("CONDUCTOR_TEST_PWNED", pwned.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
    for tag in ["task", "send", "paste"] {
        let p = format!("{}-{tag}", pwned.display());
        assert!(
            !std::path::Path::new(&p).exists(),
            "{p}: a shell ran the text"
        );
    }
}

#[test]
fn labels_tabs_messages_review_and_insert_mode() {
    let f = Fixture::new();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let out = run_case(
        "first_hour",
        &f.base().join("home"),
        &f.repo,
        &[
            ("CONDUCTOR_FAKE_AGENT", fake.display().to_string()),
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}

#[test]
fn restore_starts_the_agents_it_had() {
    let f = Fixture::new();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let out = run_case(
        "restore_agents",
        &f.base().join("home"),
        &f.repo,
        &[("CONDUCTOR_FAKE_AGENT", fake.display().to_string())],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}
