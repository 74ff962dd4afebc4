//! Review and ship on real repositories: change lists against git's own numbers, merge
//! strategies and their refusals, pull requests against a local bare remote.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use crate::common::{git, read, write, Fixture};
use conductor_core::core::changes::Scope;
use conductor_core::core::lifecycle::CreateRequest;
use conductor_core::core::review::{ChangesRequest, FileRequest, ShipRequest};
use conductor_core::core::ship::Strategy;
use conductor_core::core::store::Workspace;

fn workspace(f: &Fixture, name: &str) -> Workspace {
    f.engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some(name.into()),
                task: Some(format!("task {name}")),
                ..Default::default()
            },
            None,
        )
        .unwrap()
}

fn ship(name: &str) -> ShipRequest {
    ShipRequest {
        workspace: name.into(),
        ..Default::default()
    }
}

/// `git diff --numstat` of everything (staged into a scratch index, untracked included).
fn git_numstat(dir: &std::path::Path, base: &str) -> BTreeMap<String, (String, String)> {
    let scratch = tempfile::tempdir().unwrap();
    let index = scratch.path().join("index");
    let git_dir = git(dir, &["rev-parse", "--absolute-git-dir"]);
    let _ = std::fs::copy(format!("{git_dir}/index"), &index);
    let run = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["add", "-A"]);
    let out = run(&["diff", "--cached", "--numstat", "-M", base]);
    out.lines()
        .map(|l| {
            let mut parts = l.splitn(3, '\t');
            let (a, r, p) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            // Renames print as "old => new" or "dir/{old => new}".
            let path = if let (Some(open), Some(close)) = (p.find('{'), p.find('}')) {
                let inner = &p[open + 1..close];
                format!(
                    "{}{}{}",
                    &p[..open],
                    inner.split(" => ").nth(1).unwrap(),
                    &p[close + 1..]
                )
            } else {
                p.split(" => ").last().unwrap().to_string()
            };
            (path, (a.to_string(), r.to_string()))
        })
        .collect()
}

