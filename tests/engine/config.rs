//! Conductor's files as Conductor reads them, on real repositories: every fixture under
//! tests/fixtures/config (settings in the shapes Conductor documents) loaded with its
//! expected effective settings; precedence; committed settings read from the workspace's
//! base, not the root's working tree; CONDUCTOR_DEFAULT_BRANCH; and trust bound to the
//! repository file and its contents, applying to every key of the file.

use std::path::Path;

use crate::common::{git, read, write, Fixture};
use conductor_core::core::config::{Base, FileKind, Layer};
use conductor_core::core::engine::Event;
use conductor_core::core::lifecycle::CreateRequest;
use conductor_core::core::store::SetupState;
use serde_json::{json, Value};

fn copy_fixture(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "expected.json" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if src.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_fixture(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The effective settings in the shape of expected.json.
fn effective(f: &Fixture) -> Value {
    let head = git2::Oid::from_str(&git(&f.repo, &["rev-parse", "HEAD"])).unwrap();
    let c = f.engine.repo_config(&f.repo, Base::Commit(head)).unwrap();
    let rel = |p: &Path| p.strip_prefix(&f.repo).unwrap().display().to_string();
    let mut ignored = serde_json::Map::new();
    for file in &c.files {
        if !file.ignored_keys.is_empty() {
            let mut keys: Vec<String> = file
                .ignored_keys
                .iter()
                .map(|k| k.split(':').next().unwrap().to_string())
                .collect();
            keys.sort();
            ignored.insert(rel(&file.path), json!(keys));
        }
    }
    json!({
        "setup": c.setup.as_ref().map(|s| s.command.clone()),
        "archive": c.archive.as_ref().map(|s| s.command.clone()),
        "run": c.run.iter().map(|r| json!({"id": r.id, "command": r.command, "default": r.default})).collect::<Vec<_>>(),
        "run_mode": c.run_mode,
        "file_include_globs": c.file_include_globs,
        "env": c.environment_variables,
        "prompts": c.prompts,
        "applied": c.files.iter().filter(|f| f.applied).map(|f| rel(&f.path)).collect::<Vec<_>>(),
        "ignored_keys": ignored,
    })
}

#[test]
fn every_documented_shape_loads_as_conductor_reads_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "fixtures missing: {cases:?}");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let f = Fixture::new();
        copy_fixture(&case, &f.repo);
        // settings.local.toml is the user's own, uncommitted; the rest is committed.
        let local = f.repo.join(".conductor/settings.local.toml");
        let local_text = std::fs::read(&local).ok();
        let _ = std::fs::remove_file(&local);
        f.commit_all("conductor settings");
        if let Some(text) = local_text {
            std::fs::write(&local, text).unwrap();
        }
        for file in f
            .engine
            .resolve_repo(&f.repo, None, None)
            .unwrap()
            .config_files
        {
            f.engine.trust_file(&file.path, &file.sha256, true).unwrap();
        }
        let got = effective(&f);
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
                .unwrap();
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&got[key], value, "fixture {name}, key {key}; all: {got:#}");
        }
    }
}

