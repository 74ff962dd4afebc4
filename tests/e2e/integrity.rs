//! End to end: archive at the edges in a real headless Neovim (see
//! tests/nvim/cases/integrity.lua): the confirmation names the ignored content that goes
//! and the files kept; a refused archive leaves the agent running.

use crate::common::nvim::run_case;
use crate::common::{write, Fixture};

#[test]
fn archive_confirmation_and_refusal_end_to_end() {
    let f = Fixture::new();
    write(&f.repo, ".env.local", "ROOT=1\n");
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let out = run_case(
        "integrity",
        &f.base().join("home"),
        &f.repo,
        &[("CONDUCTOR_FAKE_AGENT", fake.display().to_string())],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}
