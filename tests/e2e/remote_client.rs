//! The client's side of remote hosts (issue 17), in a real Neovim against a real sshd
//! (tests/common/sshd.rs): requests routed by `host` and by "host:id", the engine copied
//! to a host that has none, ids and session numbers told apart from the local ones, the
//! live side of a remote file, and a dropped ssh leaving the agent running. The commands
//! built on this (`:ConductorNew --host`, the picker, the review) have their own tests.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::nvim::run_case;
use crate::common::sshd::{Sshd, ENGINE_DIR};
use crate::common::{git, write};

#[test]
fn a_neovim_reaches_a_host_engine_copying_it_there_first() {
    // The host has no engine of this build: the plugin copies its own.
    let Some(sshd) = Sshd::start_without_engine() else {
        return;
    };
    let root = &sshd.root;
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    write(&repo, "README.md", "on the host\n");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "initial"]);
    let agent = root.join("fake-agent");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent"),
        &agent,
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    sshd.give(root);
    let installed = sshd.home.join(ENGINE_DIR);

    let mut ssh = vec![];
    let cmd = sshd.ssh();
    ssh.push(cmd.get_program().to_string_lossy().into_owned());
    ssh.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let home = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    git(local.path(), &["init", "-q", "-b", "main"]);
    write(local.path(), "a.txt", "here\n");
    git(local.path(), &["add", "."]);
    git(local.path(), &["commit", "-qm", "local"]);
    let out = run_case(
        "remote_client",
        home.path(),
        local.path(),
        &[
            ("CONDUCTOR_TEST_SSH", serde_json::to_string(&ssh).unwrap()),
            ("CONDUCTOR_TEST_HOST_ROOT", root.display().to_string()),
        ],
    );
    // The host's engine (and the agent) stop with it, whatever the case did.
    let _ = sshd
        .ssh()
        .arg(format!(
            "~/{ENGINE_DIR}/conductor-engine stop --state-dir {}/state",
            root.display()
        ))
        .output();
    assert!(out.success, "{}\nsshd log:\n{}", out.stderr, sshd.log());
    assert!(
        installed.join("conductor-engine").is_file(),
        "the engine was copied to {}",
        installed.display()
    );
}