#[test]
fn committed_settings_come_from_the_base_not_the_root_working_tree() {
    let f = Fixture::new();
    write(
        &f.repo,
        ".conductor/settings.toml",
        "[scripts]\nsetup = \"echo from-main > which.txt\"\n",
    );
    f.commit_all("settings on main");
    f.trust(".conductor/settings.toml");
    // The root moves to another branch whose settings differ, and edits them again.
    git(&f.repo, &["checkout", "-q", "-b", "other"]);
    write(
        &f.repo,
        ".conductor/settings.toml",
        "[scripts]\nsetup = \"echo from-other > which.txt\"\n",
    );
    f.commit_all("settings on other");
    f.trust(".conductor/settings.toml");
    write(
        &f.repo,
        ".conductor/settings.toml",
        "[scripts]\nsetup = \"echo from-root-edit > which.txt\"\n",
    );

    let view = f.engine.resolve_repo(&f.repo, Some("main"), None).unwrap();
    let repo_file = view
        .config_files
        .iter()
        .find(|c| c.kind == FileKind::Repo)
        .unwrap();
    assert!(repo_file.contents.contains("from-main"), "{repo_file:?}");
    assert!(
        repo_file.origin.starts_with("main @ "),
        "{}",
        repo_file.origin
    );

    let ws = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("from-main".into()),
                base: Some("main".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    f.wait_event("setup finished", |e| {
        matches!(e, Event::ScriptFinished { .. })
    });
    assert_eq!(read(&ws.path, "which.txt"), "from-main\n");
    // Trust was asked once for that content: a second workspace from main runs it too.
    let again = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("again".into()),
                base: Some("main".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    f.wait_event(
        "second setup finished",
        |e| matches!(e, Event::ScriptFinished { workspace, .. } if workspace == "again"),
    );
    assert_eq!(read(&again.path, "which.txt"), "from-main\n");
}

#[test]
fn default_branch_variable_is_the_repository_default_not_the_base() {
    let f = Fixture::new();
    git(&f.repo, &["branch", "feature"]);
    let mut opts = crate::common::options(&f.base());
    opts.defaults = serde_json::from_value(json!({
        "scripts": {"setup": "printf '%s' \"$CONDUCTOR_DEFAULT_BRANCH\" > default.txt"}
    }))
    .unwrap();
    f.engine.set_options(opts);
    let ws = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("on-feature".into()),
                base: Some("feature".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    f.wait_event("setup finished", |e| {
        matches!(e, Event::ScriptFinished { .. })
    });
    assert_eq!(ws.base_branch, "feature");
    assert_eq!(read(&ws.path, "default.txt"), "main");
}

/// An untrusted file holding only variables changes nothing: not the user's own setup()
/// script's environment, not an agent's. Trusted, all of it applies.
#[test]
fn untrusted_environment_variables_never_apply() {
    let f = Fixture::new();
    write(
        &f.repo,
        ".conductor/settings.toml",
        "[environment_variables]\nBASH_ENV = \"/tmp/evil\"\nFROM_REPO = \"yes\"\n",
    );
    f.commit_all("variables only");
    let mut opts = crate::common::options(&f.base());
    opts.defaults = serde_json::from_value(json!({
        "scripts": {"setup": "env > env.txt"}
    }))
    .unwrap();
    f.engine.set_options(opts);
    let ws = f.create("untrusted");
    f.wait_event("setup finished", |e| {
        matches!(e, Event::ScriptFinished { .. })
    });
    let env = read(&ws.path, "env.txt");
    assert!(
        !env.contains("FROM_REPO") && !env.contains("BASH_ENV=/tmp/evil"),
        "{env}"
    );
    let view = f.engine.resolve_repo(&f.repo, None, None).unwrap();
    assert_eq!(
        view.config_files[0].trust,
        conductor_core::core::trust::TrustStatus::Unknown
    );

    f.trust(".conductor/settings.toml");
    let ws = f.create("trusted");
    f.wait_event(
        "second setup finished",
        |e| matches!(e, Event::ScriptFinished { workspace, .. } if workspace == "trusted"),
    );
    assert!(read(&ws.path, "env.txt").contains("FROM_REPO=yes"));
}

/// conductor.json linking to a file the user trusted in another repository: the text is
/// the same, the file is not. Nothing of it runs until trusted here.
#[test]
fn trust_is_bound_to_the_repository_not_the_symlink_target() {
    let trusted_repo = Fixture::new();
    write(
        &trusted_repo.repo,
        "conductor.json",
        r#"{"scripts":{"setup":"./scripts/setup.sh"}}"#,
    );
    trusted_repo.commit_all("config");
    let f = Fixture::new();
    // Both fixtures share nothing but this: make the second use the first's state dir so
    // the trust decision is the same user's.
    let mut opts = crate::common::options(&trusted_repo.base());
    opts.workspaces_root = f.base().join("ws");
    f.engine.set_options(opts);
    let target = trusted_repo.repo.join("conductor.json");
    f.engine
        .trust_file(
            &target,
            &conductor_core::core::trust::sha256_hex(&std::fs::read(&target).unwrap()),
            true,
        )
        .unwrap();
    // The link as it would be on disk in the root checkout (not committed).
    std::os::unix::fs::symlink(&target, f.repo.join("conductor.json")).unwrap();
    write(&f.repo, "scripts/setup.sh", "#!/bin/sh\ntouch pwned\n");
    std::fs::set_permissions(
        f.repo.join("scripts/setup.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    f.commit_all("link and script");
    // Committed as a link that leaves the repository: refused, with what to do.
    let err = f.engine.resolve_repo(&f.repo, None, None).unwrap_err();
    assert!(err.to_string().contains("outside the repository"), "{err}");
    let err = f
        .engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("linked".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("regular file"), "{err}");
    assert!(!f.base().join("ws/repo/linked").exists());

    // The root's own settings.local.toml may link anywhere (it is the user's file), but
    // trusting the target elsewhere does not trust it here.
    git(&f.repo, &["rm", "-q", "conductor.json"]);
    f.commit_all("no link");
    let local_target = trusted_repo.repo.join("local.toml");
    write(
        &trusted_repo.repo,
        "local.toml",
        "[scripts]\nsetup = \"touch pwned\"\n",
    );
    f.engine
        .trust_file(
            &local_target,
            &conductor_core::core::trust::sha256_hex(&std::fs::read(&local_target).unwrap()),
            true,
        )
        .unwrap();
    std::fs::create_dir_all(f.repo.join(".conductor")).unwrap();
    std::os::unix::fs::symlink(&local_target, f.repo.join(".conductor/settings.local.toml"))
        .unwrap();
    let view = f.engine.resolve_repo(&f.repo, None, None).unwrap();
    assert_eq!(view.config_files.len(), 1, "{view:?}");
    assert_eq!(
        view.config_files[0].trust,
        conductor_core::core::trust::TrustStatus::Unknown
    );
    let ws = f.create("local-link");
    f.wait_event("skipped", |e| matches!(e, Event::ScriptSkipped { .. }));
    assert!(!ws.path.join("pwned").exists());
}

#[test]
fn a_setup_from_untrusted_file_marks_the_workspace_and_names_the_file() {
    let f = Fixture::new();
    write(
        &f.repo,
        ".conductor/settings.toml",
        "[scripts]\nsetup = \"touch ran\"\n",
    );
    f.commit_all("settings");
    let ws = f.create("asks");
    let skipped = f.wait_event("skipped", |e| matches!(e, Event::ScriptSkipped { .. }));
    let text = format!("{skipped:?}");
    assert!(
        text.contains(
            &f.repo
                .join(".conductor/settings.toml")
                .display()
                .to_string()
        ),
        "{text}"
    );
    assert!(text.contains(":ConductorSetup asks"), "{text}");
    assert_eq!(
        f.engine.get("asks", None).unwrap().setup,
        SetupState::Untrusted
    );
    assert!(!ws.path.join("ran").exists());
    let _ = Layer::default();
}

#[test]
fn options_from_another_machine_change_only_what_they_name() {
    let f = Fixture::new();
    let mut mine = crate::common::options(&f.base());
    mine.nvim_trust_db = Some(f.base().join("trust"));
    mine.branch_prefix = "here/".into();
    f.engine.set_options(mine.clone());
    // A Neovim on a laptop names its preferences only; the defaults of the rest (this
    // machine's paths) must not replace this machine's Neovim's.
    let update: conductor_core::core::protocol::OptionsUpdate =
        serde_json::from_value(json!({ "branch_prefix": "laptop/", "stop_grace_ms": 7 })).unwrap();
    f.engine.update_options(update.options, &update.keys);
    let now = f.engine.options();
    assert_eq!(now.branch_prefix, "laptop/");
    assert_eq!(now.stop_grace_ms, 7);
    assert_eq!(
        now.nvim_trust_db, mine.nvim_trust_db,
        "the trust database is kept"
    );
    assert_eq!(
        now.workspaces_root, mine.workspaces_root,
        "the workspaces root is kept"
    );
    assert_eq!(now.state_dir, mine.state_dir);
}
