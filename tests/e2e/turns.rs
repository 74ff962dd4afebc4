//! End to end: agent turns in a real headless Neovim (tests/nvim/cases/turns.lua) — a
//! checkpoint after each turn that changed something, the list, a revert, and the
//! terminal told (OSC 777 / OSC 9 and a bell on Neovim's own terminal channel) when a
//! turn ends while the agent's tab is not shown.

use crate::common::nvim::run_case;
use crate::common::Fixture;

#[test]
fn checkpoints_and_terminal_attention_end_to_end() {
    let f = Fixture::new();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let out = run_case(
        "turns",
        &f.base().join("home"),
        &f.repo,
        &[("CONDUCTOR_FAKE_AGENT", fake.display().to_string())],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
    // Headless, Neovim's terminal channel is its stderr: what a terminal would receive.
    assert!(
        out.stderr
            .contains("\x1b]777;notify;conductor;turns/fake finished\x07\x1b]9;conductor: turns/fake finished\x07\x07"),
        "no terminal notification:\n{}",
        out.stderr
    );
    // Turns 2 and 3 ended while another tab was shown; turn 1 in plain sight; the last
    // one unseen too, but with agents.notify_terminal = false.
    assert_eq!(
        out.stderr.matches("\x1b]777;").count(),
        2,
        "only the turns that ended unseen are announced:\n{}",
        out.stderr
    );
}

#[test]
fn review_comments_survive_a_restart() {
    let f = Fixture::new();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let home = f.base().join("home");
    for phase in ["write", "read"] {
        let out = run_case(
            "comments",
            &home,
            &f.repo,
            &[
                ("CONDUCTOR_FAKE_AGENT", fake.display().to_string()),
                ("CONDUCTOR_PHASE", phase.to_string()),
            ],
        );
        assert!(out.success, "phase {phase} failed:\n{}", out.stderr);
    }
}
