//! The first hour of a new user (issue 13), in a real headless Neovim: see the Lua cases
//! under tests/nvim/cases/ for the steps; what is seen on screen is in e2e/screen.rs.

use crate::common::nvim::run_case;
use crate::common::Fixture;

#[test]
fn shell_agent_is_never_typed_into() {
    let f = Fixture::new();
    let home = f.base().join("home");
    let pwned = f.base().join("pwned");
    // Only the system's directories on PATH: no AI CLI, so the fallback is the shell.
    let path = "/usr/bin:/bin".to_string();
    for cli in ["codex", "claude", "gemini", "opencode"] {
        for dir in ["/usr/bin", "/bin"] {
            assert!(
                !std::path::Path::new(dir).join(cli).exists(),
                "{cli} in {dir}: this test needs a PATH without AI CLIs"
            );
        }
    }
    let out = run_case(
        "shell_agent",
        &home,
        &f.repo,
        &[
            ("PATH", path),
            ("SHELL", "/bin/sh".into()),
            ("CONDUCTOR_TEST_PWNED", pwned.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
    for tag in ["task", "send", "paste"] {
        let p = format!("{}-{tag}", pwned.display());
        assert!(
            !std::path::Path::new(&p).exists(),
            "{p}: a shell ran the text"
        );
    }
}

#[test]
fn labels_tabs_messages_review_and_insert_mode() {
    let f = Fixture::new();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let out = run_case(
        "first_hour",
        &f.base().join("home"),
        &f.repo,
        &[
            ("CONDUCTOR_FAKE_AGENT", fake.display().to_string()),
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}

#[test]
fn restore_starts_the_agents_it_had() {
    let f = Fixture::new();
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/fake-agent");
    let out = run_case(
        "restore_agents",
        &f.base().join("home"),
        &f.repo,
        &[("CONDUCTOR_FAKE_AGENT", fake.display().to_string())],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}

/// Copies `rel` (a file or directory) of this checkout to `dest/rel`.
fn copy_from_checkout(rel: &str, dest: &std::path::Path) {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let to = dest.join(rel);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let ok = std::process::Command::new("cp")
        .arg("-R")
        .arg(&from)
        .arg(&to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp {} {}", from.display(), to.display());
}

#[test]
fn help_works_in_a_plain_packpath_install() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    // As `git clone` into a pack directory leaves it: no doc/tags.
    let plugin = base.join("pack/plugins/start/conductor.nvim");
    for rel in ["plugin", "lua", "doc/conductor.txt"] {
        copy_from_checkout(rel, &plugin);
    }
    let tags = plugin.join("doc/tags");
    let _ = std::fs::remove_file(&tags);
    let init = base.join("init.lua");
    std::fs::write(
        &init,
        format!(
            "vim.opt.packpath:prepend({:?})\n",
            base.display().to_string()
        ),
    )
    .unwrap();
    let help = || {
        let out = std::process::Command::new(crate::common::nvim::nvim())
            .args(["--headless", "-i", "NONE", "-u"])
            .arg(&init)
            .env("HOME", base)
            .env("XDG_CONFIG_HOME", base.join("config"))
            .env("XDG_DATA_HOME", base.join("data"))
            .env("XDG_STATE_HOME", base.join("state"))
            .args([
                "-c",
                "help conductor",
                "-c",
                "lua io.stdout:write('HELP ' .. vim.fn.expand('%:t') .. ' ' .. vim.fn.getline('.'))",
                "-c",
                "qa!",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let first = help();
    assert!(
        first.contains("HELP conductor.txt") && first.contains("*conductor*"),
        ":help conductor in a fresh packpath install: {first}"
    );
    let made = std::fs::metadata(&tags).unwrap().modified().unwrap();
    let second = help();
    assert!(second.contains("HELP conductor.txt"), "{second}");
    assert_eq!(
        std::fs::metadata(&tags).unwrap().modified().unwrap(),
        made,
        "tags are made once, not at every start"
    );
}

#[test]
fn demo_keeps_to_its_own_directories() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let real_nvim = crate::common::nvim::nvim();
    let real_nvim = which(&real_nvim);
    // The demo's Neovim is the real one, except that the interactive session it would
    // open is replaced by a dump of its environment and arguments; `cargo build
    // --release` is skipped (the tests already built the library).
    let bin = base.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = |name: &str, body: String| {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    script("cargo", "#!/bin/sh\nexit 0\n".into());
    let nvim = script(
        "nvim",
        format!(
            "#!/bin/sh\ncase \"$1\" in --headless|--version) exec {:?} \"$@\";; esac\n\
             env > {dump:?}\necho \"ARGS $*\" >> {dump:?}\n",
            real_nvim.display().to_string(),
            dump = base.join("dump").display().to_string(),
        ),
    );
    let home = base.join("home");
    let out = std::process::Command::new(root.join("dev"))
        .arg("demo")
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("CONDUCTOR_NVIM", &nvim)
        .env("CONDUCTOR_DEMO_DIR", base.join("demo"))
        .env("HOME", &home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "./dev demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = std::fs::read_to_string(base.join("dump")).unwrap();
    let demo = base.join("demo");
    for line in [
        format!("XDG_DATA_HOME={}/xdg/data", demo.display()),
        format!("XDG_STATE_HOME={}/xdg/state", demo.display()),
        format!("XDG_CACHE_HOME={}/xdg/cache", demo.display()),
        format!(
            "CONDUCTOR_DEMO_AGENT_XDG={h}/.local/share:{h}/.local/state:{h}/.cache",
            h = home.display()
        ),
    ] {
        assert!(
            dump.lines().any(|l| l == line),
            "{line} not in the demo's environment:\n{dump}"
        );
    }
    assert!(dump.contains("scripts/demo-init.lua"), "{dump}");
    assert!(
        demo.join("shop/.git").is_dir(),
        "the demo repository is under the demo dir"
    );
    let tags = std::fs::metadata(root.join("doc/tags"))
        .unwrap()
        .modified()
        .unwrap();
    let help = std::fs::metadata(root.join("doc/conductor.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(tags >= help, "the demo makes the help tags");

    // Its config hands the user's own directories to agents.
    let out = std::process::Command::new(&real_nvim)
        .args(["--headless", "-i", "NONE", "-u"])
        .arg(root.join("scripts/demo-init.lua"))
        .env("CONDUCTOR_DEMO_AGENT_XDG", "/u/data:/u/state:/u/cache")
        .env("XDG_DATA_HOME", demo.join("xdg/data"))
        .env("XDG_STATE_HOME", demo.join("xdg/state"))
        .args([
            "-c",
            "lua io.stdout:write(vim.json.encode(require('conductor.config').get().environment_variables))",
            "-c",
            "qa!",
        ])
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    for kv in [
        r#""XDG_DATA_HOME":"/u/data""#,
        r#""XDG_STATE_HOME":"/u/state""#,
        r#""XDG_CACHE_HOME":"/u/cache""#,
    ] {
        assert!(
            env.contains(kv),
            "{kv} not in the agents' environment: {env}"
        );
    }
}

/// `program` as a path (looked up on PATH when it has no slash).
fn which(program: &std::path::Path) -> std::path::PathBuf {
    if program.components().count() > 1 {
        return program.to_path_buf();
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .expect("nvim on PATH")
}