#[test]
fn change_list_matches_git_numstat() {
    let f = Fixture::new();
    write(&f.repo, "src/keep.txt", "same\n");
    write(&f.repo, "src/edit.txt", "one\ntwo\nthree\n");
    write(&f.repo, "src/gone.txt", "bye\n");
    write(
        &f.repo,
        "docs/moved.md",
        &"a long enough line so that a rename is found\n".repeat(10),
    );
    write(&f.repo, "crlf.txt", "a\r\nb\r\n");
    write(&f.repo, "nonl.txt", "no newline");
    write(&f.repo, "latin1.txt", "caf\u{e9}\n");
    std::fs::write(f.repo.join("latin1.txt"), b"caf\xe9\n").unwrap();
    write(&f.repo, "run.sh", "#!/bin/sh\n");
    f.commit_all("base");
    let ws = workspace(&f, "review");
    let p = &ws.path;
    write(p, "src/edit.txt", "one\nTWO\nthree\nfour\n");
    git(p, &["add", "src/edit.txt"]);
    git(p, &["commit", "-qm", "edit"]);
    std::fs::remove_file(p.join("src/gone.txt")).unwrap();
    std::fs::create_dir_all(p.join("docs/new")).unwrap();
    std::fs::rename(p.join("docs/moved.md"), p.join("docs/new/moved.md")).unwrap();
    write(p, "crlf.txt", "a\nb\r\n");
    write(p, "nonl.txt", "no newline\n");
    std::fs::write(p.join("latin1.txt"), b"caf\xe9\nna\xefve\n").unwrap();
    std::fs::write(p.join("image.png"), [0x89, b'P', b'N', b'G', 0, 0, 1, 2]).unwrap();
    std::fs::set_permissions(p.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    write(p, "untracked/new.txt", "fresh\nfile\n");
    write(p, "staged.txt", "staged only\n");
    git(p, &["add", "staged.txt"]);
    write(p, ".env", "ignored\n");

    let changes = f
        .engine
        .changes(&ChangesRequest {
            workspace: "review".into(),
            ..Default::default()
        })
        .unwrap();
    let base = git(p, &["merge-base", "HEAD", "main"]);
    assert_eq!(changes.base, base);
    let expected = git_numstat(p, &base);
    let ours: BTreeMap<String, (String, String)> = changes
        .files
        .iter()
        .map(|f| {
            let n = |x: usize| {
                if f.binary {
                    "-".to_string()
                } else {
                    x.to_string()
                }
            };
            (f.path.clone(), (n(f.added), n(f.removed)))
        })
        .collect();
    assert_eq!(ours, expected);
    let status = |path: &str| {
        changes
            .files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.status.as_str())
    };
    assert_eq!(status("src/gone.txt"), Some("D"));
    assert_eq!(status("docs/new/moved.md"), Some("R"));
    assert_eq!(status("untracked/new.txt"), Some("A"));
    assert_eq!(status("run.sh"), Some("M"), "mode change is listed");
    assert_eq!(status(".env"), None, "ignored files are not changes");
    assert!(
        changes
            .files
            .iter()
            .find(|f| f.path == "image.png")
            .unwrap()
            .binary
    );
    assert!(
        changes
            .files
            .iter()
            .find(|f| f.path == "untracked/new.txt")
            .unwrap()
            .untracked
    );
    assert_eq!(
        changes.added,
        changes.files.iter().map(|f| f.added).sum::<usize>()
    );
    // The cache answers without git; the uncommitted scope leaves the commit out.
    assert_eq!(
        f.engine.changes_cached("review", None).unwrap().unwrap(),
        changes
    );
    let uncommitted = f
        .engine
        .changes(&ChangesRequest {
            workspace: "review".into(),
            scope: Scope::Uncommitted,
            ..Default::default()
        })
        .unwrap();
    let edit = uncommitted.files.iter().find(|f| f.path == "src/edit.txt");
    assert!(edit.is_none(), "the committed edit is not uncommitted");
    let head = git(p, &["rev-parse", "HEAD"]);
    let one = f
        .engine
        .changes(&ChangesRequest {
            workspace: "review".into(),
            scope: Scope::Commit,
            commit: Some(head),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(one.files.len(), 1);
    assert_eq!((one.files[0].added, one.files[0].removed), (2, 1));

    // Viewed marks persist; revert puts a file back to the base.
    f.engine
        .set_viewed(&FileRequest {
            workspace: "review".into(),
            path: "crlf.txt".into(),
            viewed: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(f.engine.get("review", None).unwrap().viewed, ["crlf.txt"]);
    f.engine
        .revert_file(&FileRequest {
            workspace: "review".into(),
            path: "src/edit.txt".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(read(p, "src/edit.txt"), "one\ntwo\nthree\n");
    f.engine
        .revert_file(&FileRequest {
            workspace: "review".into(),
            path: "untracked/new.txt".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(!p.join("untracked/new.txt").exists());
    let blob = f
        .engine
        .blob(&FileRequest {
            workspace: "review".into(),
            path: "latin1.txt".into(),
            rev: Some(base),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
    assert_eq!(blob.bytes, b"caf\xe9\n");
    assert!(f
        .engine
        .revert_file(&FileRequest {
            workspace: "review".into(),
            path: "../escape".into(),
            ..Default::default()
        })
        .is_err());
}

fn commit_in(ws: &Workspace, file: &str, text: &str, msg: &str) {
    write(&ws.path, file, text);
    git(&ws.path, &["add", "-A"]);
    git(&ws.path, &["commit", "-qm", msg]);
}

#[test]
fn merge_strategies_and_refusals() {
    let f = Fixture::new();
    let main_before = git(&f.repo, &["rev-parse", "main"]);

    // Fast-forward (auto), and the root checkout follows.
    let a = workspace(&f, "ff");
    commit_in(&a, "a.txt", "a\n", "add a");
    let merged = f.engine.merge(&ship("ff")).unwrap();
    assert_eq!(merged.strategy, Strategy::Ff);
    assert_eq!(
        git(&f.repo, &["rev-parse", "main"]),
        git(&a.path, &["rev-parse", "HEAD"])
    );
    assert_eq!(read(&f.repo, "a.txt"), "a\n", "root checkout updated");
    assert_eq!(
        git(&f.repo, &["rev-parse", &merged.backup_ref]),
        main_before
    );

    // Squash: one commit with the given message.
    let b = workspace(&f, "squash");
    commit_in(&b, "b1.txt", "1\n", "first");
    commit_in(&b, "b2.txt", "2\n", "second");
    let draft = f.engine.draft_message(&ship("squash")).unwrap();
    assert_eq!(draft.title, "task squash");
    assert_eq!(draft.body, "- first\n- second");
    let before = git(&f.repo, &["rev-parse", "main"]);
    let merged = f
        .engine
        .merge(&ShipRequest {
            strategy: Strategy::Squash,
            message: Some("Squashed work\n\nbody".into()),
            ..ship("squash")
        })
        .unwrap();
    assert_eq!(
        git(&f.repo, &["log", "-1", "--format=%s%n%b", "main"]),
        "Squashed work\nbody"
    );
    assert_eq!(
        git(&f.repo, &["rev-parse", "main^"]),
        before,
        "one commit on top of main"
    );
    assert_eq!(git(&f.repo, &["rev-list", "--count", "main^..main"]), "1");
    assert!(f.repo.join("b2.txt").exists());
    assert_eq!(merged.strategy, Strategy::Squash);

    // Merge commit when main moved on.
    let c = workspace(&f, "merge");
    commit_in(&c, "c.txt", "c\n", "add c");
    write(&f.repo, "main-only.txt", "m\n");
    f.commit_all("main moves");
    assert!(f
        .engine
        .merge(&ShipRequest {
            strategy: Strategy::Ff,
            ..ship("merge")
        })
        .unwrap_err()
        .to_string()
        .contains("cannot fast-forward"));
    let merged = f.engine.merge(&ship("merge")).unwrap();
    assert_eq!(merged.strategy, Strategy::Merge);
    assert_eq!(
        git(&f.repo, &["rev-list", "--parents", "-n1", "main"])
            .split(' ')
            .count(),
        3,
        "a merge commit"
    );

    // Dirty root: refused, nothing moves.
    let d = workspace(&f, "dirty");
    commit_in(&d, "d.txt", "d\n", "add d");
    write(&f.repo, "README.md", "uncommitted\n");
    let tip = git(&f.repo, &["rev-parse", "main"]);
    let e = f.engine.merge(&ship("dirty")).unwrap_err().to_string();
    assert!(e.contains("uncommitted change"), "{e}");
    assert_eq!(git(&f.repo, &["rev-parse", "main"]), tip);
    git(&f.repo, &["checkout", "--", "README.md"]);

    // Conflict: refused, nothing moves, the message names the file.
    let e2 = workspace(&f, "conflict");
    commit_in(&e2, "README.md", "theirs\n", "theirs");
    write(&f.repo, "README.md", "ours\n");
    f.commit_all("ours");
    let tip = git(&f.repo, &["rev-parse", "main"]);
    let e = f
        .engine
        .merge(&ShipRequest {
            strategy: Strategy::Squash,
            ..ship("conflict")
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conflicts in README.md") && e.contains("nothing was changed"),
        "{e}"
    );
    assert_eq!(git(&f.repo, &["rev-parse", "main"]), tip);
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "");
}

#[test]
fn pull_request_pushes_and_calls_gh() {
    let f = Fixture::new();
    let origin = f.base().join("origin.git");
    git(
        &f.base(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    git(
        &f.repo,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git(&f.repo, &["push", "-q", "origin", "main"]);
    let ws = workspace(&f, "pr");
    commit_in(&ws, "feature.txt", "feature\n", "add feature");

    // No gh and a non-GitHub remote: pushed, and a clear message.
    let mut opts = crate::common::options(&f.base());
    opts.gh = "definitely-no-gh-here".into();
    f.engine.set_options(opts.clone());
    let e = f.engine.pull_request(&ShipRequest {
        title: "Add feature".into(),
        ..ship("pr")
    });
    assert!(e.unwrap_err().to_string().contains("gh is not installed"));
    assert_eq!(
        git(&origin, &["rev-parse", "conductor/pr"]),
        git(&ws.path, &["rev-parse", "HEAD"])
    );

    // A stub gh records its arguments and prints a URL.
    let bin = f.base().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let args_file = f.base().join("gh-args");
    write(
        &bin,
        "gh",
        &format!(
            "#!/bin/sh\nif [ \"$1 $2\" = 'pr checks' ]; then echo \"ci/build fail $3\"; exit 1; fi\nprintf '%s\\n' \"$@\" > {}\necho https://github.com/me/repo/pull/7\n",
            args_file.display()
        ),
    );
    std::fs::set_permissions(bin.join("gh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    opts.gh = bin.join("gh").display().to_string();
    f.engine.set_options(opts);
    let pr = f
        .engine
        .pull_request(&ShipRequest {
            title: "Add feature".into(),
            body: "Body text".into(),
            ..ship("pr")
        })
        .unwrap();
    assert!(pr.created);
    assert_eq!(pr.url, "https://github.com/me/repo/pull/7");
    assert_eq!(
        std::fs::read_to_string(&args_file).unwrap(),
        "pr\ncreate\n--title\nAdd feature\n--body\nBody text\n--base\nmain\n--head\nconductor/pr\n"
    );
    assert_eq!(
        f.engine.get("pr", None).unwrap().pr_url.as_deref(),
        Some("https://github.com/me/repo/pull/7")
    );

    // With a pull request open, :ConductorCheck includes `gh pr checks` for its branch.
    let run = f.engine.run_checks(&ship("pr")).unwrap();
    assert_eq!(run.results.len(), 1);
    assert!(
        run.results[0].command.ends_with("pr checks 'conductor/pr'"),
        "{}",
        run.results[0].command
    );
    assert_eq!((run.results[0].ok, run.results[0].code), (false, Some(1)));
    assert!(std::fs::read_to_string(&run.results[0].log)
        .unwrap()
        .contains("ci/build fail conductor/pr"));
}

#[test]
fn checks_run_in_the_workspace_and_are_recorded() {
    let f = Fixture::new();
    let mut opts = crate::common::options(&f.base());
    opts.defaults.checks = Some(vec![
        "test -f README.md && echo fine".into(),
        "echo broken >&2; exit 4".into(),
    ]);
    f.engine.set_options(opts);
    workspace(&f, "checked");
    let run = f.engine.run_checks(&ship("checked")).unwrap();
    assert!(!run.ok);
    assert_eq!(
        run.results
            .iter()
            .map(|r| (r.ok, r.code))
            .collect::<Vec<_>>(),
        [(true, Some(0)), (false, Some(4))]
    );
    let log = std::fs::read_to_string(&run.results[1].log).unwrap();
    assert!(log.contains("fine") && log.contains("broken"), "{log}");
    assert_eq!(
        f.engine
            .get("checked", None)
            .unwrap()
            .checks
            .unwrap()
            .results
            .len(),
        2
    );
}
