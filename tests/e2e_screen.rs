//! What a new user sees in their first hour, on a real terminal of a laptop's size
//! (tests/common/screen.rs: Neovim under tmux, keys typed, the screen read back). Every
//! wait fails on a hit-enter prompt: no command may leave one with cmdheight=1.

mod common;

use common::screen::Screen;
use common::{write, Fixture};

/// A repository whose setup script takes a moment and whose only check fails.
fn repo_with_failing_check() -> Fixture {
    let f = Fixture::new();
    write(
        &f.repo,
        ".conductor/settings.toml",
        concat!(
            "checks = [\"echo checking; false\"]\n",
            "[scripts]\nsetup = \"echo setting up; sleep 0.5; echo done\"\n",
        ),
    );
    f.commit_all("conductor settings");
    f
}

#[test]
fn every_outcome_stays_on_screen_without_a_hit_enter_prompt() {
    let f = repo_with_failing_check();
    let home = f.base().join("home");
    let screen = Screen::start(&home, &f.repo, r#"{"default_agent":"shell"}"#, &[]);

    // Create: the trust question, then "created …" and the setup's outcome stay visible.
    screen.command("ConductorNew fix the greeting");
    screen.wait("the trust question", |s| s.contains("is not trusted"));
    screen.keys("a");
    screen.wait_message("conductor: created fix-the-greeting on branch conductor/fix-the-greeting");
    screen.wait_message("conductor: fix-the-greeting: setup script finished");

    // A failed check: its outcome, then its two choices; "show its log" shows the log.
    screen.command("ConductorCheck");
    let choices = screen.wait("the failed check's choices", |s| {
        s.contains("2: show its log")
    });
    assert!(
        choices.contains("check `echo checking; false` failed (exit 1)"),
        "the outcome is on screen above the choices:\n{choices}"
    );
    screen.keys("2");
    screen.press("Enter");
    screen.wait("the check's log in a window", |s| {
        s.contains("==> check finished: exit 1")
    });
    assert!(
        !screen.text().contains("internal error"),
        "{}",
        screen.text()
    );
    screen.command("close");

    // Merging a branch with nothing committed: refused first, in one line, left visible.
    screen.command("ConductorMerge");
    screen.wait_message(
        "conductor: conductor/fix-the-greeting has no commits that main does not have",
    );
    assert!(
        !screen.text().contains("COMMIT_MSG"),
        "no message was drafted"
    );

    // Archive, then restore through the picker of archived workspaces.
    screen.command("ConductorArchive");
    screen.wait_message("conductor: archived fix-the-greeting");
    screen.command("Conductor!");
    screen.wait("the archived workspaces", |s| {
        s.contains("1: fix-the-greeting")
    });
    screen.keys("1");
    screen.press("Enter");
    screen.wait("its actions", |s| s.contains("1: restore fix-the-greeting"));
    screen.keys("1");
    screen.press("Enter");
    screen.wait_message("conductor: restored fix-the-greeting on branch");
    screen.wait_message("conductor: fix-the-greeting: setup script finished");
}
