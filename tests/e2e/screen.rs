//! What a new user sees in their first hour, on a real terminal of a laptop's size
//! (tests/common/screen.rs: Neovim under tmux, keys typed, the screen read back). Every
//! wait fails on a hit-enter prompt: no command may leave one with cmdheight=1.

use crate::common::screen::Screen;
use crate::common::{write, Fixture};

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
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let setup = format!(
        r#"{{"default_agent":"shell","agents":{{"fake":{{"cmd":[{:?}],"prompt":"arg"}}}}}}"#,
        fake.display().to_string()
    );
    let screen = Screen::start(&home, &f.repo, &setup, &[]);

    // Create: the trust question, then "created …" and the setup's outcome stay visible.
    screen.command("ConductorNew fix the greeting");
    screen.wait("the trust question", |s| s.contains("is not trusted"));
    screen.keys("a");
    screen.wait_message("conductor: created fix-the-greeting on branch conductor/fix-the-greeting");
    screen.wait_message("conductor: fix-the-greeting: setup script finished");
    screen.wait_mode("t"); // a new agent terminal starts in Terminal mode
    screen.normal();

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

    // The other choice sends the failure to the agent that takes prompts (not the shell).
    screen.command("ConductorAgent fake");
    screen.wait("the fake agent", |s| s.contains("FAKE AGENT READY"));
    screen.wait_mode("t");
    screen.normal();
    screen.command("ConductorCheck");
    screen.wait("the failed check's choices", |s| {
        s.contains("2: show its log")
    });
    screen.keys("1");
    screen.press("Enter");
    screen.wait_message(
        "conductor: sent the failure of `echo checking; false` to fix-the-greeting/fake",
    );
    screen.wait("the paste in the agent", |s| s.contains("PASTE "));

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
    // (The fake agent saved the paste in the worktree: archive asks first.)
    screen.command("ConductorArchive");
    screen.wait("the archive question", |s| {
        s.contains("(A)rchive, [C]ancel")
    });
    screen.keys("a");
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
    screen.wait_mode("t");
    screen.normal();
    screen.wait_message("conductor: fix-the-greeting: setup script finished");
}

#[test]
fn tabs_labels_insert_mode_and_quit_as_seen() {
    let f = Fixture::new();
    let home = f.base().join("home");
    // Quitting stops the agents here (not the default): so it asks first.
    let screen = Screen::start(
        &home,
        &f.repo,
        r#"{"default_agent":"shell","agents":{"on_editor_exit":"stop"}}"#,
        &[],
    );

    screen.command("ConductorNew --name=tabs fix it");
    screen.wait_message("conductor: created tabs on branch conductor/tabs");
    // The tabline names the workspace, not its terminal's buffer.
    let top = screen.text().lines().next().unwrap_or("").to_string();
    assert!(
        top.contains(" tabs ") && !top.contains("shell"),
        "tabline: {top:?}"
    );
    // The new terminal takes keys at once (Terminal mode): the shell runs what is typed.
    screen.keys("echo typed-$((5*5))");
    screen.press("Enter");
    screen.wait("the typed command's output", |s| s.contains("typed-25"));

    // A second agent of the same kind is shell-2 in :ConductorAgents.
    screen.wait_mode("t");
    screen.normal();
    screen.command("ConductorAgent");
    screen.wait("the second shell's window", |s| {
        s.contains("conductor://tabs/shell-2")
    });
    screen.wait_mode("t");
    screen.normal();
    screen.command("ConductorAgents");
    let list = screen.wait("the agents list", |s| s.contains("2: tabs"));
    assert!(
        list.contains(" shell ") && list.contains(" shell-2 "),
        "{list}"
    );
    screen.press("Escape");
    // (Typed at once, Escape and ":" would read as Alt-:.)
    screen.wait("the list gone", |s| !s.contains("Type number"));

    // :qa with running agents says how many and asks; Cancel keeps Neovim, Quit quits.
    screen.command("qa");
    screen.wait("the quit question", |s| {
        s.contains(
            "2 agents are still running (tabs/shell, tabs/shell-2); quitting stops them. Quit?",
        )
    });
    screen.keys("c");
    screen.wait("the question gone, Neovim still there", |s| {
        !s.contains("Quit?") && s.contains("conductor://tabs/")
    });
    screen.command("qa");
    screen.wait("the quit question again", |s| s.contains("Quit?"));
    screen.keys("q");
    screen.wait_exit();
}

