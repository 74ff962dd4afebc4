//! End to end: review, comments, checks, merge and pull request in a real headless Neovim
//! (see tests/nvim/cases/review.lua), on a real repository whose `origin` is a local bare
//! repository, with the fake agent and a stub `gh` on PATH.

use crate::common::nvim::run_case;
use crate::common::{git, write, Fixture};

#[test]
fn review_and_ship_end_to_end() {
    let f = Fixture::new();
    let app: String = (1..=12).map(|i| format!("line {i}\n")).collect();
    write(&f.repo, "src/app.lua", &format!("-- app\n{app}"));
    write(&f.repo, "keep.txt", "keep me\nas I am\n");
    write(&f.repo, "old.txt", "old file\nto delete\n");
    f.commit_all("project files");

    let base = f.base();
    let origin = base.join("origin.git");
    git(
        &base,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            origin.to_str().unwrap(),
        ],
    );
    git(
        &f.repo,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git(&f.repo, &["push", "-q", "origin", "main"]);

    // A stub gh: records its arguments, prints a pull request URL.
    let bin = base.join("bin");
    let gh_args = base.join("gh-args.txt");
    write(
        &bin,
        "gh",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho 'Creating pull request...'\necho https://github.com/me/repo/pull/7\n",
            gh_args.display()
        ),
    );
    std::fs::set_permissions(
        bin.join("gh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let out = run_case(
        "review",
        &base.join("home"),
        &f.repo,
        &[
            ("CONDUCTOR_FAKE_AGENT", fake.display().to_string()),
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
            ("PATH", path),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);

    // The squash merge moved main in the root repository (its checkout too); the
    // conflicting merge after it (on a commit the case made on main) changed nothing.
    assert_eq!(
        git(&f.repo, &["log", "--format=%s", "main"]),
        "conflicting change on main\nSquashed review work\nproject files\ninitial"
    );
    assert_eq!(
        git(&f.repo, &["log", "-1", "--format=%b", "main~1"]),
        "From the review test."
    );
    assert!(git(&f.repo, &["show", "main~1:src/app.lua"]).contains("line 8 changed by the agent"));
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "");
    assert!(
        git(
            &f.repo,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/conductor/backup"
            ]
        )
        .contains("refs/conductor/backup/main/"),
        "a backup ref of main"
    );

    // The pull request: branch pushed to origin, gh called with the edited title and body.
    let pushed = git(&origin, &["rev-parse", "refs/heads/conductor/rev"]);
    let head = git(&f.repo, &["rev-parse", "conductor/rev"]);
    assert_eq!(pushed, head, "the branch was pushed to origin");
    let args = std::fs::read_to_string(&gh_args).expect("gh was called");
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        vec![
            "pr",
            "create",
            "--title",
            "Review the app",
            "--body",
            "Body of the pull request.",
            "--base",
            "main",
            "--head",
            "conductor/rev",
        ]
    );
}
