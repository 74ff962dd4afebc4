//! Turn by turn, on real repositories: checkpoints after agent turns (recorded only when
//! something changed, pruned by count, dropped at archive) and reverts that put back the
//! branch, the index and every file, keeping the state before as a checkpoint.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{git, read, write, Fixture};
use conductor_core::core::checkpoints::CheckpointRequest;
use conductor_core::core::lifecycle::WorkspaceRequest;

/// Every file under `dir` (but .git) with its bytes, plus HEAD and the index's view.
fn fingerprint(dir: &Path) -> (BTreeMap<String, Vec<u8>>, String, String) {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap() == ".git" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let head = git(dir, &["rev-parse", "HEAD"]);
    let status = git(dir, &["status", "--porcelain=v1", "--untracked-files=all"]);
    (files, head, status)
}

fn req(ws: &str, turn: Option<u32>) -> CheckpointRequest {
    CheckpointRequest {
        workspace: ws.into(),
        agent: Some("codex".into()),
        turn,
        ..Default::default()
    }
}

#[test]
fn turns_are_recorded_listed_and_reverted_without_loss() {
    let f = Fixture::new();
    write(&f.repo, "src/lib.rs", "fn a() {}\n");
    f.commit_all("code");
    let ws = f.create("turns");
    // Nothing changed yet: no checkpoint.
    assert_eq!(f.engine.checkpoint(&req("turns", None)).unwrap(), None);

    // Turn 1: an edit and a new file.
    write(&ws.path, "src/lib.rs", "fn a() {}\nfn b() {}\n");
    write(&ws.path, "notes.md", "plan\n");
    write(&ws.path, ".env.local", "IGNORED=1\n");
    assert_eq!(f.engine.checkpoint(&req("turns", None)).unwrap(), Some(1));
    assert_eq!(
        f.engine.checkpoint(&req("turns", None)).unwrap(),
        None,
        "unchanged"
    );
    let after_one = fingerprint(&ws.path);

    // Turn 2: a commit, a staged change, an untracked file, a deletion.
    git(&ws.path, &["add", "src/lib.rs"]);
    git(&ws.path, &["commit", "-qm", "b"]);
    write(&ws.path, "src/new.rs", "new\n");
    git(&ws.path, &["add", "src/new.rs"]);
    write(&ws.path, "scratch.txt", "later\n");
    std::fs::remove_file(ws.path.join("README.md")).unwrap();
    assert_eq!(f.engine.checkpoint(&req("turns", None)).unwrap(), Some(2));
    let after_two = fingerprint(&ws.path);

    let list = f.engine.checkpoints(&req("turns", None)).unwrap();
    assert_eq!(list.iter().map(|c| c.turn).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(list[0].agent, "codex");
    assert_eq!((list[0].insertions, list[0].files), (2, 2), "{list:?}");
    assert_eq!(
        list[1].parent, list[0].commit,
        "a turn is reviewed against the one before"
    );
    assert_eq!(
        list[0].parent, ws.base_commit,
        "the first turn against the base"
    );

    // Back to turn 1: branch, index and files as they were; ignored files stay.
    let r = f.engine.revert_to(&req("turns", Some(1))).unwrap();
    assert_eq!(r.saved_as, Some(2), "the present state was turn 2 already");
    assert_eq!(fingerprint(&ws.path), after_one);
    assert_eq!(read(&ws.path, ".env.local"), "IGNORED=1\n");

    // The revert is a turn of its own (3), so what comes next diffs against it.
    let list = f.engine.checkpoints(&req("turns", None)).unwrap();
    assert_eq!(
        list.last().map(|c| (c.turn, c.agent.as_str())),
        Some((3, "revert to 1"))
    );

    // Edits after the revert are kept as a new checkpoint by the next revert.
    write(&ws.path, "notes.md", "plan, revised\n");
    let before = fingerprint(&ws.path);
    let r = f.engine.revert_to(&req("turns", Some(2))).unwrap();
    assert_eq!(r.saved_as, Some(4));
    assert_eq!(fingerprint(&ws.path), after_two);
    f.engine.revert_to(&req("turns", Some(4))).unwrap();
    assert_eq!(fingerprint(&ws.path), before, "a revert is never a loss");

    // HEAD goes back to the branch it was on, whatever branch the agent switched to.
    git(&ws.path, &["switch", "-q", "-c", "experiment"]);
    write(&ws.path, "exp.txt", "x\n");
    git(&ws.path, &["add", "exp.txt"]);
    git(&ws.path, &["commit", "-qm", "experiment"]);
    let experiment = git(&ws.path, &["rev-parse", "experiment"]);
    f.engine.revert_to(&req("turns", Some(2))).unwrap();
    assert_eq!(
        git(&ws.path, &["symbolic-ref", "HEAD"]),
        "refs/heads/conductor/turns"
    );
    assert_eq!(
        git(&ws.path, &["rev-parse", "experiment"]),
        experiment,
        "the other branch is untouched"
    );

    let e = f.engine.revert_to(&req("turns", Some(42))).unwrap_err();
    assert!(e.to_string().contains("no checkpoint 42"), "{e}");

    // Archive drops them (the snapshot keeps the final state).
    f.engine
        .archive(WorkspaceRequest {
            workspace: "turns".into(),
            ..Default::default()
        })
        .unwrap();
    // The states from before each revert survive it.
    let kept = git(
        &f.repo,
        &[
            "for-each-ref",
            "--format=%(refname)",
            &format!("refs/conductor/{}/before-revert", ws.id),
        ],
    );
    assert_eq!(kept.lines().count(), 4, "one per revert: {kept}");
    let refs = git(
        &f.repo,
        &[
            "for-each-ref",
            &format!("refs/conductor/{}/checkpoints", ws.id),
        ],
    );
    assert_eq!(refs, "");
}

#[test]
fn old_checkpoints_are_pruned_by_count() {
    let f = Fixture::new();
    let mut opts = crate::common::options(&f.base());
    opts.checkpoints_keep = 3;
    f.engine.set_options(opts);
    let ws = f.create("prune");
    for i in 1..=5 {
        write(&ws.path, "file.txt", &format!("{i}\n"));
        assert_eq!(f.engine.checkpoint(&req("prune", None)).unwrap(), Some(i));
    }
    let turns: Vec<u32> = f
        .engine
        .checkpoints(&req("prune", None))
        .unwrap()
        .iter()
        .map(|c| c.turn)
        .collect();
    assert_eq!(turns, [3, 4, 5]);
}

fn spot(ws: &str) -> conductor_core::core::spotlight::SpotlightRequest {
    conductor_core::core::spotlight::SpotlightRequest {
        workspace: Some(ws.into()),
        ..Default::default()
    }
}

/// The root's files without .git, its HEAD and its index's view: what spotlight must put
/// back exactly.
fn root_fingerprint(f: &Fixture) -> (BTreeMap<String, Vec<u8>>, String, String) {
    fingerprint(&f.repo)
}

#[test]
fn spotlight_puts_changes_in_the_root_keeps_them_in_sync_and_puts_the_root_back() {
    let f = Fixture::new();
    write(&f.repo, "app/main.txt", "main v1\n");
    write(&f.repo, "app/other.txt", "other\n");
    f.commit_all("app");
    let ws = f.create("lit");
    // The root's own uncommitted work: a staged edit, an unstaged one, an untracked file,
    // an ignored one.
    write(&f.repo, "README.md", "root edit, staged\n");
    git(&f.repo, &["add", "README.md"]);
    write(&f.repo, "app/other.txt", "other, root's unstaged edit\n");
    write(&f.repo, "root-notes.txt", "mine\n");
    write(&f.repo, ".env", "ROOT=1\n");
    let before = root_fingerprint(&f);
    let head = git(&f.repo, &["rev-parse", "HEAD"]);

    // The workspace: a commit and uncommitted work.
    write(&ws.path, "app/main.txt", "main v2\n");
    git(&ws.path, &["commit", "-qam", "v2"]);
    write(&ws.path, "app/new.txt", "new in ws\n");
    f.engine.spotlight_on(&spot("lit")).unwrap();
    assert_eq!(
        read(&f.repo, "app/main.txt"),
        "main v2\n",
        "the workspace's commit"
    );
    assert_eq!(
        read(&f.repo, "app/new.txt"),
        "new in ws\n",
        "its uncommitted work"
    );
    assert_eq!(
        read(&f.repo, "app/other.txt"),
        "other, root's unstaged edit\n",
        "the root's own work stays"
    );
    assert_eq!(
        git(&f.repo, &["rev-parse", "HEAD"]),
        head,
        "the root's HEAD never moves"
    );
    assert!(
        git(&f.repo, &["diff", "--cached", "--name-only"]).contains("README.md"),
        "its index neither"
    );

    // A later edit in the workspace reaches the root on sync.
    write(&ws.path, "app/new.txt", "new, edited\n");
    std::fs::remove_file(ws.path.join("app/main.txt")).unwrap();
    let s = f.engine.spotlight_sync(&spot("lit")).unwrap().unwrap();
    assert_eq!(s.paused, None);
    assert_eq!(read(&f.repo, "app/new.txt"), "new, edited\n");
    assert!(!f.repo.join("app/main.txt").exists());

    // Off: the root back byte for byte, its own uncommitted work included.
    let off = f.engine.spotlight_off(&spot("lit")).unwrap();
    assert_eq!(off.edits_ref, None);
    assert_eq!(root_fingerprint(&f), before);
    assert!(f.engine.spotlight_of(&f.repo).unwrap().is_none());
}

#[test]
fn spotlight_never_overwrites_root_edits_and_refuses_conflicts() {
    let f = Fixture::new();
    write(&f.repo, "shared.txt", "base\n");
    f.commit_all("shared");
    let a = f.create("a");
    let b = f.create("b");
    write(&a.path, "shared.txt", "from a\n");
    write(&b.path, "b.txt", "from b\n");

    // The root changed the same file: refused, nothing touched.
    write(&f.repo, "shared.txt", "root's own\n");
    let before = root_fingerprint(&f);
    let e = f.engine.spotlight_on(&spot("a")).unwrap_err();
    assert!(
        e.to_string().contains("conflict") && e.to_string().contains("shared.txt"),
        "{e}"
    );
    assert_eq!(
        root_fingerprint(&f),
        before,
        "a refused spotlight changes nothing"
    );
    git(&f.repo, &["checkout", "--", "shared.txt"]);
    let clean = root_fingerprint(&f);

    // A second spotlight replaces the first.
    f.engine.spotlight_on(&spot("a")).unwrap();
    assert_eq!(read(&f.repo, "shared.txt"), "from a\n");
    f.engine.spotlight_on(&spot("b")).unwrap();
    assert_eq!(
        read(&f.repo, "shared.txt"),
        "base\n",
        "a's changes went with a"
    );
    assert_eq!(read(&f.repo, "b.txt"), "from b\n");

    // The user edits the root while spotlighted: sync pauses, off keeps the edit on a ref.
    write(&f.repo, "b.txt", "edited in the root\n");
    write(&b.path, "b.txt", "from b, later\n");
    let s = f.engine.spotlight_sync(&spot("b")).unwrap().unwrap();
    assert!(
        s.paused.as_deref().unwrap_or("").contains("edited"),
        "{s:?}"
    );
    assert_eq!(
        read(&f.repo, "b.txt"),
        "edited in the root\n",
        "never overwritten"
    );
    let off = f.engine.spotlight_off(&spot("b")).unwrap();
    let kept = off.edits_ref.expect("the root's edits are kept");
    assert_eq!(
        git(&f.repo, &["show", &format!("{kept}:b.txt")]),
        "edited in the root"
    );
    assert_eq!(root_fingerprint(&f), clean);
}

/// A workspace that commits a path the root ignores (its `.env`), or that spotlight would
/// reach through a symlinked directory: refused before anything is written.
#[test]
fn spotlight_never_overwrites_what_the_root_ignores() {
    let f = Fixture::new();
    let ws = f.create("forced");
    write(&f.repo, ".env", "ROOT_SECRET=1\n");
    write(&ws.path, ".env", "WS=1\n");
    git(&ws.path, &["add", "-f", ".env"]);
    git(&ws.path, &["commit", "-qm", "force-add .env"]);
    let before = root_fingerprint(&f);
    let e = f.engine.spotlight_on(&spot("forced")).unwrap_err();
    assert!(e.to_string().contains(".env"), "{e}");
    assert_eq!(root_fingerprint(&f), before, "nothing written");
    assert_eq!(read(&f.repo, ".env"), "ROOT_SECRET=1\n");
    assert!(f.engine.spotlight_of(&f.repo).unwrap().is_none());
}

/// Turning spotlight off puts back what spotlight changed; an edit the user made in the
/// root meanwhile to another file stays (and is kept on a ref too).
#[test]
fn spotlight_off_leaves_the_users_own_root_edits() {
    let f = Fixture::new();
    write(&f.repo, "notes.txt", "root notes\n");
    f.commit_all("notes");
    let ws = f.create("side");
    write(&ws.path, "feature.txt", "feature\n");
    f.engine.spotlight_on(&spot("side")).unwrap();
    assert_eq!(read(&f.repo, "feature.txt"), "feature\n");
    write(&f.repo, "notes.txt", "edited while spotlighted\n");
    let off = f.engine.spotlight_off(&spot("side")).unwrap();
    assert!(off.edits_ref.is_some());
    assert!(
        !f.repo.join("feature.txt").exists(),
        "spotlight's file goes"
    );
    assert_eq!(
        read(&f.repo, "notes.txt"),
        "edited while spotlighted\n",
        "the user's edit stays"
    );
}
