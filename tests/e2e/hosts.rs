//! Workspaces on other machines (issue 17), the Neovim side: `hosts` in `setup()`,
//! `:ConductorNew --host`, the picker, statusline and tabs of remote workspaces. Cases in
//! tests/nvim/cases/hosts_*.lua.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::nvim::run_case;
use crate::common::sshd::Sshd;
use crate::common::{git, write, Fixture};

/// Without ssh: the option's validation, the origin matching that picks a host's
/// repository, flag parsing and completion, the port forward's command, a remote tab.
#[test]
fn hosts_option_origin_matching_and_remote_tabs_without_ssh() {
    let f = Fixture::new();
    let base = f.base();
    // The repository's origin, a second clone of it, and a repository of another origin.
    let bare = base.join("origin.git");
    git(
        &base,
        &[
            "clone",
            "-q",
            "--bare",
            f.repo.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git(
        &f.repo,
        &["remote", "add", "origin", bare.to_str().unwrap()],
    );
    let other = base.join("other");
    git(
        &base,
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    // The same repository reached by another form of its URL.
    git(
        &other,
        &[
            "remote",
            "set-url",
            "origin",
            &format!("{}/", bare.display()),
        ],
    );
    let unrelated = base.join("unrelated");
    std::fs::create_dir(&unrelated).unwrap();
    git(&unrelated, &["init", "-q", "-b", "main"]);
    git(
        &unrelated,
        &[
            "remote",
            "add",
            "origin",
            "git@example.com:team/unrelated.git",
        ],
    );
    let home = base.join("home");
    let out = run_case(
        "hosts_local",
        &home,
        &f.repo,
        &[
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
            ("CONDUCTOR_TEST_OTHER", other.display().to_string()),
            ("CONDUCTOR_TEST_UNRELATED", unrelated.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}

/// What a Neovim case over ssh needs (contract: "Tests over ssh"): the host's ssh command
/// as JSON (`CONDUCTOR_TEST_SSH`, destination last) and a directory of the remote user's
/// (`CONDUCTOR_TEST_HOST_ROOT`) holding `repo/` (a clone of `origin.git`, whose URL the
/// local repository's `origin` shares) and `fake-agent`. Written here because the shared
/// harness of tests/e2e/remote.rs was not on main yet.
fn host_env(sshd: &Sshd, local_repo: &Path) -> Vec<(&'static str, String)> {
    let root = &sshd.root;
    let origin = root.join("origin.git");
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            local_repo.to_str().unwrap(),
            origin.to_str().unwrap(),
        ],
    );
    git(
        local_repo,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    let repo = root.join("repo");
    git(
        root,
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
    );
    // Committed settings only the host's repository has: the trust question must show
    // them. The run script serves the worktree on the IPv6 loopback only, so that from
    // this same machine 127.0.0.1 reaches it only through the port forward.
    write(
        &repo,
        ".conductor/settings.toml",
        concat!(
            "[scripts]\nsetup = \"echo REMOTE-SETTINGS-7f3a\"\n",
            "run = \"exec python3 -m http.server $CONDUCTOR_PORT --bind ::1\"\n",
        ),
    );
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "settings on the host"]);
    // On origin too: the base a workspace starts from is origin's tip. The local repository
    // never fetches it, so only the host has these settings.
    git(&repo, &["push", "-q", "origin", "main"]);
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    std::fs::copy(&fake, root.join("fake-agent")).unwrap();
    std::fs::set_permissions(
        root.join("fake-agent"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    sshd.give(root);
    let cmd = sshd.ssh();
    let mut argv = vec![cmd.get_program().to_string_lossy().into_owned()];
    argv.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    // A port nobody listens on, for a host that refuses.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    vec![
        ("CONDUCTOR_TEST_SSH", serde_json::to_string(&argv).unwrap()),
        ("CONDUCTOR_TEST_HOST_ROOT", root.display().to_string()),
        ("CONDUCTOR_TEST_CLOSED_PORT", closed.to_string()),
        ("CONDUCTOR_TEST_REPO", local_repo.display().to_string()),
        ("CONDUCTOR_FAKE_AGENT", fake.display().to_string()),
    ]
}

/// Over a real sshd: `:ConductorNew --host` with the fake agent in a real terminal buffer
/// (keys reach it there), the trust question showing the host's file, the picker listing
/// a local and the remote workspace together with the host shown (a refusing host named
/// once), the statusline and tab naming the host, `:ConductorOpen` of the remote one,
/// `:ConductorRun` there with its ports forwarded here (a taken one left out), a fanout
/// made there, and a comparison's vimdiff of two remote worktrees (their files read there).
#[test]
fn remote_workspace_made_typed_into_listed_and_opened_over_ssh() {
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let f = Fixture::new();
    let env = host_env(&sshd, &f.repo);
    let home = f.base().join("home");
    let out = run_case("hosts_ssh", &home, &f.repo, &env);
    assert!(
        out.success,
        "case failed:\n{}\nsshd log:\n{}",
        out.stderr,
        sshd.log()
    );
}
