//! Real agent CLIs, when installed: each one found on PATH is started in a workspace
//! terminal and must render its first screen and react to a key. Agents that are not
//! installed are skipped with a message (they install from the npm registry:
//! @openai/codex, @anthropic-ai/claude-code, @google/gemini-cli, opencode-ai).

mod common;

use common::nvim::run_case;
use common::Fixture;

#[test]
fn installed_agent_clis_render_and_take_keys() {
    let mut ran = 0;
    for name in ["codex", "claude", "gemini", "opencode"] {
        if conductor_core::core::agent::find_program(name, std::env::var_os("PATH").as_deref())
            .is_none()
        {
            eprintln!("skipping {name}: not on PATH");
            continue;
        }
        let f = Fixture::new();
        let out = run_case(
            "real_agent",
            &f.base().join("home"),
            &f.repo,
            &[
                ("CONDUCTOR_REAL_AGENT", name.to_string()),
                // claude's auto-updater would run npm install -g in the background.
                ("DISABLE_AUTOUPDATER", "1".to_string()),
                ("GEMINI_CLI_TRUST_WORKSPACE", "true".to_string()),
            ],
        );
        assert!(out.success, "{name} failed:\n{}", out.stderr);
        eprintln!("{name}: first screen rendered and took a key");
        ran += 1;
    }
    if ran == 0 {
        eprintln!("no real agent CLI on PATH: nothing to check");
    }
}
