//! End to end: agents on real PTYs in terminal buffers of a headless Neovim, driven by
//! the fake agent in tests/agents/ (see tests/nvim/cases/agents.lua).

use crate::common::nvim::run_case;
use crate::common::Fixture;

#[test]
fn agent_terminals_end_to_end() {
    let f = Fixture::new();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let out = run_case(
        "agents",
        &f.base().join("home"),
        &f.repo,
        &[("CONDUCTOR_FAKE_AGENT", fake.display().to_string())],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}
