//! End to end: what a workspace's scripts leave running (tests/nvim/cases/processes.lua).

use std::time::{Duration, Instant};

use crate::common::nvim::run_case;
use crate::common::Fixture;

use conductor_core::core::platform::groups::running as alive;

#[test]
fn a_setup_script_does_not_survive_quit() {
    let f = Fixture::new();
    let home = f.base().join("home");
    let pidfile = f.base().join("setup.pid");
    let env = [
        ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
        ("CONDUCTOR_TEST_PIDFILE", pidfile.display().to_string()),
    ];
    let out = run_case("processes", &home, &f.repo, &env);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid written; case said:\n{}", out.stderr));
    // Killed before Neovim exited; only reaping by init may still be pending.
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survived = alive(pid);
    if survived {
        // SAFETY: the script's own group; do not leave it behind.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    assert!(out.success, "case failed:\n{}", out.stderr);
    assert!(!survived, "the setup script {pid} survived :qa");
}
