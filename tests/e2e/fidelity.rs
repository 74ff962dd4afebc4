//! End to end: agent terminals behave as Neovim's own `:terminal` (query answers,
//! COLORTERM, PWD), a typed-in first prompt waits for the program's input, and states
//! come from the screen (see tests/nvim/cases/fidelity.lua).

use crate::common::nvim::run_case;
use crate::common::Fixture;

#[test]
fn agent_terminals_behave_as_terminal() {
    let f = Fixture::new();
    let agents = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents");
    let out = run_case(
        "fidelity",
        &f.base().join("home"),
        &f.repo,
        &[
            (
                "CONDUCTOR_FAKE_AGENT",
                agents.join("fake-agent").display().to_string(),
            ),
            (
                "CONDUCTOR_QUERY_PROBE",
                agents.join("query-probe").display().to_string(),
            ),
        ],
    );
    eprintln!("{}", out.stderr);
    assert!(out.success, "case failed:\n{}", out.stderr);
}
