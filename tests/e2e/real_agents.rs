//! The real agent CLIs (npm: @openai/codex, @anthropic-ai/claude-code,
//! @google/gemini-cli, opencode-ai) in workspace terminals, offline: each is started with
//! a fake API key in a temporary home (onboarding marked done, the repository trusted the
//! way each CLI records it) and must take its first prompt, render, take keys, a paste and
//! a resize (tests/nvim/cases/real_agent.lua). Without credentials, codex's sign-in menu
//! and gemini's auth menu must read as "waiting".
//!
//! `./dev test --real-agents` installs the pinned versions (tests/agents/real/) into
//! .agents/ and sets CONDUCTOR_REAL_AGENTS to their bin directory; without it these tests
//! are reported as ignored (build.rs sets the cfg).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::nvim::run_case;
use crate::common::Fixture;

/// The key every CLI is given: the requests it makes with it fail, offline.
const FAKE_KEY: &str = "sk-ant-api03-conductor-offline-test-key-0000";

fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("CONDUCTOR_REAL_AGENTS")
        .map(PathBuf::from)
        .expect("CONDUCTOR_REAL_AGENTS names the agent CLIs' bin directory: run ./dev test --real-agents");
    for name in ["codex", "claude", "gemini", "opencode"] {
        assert!(
            dir.join(name).exists(),
            "{name} is not in {}: run ./dev test --real-agents",
            dir.display()
        );
    }
    dir
}

/// Prepares `home` the way each CLI's docs allow offline use, unless `signed_in` is
/// false (then it has no credentials at all).
fn prepare_home(name: &str, home: &Path, repo: &Path, bin: &Path, signed_in: bool) {
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::create_dir_all(home.join(".gemini")).unwrap();
    let repo_key = repo.display().to_string();
    // Trust records of the root; the plugin copies them to each new worktree
    // (`trust_worktrees`), as a user who trusted the repository would have.
    let claude = serde_json::json!({
        "hasCompletedOnboarding": true,
        "customApiKeyResponses": { "approved": [&FAKE_KEY[FAKE_KEY.len() - 20..]], "rejected": [] },
        "projects": { repo_key.clone(): { "hasTrustDialogAccepted": true } },
    });
    std::fs::write(home.join(".claude.json"), claude.to_string()).unwrap();
    std::fs::write(
        home.join(".codex/config.toml"),
        format!("[projects.\"{repo_key}\"]\ntrust_level = \"trusted\"\n"),
    )
    .unwrap();
    if !signed_in {
        return;
    }
    std::fs::write(
        home.join(".gemini/settings.json"),
        r#"{"security":{"auth":{"selectedType":"gemini-api-key"}}}"#,
    )
    .unwrap();
    if name == "codex" {
        let mut login = Command::new(bin.join("codex"))
            .args(["login", "--with-api-key"])
            .env("HOME", home)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("codex login starts");
        login
            .stdin
            .take()
            .unwrap()
            .write_all(FAKE_KEY.as_bytes())
            .unwrap();
        assert!(
            login.wait().unwrap().success(),
            "codex login --with-api-key"
        );
    }
}

fn run(name: &str, signed_in: bool) {
    let bin = bin_dir();
    let f = Fixture::new();
    let home = f.base().join("home");
    prepare_home(name, &home, &f.repo, &bin, signed_in);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut env = vec![
        ("PATH", path),
        ("CONDUCTOR_REAL_AGENT", name.to_string()),
        // claude's auto-updater would run npm install -g in the background.
        ("DISABLE_AUTOUPDATER", "1".to_string()),
        ("GEMINI_CLI_TRUST_WORKSPACE", "true".to_string()),
    ];
    if signed_in {
        env.push(("ANTHROPIC_API_KEY", FAKE_KEY.to_string()));
        env.push(("GEMINI_API_KEY", FAKE_KEY.to_string()));
    } else {
        env.push(("CONDUCTOR_REAL_EXPECT", "waiting".to_string()));
    }
    let out = run_case("real_agent", &home, &f.repo, &env);
    assert!(out.success, "{name} failed:\n{}", out.stderr);
    if let Some(at) = out.stderr.find("REAL AGENT") {
        eprintln!("{}", out.stderr[at..].lines().next().unwrap_or_default());
    }
}

#[test]
#[cfg_attr(
    not(conductor_real_agents),
    ignore = "needs the agent CLIs: ./dev test --real-agents installs them"
)]
fn codex_takes_prompt_keys_paste_and_resize() {
    run("codex", true);
}

#[test]
#[cfg_attr(
    not(conductor_real_agents),
    ignore = "needs the agent CLIs: ./dev test --real-agents installs them"
)]
fn claude_takes_prompt_keys_paste_and_resize() {
    run("claude", true);
}

#[test]
#[cfg_attr(
    not(conductor_real_agents),
    ignore = "needs the agent CLIs: ./dev test --real-agents installs them"
)]
fn gemini_takes_prompt_keys_paste_and_resize() {
    run("gemini", true);
}

#[test]
#[cfg_attr(
    not(conductor_real_agents),
    ignore = "needs the agent CLIs: ./dev test --real-agents installs them"
)]
fn opencode_takes_prompt_keys_paste_and_resize() {
    run("opencode", true);
}

#[test]
#[cfg_attr(
    not(conductor_real_agents),
    ignore = "needs the agent CLIs: ./dev test --real-agents installs them"
)]
fn codex_sign_in_menu_reads_as_waiting() {
    run("codex", false);
}

#[test]
#[cfg_attr(
    not(conductor_real_agents),
    ignore = "needs the agent CLIs: ./dev test --real-agents installs them"
)]
fn gemini_auth_menu_reads_as_waiting() {
    run("gemini", false);
}