#[test]
fn quitting_leaves_the_agents_running_in_the_engine_without_asking() {
    let f = Fixture::new();
    let home = f.base().join("home");
    let screen = Screen::start(&home, &f.repo, r#"{"default_agent":"shell"}"#, &[]);
    screen.command("ConductorNew --name=stays keep working");
    screen.wait_message("conductor: created stays on branch conductor/stays");
    screen.wait_mode("t");
    screen.normal();
    // The default ("keep"): no question, Neovim quits, the agent runs on in the engine.
    screen.command("qa");
    screen.wait_exit();
    // Asked as a client of its own: the status lists that client alone once the
    // Neovim's connection is gone.
    let status = || -> serde_json::Value {
        let out = std::process::Command::new(crate::common::nvim::engine())
            .args(["status", "--state-dir"])
            .arg(home.join(".local/state/nvim/conductor"))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        let s = status();
        if s["clients"].as_array().unwrap().len() == 1 || std::time::Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status["clients"].as_array().unwrap().len(), 1, "{status}");
    let sessions = status["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{status}");
    assert_eq!(sessions[0]["workspace"], "stays");
    assert_eq!(sessions[0]["exited"], false, "{status}");
}

#[test]
fn no_command_leaves_a_hit_enter_prompt() {
    let f = repo_with_failing_check();
    let home = f.base().join("home");
    let screen = Screen::start(&home, &f.repo, r#"{"default_agent":"shell"}"#, &[]);
    // Clears the message line, runs `cmd`, waits for `outcome` on the message line.
    let run = |cmd: &str, outcome: &str| {
        screen.command("echo");
        screen.wait("a clear message line", |s| {
            s.lines().last().unwrap_or("").trim().is_empty()
        });
        screen.command(cmd);
        screen.wait_message(outcome)
    };

    screen.command("ConductorNew --name=all try every command");
    screen.wait("the trust question", |s| s.contains("is not trusted"));
    screen.keys("a");
    screen.wait_message("conductor: all: setup script finished");
    screen.wait_mode("t");
    screen.normal();

    screen.command("ConductorLog");
    screen.wait("the log", |s| s.contains("setting up"));
    screen.command("close");
    run("ConductorSetup", "conductor: all: setup script finished");
    let root = f.repo.display().to_string();
    run(
        "ConductorRun",
        &format!("has no run script: set scripts.run in {root}/.conductor/settings.local.toml"),
    );
    run("ConductorStop", "conductor: all has no running script");
    run("ConductorNext", "conductor: no agent needs attention");
    run(
        "ConductorSendComments",
        "conductor: all has no unsent review comments",
    );
    run(
        "ConductorPR",
        "conductor: conductor/all has no commits that main does not have",
    );
    run("ConductorCompare", "conductor: no groups yet");
    run("ConductorDoctor", "conductor: everything agrees");
    run("ConductorSend hi", "conductor: all/shell takes no prompts");
    // Turns, spotlight and trust (issues 16, 10, 11).
    screen.command("ConductorCheckpoints");
    screen.wait("the checkpoints list", |s| s.contains("Checkpoints of all"));
    screen.keys("q");
    run("ConductorRevert 9", "conductor: all has no checkpoint 9");
    run(
        "ConductorSpotlight",
        "conductor: spotlight: all's changes are in",
    );
    run("ConductorSpotlight!", "conductor: spotlight of all off");
    screen.command("ConductorTrust");
    screen.wait("the trust question", |s| s.contains("is trusted"));
    screen.keys("a");
    screen.wait("the question gone", |s| !s.contains("(a)llow"));
    screen.command("ConductorReview");
    screen.wait("the review", |s| s.contains("all · branch changes"));
    screen.keys("q");
    screen.wait("the review closed", |s| !s.contains("branch changes"));
    screen.command("ConductorOpen all");
    screen.wait("the workspace's tab", |s| {
        s.contains("conductor://all/shell")
    });
    screen.command("ConductorAgentKill");
    screen.wait("the agent stopped", |s| {
        s.contains("[conductor: shell exited")
    });
    screen.command("ConductorAgentRestart");
    screen.wait("the agent again", |s| {
        s.matches("conductor: no AI CLI").count() >= 1
    });
    screen.normal();
    screen.command("ConductorFanout");
    screen.wait("the fanout buffer", |s| s.contains("conductor://fanout"));
    screen.command("bwipeout!");
    screen.command("ConductorDelete! all");
    screen.wait("the delete question", |s| {
        s.contains("Delete workspace all?")
    });
    screen.keys("d");
    screen.wait_message("conductor: deleted all and branch conductor/all");
}
